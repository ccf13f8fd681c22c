"""NumPy code: one self-contained snippet with ``grad_X`` functions and ``value_and_grad``.

The printer spells a statement program (``derive.program``): it declares what
NumPy may do in place and which of its spellings return views, and writes each
statement as one line. Vectors are 1-D arrays, scalars floats, matrices 2-D
arrays, so operands are aligned for broadcasting (a column vector added to a
matrix is ``v[:, None]``); matrix chains are multiplied in the cheapest order
the dimensions allow; diagonal and identity matrices are never built.
"""
from __future__ import annotations

import re

import sympy

from ..expr.nodes import deep, HALF, Broadcast, Const, Expr, Func, Hadamard, Identity, MatMul, Power, Sum, Shared, Symbol, Transpose
from ..expr.ops import NUMPY_HELPERS
from ..program import Output, Statement, Var, kind
from ..program import assemble
from ..program.assemble import Function, definition_hints, documentation, one_line
from ..program.hoist import EXPANDED_NOTE, hoisting
from ..program.lower import multiply_first
from ..program.lower import divisor as divisor_of
from ..naming import python_name
from ..printing.precedence import ADD, ATOM, MUL, UNARY
from .base import CodePrinter, reciprocal_zero

# Names a parameter cannot take (it gets a trailing underscore, as a keyword does): the
# tuple hoisted code passes, and the helpers. Any other name of the formula is the
# parameter's, as docs/targets.md says: an output or temporary of the same name is named
# otherwise; where a parameter is called np the functions reach NumPy as _np, and where
# one is called float the value is converted with np.float64.
SNIPPET_NAMES = frozenset({"prepared", "_np", *NUMPY_HELPERS, "_expect_shape"})
# Names no temporary takes.
OTHER_NAMES = frozenset({"value_and_grad", "prepare", "value", "float", "np"})
_NP_ALIAS = "_np = np  # a parameter is called np: the functions reach NumPy as _np"


def parameter_names(parameters: list[Symbol]) -> dict[str, str]:
    """Each formula name as a parameter of the emitted functions: as in the formula; a
    keyword or a name the snippet uses (``np``, ``value``) gets a trailing underscore,
    more if the formula has that name too."""
    return assemble.parameter_names(parameters, lambda name: python_name(name, SNIPPET_NAMES))


def expect_shape_helper(shape_of_array: str) -> str:
    """The source of ``_expect_shape``, the check of an argument's shape declared with
    --shape; ``shape_of_array`` is the target's spelling of the array's shape tuple."""
    return f'''def _expect_shape(array, name, expected):
    shape = {shape_of_array}
    if len(shape) != len(expected) or any(e is not None and s != e
                                          for s, e in zip(shape, expected)):
        wanted = ", ".join("any" if e is None else str(e) for e in expected)
        raise ValueError(f"argument {{name}} has shape {{shape}}, but the code was derived "
                         f"for shape ({{wanted}}) (declared with --shape)")'''


def constants_like(parameters: list[Var]) -> Var | None:
    """The argument whose dtype (and device) the constants of JAX or PyTorch code take: an
    array, or else the first scalar."""
    arrays = [p for p in parameters if p.kind != "scalar"]
    return (arrays or parameters or [None])[0]


