"""MATLAB / GNU Octave code: one function file, ``value_and_grad`` with local ``grad_X``.

A MATLAB file shows one function, named as the file, so each kind of derivation
has its own file: ``value_and_grad.m`` (a gradient), ``value_grad_hvp.m``
(derive hvp: value, gradients and Hessian-vector products, with local ``hvp``
and ``grad_X``) and ``hessian_X.m`` (derive hess).

MATLAB keeps every value two-dimensional, so the code keeps the formula's own
shapes: a vector is an n×1 column, a row a 1×k matrix, a scalar 1×1. Implicit
expansion (MATLAB R2016b, every Octave 7) adds a column to every column of a
matrix as the formula's ``+`` does. Only built-in functions are called; the
stable forms (sigmoid, softplus, softmax, logsumexp, log|det|) are local
functions of the same file.
"""
from __future__ import annotations

import sympy

from ..errors import DeriveError
from ..expr.nodes import (deep, Add, Broadcast, Const, Expr, Func, Hadamard, Identity, MatMul, Power,
                     Shared, Sum, Symbol, Transpose)
from ..expr.simplify import mul
from ..expr.ops import Spelling, lookup, spelled
from ..program.chain import chain_dims, chain_order
from ..program import Output, Statement
from ..program.lower import divisor as divisor_of, multiply_first
from ..printing.base import negated
from .base import StatementPrinter
from .numpy import (EXPANDED_NOTE, NumpyPrinter, _definition_hints, _Function, hoisting,
                    spelled_in)

ADD, MUL, UNARY, POWER, ATOM = 10, 20, 25, 30, 40
HALF = sympy.Rational(1, 2)
DEFAULT_DIMENSION = 100   # size assumed for a symbolic dimension when ordering a chain

# Names a variable of the emitted file must not take: MATLAB's keywords, the constants
# and functions the file calls (a variable named `sum` would turn sum(X, 1) into indexing),
# and the names Octave alone defines (`e`, `I`, `J`, `NA`). A formula's name among them
# gets a trailing underscore, as a Python keyword does in the NumPy code.
KEYWORDS = frozenset("""
    break case catch classdef continue else elseif end for function global if otherwise
    parfor persistent return spmd switch try unwind_protect unwind_protect_cleanup
    end_try_catch end_unwind_protect endfor endfunction endif endswitch endwhile do until
    while
""".split())
BUILTINS = frozenset("""
    abs ans cos det diag double e eps error exp eye false i I inf Inf inv isequal j J log
    log1p lu max min NA nan NaN nargin nargout norm numel ones pi repmat reshape sign sin
    size sqrt sum tanh trace true zeros value
""".split())
# MATLAB's longest name (namelengthmax): a longer one would be cut short, silently
LONGEST_NAME = 63


def matlab_name(name: str) -> str:
    """A formula's name as a MATLAB variable: one MATLAB reserves gets a trailing ``_``."""
    while name in RESERVED:
        name += "_"
    if len(name) > LONGEST_NAME:
        raise DeriveError(f"the name {name[:40]}... is longer than MATLAB's {LONGEST_NAME} "
                          "characters: shorten it for --format matlab")
    return name


