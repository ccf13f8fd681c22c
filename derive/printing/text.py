"""Plain readable notation: ``2 (A s - x) s^T + 2 gamma A``."""
from __future__ import annotations

import sympy

from ..expr import Expr, Func, Identity, Transpose
from .base import ATOM, MUL, Printer


class TextPrinter(Printer):
    fraction_before_chain = False
    def parens(self, text: str) -> str:
        return f"({text})"

    def number(self, value: sympy.Expr) -> tuple[str, int]:
        text = str(value).replace("**", "^").replace("*", " ")
        if value.is_Integer or value.is_Symbol:
            return text, ATOM
        return text, MUL

    def symbol(self, name: str) -> str:
        return name

    def fraction(self, numerator: str, denominator: str) -> str:
        return f"{numerator} / {denominator}"

    def transpose_of(self, text: str) -> str:
        return f"{text}^T"

    def power_of(self, base: str, exponent: str, elementwise: bool) -> str:
        if not (exponent.isdigit()):
            exponent = f"({exponent})"
        return f"{base}{'.^' if elementwise else '^'}{exponent}"

    def root_of(self, text: str) -> str:
        return f"sqrt({text})"

    def reciprocal(self, base: Expr) -> tuple[str, int]:
        return f"1 {'/' if base.is_scalar else './'} {self.wrap(base, MUL + 1)}", MUL

    def identity(self, e: Identity) -> str:
        return "I"

    def ones(self, rows, cols) -> str:
        return f"ones({rows}, {cols})"

    def zeros(self, rows, cols) -> str:
        return f"zeros({rows}, {cols})"

    def sum_of(self, text: str, axis: int | None) -> str:
        return f"sum({text})" if axis is None else f"sum({text}, {axis + 1})"

    def spelling(self, e: Func) -> str:
        return e.op.text([self.wrap(a, MUL) if e.op.infix else self.print(a) for a in e.args],
                         e.params)

    def _print_Transpose(self, e: Transpose) -> tuple[str, int]:
        if isinstance(e.arg, Func) and e.arg.name == "inv":
            return f"{self.print(e.arg)}^T", ATOM
        return super()._print_Transpose(e)


def to_text(e: Expr) -> str:
    return TextPrinter().print(e)