class NumpyPrinter(CodePrinter):
    """Spells statements as NumPy; also declares, for the passes, what NumPy does in place."""

    target, language = "numpy", "NumPy"
    accumulates = True   # t = a; t += b on a fresh array
    has_square = True
    # What the other targets (codegen/jax.py, torch.py) spell differently: the module the
    # array functions come from, the snippet's imports, and the helpers it may define.
    module = "np"
    imports = "import numpy as np"
    helper_sources = {**NUMPY_HELPERS, "_expect_shape": expect_shape_helper("np.shape(array)"),
                      "_np": _NP_ALIAS}
    # Elementwise functions NumPy can write into the array they read: op name -> ufunc.
    in_place_ufuncs = {"exp": "exp", "log": "log", "tanh": "tanh", "abs": "abs", "sin": "sin",
                       "cos": "cos", "sign": "sign"}

    def __init__(self) -> None:
        super().__init__()
        self.to_float = "float"
        self.np = "np"

    # ------------------------------------------------------------ what the passes ask
    def aliases(self, e: Expr, bound: dict[Expr, Var]) -> tuple[Var | None, bool]:
        """(the variable whose memory the code of ``e`` may share, whether read-only)."""
        if e in bound:
            var = bound[e]
            return var, var.readonly or var.role in ("parameter", "prepared")
        if isinstance(e, Transpose):
            return self.aliases(e.arg, bound)
        if isinstance(e, Shared):
            return self.aliases(e.value, bound)
        if isinstance(e, Func) and e.op.numpy_view and kind(e.arg) == "matrix":
            return self.aliases(e.arg, bound)[0], True
        if isinstance(e, MatMul) and e.coeff == 1 and len(e.factors) == 1:
            return self.aliases(e.factors[0], bound)
        return None, False

    def in_place_operand(self, e: Expr, bound: dict[Expr, Var]) -> Expr | None:
        """The bound operand of ``e`` whose array the code of e can be written into."""
        operand = None
        if isinstance(e, Func) and e.name in self.in_place_ufuncs:
            operand = e.arg
        elif isinstance(e, Power) and isinstance(e.exponent, Const) and \
                e.exponent.value in (HALF, 2):
            operand = e.base
        elif isinstance(e, Power) and divisor_of(e, bound) is not None and not reciprocal_zero(e):
            operand = divisor_of(e, bound)                  # 1.0 / x
        elif isinstance(e, Hadamard) and len(e.factors) == 2:
            second = multiply_first(e.factors)[1]
            if second not in bound and divisor_of(second, bound) is not None:
                operand = divisor_of(second, bound)           # a / x
        if operand is None or operand not in bound or operand.shape != e.shape:
            return None
        return operand

    # ------------------------------------------------------------ statements
    def enter_scope(self, in_scope: set[str]) -> None:
        # NumPy and the builtin float, unless a parameter (or a prepared value) has their name
        self.np = f"_{self.module}" if self.module in in_scope else self.module
        if self.np != self.module:
            self.helpers.add(self.np)
        self.to_float = f"{self.np}.float64" if "float" in in_scope else "float"

    def statement(self, s: Statement) -> list[str]:
        target = s.target
        if s.op == "check":
            self.helpers.add("_expect_shape")
            p = s.target
            dims = [d for d, keep in zip(p.shape, _axes(p)) if keep]
            expected = ", ".join(str(d) if d.is_Integer else "None" for d in dims)
            expected += "," if len(dims) == 1 else ""
            return [f"_expect_shape({self.name(p)}, {p.hint!r}, ({expected}))"]
        if s.op == "dimension":
            param, = s.reads_vars
            return [f"{self.name(target)} = {self.name(param)}.shape[{s.params[0]}]"]
        if s.op == "softmax_logsumexp":
            self.helpers.add("_softmax_logsumexp")
            names = ", ".join(self.name(t) for t in s.targets)
            return [f"{names} = _softmax_logsumexp({self.code(s.expr)}, axis={s.params[0]})"]
        if s.op == "update":
            operand = self.name(s.reads_vars[0]) if s.expr is None else \
                self.operand(s.expr, target.kind, ADD)
            if s.operator == "*=" and s.expr is not None and s.expr.is_scalar:
                operand = self.wrap(s.expr, MUL)
            return [f"{self.name(target)} {s.operator} {operand}"]
        # the node this statement computes is printed, not read under its own name
        self.root = s.expr if self.bound.get(s.expr) in s.targets else None
        comment = f"  # {_shape_comment(target.shape)}" if target.role == "temporary" else ""
        try:
            if s.in_place is not None:
                return [self.in_place(s) + comment]
            if target.role == "output" and (target.hint == "value" or isinstance(s.expr, Const)):
                code = self.copied(s.expr) if s.params == ("copy",) else self.code(s.expr)
                return [f"{self.name(target)} = {self.value(code)}"]
            if s.params == ("copy",):
                return [f"{self.name(target)} = {self.copied(s.expr)}"]
            return [f"{self.name(target)} = {self.code(s.expr)}{comment}"]
        finally:
            self.root = None

    def copied(self, e: Expr) -> str:
        """A fresh array holding e (a float is a value already)."""
        return self.code(e) if kind(e) == "scalar" else f"{self.wrap(e, ATOM)}.copy()"

    def in_place(self, s: Statement) -> str:
        e, x = s.expr, self.name(self.bound[s.in_place])
        if isinstance(e, Func):
            return f"{self.np}.{self.in_place_ufuncs[e.name]}({x}, out={x})"
        if isinstance(e, Power):
            p = e.exponent.value
            if p < 0:
                return f"{self.np}.divide(1.0, {x}, out={x})"
            return f"{self.np}.{'sqrt' if p == HALF else 'square'}({x}, out={x})"
        numerator = multiply_first(e.factors)[0]
        return f"{self.np}.divide({self.operand(numerator, kind(e), ATOM)}, {x}, out={x})"

    def value(self, code: str) -> str:
        """The cost as the target returns it: a float in NumPy."""
        return f"{self.to_float}({code})"

    def vdot(self, a: Expr, b: Expr) -> str:
        """The sum of the products of the entries of a and b (same shape)."""
        return f"{self.np}.vdot({self.code(a)}, {self.code(b)})"

    def constant_keywords(self) -> str:
        """Keyword arguments that make a constant (an identity) like the arguments: none in
        NumPy, where every array is float64."""
        return ""

    # ------------------------------------------------------------ spelling hooks
    def call(self, name: str, *args: str) -> str:
        return f"{self.np}.{name}({', '.join(args)})"

    def operand(self, e: Expr, target: str, level: int, strip: bool = True) -> str:
        # a column as an operand beside a matrix is v[:, None]: NumPy broadcasts rows
        if strip and isinstance(e, Broadcast) and not self.is_bound(e):
            e = e.arg
        if target == "matrix" and kind(e) == "col":
            return f"{self.wrap(e, ATOM)}[:, None]"
        return self.wrap(e, level)

    def symbolic_number(self, value: sympy.Expr) -> tuple[str, int]:
        if self.recorded is not None:
            return "_", MUL
        # 1 - 3/2*K is a sum: "- (1 - 3/2*K)" needs its parentheses
        return sympy.pycode(self.with_dimension_names(value)), ADD if value.is_Add else MUL

    def product_operator(self, left_kind: str, right_kind: str) -> str:
        # a 1x1 piece (x^T y) of a longer chain is a number: scale, don't multiply
        return "*" if "scalar" in (left_kind, right_kind) else "@"

    def matrix_product(self, left: tuple[str, int], right: tuple[str, int], left_kind: str,
                       right_kind: str) -> tuple[str, int]:
        if left_kind == "col" and right_kind == "row":
            return f"{self.np}.outer({left[0]}, {right[0]})", ATOM
        return super().matrix_product(left, right, left_kind, right_kind)

    def scaled_product(self, negative: bool, parts: list[str],
                       chain: tuple[str, int] | None) -> tuple[str, int]:
        sign = "-" if negative else ""
        if chain is None:
            # -a is unary; -a * b is a product (Python reads it as (-a) * b)
            return sign + " * ".join(parts), (UNARY if negative and len(parts) == 1 else MUL)
        text, prec = chain
        if not parts:
            # -(X.T @ v): a minus written in front of X.T would negate (copy) all of X
            return (f"-({text})" if prec <= MUL else f"-{text}", UNARY) if negative \
                else (text, prec)
        return sign + " * ".join(parts + [text if prec > MUL else f"({text})"]), MUL

    # ------------------------------------------------------------ the nodes
    def _shape_code(self, rows, cols) -> str:
        dims = [d for d in (rows, cols) if d != 1]
        parts = [self.number(sympy.sympify(d))[0] for d in dims]
        return parts[0] if len(parts) == 1 else f"({', '.join(parts)})"

    def _print_Identity(self, e: Identity) -> tuple[str, int]:
        if e.is_scalar:
            return "1.0", ATOM   # eye(1) is the number 1 (an array (1, 1) is no float)
        return f"{self.np}.eye({self.number(e.shape[0])[0]}{self.constant_keywords()})", ATOM

    def _print_Broadcast(self, e: Broadcast) -> tuple[str, int]:
        shape = self._shape_code(*e.shape)
        if e.arg.is_scalar:
            return f"{self.np}.full({shape}, {self.code(e.arg)}, dtype={self.np}.float64)", ATOM
        return f"{self.np}.broadcast_to({self.repeated(e)}, {shape}).copy()", ATOM

    def repeated(self, e: Broadcast) -> str:
        """What a broadcast of a vector repeats, as the operand of broadcast_to (or expand):
        a column repeated across a matrix stands as v[:, None]."""
        target = kind(e)
        return self.operand(e.arg, target, ATOM) if target == "matrix" else self.wrap(e.arg, ATOM)

    def _print_Transpose(self, e: Transpose) -> tuple[str, int]:
        if kind(e.arg) != "matrix":
            return self._code(e.arg)
        return f"{self.wrap(e.arg, ATOM)}.T", ATOM

    def _print_Sum(self, e: Sum) -> tuple[str, int]:
        arg = e.arg
        if e.axis is None:
            if isinstance(arg, Power) and arg.exponent == Const(2) and not self.is_bound(arg):
                return self.vdot(arg.base, arg.base), ATOM
            if isinstance(arg, Hadamard) and len(arg.factors) == 2 and not self.is_bound(arg) \
                    and all(f.shape == arg.shape for f in arg.factors):
                return self.vdot(*arg.factors), ATOM
            return f"{self.np}.sum({self.code(arg)})", ATOM
        return f"{self.wrap(arg, ATOM)}.sum(axis={e.axis})", ATOM

    def function_call(self, e: Func) -> tuple[str, int]:
        # a number argument is a float: np.abs(2) ** -2 would be integers to a negative power,
        # and jax.nn.sigmoid(m) of a dimension is refused (an int)
        args = [repr(float(a.value)) if isinstance(a, Const) and a.value.is_number
                else f"float({self.code(a)})" if isinstance(a, Const) else self.code(a)
                for a in e.args]
        if e.name == "kron":   # a vector is 1-D here, but a Kronecker product needs its 2-D shape
            args = [f"{self.wrap(a, ATOM)}[:, None]" if kind(a) == "col" else
                    f"{self.wrap(a, ATOM)}[None, :]" if kind(a) == "row" else text
                    for a, text in zip(e.args, args)]
        # the rule's template with the module's name here, the arguments put in after
        marks = [f"\x00{i}\x00" for i in range(len(args))]
        spelling = self.spelling(e, marks)
        for helper in self.helper_sources:
            if helper + "(" in spelling:
                self.helpers.add(helper)
        if self.np != self.module:
            spelling = re.sub(rf"\b{self.module}\.", f"{self.np}.", spelling)
        for mark, arg in zip(marks, args):
            spelling = spelling.replace(mark, arg)
        return spelling, ATOM