# Local functions of the emitted file, by name; each is added once, when the code calls it.
HELPERS: dict[str, str] = {
    "sigmoid_": """function s = sigmoid_(z)
  % 1 / (1 + exp(-z)) keeps its relative accuracy in both tails (exp(-z) may be Inf: s = 0)
  s = 1 ./ (1 + exp(-z));
end""",
    "softplus_": """function s = softplus_(z)
  % log(1 + exp(z)) without overflow for large z, nor loss of accuracy for very negative z
  s = max(z, 0) + log1p(exp(-abs(z)));
end""",
    "softmax_": """function s = softmax_(z)
  % per column, shifted by the column's maximum
  e = exp(z - max(z, [], 1));
  s = e ./ sum(e, 1);
end""",
    "softmax_all_": """function s = softmax_all_(z)
  % over all entries, shifted by the maximum
  e = exp(z - max(z(:)));
  s = e / sum(e(:));
end""",
    "logsumexp_": """function l = logsumexp_(z)
  % log(sum(exp(z(:)))), shifted by the maximum
  top = max(z(:));
  l = top + log(sum(exp(z(:) - top)));
end""",
    "logsumexp_columns_": """function l = logsumexp_columns_(z)
  % log(sum(exp(z), 1)) per column, shifted by each column's maximum
  top = max(z, [], 1);
  l = top + log(sum(exp(z - top), 1));
end""",
    "logabsdet_": """function l = logabsdet_(X)
  % log|det(X)| from the LU factors: no overflow where det(X) itself would overflow
  [~, U] = lu(X);
  l = sum(log(abs(diag(U))));
end""",
    "softmax_logsumexp_": """function [s, l] = softmax_logsumexp_(z)
  % softmax and logsumexp over all entries with one pass of exp
  top = max(z(:));
  e = exp(z - top);
  total = sum(e(:));
  s = e / total;
  l = top + log(total);
end""",
    "softmax_logsumexp_columns_": """function [s, l] = softmax_logsumexp_columns_(z)
  % softmax and logsumexp per column with one pass of exp
  top = max(z, [], 1);
  e = exp(z - top);
  total = sum(e, 1);
  s = e ./ total;
  l = top + log(total);
end""",
    "expect_shape_": """function expect_shape_(array, name, expected)
  % a size declared with --shape is checked, never assumed (NaN: any size)
  actual = size(array);
  if numel(actual) ~= 2 || any(actual ~= expected & ~isnan(expected))
    error(['argument %s has size %s, but the code was derived for size %s ' ...
           '(declared with --shape)'], name, mat2str(actual), mat2str(expected));
  end
end""",
    "inverse_or_zero_": """function r = inverse_or_zero_(n)
  % 1 / n, and 0 at n = 0 (the subgradient taken for a norm at 0)
  r = 0;
  if n ~= 0
    r = 1 / n;
  end
end""",
}
# ... and the file's own functions, which a variable of the same name would hide
RESERVED = KEYWORDS | BUILTINS | set(HELPERS) | {"value_and_grad", "prepare", "prepared",
                                                  "per_call", "value_grad_hvp", "hvp"}


# One row per operation: how MATLAB spells it (a name ending in _ is a local function
# of the file, HELPERS above). A norm is spelled by the printer: norm(X) of a matrix is
# its largest singular value in MATLAB, so a matrix needs norm(X, 'fro').
SPELLINGS: dict[object, Spelling] = {lookup(name): spelling for name, spelling in {
    "exp": spelled("exp({0})"),
    "log": spelled("log({0})"),
    "sin": spelled("sin({0})"),
    "cos": spelled("cos({0})"),
    "tanh": spelled("tanh({0})"),
    "abs": spelled("abs({0})"),
    "sign": spelled("sign({0})"),
    "relu": spelled("max({0}, 0)"),
    "step": spelled("double({0} > 0)"),
    "sigmoid": spelled("sigmoid_({0})"),
    "softplus": spelled("softplus_({0})"),
    "tr": spelled("trace({0})"),
    "det": spelled("det({0})"),
    "logdet": spelled("logabsdet_({0})"),
    "inv": spelled("inv({0})"),
    "diag": spelled("diag({0})"),
    "softmax": spelled("softmax_({0})"),
    "softmax_all": spelled("softmax_all_({0})"),
    "logsumexp": lambda args, params: f"logsumexp_({args[0]})" if params == (None,)
    else f"logsumexp_columns_({args[0]})",
    "kron": spelled("kron({0}, {1})"),
    "vec": spelled("reshape({0}, [], 1)"),
}.items()}


