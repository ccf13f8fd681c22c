"""The SymPy front end: a SymPy matrix expression becomes derive's expression tree.

SymPy users write costs over ``MatrixSymbol``s (``(A*s - x).T*(A*s - x)``,
``Trace``, ``Determinant``, ``HadamardProduct``, ``X.applyfunc(f)``). The walk
below turns each SymPy node into the node derive's simplifying constructors
build for the same operation, so the gradient reads as it does for the text
formula. Nothing is printed and parsed again, and nothing is sympified.

An elementwise function is a scalar SymPy expression of one argument (the body
of a ``Lambda``, or ``f(t)`` for a function class). Its body is converted with
the argument bound to the matrix it acts on, so ``Lambda(t, log(1 + exp(t)))``
is derive's ``softplus``. A function derive has no row for (``tan``,
``Heaviside``, a ``Piecewise`` body) gets an activation row made from SymPy:
f' by ``sympy.diff``, the text and LaTeX spellings by SymPy's printers, the
NumPy spelling by SymPy's NumPy code printer, registered in the rule table like
the built-in rows.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import sympy
from sympy.core.function import AppliedUndef, Application
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf
from sympy.printing.numpy import NumPyPrinter

from .build import Formula
from .language import MAX_MATRIX_POWER
from ..errors import DeriveError
from ..expr.nodes import SCALAR, Const, Expr, Identity, MatMul, ONE, Symbol, TooLarge, Transpose, broadcast_shape, deep, postorder, zeros
from ..expr.simplify import add, hadamard, mul, ones, power, transpose
from ..expr.ops import ACTIVATIONS, Op, apply, elementwise_op, register_activation, spellings
from ..printing.text import to_text

# SymPy's elementwise functions that are rows of derive's table (exp, Abs, ...).
FUNCTIONS: dict[type, str] = {op.sympy_form: op.name for op in ACTIVATIONS.values()
                              if isinstance(op.sympy_form, sympy.FunctionClass)}
# Stands for the argument while SymPy's printers spell a function.
_MARK = sympy.Symbol("DERIVEARG")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass
class SympyFormula(Formula):
    """A formula that came from SymPy: ``originals`` maps each name to the user's object."""
    originals: dict[str, sympy.Basic] = field(default_factory=dict)


class Unconvertible(DeriveError):
    """A SymPy node with no counterpart in derive (a Lambda body may still become a row)."""


def from_sympy(expr: sympy.Basic) -> SympyFormula:
    """The formula of a SymPy scalar (or 1x1 matrix) expression."""
    if not isinstance(expr, sympy.Basic):
        raise DeriveError(f"derive.gradient takes a formula (a string) or a SymPy expression, "
                          f"not {type(expr).__name__}")
    converter = _Converter(expr)
    try:
        cost = converter.convert(expr)
    except TooLarge as error:
        raise DeriveError(f"{str(expr)[:60]}: {error}") from None
    if cost.shape != SCALAR:
        raise DeriveError(f"the cost must be a scalar or a 1x1 matrix, but {str(expr)[:60]} "
                          f"is {cost.shape[0]}x{cost.shape[1]}")
    symbols = list(converter.symbols.values())
    return SympyFormula(str(expr), cost, symbols, originals=converter.originals)


def wrt_names(wrt) -> list[str]:
    """``wrt`` as names: a MatrixSymbol, a Symbol, a name, or a list of them."""
    items = list(wrt) if isinstance(wrt, (list, tuple)) else [wrt]
    if not items:
        raise DeriveError("name at least one variable to differentiate with respect to")
    names = []
    for item in items:
        if isinstance(item, (sympy.MatrixSymbol, sympy.Symbol)):
            item = item.name
        if not isinstance(item, str):
            raise DeriveError(f"wrt takes MatrixSymbols, Symbols or their names, not "
                              f"{type(item).__name__} {str(item)[:40]}")
        names.append(item)
    return names


