"""What the text and LaTeX printers share: dispatch, precedence, and the layout of sums and products.

A subclass spells the pieces (a transpose, a fraction, a function call); the
base decides where parentheses go and how signs, numerators and denominators
of a product are laid out.
"""
from __future__ import annotations

import decimal

import sympy

from ..expr.nodes import deep, Add, Broadcast, Const, Expr, Func, Hadamard, Identity, MatMul, Power, Sum, Symbol, Transpose, split_power
from ..expr.simplify import mul
from ..naming import Name

from .precedence import ADD, MUL, UNARY, POWER, ATOM
# A matrix product printed as one (1^T X): bare as a factor of a product, which is
# associative, but parenthesised as an operand of a Hadamard product.
CHAIN = MUL + 1


class Printer:
    """Dispatches ``print(e)`` to ``_print_<NodeType>``; returns (string, precedence)."""

    product_separator = " "
    number_separator = " * "
    hadamard_separator = " .* "
    division_separator = " ./ "
    fraction_before_chain = True   # (2 / n) A rather than 2 A / n
    # The spelling of a mean, (text of the argument, axis) -> text; None: a sum over a count.
    mean_of = None

    def __init__(self, names: dict[Expr, Name] | None = None) -> None:
        self.names = names if names is not None else {}
        self.defining: Expr | None = None   # the named node whose definition is being printed

    @deep
    def print(self, e: Expr) -> str:
        return self._print(e)[0]

    @deep
    def definition(self, e: Expr) -> str:
        """The right-hand side of a named node's definition: e itself, its operands by name."""
        self.defining = e
        try:
            return self._print(e)[0]
        finally:
            self.defining = None

    def _print(self, e: Expr) -> tuple[str, int]:
        if e in self.names and e is not self.defining:
            return self.name(self.names[e]), ATOM
        return getattr(self, f"_print_{type(e).__name__}")(e)

    def wrap(self, e: Expr, level: int) -> str:
        text, prec = self._print(e)
        return self.parens(text) if prec < level else text

    # ---- spellings a subclass provides
    def parens(self, text: str) -> str:
        raise NotImplementedError

    def number(self, value: sympy.Expr) -> tuple[str, int]:
        raise NotImplementedError

    def symbol(self, name: str) -> str:
        raise NotImplementedError

    def name(self, name: Name) -> str:
        raise NotImplementedError

    def fraction(self, numerator: str, denominator: str) -> str:
        raise NotImplementedError

    def transpose_of(self, text: str) -> str:
        raise NotImplementedError

    def power_of(self, base: str, exponent: str, elementwise: bool) -> str:
        raise NotImplementedError

    def root_of(self, text: str) -> str:
        raise NotImplementedError

    def reciprocal(self, base: Expr) -> tuple[str, int]:
        raise NotImplementedError

    def identity(self, e: Identity) -> str:
        raise NotImplementedError

    def ones(self, rows, cols) -> str:
        raise NotImplementedError

    def zeros(self, rows, cols) -> str:
        raise NotImplementedError

    def sum_of(self, text: str, axis: int | None) -> str:
        raise NotImplementedError

    def spelling(self, e: Func) -> str:
        raise NotImplementedError

    def arguments(self, e: Func) -> list[str]:
        """The printed arguments of a call; an operator between them (A ⊗ B) parenthesises
        them like the factors of a product."""
        return [self.wrap(a, MUL) if e.op.infix else self.print(a) for a in e.args]

    # ---- the nodes
    def _print_Symbol(self, e: Symbol) -> tuple[str, int]:
        return self.symbol(e.name), ATOM

    _print_Placeholder = _print_Symbol

    def _print_Shared(self, e) -> tuple[str, int]:
        if isinstance(e.value, Const) and e.value.value.is_Rational:
            return written_number(e.value.value), (UNARY if e.value.value < 0 else ATOM)
        return self._print(e.value)

    def _print_Const(self, e: Const) -> tuple[str, int]:
        return self.number(e.value)

    def _print_Identity(self, e: Identity) -> tuple[str, int]:
        return self.identity(e), ATOM

    def _print_Broadcast(self, e: Broadcast) -> tuple[str, int]:
        rows, cols = e.shape
        inner = e.arg
        if inner.is_scalar:
            ones = self.ones(rows, cols)
            if isinstance(inner, Const) and inner.value == 0:
                return self.zeros(rows, cols), ATOM
            if isinstance(inner, Const) and inner.value == 1:
                return ones, ATOM
            if isinstance(inner, Const) and inner.value == -1:
                return "-" + ones, UNARY
            return self.join_product([self.wrap(inner, MUL), ones]), MUL
        if inner.shape[1] == 1:
            return self.join_product([self.wrap(inner, MUL), self.ones(1, cols)]), MUL
        return self.join_product([self.ones(rows, 1), self.wrap(inner, MUL)]), MUL

    def join_product(self, parts: list[str]) -> str:
        out = parts[0] if parts else ""
        for previous, part in zip(parts, parts[1:]):
            # Two numbers side by side would read as one (3 0.044715): an explicit product.
            numbers = previous[-1:].isdigit() and part[:1].isdigit()
            out += (self.number_separator if numbers else self.product_separator) + part
        return out

    def denominator(self, factors: list[Expr]) -> str:
        """A product under a fraction bar: as one, it needs no parentheses of its own."""
        if len(factors) == 1:
            return self.print(factors[0])
        return self.join_product([self.wrap(f, MUL + 1) for f in factors])

    def signed_parts(self, e: Add) -> list[tuple[str, Expr]]:
        """The terms of a sum as (sign, term printed after the sign)."""
        terms = list(e.terms)
        first_positive = next((i for i, t in enumerate(terms) if not negated(t)[0]), 0)
        # b - a rather than -a + b: a sum reads from a term that is not negated.
        terms.insert(0, terms.pop(first_positive))
        out = []
        for term in terms:
            negative, positive = negated(term)
            out.append(("-", positive) if negative else ("+", term))
        return out

    def signed_terms(self, e: Add) -> list[tuple[str, str]]:
        """The terms of a sum as (sign, text): where a long sum may be broken into lines."""
        return [(sign, self.wrap(term, ADD + 1)) for sign, term in self.signed_parts(e)]

    def _print_Add(self, e: Add) -> tuple[str, int]:
        out = ""
        for i, (sign, text) in enumerate(self.signed_terms(e)):
            if i == 0:
                out = ("-" + text) if sign == "-" else text
            else:
                out += f" {sign} {text}"
        return out, ADD

    def _print_MatMul(self, e: MatMul) -> tuple[str, int]:
        if self.mean_of is not None and averaged(e) is not None:
            return self.mean_of(self.print(e.factors[0].arg), e.factors[0].axis), ATOM
        coeff = e.coeff
        sign = ""
        if coeff.could_extract_minus_sign():
            sign, coeff = "-", -coeff
        numerator_coeff, denominator_coeff = sympy.fraction(coeff)
        up: list[str] = []
        down: list[Expr] = []
        if numerator_coeff != 1:
            up.append(self.number(numerator_coeff)[0])
        if denominator_coeff != 1:
            down.append(Const(denominator_coeff))
        for f in e.scalars:
            base, exp = split_power(f)
            if exp.is_number and exp < 0:
                down.append(base if exp == -1 else Power(base, Const(-exp)))
            else:
                up.append(self.wrap(f, MUL + 1))
        if up and not down and len(e.chain) == 1 and split_power(e.chain[0])[1] == -1:
            # rho ./ r rather than rho (1 ./ r)
            base = split_power(e.chain[0])[0]
            return sign + self.join_product(up) + self.division_separator + \
                self.wrap(base, CHAIN + 1), (UNARY if sign else MUL)
        lone = len(e.factors) == 1 and coeff == 1
        chain = [self.wrap(f, MUL if lone else MUL + 1) for f in e.chain]
        if down and self.fraction_before_chain:
            scalar = self.fraction(self.join_product(up) or "1", self.denominator(down))
            text = self.join_product([scalar] + chain)
        elif down:
            text = self.fraction(self.join_product(up + chain) or "1", self.denominator(down))
        else:
            text = self.join_product(up + chain)
        return sign + text, (UNARY if sign else MUL)

    def _print_Hadamard(self, e: Hadamard) -> tuple[str, int]:
        text = ""
        for i, f in enumerate(e.factors):
            base, exp = split_power(f)
            if i > 0 and exp == -1:
                text += self.division_separator + self.wrap(base, CHAIN + 1)
                continue
            part = self.wrap(f, CHAIN + 1)
            text = part if i == 0 else text + self.hadamard_separator + part
        return text, MUL

    def _print_Power(self, e: Power) -> tuple[str, int]:
        if isinstance(e.exponent, Const) and e.exponent.value == sympy.Rational(1, 2):
            return self.root_of(self.print(e.base)), ATOM
        if isinstance(e.exponent, Const) and e.exponent.value == -1:
            return self.reciprocal(e.base)
        exponent = self.exponent(e.exponent)
        return self.power_of(self.wrap(e.base, ATOM), exponent, not e.base.is_scalar), POWER

    def exponent(self, e: Expr) -> str:
        return self.print(e)

    def _print_Transpose(self, e: Transpose) -> tuple[str, int]:
        return self.transpose_of(self.wrap(e.arg, ATOM)), POWER

    def _print_Sum(self, e: Sum) -> tuple[str, int]:
        return self.sum_of(self.print(e.arg), e.axis), ATOM

    def _print_Func(self, e: Func) -> tuple[str, int]:
        return self.spelling(e), ATOM


def averaged(e: MatMul) -> Expr | None:
    """The sum e divides by its count of entries (a mean), if it is one."""
    if len(e.factors) != 1 or not isinstance(e.factors[0], Sum):
        return None
    total = e.factors[0]
    rows, cols = total.arg.shape
    count = rows * cols if total.axis is None else total.arg.shape[total.axis]
    return total if count != 1 and e.coeff * count == 1 else None


def written_number(value: sympy.Rational) -> str:
    """A number the user wrote with a decimal point (expr/tidy.py keeps it as one), as
    written: 1.702, not 851/500."""
    digits = decimal.Decimal(value.p) / decimal.Decimal(value.q)
    return format(digits.normalize(), "f")


def negated(term: Expr) -> tuple[bool, Expr]:
    """(True, -term) when the term prints with a leading minus."""
    if isinstance(term, MatMul) and term.coeff.could_extract_minus_sign():
        return True, mul(Const(-term.coeff), *term.factors)
    if isinstance(term, Const) and term.value.could_extract_minus_sign():
        return True, Const(-term.value)
    return False, term