class MatlabPrinter(StatementPrinter):
    """Spells a statement program in MATLAB; declares, for the passes, that nothing is
    updated in place (a MATLAB value is never shared by two variables)."""

    def statement(self, s: Statement) -> list[str]:
        if s.op == "check":
            # an integer dimension declared by --shape is checked against the argument
            self.helpers.add("expect_shape_")
            p = s.target
            expected = ", ".join(str(d) if d.is_Integer else "NaN" for d in p.shape)
            return [f"expect_shape_({self.name(p)}, '{p.hint}', [{expected}]);"]
        if s.op == "dimension":
            param, = s.reads_vars
            axis = param.shape.index(s.target.source) + 1   # MATLAB's shapes are the formula's
            return [f"{self.name(s.target)} = size({self.name(param)}, {axis});"]
        if s.op == "softmax_logsumexp":
            helper = "softmax_logsumexp_" if s.params[0] is None \
                else "softmax_logsumexp_columns_"
            self.helpers.add(helper)
            names = ", ".join(self.name(t) for t in s.targets)
            return [f"[{names}] = {helper}({self.code(s.expr)});"]
        target = self.name(s.target)
        if s.op == "update":
            operator = {"+=": "+", "-=": "-", "*=": ".*", "/=": "./"}[s.operator]
            level = ADD + 1 if operator in "+-" else MUL + 1
            operand = self.name(s.reads_vars[0]) if s.expr is None else \
                self.operand(s.expr, level, strip=True)
            return [f"{target} = {target} {operator} {operand};"]
        self.root = s.expr if self.bound.get(s.expr) in s.targets else None
        try:
            return [f"{target} = {self.code(s.expr)};"]
        finally:
            self.root = None

    # ------------------------------------------------------------ expressions
    @deep
    def code(self, e: Expr) -> str:
        return self._code(e)[0]

    def _code(self, e: Expr) -> tuple[str, int]:
        if self.is_bound(e):
            return self.name(self.bound[e]), ATOM
        return getattr(self, f"_print_{type(e).__name__}")(e)

    def is_bound(self, e: Expr) -> bool:
        return e in self.bound and e is not self.root

    # Whether an operand's code has the full shape, as in NumPy: implicit expansion, like
    # NumPy's broadcasting, replicates what a stripped broadcast repeats.
    full = NumpyPrinter.full
    has_full_operand = NumpyPrinter.has_full_operand
    # (a computed value is transposed as it is, never taken apart, as in NumPy)
    transposed = NumpyPrinter.transposed

    def wrap(self, e: Expr, level: int) -> str:
        text, prec = self._code(e)
        return f"({text})" if prec < level else text

    def operand(self, e: Expr, level: int, strip: bool) -> str:
        """An operand of an elementwise operation; ``strip``: another operand has the full
        shape, so implicit expansion replicates this one."""
        if strip and isinstance(e, Broadcast) and not self.is_bound(e):
            e = e.arg
        return self.wrap(e, level)

    def number(self, value: sympy.Expr) -> tuple[str, int]:
        self.dims_used |= value.free_symbols
        if value.is_Integer:
            return (str(value), ATOM) if value >= 0 else (str(value), UNARY)
        if value.is_Rational:
            return f"{value.p} / {value.q}", MUL
        if value.is_Float:
            return repr(float(value)), ATOM
        if self.recorded is not None:
            return "_", ATOM
        names = {s: sympy.Symbol(self.name(self.dim_vars[s])) for s in value.free_symbols}
        return f"({sympy.octave_code(value.subs(names))})", ATOM

    def dimension(self, d) -> str:
        d = sympy.sympify(d)
        if d.is_Integer:
            return str(d)
        if not d.is_Symbol:       # m*n: the Hessian of a matrix variable acts on vec(X)
            return self.number(d)[0][1:-1]    # an argument: without number's parentheses
        self.dims_used.add(d)
        return self.name(self.dim_vars[d]) if self.recorded is None else "_"

    # ------------------------------------------------------------ the nodes
    def _print_Shared(self, e: Shared) -> tuple[str, int]:
        return self._code(e.value)

    def _print_Symbol(self, e: Symbol) -> tuple[str, int]:
        raise AssertionError(f"unbound name {e.name} in emitted code")

    def _print_Const(self, e: Const) -> tuple[str, int]:
        return self.number(e.value)

    def _print_Identity(self, e: Identity) -> tuple[str, int]:
        # full(): Octave's eye is a diagonal-matrix type, which does not broadcast (eye(3) - r)
        return f"full(eye({self.dimension(e.shape[0])}))", ATOM

    def _print_Broadcast(self, e: Broadcast) -> tuple[str, int]:
        rows, cols = (self.dimension(d) for d in e.shape)
        inner = e.arg
        if inner.is_scalar:
            if isinstance(inner, Const) and inner.value in (0, 1):
                return f"{'zeros' if inner.value == 0 else 'ones'}({rows}, {cols})", ATOM
            return f"repmat({self.code(inner)}, {rows}, {cols})", ATOM
        if inner.shape[1] == 1:
            return f"repmat({self.code(inner)}, 1, {cols})", ATOM
        return f"repmat({self.code(inner)}, {rows}, 1)", ATOM

    def _print_Add(self, e: Add) -> tuple[str, int]:
        strip = self.has_full_operand(e, e.terms)
        out = ""
        for i, term in enumerate(e.terms):
            negative, positive = negated(term)
            if negative and i > 0 and not self.is_bound(term):
                out += " - " + self.operand(positive, ADD + 1, strip)
            else:
                text = self.operand(term, ADD + 1 if i else ADD, strip)
                out = text if i == 0 else out + " + " + text
        return out, ADD

    def _print_MatMul(self, e: MatMul) -> tuple[str, int]:
        coeff = e.coeff
        negative = coeff.could_extract_minus_sign()
        if negative:
            coeff = -coeff
        parts = []
        if coeff != 1:
            text, prec = self.number(coeff)
            parts.append(text if prec >= MUL + 1 else f"({text})")
        parts += [self.wrap(f, MUL + 1) for f in e.scalars]
        single = len(parts) == 1   # a product of one factor binds as that factor
        chain = list(e.chain)
        sizes = [_size(f.shape[0]) * _size(f.shape[1]) for f in chain]
        smallest = min(range(len(chain)), key=sizes.__getitem__, default=0)
        if (parts or negative) and len(chain) > 1 \
                and sizes[smallest] < _size(e.shape[0]) * _size(e.shape[1]):
            # the scale (and sign) goes on the smallest factor, if one is smaller than the product
            return self._chain(chain, {smallest: ("-" if negative else "") + " * ".join(parts)})
        if chain:
            text, prec = self._chain(chain)
            single = not parts and prec > MUL
            # * and .* and ./ are one left-to-right level, and a scalar factor commutes
            parts.append(text if prec >= MUL else f"({text})")
        text = " * ".join(parts)
        if not negative:
            return text, MUL
        # MATLAB's unary minus binds tighter than * (and looser than .^ and '): -a * b is a
        # product, (-a) * b; and never "--", which Octave reads as a decrement
        return "-" + (f"({text})" if text.startswith("-") else text), (UNARY if single else MUL)

    def _chain(self, chain: list[Expr], scaled: dict[int, str] | None = None
               ) -> tuple[str, int]:
        """The product of a chain, in the cheapest order the dimensions allow; ``scaled``
        maps a factor's index to the scalar it is multiplied by first."""
        _, split = chain_order(chain_dims(chain, _size))
        return self._subchain(chain, split, scaled or {}, 0, len(chain) - 1)

    def _subchain(self, chain, split, scaled, i: int, j: int) -> tuple[str, int]:
        if i == j:
            if scaled.get(i) == "-":
                return f"(-{self.wrap(chain[i], UNARY + 1)})", ATOM
            if i in scaled:
                return f"({scaled[i]} * {self.wrap(chain[i], MUL + 1)})", ATOM
            return self._code(chain[i])
        k = split[i][j]
        left, left_prec = self._subchain(chain, split, scaled, i, k - 1)
        right, right_prec = self._subchain(chain, split, scaled, k, j)
        left = left if left_prec >= MUL else f"({left})"
        right = right if right_prec > MUL else f"({right})"
        return f"{left} * {right}", MUL

    def _print_Hadamard(self, e: Hadamard) -> tuple[str, int]:
        strip = self.has_full_operand(e, e.factors)
        text = ""
        for i, f in enumerate(multiply_first(e.factors)):
            divisor = divisor_of(f, self.bound) if i > 0 and not self.is_bound(f) else None
            if divisor is not None:
                text += " ./ " + self.operand(divisor, MUL + 1, strip)
            else:
                part = self.operand(f, MUL + 1 if i else MUL, strip)
                text = part if i == 0 else text + " .* " + part
        return text, MUL

    def _print_Power(self, e: Power) -> tuple[str, int]:
        base = e.base
        if isinstance(e.exponent, Const):
            p = e.exponent.value
            if p < 0 and isinstance(base, Func) and base.name == "norm":
                self.helpers.add("inverse_or_zero_")
                inverse = f"inverse_or_zero_({self.code(base)})"
                return (inverse, ATOM) if p == -1 else (f"{inverse}^{-p}", POWER)
            if p == HALF:
                return f"sqrt({self.code(base)})", ATOM
            if p in (-1, -HALF):
                return f"1 ./ {self.wrap(divisor_of(e, self.bound), MUL + 1)}", MUL
        exponent = self.wrap(e.exponent, POWER + 1)
        return f"{self.wrap(base, POWER + 1)}.^{exponent}", POWER

    def _print_Transpose(self, e: Transpose) -> tuple[str, int]:
        return f"{self.wrap(e.arg, ATOM)}'", ATOM

    def _print_Sum(self, e: Sum) -> tuple[str, int]:
        if e.axis is not None:
            return f"sum({self.code(e.arg)}, {e.axis + 1})", ATOM
        rows, cols = e.arg.shape
        if rows == 1 or cols == 1:
            return f"sum({self.code(e.arg)})", ATOM
        return f"sum(sum({self.code(e.arg)}))", ATOM

    def _print_Func(self, e: Func) -> tuple[str, int]:
        arg = e.arg
        if e.name == "tr" and isinstance(arg, MatMul) and len(arg.chain) >= 2 \
                and not self.is_bound(arg):
            # tr(P Q) = sum(sum(P' .* Q)): no product beyond what P needs is formed
            *left, last = arg.chain
            scale = mul(Const(arg.coeff), *arg.scalars)
            first = self.transposed(mul(*left))
            if isinstance(first, Transpose) and isinstance(last, Transpose) \
                    and not self.is_bound(last):
                first, last = first.arg, last.arg   # <P', Q'> = <P, Q>, without transposing
            inner = f"sum(sum({self.wrap(first, MUL + 1)} .* {self.wrap(last, MUL + 1)}))"
            if scale == Const(1):
                return inner, ATOM
            return f"{self.wrap(scale, MUL)} * {inner}", MUL
        args = [self.code(a) for a in e.args]
        if e.name == "norm":
            vector = arg.shape[0] == 1 or arg.shape[1] == 1
            return (f"norm({args[0]})" if vector else f"norm({args[0]}, 'fro')"), ATOM
        spelling = spelled_in(SPELLINGS, e, "MATLAB")(args, e.params)
        self.helpers.update(h for h in HELPERS if h + "(" in spelling)
        return spelling, ATOM