def _axes(p: Var) -> tuple[bool, bool]:
    """Which of (rows, cols) are axes of the parameter's array."""
    k = p.kind
    return (k in ("col", "matrix"), k in ("row", "matrix"))


def _shape_comment(shape) -> str:
    rows, cols = shape
    if rows == 1 and cols == 1:
        return "scalar"
    if cols == 1:
        return f"({rows},)"
    if rows == 1:
        return f"({cols},) row"
    return f"({rows}, {cols})"


def _kind_word(s: Symbol) -> str:
    rows, cols = s.shape
    k = kind(s)
    if k == "scalar":
        return "scalar"
    if k == "col":
        return f"vector, shape ({rows},)"
    if k == "row":
        return f"row vector, shape ({cols},)"
    return f"matrix, shape ({rows}, {cols})"


# ---------------------------------------------------------------- whole functions

def _reserved(pnames: dict[str, str]) -> set[str]:
    """Names no temporary may take: the snippet's own, every parameter's, every function's."""
    return set(SNIPPET_NAMES | OTHER_NAMES) | set(pnames.values())


def _docstring(summary: str, source: str, parameters: list[Symbol], pnames: dict[str, str],
               notes: list[str], returns: str, extra_arguments: tuple[str, ...] = (),
               remarks: tuple[str, ...] = ()) -> list[str]:
    formula = one_line(source).replace("\\", "\\\\").replace('"', '\\"')
    arguments = [f"{pnames[p.name]}: {_kind_word(p)}" for p in parameters]
    lines = documentation(summary, formula, arguments + list(extra_arguments), returns, notes,
                          remarks)
    return [f'"""{lines[0]}'] + lines[1:] + ['"""']


