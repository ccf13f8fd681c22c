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

import hashlib

import sympy

from ..expr.nodes import Broadcast, Const, Expr, Func, Identity, Sum, Symbol, Transpose
from ..program import Output, Statement, Var
from .base import CodePrinter
from ..program import assemble
from ..program.assemble import Function, definition_hints, documentation, one_line
from ..program.hoist import EXPANDED_NOTE, hoisting
from ..printing.precedence import ATOM, MUL, UNARY

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
# MATLAB's longest name (namelengthmax): a longer one is an error, or cut short silently
LONGEST_NAME = 63


def matlab_name(name: str) -> str:
    """A formula's name as a MATLAB variable: one MATLAB reserves gets a trailing ``_``."""
    while name in RESERVED:
        name += "_"
    return shortened(name)


def shortened(name: str) -> str:
    """A name MATLAB accepts: one longer than 63 characters keeps its start and ends in a
    digest of the whole (the same name always gives the same, two names differ)."""
    if len(name) <= LONGEST_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:LONGEST_NAME - len(digest) - 1]}_{digest}"


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


class MatlabPrinter(CodePrinter):
    """Spells a statement program in MATLAB; declares, for the passes, that nothing is
    updated in place (a MATLAB value is never shared by two variables)."""

    target, language = "matlab", "MATLAB"
    # * and .* and ./ are one left-to-right level
    times = " .* "
    divided_by = " ./ "
    power_operator = ".^"
    scalar_power_operator = "^"
    reciprocal = "1 ./ "
    inverse_or_zero = "inverse_or_zero_"

    def name(self, var: Var) -> str:
        return shortened(super().name(var))

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
        if s.op == "update":
            operator = {"+=": "+", "-=": "-", "*=": ".*", "/=": "./"}[s.operator]
            return [self.spelled_update(s, operator) + ";"]
        target = self.name(s.target)
        self.root = s.expr if self.bound.get(s.expr) in s.targets else None
        try:
            return [f"{target} = {self.code(s.expr)};"]
        finally:
            self.root = None

    # ------------------------------------------------------------ spelling hooks
    def symbolic_number(self, value: sympy.Expr) -> tuple[str, int]:
        if self.recorded is not None:
            return "_", ATOM
        return f"({sympy.octave_code(self.with_dimension_names(value))})", ATOM

    def vdot(self, a: Expr, b: Expr) -> str:
        return f"sum(sum({self.wrap(a, MUL + 1)} .* {self.wrap(b, MUL + 1)}))"

    def scaled_factor(self, scale: str, factor: Expr) -> str:
        if scale == "-":
            return f"(-{self.wrap(factor, UNARY + 1)})"
        return super().scaled_factor(scale, factor)

    def scaled_product(self, negative: bool, parts: list[str],
                       chain: tuple[str, int] | None) -> tuple[str, int]:
        single = len(parts) == 1   # a product of one factor binds as that factor
        if chain is not None:
            text, prec = chain
            single = not parts and prec > MUL
            # a scalar factor commutes: 2 * A * B, one left-to-right level
            parts = parts + [text if prec >= MUL else f"({text})"]
        text = " * ".join(parts)
        if not negative:
            return text, MUL
        # MATLAB's unary minus binds tighter than * (and looser than .^ and '): -a * b is a
        # product, (-a) * b; and never "--", which Octave reads as a decrement
        return "-" + (f"({text})" if text.startswith("-") else text), (UNARY if single else MUL)

    def dimension(self, d) -> str:
        d = sympy.sympify(d)
        if d.is_Integer:
            return str(d)
        if not d.is_Symbol:       # m*n: the Hessian of a matrix variable acts on vec(X)
            return self.number(d)[0][1:-1]    # an argument: without number's parentheses
        self.dims_used.add(d)
        return self.name(self.dim_vars[d]) if self.recorded is None else "_"

    # ------------------------------------------------------------ the nodes
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

    def operand(self, e: Expr, target: str, level: int, strip: bool = True) -> str:
        text = super().operand(e, target, level, strip)
        if strip and isinstance(e, Identity) and not self.is_bound(e):
            return f"full({text})"   # Octave's eye is a diagonal type: it broadcasts no row
        return text

    def _print_Transpose(self, e: Transpose) -> tuple[str, int]:
        return f"{self.wrap(e.arg, ATOM)}'", ATOM

    def _print_Sum(self, e: Sum) -> tuple[str, int]:
        if e.axis is not None:
            return f"sum({self.code(e.arg)}, {e.axis + 1})", ATOM
        rows, cols = e.arg.shape
        if rows == 1 or cols == 1:
            return f"sum({self.code(e.arg)})", ATOM
        return f"sum(sum({self.code(e.arg)}))", ATOM

    def function_call(self, e: Func) -> tuple[str, int]:
        args = [self.code(a) for a in e.args]
        if e.name == "norm" and 1 in e.arg.shape:
            # the row spells a matrix's norm(X, 'fro') (MATLAB's norm(X) is its largest
            # singular value); a vector's is plain
            return f"norm({args[0]})", ATOM
        if e.name == "diag" and 1 in e.arg.shape and e.arg.shape != (1, 1):
            # Octave's diag of a vector is a diagonal-matrix type, which broadcasts no row
            # (diag(u) - max(diag(u))); MATLAB's is a full matrix anyway
            return f"full(diag({args[0]}))", ATOM
        spelling = self.spelling(e, args)
        self.helpers.update(h for h in HELPERS if h + "(" in spelling)
        return spelling, ATOM


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
    arguments = [f"{names[p.name]}: {_kind_words(p, str)}" for p in parameters]
    lines = documentation(summary, one_line(source), arguments + list(extra_arguments), returns,
                          notes, remarks, indent="  ")
    return ["% " + line if line else "%" for line in lines]