def _size(d) -> int:
    return int(d) if d.is_Integer else DEFAULT_DIMENSION


def _kind_words(s: Symbol, dimension) -> str:
    rows, cols = (dimension(d) for d in s.shape)
    if s.shape == (1, 1):
        return "scalar"
    if s.shape[1] == 1:
        return f"column vector, {rows} x 1"
    if s.shape[0] == 1:
        return f"row vector, 1 x {cols}"
    return f"matrix, {rows} x {cols}"


def help_text(summary: str, source: str, parameters: list[Symbol], names: dict[str, str],
              notes: list[str], returns: str, extra_arguments: tuple[str, ...] = (),
              remarks: tuple[str, ...] = ()) -> list[str]:
    """The comment block MATLAB's ``help`` shows: formula, arguments, what is returned."""
    formula = " ".join(line.split("#")[0].strip() for line in source.splitlines()).strip()
    lines = [summary, "", f"  F = {formula}", "", "Arguments:"]
    lines += [f"  {names[p.name]}: {_kind_words(p, str)}" for p in parameters]
    lines += [f"  {argument}" for argument in extra_arguments]
    lines += ["", f"Returns {returns}."]
    if notes:
        lines += ["", "Non-smooth points:"] + [f"  {note}" for note in notes]
    if remarks:
        lines += [""] + list(remarks)
    return ["% " + line if line else "%" for line in lines]