class _Converter:
    """One walk over a SymPy expression; ``bound`` maps a Lambda's argument to its matrix."""

    def __init__(self, root: sympy.Basic) -> None:
        self.symbols: dict[str, Symbol] = {}
        self.originals: dict[str, sympy.Basic] = {}
        # A scalar Symbol that is also a dimension of a MatrixSymbol is that size, a constant.
        self.dimensions = {d for m in root.atoms(sympy.MatrixSymbol) for d in m.shape
                           if isinstance(d, sympy.Symbol)}
        self.memo: dict[sympy.Basic, Expr] = {}

    @deep
    def convert(self, node: sympy.Basic, bound: dict | None = None) -> Expr:
        bound = bound or {}
        key = None if bound else node
        if key is not None and key in self.memo:
            return self.memo[key]
        result = self._convert(node, bound)
        if key is not None:
            self.memo[key] = result
        return result

    def _convert(self, node: sympy.Basic, bound: dict) -> Expr:
        if isinstance(node, sympy.Expr) and not node.is_Matrix and not getattr(
                node, "is_MatrixExpr", False) and node.is_number:
            return _number(node)
        for cls in type(node).__mro__:
            handler = _HANDLERS.get(cls)
            if handler is not None:
                return handler(self, node, bound)
        if isinstance(node, Application) and not isinstance(node, AppliedUndef):
            return self.function(node, bound)
        raise _refusal(node)

    def args(self, node: sympy.Basic, bound: dict) -> list[Expr]:
        return [self.convert(a, bound) for a in node.args]

    # ---- names
    def matrix_symbol(self, node: sympy.MatrixSymbol, bound: dict) -> Expr:
        rows, cols = (_dimension(d, node) for d in node.shape)
        return self.symbol(node.name, (rows, cols), node)

    def scalar_symbol(self, node: sympy.Symbol, bound: dict) -> Expr:
        if node in bound:
            return bound[node]
        if node in self.dimensions:
            return Const(node)
        return self.symbol(node.name, SCALAR, node)

    def symbol(self, name: str, shape: tuple, original: sympy.Basic) -> Symbol:
        if not _NAME.fullmatch(name):
            raise DeriveError(f"the SymPy name {name[:40]!r} cannot be a parameter of the "
                              "emitted code: use letters, digits and _, starting with a letter")
        known = self.symbols.get(name)
        if known is None:
            known = self.symbols[name] = Symbol(name, shape)
            self.originals[name] = original
        elif known.shape != shape:
            raise DeriveError(f"two different SymPy symbols are named {name!r} "
                              f"({known.shape[0]}x{known.shape[1]} and {shape[0]}x{shape[1]})")
        return known

    # ---- arithmetic
    def add(self, node, bound: dict) -> Expr:
        terms = self.args(node, bound)
        if broadcast_shape(t.shape for t in terms) is None:
            raise _mismatch(node, "added", terms)
        return _outside_transpose(add, terms)

    def matmul(self, node, bound: dict) -> Expr:
        factors = self.args(node, bound)
        chain = [f for f in factors if not f.is_scalar]
        for left, right in zip(chain, chain[1:]):
            if left.shape[1] != right.shape[0]:
                raise _mismatch(node, "multiplied", chain)
        return mul(*factors)

    def hadamard(self, node, bound: dict) -> Expr:
        factors = self.args(node, bound)
        if broadcast_shape(f.shape for f in factors) is None:
            raise _mismatch(node, "multiplied elementwise", factors)
        return _outside_transpose(hadamard, factors)

    def power(self, node, bound: dict) -> Expr:
        base, exponent = self.args(node, bound)
        if not exponent.is_scalar:
            raise DeriveError(f"the exponent of {str(node)[:60]} is not a scalar")
        return power(base, exponent)

    def matrix_power(self, node: sympy.MatPow, bound: dict) -> Expr:
        base = self.convert(node.base, bound)
        if base.is_scalar:
            return power(base, self.convert(node.exp, bound))
        n = node.exp
        if not n.is_Integer or abs(n) > MAX_MATRIX_POWER:
            raise DeriveError(f"derive takes a matrix power with an integer exponent of at most "
                              f"{MAX_MATRIX_POWER} in size; {str(node)[:60]} has exponent {n}")
        if n == 0:
            return Identity(base.shape[0])
        factor = base if n > 0 else apply("inv", base)
        return mul(*[factor] * abs(int(n)))

    # ---- matrix functions
    def log(self, node: sympy.log, bound: dict) -> Expr:
        inner = node.args[0]
        if isinstance(inner, sympy.Determinant) and inner.arg.shape != (1, 1):
            return apply("logdet", self.convert(inner.arg, bound))
        return self.known_function(node, bound)

    def diagonal(self, node, bound: dict) -> Expr:
        arg = self.convert(node.args[0], bound)
        rows, cols = arg.shape
        if isinstance(node, DiagonalOf) and rows != cols:
            raise DeriveError(f"derive takes the diagonal of a square matrix; {str(node)[:60]} "
                              f"is of a {rows}x{cols} matrix")
        return apply("diag", arg)

    # ---- elementwise functions
    def known_function(self, node, bound: dict) -> Expr:
        _scalar_argument(node, node.args[0])
        return apply(FUNCTIONS[node.func], self.convert(node.args[0], bound))

    def function(self, node: Application, bound: dict) -> Expr:
        """A function derive has no row for, of one argument (others constant): a new row."""
        varying = [a for a in node.args if not (isinstance(a, sympy.Expr) and a.is_number)]
        if len(varying) != 1 or not all(isinstance(a, sympy.Expr) for a in node.args):
            raise _refusal(node)
        _scalar_argument(node, varying[0])
        t = sympy.Dummy("t")
        row = activation_row(node.xreplace({varying[0]: t}), t)
        return apply(row.name, self.convert(varying[0], bound))

    def applyfunc(self, node: ElementwiseApplyFunction, bound: dict) -> Expr:
        argument = self.convert(node.expr, bound)
        function = node.function
        if isinstance(function, sympy.Lambda):
            if len(function.variables) != 1:
                raise DeriveError(f"applyfunc takes a function of one argument; "
                                  f"{str(function)[:60]} has {len(function.variables)}")
            (t,), body = function.variables, function.expr
        else:
            t = sympy.Dummy("t")
            body = function(t)
        return elementwise(body, t, argument, self)


