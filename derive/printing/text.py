"""Plain readable notation: ``2 (A s - x) s^T + 2 gamma A``."""
from __future__ import annotations

import sympy

from ..expr.nodes import Broadcast, Expr, Func, Identity, Transpose, is_zero
from .base import ADD, ATOM, MUL, Printer
from ..naming import Name


class TextPrinter(Printer):
    fraction_before_chain = False

    def parens(self, text: str) -> str:
        return f"({text})"

    def number(self, value: sympy.Expr) -> tuple[str, int]:
        text = str(value).replace("**", "^").replace("*", " ")
        if value.is_Integer or value.is_Symbol:
            return text, ATOM
        # 1 - 3 K/2 is a sum: "- (3 K/2 - 1)" needs its parentheses
        return text, ADD if value.is_Add else MUL

    def symbol(self, name: str) -> str:
        return name

    def name(self, name: Name) -> str:
        return name.text

    def denominator(self, factors: list[Expr]) -> str:
        # Inline, a / (2 m): the divisor is one operand of /.
        parts = [self.wrap(f, MUL + 1) for f in factors]
        return self.parens(self.join_product(parts)) if len(parts) > 1 else parts[0]

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

    def mean_of(self, text: str, axis: int | None) -> str:
        return f"mean({text})" if axis is None else f"mean({text}, {axis + 1})"

    def spelling(self, e: Func) -> str:
        return e.op.text(self.arguments(e), e.params)

    def arguments(self, e: Func) -> list[str]:
        # The text spells every function as a call (kron(A, B)), whose commas delimit.
        return [self.print(a) for a in e.args]

    def _print_Transpose(self, e: Transpose) -> tuple[str, int]:
        if isinstance(e.arg, Func) and e.arg.name == "inv" and e.arg not in self.names:
            return f"{self.print(e.arg)}^T", ATOM
        return super()._print_Transpose(e)


class FormulaTextPrinter(TextPrinter):
    """The text of a result, in the formula language itself (it reads back as the same
    function): the identity and zeros as the language writes them, not I, which would be
    a name, or zeros(...), which it lacks."""

    def identity(self, e: Identity) -> str:
        return f"eye({e.shape[0]})"

    def _print_Broadcast(self, e: Broadcast) -> tuple[str, int]:
        if is_zero(e):
            return f"0 {self.ones(*e.shape)}", MUL
        return super()._print_Broadcast(e)


def to_text(e: Expr, names: dict[Expr, Name] | None = None) -> str:
    return TextPrinter(names).print(e)