def _function(name: str, signature: str, body: list[str], returned: str,
              docstring: list[str]) -> str:
    lines = [f"def {name}({signature}):"]
    lines += ["    " + line if line else "" for line in docstring]
    lines += ["    " + line for line in body]
    lines.append(f"    return {returned}")
    return "\n".join(lines)


def _helpers(printer: NumpyPrinter) -> list[str]:
    return [printer.helper_sources[h] for h in sorted(printer.helpers)]


@deep
def snippet(source: str, parameters: list[Symbol], value: Expr, gradients: dict[str, Expr],
            notes: list[str], definitions: dict[str, Expr] | None = None,
            directions: list[Symbol] = (), hvps: dict[str, Expr] | None = None,
            hessians: dict[str, Expr] | None = None, printer: NumpyPrinter | None = None) -> str:
    """The whole program of docs/targets.md (with ``hvps``, its second order too), in NumPy or
    in the language ``printer`` spells."""
    printer = printer or NumpyPrinter()
    pnames = parameter_names(list(parameters) + list(directions))
    reserved = _reserved(pnames)
    hints = definition_hints(definitions)
    outputs = [Output("value", value)] + [Output(f"grad_{n}", g) for n, g in gradients.items()]
    whole = Function(printer, parameters, outputs, reserved, pnames, hints=hints)
    signature = ", ".join(whole.signature)
    functions = [_function(
        "value_and_grad", signature, whole.body(), whole.returned,
        _docstring("Value of F and its gradients, sharing the work.", source, parameters, pnames,
                   notes, f"({', '.join(o.name for o in outputs)})"))]
    for name, gradient in gradients.items():
        one = Function(printer, parameters, [Output(f"grad_{name}", gradient)], reserved,
                        pnames, hints=hints)
        functions.append(_function(
            f"grad_{name}", signature, one.body(), one.returned,
            _docstring(f"Gradient of F with respect to {name}.", source, parameters, pnames, notes,
                       f"dF/d{name}, shaped like {name}")))
    if hvps:
        functions += _second_order_functions(printer, source, parameters, pnames, reserved, hints,
                                             notes, outputs, list(directions), hvps,
                                             hessians or {})
    return "\n\n\n".join([printer.imports] + _helpers(printer) + functions) + "\n"


