"""LaTeX for papers (amsmath): ``2 \\left(A s - x\\right) s^{\\top} + 2 \\gamma A``."""
from __future__ import annotations

import functools
import re

import sympy
from sympy import S

from ..expr.nodes import Add, Broadcast, Expr, Func, Hadamard, Identity, MatMul, Shared, Sum, Transpose
from .base import ADD, ATOM, CHAIN, MUL, POWER, Printer, averaged
from ..naming import Name

_LATEX_ALIASES = {"eps": "epsilon"}


class LatexPrinter(Printer):
    hadamard_separator = r" \odot "
    number_separator = r" \cdot "
    division_separator = r" \oslash "

    def parens(self, text: str) -> str:
        return rf"\left({text}\right)"

    def number(self, value: sympy.Expr) -> tuple[str, int]:
        text = sympy.latex(value)
        if value.is_Integer or value.is_Symbol:
            return text, ATOM
        return text, ADD if value.is_Add else MUL    # a sum of dimensions: 1 - 3 K/2

    def symbol(self, name: str) -> str:
        return latex_name(name)

    def name(self, name: Name) -> str:
        return name.latex

    def fraction(self, numerator: str, denominator: str) -> str:
        return rf"\frac{{{numerator}}}{{{denominator}}}"

    def transpose_of(self, text: str) -> str:
        return rf"{text}^{{\top}}"

    def power_of(self, base: str, exponent: str, elementwise: bool) -> str:
        return rf"{base}^{{\circ {exponent}}}" if elementwise else rf"{base}^{{{exponent}}}"

    def root_of(self, text: str) -> str:
        return rf"\sqrt{{{text}}}"

    def reciprocal(self, base: Expr) -> tuple[str, int]:
        if base.is_scalar:
            return rf"\frac{{1}}{{{self.print(base)}}}", ATOM
        return rf"{self.wrap(base, ATOM)}^{{\circ -1}}", POWER

    def identity(self, e: Identity) -> str:
        return "I"

    def ones(self, rows, cols) -> str:
        if cols == 1:
            return rf"\mathbf{{1}}_{{{sympy.latex(rows)}}}"
        if rows == 1:
            return rf"\mathbf{{1}}_{{{sympy.latex(cols)}}}^{{\top}}"
        return rf"\mathbf{{1}}_{{{sympy.latex(rows)} \times {sympy.latex(cols)}}}"

    def zeros(self, rows, cols) -> str:
        return rf"\mathbf{{0}}_{{{sympy.latex(rows)} \times {sympy.latex(cols)}}}"

    def _print_Sum(self, e: Sum) -> tuple[str, int]:
        # Column sums 1^T X, row sums X 1: products with a ones vector of the right length.
        rows, cols = e.arg.shape
        if e.axis == 0:
            return self.join_product([self.ones(S.One, rows), self.wrap(e.arg, MUL + 1)]), CHAIN
        if e.axis == 1:
            return self.join_product([self.wrap(e.arg, MUL + 1), self.ones(cols, S.One)]), CHAIN
        return rf"\operatorname{{sum}}\left({self.print(e.arg)}\right)", ATOM

    def _print_MatMul(self, e: MatMul) -> tuple[str, int]:
        total = averaged(e)
        if total is not None and total.axis is not None:
            return self._mean(total), MUL
        return super()._print_MatMul(e)

    def _print_Broadcast(self, e: Broadcast) -> tuple[str, int]:
        # The mean row repeated down a matrix as a reader writes it: \tfrac{1}{m} 1_m 1_m^T X,
        # the scalar in front (not 1_m \frac{1}{m} 1_m^T X).
        inner = e.arg
        while isinstance(inner, Shared) and inner not in self.names:   # prints as its value
            inner = inner.value
        total = averaged(inner) if isinstance(inner, MatMul) and not inner.is_scalar and \
            inner not in self.names else None
        if total is None or total.axis is None:
            return super()._print_Broadcast(e)
        rows, cols = e.shape
        if inner.shape[1] == 1:
            return self._mean(total, after=self.ones(S.One, cols)), MUL
        return self._mean(total, before=self.ones(rows, S.One)), MUL

    def _mean(self, total: Sum, before: str = "", after: str = "") -> str:
        r"""A mean as papers write it: \tfrac{1}{m} \mathbf{1}_m^\top X for the column means,
        \tfrac{1}{n} X \mathbf{1}_n for the row means (a text-size fraction in a product)."""
        count = total.arg.shape[total.axis]
        parts = [rf"\tfrac{{1}}{{{sympy.latex(count)}}}", before, self._print_Sum(total)[0], after]
        return self.join_product([p for p in parts if p])

    def spelling(self, e: Func) -> str:
        if e.name == "logsumexp" and e.params == (0,):
            # Per column: log 1^T exp(X), a row vector; the bare name means all entries.
            ones = self.ones(S.One, e.arg.shape[0])
            return rf"\log\left({ones} \exp\left({self.print(e.arg)}\right)\right)"
        if e.op.latex_superscript:
            return e.op.latex([self.wrap(e.arg, ATOM)], e.params)
        return e.op.latex(self.arguments(e), e.params)

    def _print_Func(self, e: Func) -> tuple[str, int]:
        # X^{-1} carries a superscript: a power or transpose of it needs parentheses.
        return self.spelling(e), POWER if e.op.latex_superscript else ATOM

    def signed_parts(self, e: Add) -> list[tuple[str, Expr]]:
        return [(sign, _ones_written((term,), e.shape)[0])
                for sign, term in super().signed_parts(e)]

    def _print_Hadamard(self, e: Hadamard) -> tuple[str, int]:
        return super()._print_Hadamard(Hadamard(_ones_written(e.factors, e.shape), e.shape))

    def _print_Transpose(self, e: Transpose) -> tuple[str, int]:
        if isinstance(e.arg, Func) and e.arg.name == "inv" and e.arg not in self.names:
            return rf"{self.wrap(e.arg.arg, ATOM)}^{{-\top}}", POWER
        return super()._print_Transpose(e)


def _ones_written(parts: tuple[Expr, ...], shape) -> tuple[Expr, ...]:
    """A row or column among matrices written with its ones vector (X - 1_m mu^T): no
    broadcasting a reader must guess. A scalar added to every entry needs none."""
    return tuple(Broadcast(p, shape) if p.shape != shape and not p.is_scalar else p
                 for p in parts)


@functools.lru_cache(maxsize=4096)
def latex_name(name: str) -> str:
    """A name as a paper writes it: W1 as W_{1}, Xc as X_{c} (a name, not the product X c),
    rho_hat as \\hat{\\rho}, x_bar as \\bar{x}."""
    name = _LATEX_ALIASES.get(name, name)
    accent = re.fullmatch(r"([A-Za-z]+)_(hat|bar|tilde|dot|check|breve|vec)", name)
    if accent:
        name = accent[1] + accent[2]    # SymPy's own spelling of a name with an accent
    elif re.fullmatch(r"[A-Z][a-z]{1,2}", name) and not _is_greek(name):
        return f"{name[0]}_{{{name[1:]}}}"
    return sympy.latex(sympy.Symbol(name))


def _is_greek(name: str) -> bool:
    return sympy.latex(sympy.Symbol(name)).startswith("\\")


def to_latex(e: Expr, names: dict[Expr, Name] | None = None) -> str:
    return LatexPrinter(names).print(e)