def function(name: str, outputs: list[str], parameters: list[str], help_lines: list[str],
             body: list[str]) -> str:
    outputs = [shortened(o) for o in outputs]
    returned = outputs[0] if len(outputs) == 1 else f"[{', '.join(outputs)}]"
    lines = [f"function {returned} = {shortened(name)}({', '.join(parameters)})"] + help_lines
    lines += ["  " + line for line in body]
    return "\n".join(lines + ["end"])


def returned_by(f: Function) -> list[str]:
    """The names a function returns, as MATLAB accepts them."""
    return [shortened(name) for name in f.returns]


def parameter_names(parameters: list[Symbol]) -> dict[str, str]:
    """Each formula name as a MATLAB parameter: as in the formula; one MATLAB reserves gets
    a trailing underscore, more if the formula has that name too."""
    return assemble.parameter_names(parameters, matlab_name)


def _reserved(pnames: dict[str, str], gradients: dict[str, Expr]) -> set[str]:
    """Names no temporary may take: MATLAB's, the file's functions, every parameter's."""
    return set(RESERVED) | {f"{prefix}_{n}" for n in gradients
                            for prefix in ("grad", "hvp", "hessian")} | set(pnames.values())


def snippet(source: str, parameters: list[Symbol], value: Expr, gradients: dict[str, Expr],
            notes: list[str], definitions: dict[str, Expr] | None = None,
            directions: list[Symbol] = (), hvps: dict[str, Expr] | None = None,
            hessians: dict[str, Expr] | None = None) -> str:
    """The function file of docs/targets.md: value_and_grad, then grad_X and the helpers;
    with ``hvps``, value_grad_hvp, then hvp and grad_X; with ``hessians``, hessian_X."""
    printer = MatlabPrinter()
    names = parameter_names(list(parameters) + list(directions))
    reserved = _reserved(names, gradients)
    hints = definition_hints(definitions)
    first = [Output("value", value)] + [Output(f"grad_{n}", g) for n, g in gradients.items()]
    if hessians:
        functions = _hessian_functions(printer, source, parameters, names, reserved, hints,
                                       notes, dict(zip(hvps, directions)), hessians)
    elif hvps:
        functions = _hvp_functions(printer, source, parameters, names, reserved, hints, notes,
                                   first, list(directions), hvps)
    else:
        whole = Function(printer, parameters, first, reserved, names, hints=hints)
        returned = returned_by(whole)
        functions = [function("value_and_grad", returned, whole.signature,
                              help_text("Value of F and its gradients, sharing the work.",
                                        source, parameters, names, notes, ", ".join(returned)),
                              whole.body())]
    if not hessians:
        for name, gradient in gradients.items():
            # the result is "grad", not grad_X: a variable named as its function is best avoided
            one = Function(printer, parameters, [Output("grad", gradient)], reserved,
                            names, hints=hints, share=False)
            functions.append(function(
                f"grad_{name}", returned_by(one),
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
    shared = Function(printer, both, first + products, reserved, names, hints=hints)
    alone = Function(printer, both, products, reserved, names, hints=hints)
    together = returned_by(shared)
    returned = returned_by(alone)
    variable = next(iter(hvps))
    return [
        function("value_grad_hvp", together, shared.signature,
                 help_text("Value, gradients and Hessian-vector products, sharing the work.",
                           source, parameters, names, notes, ", ".join(together), extra,
                           (_saved_as("value_grad_hvp"), "Local functions (MATLAB calls them "
                            "from this file only): hvp, " + ", ".join(shortened(f"grad_{n}") for n in hvps)
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
        one = Function(printer, parameters, [Output("hessian", hessian)], reserved, names,
                        hints=hints)
        returns = "a number" if hessian.is_scalar else "a matrix"
        remarks = (f"It acts on {names[name]}(:), the columns of {names[name]} stacked.",) \
            if direction_of[name].shape[1] != 1 else ()
        functions.append(function(
            f"hessian_{name}", returned_by(one),
            one.signature,
            help_text(f"Hessian of F with respect to {name}.", source, parameters, names, notes,
                      returns, remarks=remarks + (_saved_as(shortened(f"hessian_{name}")),)),
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
        dim_lines.append(f"{shortened(var.hint)} = size({names[param.name]}, {param.shape.index(d) + 1});")
    packed = ", ".join(shortened(name) for name in plan.returned)
    returned = returned_by(per_call)
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


# ---------------------------------------------------------------- Jacobians (derive jac)

def jacobian_snippet(source: str, parameters: list[Symbol], value: Expr,
                     jacobians: dict[str, Expr], jvp: Expr, vjps: dict[str, Expr],
                     directions: list[Symbol], cotangent: Symbol, notes: list[str],
                     definitions: dict[str, Expr] | None = None) -> str:
    """derive jac's function file (docs/jacobians.md): jacobian_X (the file's function, for the first
    closed form; else value_and_vjp), jvp, vjp, value_and_jvp and value_and_vjp."""
    printer = MatlabPrinter()
    names = parameter_names(list(parameters) + list(directions) + [cotangent])
    reserved = _reserved(names, vjps) | {f"{prefix}_{n}" for n in vjps
                                         for prefix in ("jacobian", "vjp")} | \
        {"jvp", "vjp", "value_and_jvp", "value_and_vjp", "F"}
    hints = definition_hints(definitions)
    result = Output("value" if value.is_scalar else "F", value)
    wrt = list(vjps)
    first = f"jacobian_{next(iter(jacobians))}" if jacobians else "value_and_vjp"
    saved = (_saved_as(first),)
    functions = []
    for name, jacobian in jacobians.items():
        # the result is "jacobian", not jacobian_X: not a variable named as its function
        one = Function(printer, parameters, [Output("jacobian", jacobian)], reserved, names,
                        hints=hints)
        remarks = (f"Its columns follow {names[name]}(:), the columns of {names[name]} "
                   "stacked; its rows, F(:).",) + (saved if not functions else ())
        functions.append(function(
            f"jacobian_{name}", [one.names[v.storage] for v in one.program.returns],
            one.signature,
            help_text(f"Jacobian of F with respect to {name} (numerator layout).", source,
                      parameters, names, notes, f"a matrix, numel(F) x numel({names[name]})",
                      remarks=remarks), one.body()))
    along = list(parameters) + list(directions)
    extra = tuple(f"{names[d.name]}: the direction of {n}, shaped like {n}"
                  for d, n in zip(directions, wrt))
    for title, outputs, summary in (
            ("jvp", [Output("product", jvp)], "Jacobian-vector product: the derivative of F along "
                                          "the directions."),
            ("value_and_jvp", [result, Output("jvp", jvp)], "Value of F and its derivative "
                                                            "along the directions.")):
        one = Function(printer, along, outputs, reserved, names, hints=hints)
        returned = [one.names[v.storage] for v in one.program.returns]
        functions.append(function(title, returned, one.signature, help_text(
            summary, source, parameters, names, notes, ", ".join(returned), extra), one.body()))
    back = list(parameters) + [cotangent]
    extra = (f"{names[cotangent.name]}: the cotangent, shaped like F",)
    pulled = [Output(f"vjp_{n}", g) for n, g in vjps.items()]
    for title, outputs, summary in (
            ("vjp", pulled, "Vector-Jacobian product: the gradient of sum(G .* F) with respect "
                            "to each variable."),
            ("value_and_vjp", [result] + pulled, "Value of F and its vector-Jacobian "
                                                 "products.")):
        one = Function(printer, back, outputs, reserved, names, hints=hints)
        returned = [one.names[v.storage] for v in one.program.returns]
        remarks = saved if title == first else ()
        functions.append(function(title, returned, one.signature, help_text(
            summary, source, parameters, names, notes, ", ".join(returned), extra, remarks),
            one.body()))
    if not jacobians:   # the file's function is value_and_vjp
        functions.insert(0, functions.pop())
    functions += [HELPERS[h] for h in sorted(printer.helpers)]
    return "\n\n".join(functions) + "\n"