def _second_order_functions(printer: NumpyPrinter, source: str, parameters: list[Symbol],
                            pnames: dict[str, str], reserved: set[str], hints: dict[Expr, str],
                            notes: list[str], first: list[Output], directions: list[Symbol],
                            hvps: dict[str, Expr], hessians: dict[str, Expr]) -> list[str]:
    """hvp(..., d_X, ...), value_grad_hvp(...) and hessian_X(...): the same programs, with the
    directions as extra parameters and the products (or Hessians) as extra outputs."""
    both = list(parameters) + directions
    extra = tuple(f"{pnames[d.name]}: the direction of {name}, shaped like {name}"
                  for d, name in zip(directions, hvps))
    products = [Output(f"hvp_{name}", h) for name, h in hvps.items()]
    returned = ", ".join(o.name for o in products)
    together = ", ".join(o.name for o in first + products)
    alone = Function(printer, both, products, reserved, pnames, hints=hints)
    shared = Function(printer, both, first + products, reserved, pnames, hints=hints)
    signature = ", ".join(alone.signature)
    functions = [
        _function("hvp", signature, alone.body(), alone.returned,
                  _docstring("Hessian-vector product: the derivative of the gradients along the "
                             "directions.", source, parameters, pnames, notes,
                             f"({returned})" if len(products) > 1 else
                             f"{returned}, shaped like {next(iter(hvps))}", extra)),
        _function("value_grad_hvp", signature, shared.body(), shared.returned,
                  _docstring("Value, gradients and Hessian-vector products, sharing the work.",
                             source, parameters, pnames, notes, f"({together})", extra))]
    direction_of = dict(zip(hvps, directions))
    for name, hessian in hessians.items():
        remark = (f"It acts on {name}.reshape(-1, order='F'), the columns of {name} stacked.",) \
            if kind(direction_of[name]) == "matrix" else ()
        one = Function(printer, parameters, [Output(f"hessian_{name}", hessian)], reserved,
                        pnames, hints=hints)
        functions.append(_function(
            f"hessian_{name}", ", ".join(one.signature), one.body(), one.returned,
            _docstring(f"Hessian of F with respect to {name}.", source, parameters, pnames,
                       notes, "a number" if hessian.is_scalar else "a matrix", remarks=remark)))
    return functions