def function(name: str, outputs: list[str], parameters: list[str], help_lines: list[str],
             body: list[str]) -> str:
    returned = outputs[0] if len(outputs) == 1 else f"[{', '.join(outputs)}]"
    lines = [f"function {returned} = {name}({', '.join(parameters)})"] + help_lines
    lines += ["  " + line for line in body]
    return "\n".join(lines + ["end"])



def parameter_names(parameters: list[Symbol]) -> dict[str, str]:
    """Each formula name as a MATLAB parameter: as in the formula; one MATLAB reserves gets
    a trailing underscore, more if the formula has that name too."""
    formula_names = {p.name for p in parameters}
    out: dict[str, str] = {}
    for p in parameters:
        name = matlab_name(p.name)
        while name != p.name and name in formula_names:
            name = matlab_name(name + "_")
        out[p.name] = name
    return out


def _reserved(pnames: dict[str, str], gradients: dict[str, Expr]) -> set[str]:
    """Names no temporary may take: MATLAB's, the file's functions, every parameter's."""
    return set(RESERVED) | {f"{prefix}_{n}" for n in gradients
                            for prefix in ("grad", "hvp", "hessian")} | set(pnames.values())


def snippet(source: str, parameters: list[Symbol], value: Expr, gradients: dict[str, Expr],
            notes: list[str], definitions: dict[str, Expr] | None = None,
            directions: list[Symbol] = (), hvps: dict[str, Expr] | None = None,
            hessians: dict[str, Expr] | None = None) -> str:
    """The function file of SPEC section 4: value_and_grad, then grad_X and the helpers;
    with ``hvps``, value_grad_hvp, then hvp and grad_X; with ``hessians``, hessian_X."""
    printer = MatlabPrinter()
    names = parameter_names(list(parameters) + list(directions))
    reserved = _reserved(names, gradients)
    hints = _definition_hints(definitions)
    first = [Output("value", value)] + [Output(f"grad_{n}", g) for n, g in gradients.items()]
    if hessians:
        functions = _hessian_functions(printer, source, parameters, names, reserved, hints,
                                       notes, dict(zip(hvps, directions)), hessians)
    elif hvps:
        functions = _hvp_functions(printer, source, parameters, names, reserved, hints, notes,
                                   first, list(directions), hvps)
    else:
        whole = _Function(printer, parameters, first, reserved, names, hints=hints)
        returned = [whole.names[v.storage] for v in whole.program.returns]
        functions = [function("value_and_grad", returned, whole.signature,
                              help_text("Value of F and its gradients, sharing the work.",
                                        source, parameters, names, notes, ", ".join(returned)),
                              whole.body())]
    if not hessians:
        for name, gradient in gradients.items():
            # the result is "grad", not grad_X: a variable named as its function is best avoided
            one = _Function(printer, parameters, [Output("grad", gradient)], reserved,
                            names, hints=hints, share=False)
            functions.append(function(
                f"grad_{name}", [one.names[v.storage] for v in one.program.returns],
                one.signature,
                help_text(f"Gradient of F with respect to {name}.", source, parameters, names,
                          notes, f"dF/d{name}, shaped like {name}"),
                one.body()))
    functions += [HELPERS[h] for h in sorted(printer.helpers)]
    return "\n\n".join(functions) + "\n"