def elementwise(body: sympy.Expr, t: sympy.Symbol, argument: Expr,
                converter: _Converter | None = None) -> Expr:
    """The scalar function ``body`` of ``t`` applied to every entry of ``argument``.

    The body is converted with ``t`` bound to the argument (sums, products and
    powers of it are elementwise); a body with a piece derive cannot convert
    becomes one activation row as a whole.
    """
    if isinstance(argument, Transpose):   # f(X^T) = f(X)^T: the form derive's rules know
        return transpose(elementwise(body, t, argument.arg, converter))
    known = _row_spelled(body, t)
    if known is not None:
        return apply(known, argument)
    converter = converter or _Converter(body)
    try:
        return converter.convert(body, {t: argument})
    except Unconvertible:
        if body.free_symbols - {t}:
            raise DeriveError(f"derive cannot convert the function {str(body)[:60]} of "
                              f"{t}, and as one elementwise function it may depend on {t} "
                              "only") from None
        return apply(activation_row(body, t).name, argument)


def _row_spelled(body: sympy.Expr, t: sympy.Symbol) -> str | None:
    """The row whose SymPy spelling (its Op's ``sympy_form``) ``body`` is: a sigmoid
    written 1/(1 + exp(-t)) is derive's sigmoid, and d.sympy reads back as it was."""
    marked = body.xreplace({t: _MARK})
    for name, op in ACTIVATIONS.items():
        function = op.sympy_form
        if function is None:
            continue
        if isinstance(function, sympy.Lambda):
            spelled = function.expr.xreplace({function.variables[0]: _MARK})
        else:
            spelled = function(_MARK)
        if spelled == marked:
            return name
    return None