# ---------------------------------------------------------------- Jacobians (derive jac)

# The functions of derive jac's program: no temporary takes their names.
JACOBIAN_NAMES = frozenset({"jvp", "vjp", "value_and_jvp", "value_and_vjp", "F"})


def as_two_d(printer: NumpyPrinter, e: Expr, code: str) -> str:
    """A Jacobian as a 2-D array, size(F) x size(X): a column m x 1, a row 1 x n, a number
    1 x 1 (the arrays of this target keep vectors 1-D)."""
    k = kind(e)
    if k == "col":
        return f"{code}[:, None]"
    if k == "row":
        return f"{code}[None, :]"
    return f"{printer.np}.reshape({code}, (1, 1))" if k == "scalar" else code


def parameters_named(parameters: list[Symbol], name: str) -> Symbol:
    return next(p for p in parameters if p.name == name)


@deep
def jacobian_snippet(source: str, parameters: list[Symbol], value: Expr,
                     jacobians: dict[str, Expr], jvp: Expr, vjps: dict[str, Expr],
                     directions: list[Symbol], cotangent: Symbol, notes: list[str],
                     definitions: dict[str, Expr] | None = None,
                     printer: NumpyPrinter | None = None) -> str:
    """derive jac's program (docs/jacobians.md): jacobian_X for each closed form in ``jacobians``,
    jvp(..., d_X, ...), vjp(..., G), value_and_jvp and value_and_vjp."""
    printer = printer or NumpyPrinter()
    pnames = parameter_names(list(parameters) + list(directions) + [cotangent])
    reserved = _reserved(pnames) | JACOBIAN_NAMES | {f"jacobian_{n}" for n in vjps}
    hints = definition_hints(definitions)
    result = Output("value" if value.is_scalar else "F", value)
    wrt = list(vjps)
    shaped = f"shaped like {wrt[0]}" if len(wrt) == 1 else ""
    functions = []
    for name, jacobian in jacobians.items():
        one = Function(printer, parameters, [Output(f"jacobian_{name}", jacobian)], reserved,
                        pnames, hints=hints)
        body = one.body()
        remark = (f"Its columns follow {name}.reshape(-1, order='F'), the columns of {name} "
                  "stacked; its rows, F's the same way.",) \
            if "matrix" in (kind(value), kind(parameters_named(parameters, name))) else ()
        functions.append(_function(
            f"jacobian_{name}", ", ".join(one.signature), body,
            as_two_d(printer, jacobian, one.returned),
            _docstring(f"Jacobian of F with respect to {name} (numerator layout).", source,
                       parameters, pnames, notes, "a 2-D array, size(F) x size(" + name + ")",
                       remarks=remark)))
    along = list(parameters) + list(directions)
    extra = tuple(f"{pnames[d.name]}: the direction of {n}, shaped like {n}"
                  for d, n in zip(directions, wrt))
    alone = Function(printer, along, [Output("jvp", jvp)], reserved, pnames, hints=hints)
    shared = Function(printer, along, [result, Output("jvp", jvp)], reserved, pnames,
                       hints=hints)
    functions += [
        _function("jvp", ", ".join(alone.signature), alone.body(), alone.returned,
                  _docstring("Jacobian-vector product: the derivative of F along the "
                             "directions.", source, parameters, pnames, notes,
                             "an array shaped like F", extra)),
        _function("value_and_jvp", ", ".join(shared.signature), shared.body(), shared.returned,
                  _docstring("Value of F and its derivative along the directions, sharing the "
                             "work.", source, parameters, pnames, notes, "(F, jvp)", extra))]
    back = list(parameters) + [cotangent]
    pulled = [Output(f"vjp_{n}", g) for n, g in vjps.items()]
    extra = (f"{pnames[cotangent.name]}: the cotangent, shaped like F",)
    alone = Function(printer, back, pulled, reserved, pnames, hints=hints)
    shared = Function(printer, back, [result] + pulled, reserved, pnames, hints=hints)
    functions += [
        _function("vjp", ", ".join(alone.signature), alone.body(), alone.returned,
                  _docstring("Vector-Jacobian product: the gradient of sum(G .* F) with "
                             "respect to each variable.", source, parameters, pnames, notes,
                             f"({', '.join(o.name for o in pulled)})" if len(pulled) > 1
                             else f"vjp_{wrt[0]}, {shaped}", extra)),
        _function("value_and_vjp", ", ".join(shared.signature), shared.body(), shared.returned,
                  _docstring("Value of F and its vector-Jacobian products, sharing the work.",
                             source, parameters, pnames, notes,
                             f"(F, {', '.join(o.name for o in pulled)})", extra))]
    return "\n\n\n".join([printer.imports] + _helpers(printer) + functions) + "\n"