def _saved_as(name: str) -> str:
    # MATLAB finds a function by its file's name: the first function is the file's
    return f"Save this file as {name}.m (MATLAB calls a file's first function by the file's name)."


def _hvp_functions(printer: MatlabPrinter, source: str, parameters: list[Symbol],
                   names: dict[str, str], reserved: set[str], hints: dict[Expr, str],
                   notes: list[str], first: list[Output], directions: list[Symbol],
                   hvps: dict[str, Expr]) -> list[str]:
    """value_grad_hvp(..., d_X, ...), the file's function, and its local hvp(..., d_X, ...):
    the gradient's program with the directions as extra parameters, the products as extra
    outputs."""
    both = list(parameters) + directions
    extra = tuple(f"{names[d.name]}: the direction of {name}, shaped like {name}"
                  for d, name in zip(directions, hvps))
    products = [Output(f"hvp_{name}", h) for name, h in hvps.items()]
    shared = _Function(printer, both, first + products, reserved, names, hints=hints)
    alone = _Function(printer, both, products, reserved, names, hints=hints)
    together = [shared.names[v.storage] for v in shared.program.returns]
    returned = [alone.names[v.storage] for v in alone.program.returns]
    variable = next(iter(hvps))
    return [
        function("value_grad_hvp", together, shared.signature,
                 help_text("Value, gradients and Hessian-vector products, sharing the work.",
                           source, parameters, names, notes, ", ".join(together), extra,
                           (_saved_as("value_grad_hvp"), "Local functions (MATLAB calls them "
                            "from this file only): hvp, " + ", ".join(f"grad_{n}" for n in hvps)
                            + ".")),
                 shared.body()),
        function("hvp", returned, alone.signature,
                 help_text("Hessian-vector product: the derivative of the gradients along the "
                           "directions.", source, parameters, names, notes,
                           ", ".join(returned) if len(returned) > 1 else
                           f"{returned[0]}, shaped like {variable}", extra),
                 alone.body())]


