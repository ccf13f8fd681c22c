"""The second walk: the expression, every shape now known, through the simplifying
constructors of ``simplify``."""
from __future__ import annotations

from fractions import Fraction
from typing import Callable

import sympy

from . import parse as syntax
from ..expr.nodes import Const, Expr, Identity, ONE, Shape, Symbol, TooLarge
from ..expr.simplify import add, hadamard, mul, neg, power, transpose
from ..expr.ops import apply
from .language import CALLS
from .walk import Walk, literal_int


class _Terms(list):
    """The terms of a chain of + and - not yet summed: one add() for the whole chain."""


def _terms(value) -> list:
    return list(value) if isinstance(value, _Terms) else [value]


def _summed(value):
    return add(*value) if isinstance(value, _Terms) else value


class Builder(Walk):
    """Second walk: the expression, every shape now known."""

    def evaluate(self, node):
        try:
            return _summed(super().evaluate(node))
        except TooLarge as error:
            raise self.error(node, str(error)) from None

    def visit(self, node, args):
        try:
            if not (isinstance(node, syntax.Binary) and node.op in ("+", "-")):
                args = [_summed(a) for a in args]
            return super().visit(node, args)
        except TooLarge as error:
            raise self.error(node, str(error)) from None

    def __init__(self, program: syntax.Program, shapes: dict[str, Shape],
                 assume: dict[str, str], dimension: Callable[[sympy.Expr], sympy.Expr]) -> None:
        super().__init__(program)
        self.symbols = {name: Symbol(name, shape, assume.get(name))
                        for name, shape in shapes.items()}
        self.dimension = dimension   # eye(n), ones(m, n): n as the typing bound it

    @property
    def definitions(self) -> dict[str, Expr]:
        return dict(self.defined)

    def number(self, node: syntax.Number) -> Expr:
        value: Fraction = node.value
        return Const(sympy.Rational(value.numerator, value.denominator))

    def free_name(self, node: syntax.Name) -> Expr:
        return self.symbols[node.name]

    def unary(self, node, operand: Expr) -> Expr:
        return neg(operand) if node.op == "-" else operand

    def transpose(self, node, operand: Expr) -> Expr:
        return transpose(operand)

    def binary(self, node: syntax.Binary, left: Expr, right: Expr) -> Expr:
        op = node.op
        if op in ("+", "-"):
            # The left operand's pending terms are used only here: extend them in place.
            terms = left if isinstance(left, _Terms) else _Terms([left])
            if op == "+":
                terms.extend(_terms(right))
            else:
                terms.append(neg(_summed(right)))
            return terms
        if op in ("*", "@"):
            return mul(left, right)
        if op == ".*":
            return hadamard(left, right)
        if op == "./":
            return hadamard(left, power(right, Const(-ONE)))
        if op == "/":
            return mul(left, power(right, Const(-ONE)))
        if op == ".^" or left.is_scalar:
            return power(left, right)
        exponent = literal_int(node.right)
        if exponent == 0:
            return Identity(left.shape[0])
        base = left if exponent > 0 else apply("inv", left)
        return mul(*[base] * abs(exponent))

    def call(self, node: syntax.Call, args: list[Expr]) -> Expr:
        return CALLS[node.func].make(*args, *self.literals(node))
