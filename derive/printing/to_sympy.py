"""derive's expression tree as SymPy matrix expressions (``Derivation.sympy``).

A node of matrix or vector shape becomes a SymPy matrix expression (``MatMul``,
``MatAdd``, ``HadamardProduct``, ``X.applyfunc(f)``, ...); a scalar node becomes
a SymPy scalar, a 1x1 product ``x^T y`` as ``Trace(x.T*y)``, since SymPy keeps
1x1 matrices and scalars apart. Broadcasting, which SymPy does not do, is
spelled with ``OneMatrix``: a scalar c added to a matrix is ``c*OneMatrix(m, n)``.
"""
from __future__ import annotations

import functools
import operator

import sympy
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf

from ..errors import DeriveError
from ..expr.nodes import Add, Broadcast, Const, Expr, Func, Hadamard, Identity, MatMul, Power, Shared, Sum, Symbol, Transpose, deep

def _product(factors: list) -> sympy.Basic:
    return functools.reduce(operator.mul, factors, sympy.Integer(1))


def _is_matrix(value: sympy.Basic) -> bool:
    return bool(getattr(value, "is_MatrixExpr", False) or getattr(value, "is_Matrix", False))


class SympyPrinter:
    """Prints a node as a SymPy object; ``originals`` are the user's symbols by name."""

    def __init__(self, originals: dict[str, sympy.Basic] | None = None) -> None:
        self.originals = originals or {}
        self.memo: dict[Expr, sympy.Basic] = {}

    @deep
    def print(self, e: Expr) -> sympy.Basic:
        return self._print(e)

    def _print(self, e: Expr) -> sympy.Basic:
        if e not in self.memo:
            value = getattr(self, f"_print_{type(e).__name__}")(e)
            self.memo[e] = self.scalar(value) if e.is_scalar else value
        return self.memo[e]

    @staticmethod
    def scalar(value: sympy.Basic) -> sympy.Basic:
        """A 1x1 matrix as a SymPy scalar: its entry for a symbol, else its trace."""
        if not _is_matrix(value):
            return value
        if isinstance(value, sympy.MatrixSymbol):
            return value[0, 0]
        return sympy.Trace(value)

    def full(self, e: Expr, shape: tuple) -> sympy.Basic:
        """``e`` broadcast to ``shape``, as SymPy needs operands of equal shapes."""
        value = self._print(e)
        rows, cols = shape
        if e.shape == shape or rows == 1 and cols == 1:
            return value
        if e.is_scalar:
            return value * sympy.OneMatrix(rows, cols)
        if e.shape[1] == 1:
            return value * sympy.OneMatrix(1, cols)
        return sympy.OneMatrix(rows, 1) * value

    # ---- the nodes
    def _print_Symbol(self, e: Symbol) -> sympy.Basic:
        if e.name in self.originals:
            return self.originals[e.name]
        return sympy.Symbol(e.name) if e.is_scalar else sympy.MatrixSymbol(e.name, *e.shape)

    _print_Placeholder = _print_Symbol

    def _print_Const(self, e: Const) -> sympy.Basic:
        return e.value

    def _print_Identity(self, e: Identity) -> sympy.Basic:
        return sympy.Identity(e.shape[0])

    def _print_Shared(self, e: Shared) -> sympy.Basic:
        return self._print(e.value)

    def _print_Broadcast(self, e: Broadcast) -> sympy.Basic:
        if isinstance(e.arg, Const) and e.arg.value == 0:
            return sympy.ZeroMatrix(*e.shape)
        return self.full(e.arg, e.shape)

    def _print_Add(self, e: Add) -> sympy.Basic:
        return functools.reduce(operator.add, [self.full(t, e.shape) for t in e.terms])

    def _print_MatMul(self, e: MatMul) -> sympy.Basic:
        scale = e.coeff * _product([self._print(f) for f in e.scalars])
        if not e.chain:
            return scale
        chain = _product([self._print(f) for f in e.chain])
        return scale * (self.scalar(chain) if e.is_scalar else chain)

    def _print_Hadamard(self, e: Hadamard) -> sympy.Basic:
        if e.is_scalar:
            return _product([self._print(f) for f in e.factors])
        return sympy.hadamard_product(*[self.full(f, e.shape) for f in e.factors])

    def _print_Power(self, e: Power) -> sympy.Basic:
        exponent = self._print(e.exponent)
        if e.base.is_scalar:
            return self._print(e.base) ** exponent
        return sympy.HadamardPower(self._print(e.base), exponent)

    def _print_Transpose(self, e: Transpose) -> sympy.Basic:
        return self._print(e.arg).T

    def _print_Sum(self, e: Sum) -> sympy.Basic:
        arg = self._print(e.arg)
        rows, cols = e.arg.shape
        if e.axis == 0:
            return sympy.OneMatrix(1, rows) * arg
        if e.axis == 1:
            return arg * sympy.OneMatrix(cols, 1)
        return sympy.Trace(sympy.OneMatrix(1, rows) * arg * sympy.OneMatrix(cols, 1))

    def _print_Func(self, e: Func) -> sympy.Basic:
        arg = self._print(e.arg)
        function = e.op.sympy_form
        if function is not None:
            return arg.applyfunc(function) if _is_matrix(arg) else function(arg)
        method = getattr(self, f"_func_{e.name}", None)
        if method is None:
            raise DeriveError(f"derive's {e.name} has no SymPy form yet")
        return method(e, arg)

    # ---- derive's matrix functions
    def _func_tr(self, e: Func, arg: sympy.Basic) -> sympy.Basic:
        return sympy.Trace(arg)

    def _func_det(self, e: Func, arg: sympy.Basic) -> sympy.Basic:
        return sympy.Determinant(arg)

    def _func_logdet(self, e: Func, arg: sympy.Basic) -> sympy.Basic:
        return sympy.log(sympy.Determinant(arg))

    def _func_inv(self, e: Func, arg: sympy.Basic) -> sympy.Basic:
        return sympy.Inverse(arg)

    def _func_norm(self, e: Func, arg: sympy.Basic) -> sympy.Basic:
        return sympy.sqrt(sympy.Trace(arg.T * arg))

    def _func_diag(self, e: Func, arg: sympy.Basic) -> sympy.Basic:
        return DiagMatrix(arg) if e.arg.shape[1] == 1 else DiagonalOf(arg)

    def _func_softmax(self, e: Func, arg: sympy.Basic) -> sympy.Basic:
        exp = arg.applyfunc(sympy.exp)
        rows = e.arg.shape[0]
        return sympy.hadamard_product(exp, sympy.HadamardPower(sympy.OneMatrix(rows, rows) * exp,
                                                               -1))

    def _func_softmax_all(self, e: Func, arg: sympy.Basic) -> sympy.Basic:
        exp = arg.applyfunc(sympy.exp)
        return exp / self._sum_all(exp, e.arg.shape)

    def _func_logsumexp(self, e: Func, arg: sympy.Basic) -> sympy.Basic:
        exp = arg.applyfunc(sympy.exp)
        if e.params == (None,):
            return sympy.log(self._sum_all(exp, e.arg.shape))
        return (sympy.OneMatrix(1, e.arg.shape[0]) * exp).applyfunc(sympy.log)

    @staticmethod
    def _sum_all(value: sympy.Basic, shape: tuple) -> sympy.Basic:
        rows, cols = shape
        return sympy.Trace(sympy.OneMatrix(1, rows) * value * sympy.OneMatrix(cols, 1))


def to_sympy(gradients: dict[str, Expr], originals: dict[str, sympy.Basic] | None = None
             ) -> dict[str, sympy.Basic]:
    """Each gradient as a SymPy expression, by variable name."""
    printer = SympyPrinter(originals)
    return {name: printer.print(g) for name, g in gradients.items()}