def _hessian_functions(printer: MatlabPrinter, source: str, parameters: list[Symbol],
                       names: dict[str, str], reserved: set[str], hints: dict[Expr, str],
                       notes: list[str], direction_of: dict[str, Symbol],
                       hessians: dict[str, Expr]) -> list[str]:
    """hessian_X(...), the file's function (derive hess takes one variable)."""
    functions = []
    for name, hessian in hessians.items():
        # the result is "hessian", not hessian_X: not a variable named as its function
        one = _Function(printer, parameters, [Output("hessian", hessian)], reserved, names,
                        hints=hints)
        returns = "a number" if hessian.is_scalar else "a matrix"
        remarks = (f"It acts on {names[name]}(:), the columns of {names[name]} stacked.",) \
            if direction_of[name].shape[1] != 1 else ()
        functions.append(function(
            f"hessian_{name}", [one.names[v.storage] for v in one.program.returns],
            one.signature,
            help_text(f"Hessian of F with respect to {name}.", source, parameters, names, notes,
                      returns, remarks=remarks + (_saved_as(f"hessian_{name}"),)),
            one.body()))
    return functions


def hoisted_snippet(source: str, parameters: list[Symbol], wrt: list[str], value: Expr,
                    gradients: dict[str, Expr], notes: list[str], expanded: bool,
                    definitions: dict[str, Expr] | None = None) -> str:
    """A function file ``prepare.m``: ``[prepared, value_and_grad] = prepare(data...)`` once,
    then ``value_and_grad(variables..., prepared)`` per call, through the handle it returns
    (a MATLAB file shows one function; the per-call one is its local function)."""
    printer = MatlabPrinter()
    names = parameter_names(parameters)
    dimensions = {str(d) for p in parameters for d in p.shape if not d.is_Integer}
    plan = hoisting(parameters, wrt, value, gradients, definitions, printer, names,
                    _reserved(names, gradients) | dimensions, dimensions - RESERVED)
    per_call = plan.per_call
    prepare_body = (plan.prepare or plan.data_checks).body()
    dim_lines = []
    for d, var in plan.dim_vars.items():
        param = next(p for p in plan.data if d in p.shape)
        dim_lines.append(f"{var.hint} = size({names[param.name]}, {param.shape.index(d) + 1});")
    packed = ", ".join(plan.returned)
    returned = [per_call.names[v.storage] for v in per_call.program.returns]
    call = f"[{', '.join(returned)}] = value_and_grad({', '.join(per_call.signature)}, prepared)"
    data = ", ".join(names[p.name] for p in plan.data)
    usage = ["", "Usage:", f"  [prepared, value_and_grad] = prepare({data});", f"  {call};"]
    prepare_help = help_text("Everything that does not involve " + ", ".join(wrt) + ": call "
                             "once; it returns the prepared values and value_and_grad.",
                             source, plan.data, names, notes,
                             "the prepared values (a cell array) and a handle to value_and_grad")
    call_help = help_text("Value of F and its gradients, from the prepared data.", source,
                          plan.variables, names, notes, ", ".join(returned))
    if expanded:
        call_help += ["%"] + ["% " + line for line in EXPANDED_NOTE]
    functions = [
        function("prepare", ["prepared", "per_call"], [names[p.name] for p in plan.data],
                 prepare_help + ["% " + line if line else "%" for line in usage],
                 prepare_body + dim_lines + [f"prepared = {{{packed}}};",
                                             "per_call = @value_and_grad;"]),
        function("value_and_grad", returned, per_call.signature + ["prepared"], call_help,
                 ([f"[{packed}] = prepared{{:}};"] if plan.returned else []) + per_call.body()),
    ]
    functions += [HELPERS[h] for h in sorted(printer.helpers)]
    return "\n\n".join(functions) + "\n"