@deep
def hoisted_snippet(source: str, parameters: list[Symbol], wrt: list[str], value: Expr,
                    gradients: dict[str, Expr], notes: list[str], expanded: bool,
                    definitions: dict[str, Expr] | None = None,
                    printer: NumpyPrinter | None = None) -> str:
    """``prepare(data...)`` once, then ``value_and_grad(variables..., prepared)`` per call."""
    printer = printer or NumpyPrinter()
    pnames = parameter_names(parameters)
    dimensions = {str(d) for p in parameters for d in p.shape if not d.is_Integer}
    plan = hoisting(parameters, wrt, value, gradients, definitions, printer, pnames,
                    _reserved(pnames) | dimensions, dimensions - SNIPPET_NAMES - OTHER_NAMES)
    variables, data, outputs, per_call = plan.variables, plan.data, plan.outputs, plan.per_call
    prepare_body = (plan.prepare or plan.data_checks).body()
    dim_lines = [f"{v.hint} = {_dim_source(d, data, pnames)}" for d, v in plan.dim_vars.items()]
    packed = ", ".join(plan.returned) + ("," if len(plan.returned) == 1 else "")
    unpack = [f"{packed} = prepared"] if plan.returned else []
    returned_grads = ", ".join(o.name for o in outputs)
    prepare_doc = _docstring("Everything that does not involve " + ", ".join(wrt) +
                             ": call once, pass the result to value_and_grad.",
                             source, data, pnames, notes, "the prepared values, a tuple")
    call_doc = _docstring("Value of F and its gradients, from the prepared data.", source,
                          variables, pnames, notes, f"({returned_grads})",
                          ("prepared: the tuple prepare() returned",),
                          EXPANDED_NOTE if expanded else ())
    data_signature = ", ".join(pnames[p.name] for p in data)
    functions = [
        _function("prepare", data_signature, prepare_body + dim_lines, f"({packed})",
                  prepare_doc),
        _function("value_and_grad", ", ".join(per_call.signature + ["prepared"]),
                  unpack + per_call.body(), per_call.returned, call_doc),
    ]
    return "\n\n\n".join([printer.imports] + _helpers(printer) + functions) + "\n"


def _dim_source(dim, data: list[Symbol], pnames: dict[str, str]) -> str:
    for p in data:
        for axis, d in enumerate(p.shape):
            if d == dim:
                return f"{pnames[p.name]}.shape[{axis if kind(p) == 'matrix' else 0}]"
    raise AssertionError(dim)