def activation_row(body: sympy.Expr, t: sympy.Symbol) -> Op:
    """The row for the elementwise function ``body`` of ``t``, made from SymPy and registered."""
    marked = body.xreplace({t: _MARK})
    bare = isinstance(body, sympy.Function) and body.args == (t,)
    return register_activation(elementwise_op(
        f"sympy:{sympy.srepr(marked)}", _derivative(body, t),
        _spelling(sympy.sstr(marked), marked, "({0})"),
        _spelling(sympy.latex(marked), marked, r"\left({0}\right)"),
        spellings(numpy=_spelling(_numpy_code(marked, body), marked, "({0})")),
        sympy_form=body.func if bare else sympy.Lambda(t, body)))


def _derivative(body: sympy.Expr, t: sympy.Symbol) -> Callable[[Expr], Expr]:
    derivative = sympy.diff(body, t)
    if derivative.has(sympy.Derivative, sympy.Subs):
        raise DeriveError(f"SymPy cannot take the derivative of {str(body)[:60]}: derive needs it "
                          "for the gradient")
    return lambda z: elementwise(derivative, t, z)


def _spelling(printed: str, marked: sympy.Expr, wrapped: str) -> str:
    """A printed body as a format string over the printed argument ``{0}``.

    The argument needs no parentheses where it is the whole argument of a call,
    ``tan({0})``; anywhere else it gets them, since it may be a sum.
    """
    bare = isinstance(marked, sympy.Function) and _MARK in marked.args
    text = printed.replace("{", "{{").replace("}", "}}")
    return text.replace(str(_MARK), "{0}" if bare else wrapped)


class _NumpyCode(NumPyPrinter):
    """SymPy's NumPy printer, with Max and Min as NumPy's elementwise maximum and minimum
    (SymPy's own spelling needs functools, and the emitted code imports NumPy only)."""

    def _print_Max(self, expr: sympy.Basic) -> str:
        return self._nested("maximum", expr.args)

    def _print_Min(self, expr: sympy.Basic) -> str:
        return self._nested("minimum", expr.args)

    def _nested(self, name: str, args: tuple) -> str:
        code = self._print(args[0])
        for arg in args[1:]:
            code = f"{self._module_format('numpy.' + name)}({code}, {self._print(arg)})"
        return code


def _numpy_code(marked: sympy.Expr, body: sympy.Expr) -> str:
    printer = _NumpyCode()
    code = printer.doprint(marked)
    others = sorted(set(printer.module_imports) - {"numpy"})
    if printer._not_supported or others:
        needs = f"needs {', '.join(others)}" if others else "does not support it"
        raise DeriveError(f"{str(body)[:60]} has no NumPy spelling (SymPy's NumPy printer "
                          f"{needs}), and the emitted code imports NumPy only")
    return code.replace("numpy.", "np.")


def _number(node: sympy.Expr) -> Const:
    if node.is_Rational:
        return Const(node)
    value = node.evalf(17)
    if not (value.is_real and value.is_finite):
        raise DeriveError(f"the constant {str(node)[:40]} is not a finite real number")
    return Const(sympy.Float(value, 17))


def _dimension(d: sympy.Expr, node: sympy.Basic) -> sympy.Expr:
    if d == 1:
        return ONE
    if isinstance(d, sympy.Symbol) or d.is_Integer and d > 0:
        return d
    raise DeriveError(f"the dimensions of {str(node)[:40]} must be positive integers or "
                      f"symbols; {d} is neither")


