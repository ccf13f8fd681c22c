"""LaTeX for papers (amsmath): ``2 \\left(A s - x\\right) s^{\\top} + 2 \\gamma A``."""
from __future__ import annotations

import sympy

from ..expr import Expr, Func, Identity, Transpose
from .base import ATOM, MUL, POWER, Printer

_LATEX_ALIASES = {"eps": "epsilon"}


class LatexPrinter(Printer):
    hadamard_separator = r" \odot "
    division_separator = r" \oslash "

    def parens(self, text: str) -> str:
        return rf"\left({text}\right)"

    def number(self, value: sympy.Expr) -> tuple[str, int]:
        text = sympy.latex(value)
        return text, ATOM if value.is_Integer or value.is_Symbol else MUL

    def symbol(self, name: str) -> str:
        return latex_name(name)

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
            return r"\mathbf{1}"
        if rows == 1:
            return r"\mathbf{1}^{\top}"
        return rf"\mathbf{{1}}_{{{sympy.latex(rows)} \times {sympy.latex(cols)}}}"

    def zeros(self, rows, cols) -> str:
        return rf"\mathbf{{0}}_{{{sympy.latex(rows)} \times {sympy.latex(cols)}}}"

    def sum_of(self, text: str, axis: int | None) -> str:
        if axis == 0:
            return rf"\mathbf{{1}}^{{\top}} \left({text}\right)"
        if axis == 1:
            return rf"\left({text}\right) \mathbf{{1}}"
        return rf"\operatorname{{sum}}\left({text}\right)"

    def spelling(self, e: Func) -> str:
        if e.name == "inv":
            return e.op.latex([self.wrap(e.arg, ATOM)], e.params)
        return e.op.latex([self.wrap(a, MUL) if e.op.infix else self.print(a) for a in e.args],
                          e.params)

    def _print_Transpose(self, e: Transpose) -> tuple[str, int]:
        if isinstance(e.arg, Func) and e.arg.name == "inv":
            return rf"{self.wrap(e.arg.arg, ATOM)}^{{-\top}}", POWER
        return super()._print_Transpose(e)


def latex_name(name: str) -> str:
    return sympy.latex(sympy.Symbol(_LATEX_ALIASES.get(name, name)))


def to_latex(e: Expr) -> str:
    return LatexPrinter().print(e)