def _outside_transpose(combine: Callable, operands: list[Expr]) -> Expr:
    """A sum or elementwise product, its operands in one order, a transpose taken out.

    SymPy writes (A*s - x).T as -x.T + s.T*A.T; derive keeps the transpose
    outside, (A s - x)^T, where the sum can meet its untransposed self. SymPy
    sorts the operands of each form its own way; derive's nodes are equal only
    with their operands in the same order, so they are sorted here by their text,
    negative terms last (A s - x, not -x + A s).
    """
    flipped = [transpose(o) for o in operands]
    if sum(map(_transposes, flipped)) < sum(map(_transposes, operands)):
        return transpose(combine(*sorted(flipped, key=_order)))
    return combine(*sorted(operands, key=_order))


def _order(e: Expr) -> tuple[bool, str]:
    return _is_negative(e), to_text(e)


def _is_negative(e: Expr) -> bool:
    value = e.coeff if isinstance(e, MatMul) else e.value if isinstance(e, Const) else ONE
    return bool(value.could_extract_minus_sign())


def _transposes(e: Expr) -> int:
    return sum(isinstance(n, Transpose) for n in postorder(e))


def _scalar_argument(node: sympy.Basic, arg: sympy.Basic) -> None:
    """SymPy reads f(X) of a square matrix as the matrix function (exp(X) the matrix
    exponential), which derive does not differentiate; elementwise is X.applyfunc(f)."""
    if getattr(arg, "is_MatrixExpr", False) and arg.shape != (1, 1):
        raise DeriveError(f"{str(node)[:60]} is a function of a matrix, which SymPy reads as a "
                          f"matrix function; for the function of every entry write "
                          f"{str(arg)[:30]}.applyfunc({type(node).__name__})")


def _refusal(node: sympy.Basic) -> Unconvertible:
    return Unconvertible(f"derive cannot convert the SymPy {type(node).__name__} "
                         f"{str(node)[:60]}")


def _mismatch(node: sympy.Basic, verb: str, operands: list[Expr]) -> DeriveError:
    shapes = ", ".join(f"{o.shape[0]}x{o.shape[1]}" for o in operands)
    return DeriveError(f"shape mismatch in {str(node)[:60]}: {shapes} cannot be {verb}")


def _matrix_op(name: str) -> Callable:
    def convert(self: _Converter, node: sympy.Basic, bound: dict) -> Expr:
        # of a 1x1 matrix the Op's rewrite gives its entry, or 1/entry for the inverse
        return apply(name, self.convert(node.args[0], bound))
    return convert


def _constant_matrix(make: Callable) -> Callable:
    def convert(self: _Converter, node: sympy.Basic, bound: dict) -> Expr:
        rows, cols = (_dimension(d, node) for d in node.shape)
        return make(rows, cols)
    return convert


_HANDLERS: dict[type, Callable] = {
    sympy.MatrixSymbol: _Converter.matrix_symbol,
    sympy.Symbol: _Converter.scalar_symbol,
    sympy.Add: _Converter.add,
    sympy.MatAdd: _Converter.add,
    sympy.Mul: _Converter.hadamard,        # scalars, or the entries of a Lambda's argument
    sympy.MatMul: _Converter.matmul,
    sympy.HadamardProduct: _Converter.hadamard,
    sympy.Pow: _Converter.power,
    sympy.HadamardPower: _Converter.power,
    sympy.MatPow: _Converter.matrix_power,
    sympy.Transpose: lambda self, node, bound: transpose(self.convert(node.arg, bound)),
    sympy.Inverse: _matrix_op("inv"),
    sympy.Trace: _matrix_op("tr"),
    sympy.Determinant: _matrix_op("det"),
    sympy.log: _Converter.log,
    DiagMatrix: _Converter.diagonal,
    DiagonalOf: _Converter.diagonal,
    ElementwiseApplyFunction: _Converter.applyfunc,
    sympy.Identity: _constant_matrix(lambda rows, cols: Identity(rows)),
    sympy.ZeroMatrix: _constant_matrix(lambda rows, cols: zeros((rows, cols))),
    sympy.OneMatrix: _constant_matrix(lambda rows, cols: ones((rows, cols))),
    **{cls: _Converter.known_function for cls in FUNCTIONS if cls is not sympy.log},
}
