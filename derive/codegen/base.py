"""What every target's printer shares: its state, the dry run the passes ask for, the
layout of a function body (argument checks, then dimensions read, then the statements),
and the layout of expressions (``CodePrinter``): where parentheses go, the order of a
matrix chain, where a scale and a sign go. A target spells the pieces through hooks, as
the language printers of SymPy do on its ``CodePrinter``.
"""
from __future__ import annotations

import sympy

from ..errors import DeriveError
from ..expr.nodes import (deep, HALF, Add, Broadcast, Const, Expr, Func, Hadamard, MatMul,
                          Power, Shared, Symbol, Transpose)
from ..expr.simplify import mul
from ..printing.base import negated
from ..printing.precedence import ADD, ATOM, MUL, POWER, UNARY
from ..program import Program, Statement, Var, kind
from ..program.chain import chain_kind, cheapest_split, estimated_size
from ..program.lower import divisor as divisor_of, multiply_first


class StatementPrinter:
    """Spells a statement program; a subclass spells each statement (``statement``).

    By default a target updates nothing in place; a target that may (NumPy) overrides
    ``aliases`` and ``in_place_operand``, which the passes ask.
    """

    accumulates = False

    def __init__(self) -> None:
        self.helpers: set[str] = set()
        self.bound: dict[Expr, Var] = {}
        self.names: dict[Var, str] = {}
        self.dim_vars: dict = {}
        self.dims_used: set = set()       # the dimension symbols spelled
        self.root: Expr | None = None
        self.recorded: list[Var] | None = None   # a dry run: the variables named

    # ------------------------------------------------------------ what the passes ask
    def aliases(self, e: Expr, bound: dict[Expr, Var]) -> tuple[Var | None, bool]:
        """(the variable whose memory the code of ``e`` may share, whether read-only)."""
        return None, False

    def in_place_operand(self, e: Expr, bound: dict[Expr, Var]) -> Expr | None:
        """The bound operand of ``e`` whose array the code of e can be written into."""
        return None

    def spelled_reads(self, s: Statement, program: Program) -> tuple[list[Var], set]:
        """(the variables, the dimension symbols) the spelling of ``s`` names."""
        reader = type(self)()
        reader.bound, reader.recorded, reader.dims_used = program.bound, [], set()
        reader.statement(s)
        return reader.recorded, reader.dims_used

    # ------------------------------------------------------------ statements
    def statement(self, s: Statement) -> list[str]:
        raise NotImplementedError

    def name(self, var: Var) -> str:
        if self.recorded is not None:
            self.recorded.append(var)
            return "_"
        return self.names[var.storage]

    def spell(self, program: Program, names: dict[Var, str]) -> list[str]:
        """The lines of a function body (without the return)."""
        self.bound, self.names, self.dims_used = program.bound, names, set()
        self.dim_vars = program.dims
        self.enter_scope(set(names.values()))
        checks: list[str] = []
        body: list[str] = []
        for s in program.statements:
            if s.op != "dimension":
                (checks if s.op == "check" else body).extend(self.statement(s))
        # only the dimensions the statements spelled are read
        dims: list[str] = []
        for s in program.statements:
            if s.op == "dimension" and s.target.source in self.dims_used:
                dims += self.statement(s)
        return checks + dims + body

    def enter_scope(self, in_scope: set[str]) -> None:
        """Before spelling a body: the names its parameters and values take."""


class CodePrinter(StatementPrinter):
    """Expressions laid out for every target; a subclass spells operators and calls.

    Each ``_print_<Node>`` returns (code, precedence level). The hooks a target spells:
    the operators below, ``call`` (a library function), ``function_call`` (a function of
    the formula), ``symbolic_number``, ``vdot``, ``operand`` (an operand of an elementwise
    operation), ``matrix_product``, ``scaled_factor`` and ``scaled_product`` (where a
    product's sign and scale go).
    """

    target = ""              # the key of the target's spellings in every Op (expr.ops)
    language = ""            # the target's name in messages
    times = " * "            # elementwise product
    divided_by = " / "       # elementwise quotient
    power_operator = " ** "  # elementwise power
    scalar_power_operator = " ** "
    reciprocal = "1.0 / "    # 1 / x elementwise
    inverse_or_zero = "_inverse_or_zero"   # the helper 1 / n, and 0 at n = 0
    has_square = False       # whether the target has a function square(x)

    # ------------------------------------------------------------ hooks
    def call(self, name: str, *args: str) -> str:
        """A function of the target's library, by the name MATLAB and NumPy share."""
        return f"{name}({', '.join(args)})"

    def symbolic_number(self, value: sympy.Expr) -> tuple[str, int]:
        """A number that involves dimensions (1 / n)."""
        raise NotImplementedError

    def vdot(self, a: Expr, b: Expr) -> str:
        """The sum of the products of the entries of a and b (same shape)."""
        raise NotImplementedError

    def operand(self, e: Expr, target: str, level: int, strip: bool = True) -> str:
        """``e`` as an operand of an elementwise operation whose result has kind ``target``.

        ``strip``: another operand has the full shape, so the target broadcasts (expands)
        this one itself.
        """
        if strip and isinstance(e, Broadcast) and not self.is_bound(e):
            e = e.arg
        return self.wrap(e, level)

    def product_operator(self, left_kind: str, right_kind: str) -> str:
        return "*"

    def matrix_product(self, left: tuple[str, int], right: tuple[str, int], left_kind: str,
                       right_kind: str) -> tuple[str, int]:
        """The product of two pieces of a chain, given as (code, level) with their kinds."""
        (left_code, left_prec), (right_code, right_prec) = left, right
        left_code = left_code if left_prec >= MUL else f"({left_code})"
        right_code = right_code if right_prec > MUL else f"({right_code})"
        return f"{left_code} {self.product_operator(left_kind, right_kind)} {right_code}", MUL

    def scaled_factor(self, scale: str, factor: Expr) -> str:
        """A factor of a chain multiplied by its scale first; the scale "-" is a minus."""
        return f"({'-1' if scale == '-' else scale} * {self.wrap(factor, MUL + 1)})"

    def scaled_product(self, negative: bool, parts: list[str],
                       chain: tuple[str, int] | None) -> tuple[str, int]:
        """A product: its sign, its scalar factors (printed) and its chain (code, level)."""
        raise NotImplementedError

    def function_call(self, e: Func) -> tuple[str, int]:
        """A function of the formula (exp, norm, ...) as the target spells it."""
        raise NotImplementedError

    def spelled_update(self, s: Statement, operator: str) -> str:
        """An update ``t += b`` as ``t = t + b`` (with the target's ``operator``), where the
        target has no augmented assignment or keeps its arrays immutable."""
        level = ADD + 1 if operator in "+-" else MUL + 1
        operand = self.name(s.reads_vars[0]) if s.expr is None else \
            self.operand(s.expr, s.target.kind, level)
        target = self.name(s.target)
        return f"{target} = {target} {operator} {operand}"

    def spelling(self, e: Func, args: list[str]) -> str:
        """A function call: the operation's own spelling for this target (``expr.ops``)."""
        spelled = e.op.code.get(self.target)
        if spelled is None:
            # a function made from a SymPy expression is spelled for NumPy only
            shown = e.op.text(["x"] * len(e.args), e.params)
            raise DeriveError(f"the function {shown[:60]} (from SymPy) has no {self.language} "
                              "spelling: use --format numpy")
        return spelled(args, e.params)

    # ------------------------------------------------------------ expressions
    @deep
    def code(self, e: Expr) -> str:
        return self._code(e)[0]

    def _code(self, e: Expr) -> tuple[str, int]:
        if self.is_bound(e):
            return self.name(self.bound[e]), ATOM
        return getattr(self, f"_print_{type(e).__name__}")(e)

    def is_bound(self, e: Expr) -> bool:
        return e in self.bound and e is not self.root

    def wrap(self, e: Expr, level: int) -> str:
        text, prec = self._code(e)
        return f"({text})" if prec < level else text

    def full(self, e: Expr) -> bool:
        """Whether the code of ``e`` as an operand has all of e's shape (an operand that is a
        broadcast is printed as what it repeats, which the target broadcasts)."""
        if self.is_bound(e):
            return True
        if isinstance(e, Broadcast):
            return False
        if isinstance(e, MatMul) and len(e.chain) == 1:
            return self.full(e.chain[0])
        if isinstance(e, (Add, Hadamard)):
            return any(o.shape == e.shape and self.full(o) for o in e.children)
        if isinstance(e, (Power, Transpose, Shared)):
            return self.full(e.children[0])
        return True

    def has_full_operand(self, e: Expr, operands) -> bool:
        return any(o.shape == e.shape and self.full(o) for o in operands)

    def transposed(self, e: Expr) -> Expr:
        """e^T for the code: a computed value is transposed as it is, never taken apart (its
        parts may not be at hand)."""
        if self.is_bound(e):
            return Transpose(e)
        if isinstance(e, Transpose):
            return e.arg
        if isinstance(e, MatMul):
            return mul(Const(e.coeff), *e.scalars, *[self.transposed(f) for f in reversed(e.chain)])
        return Transpose(e)

    def number(self, value: sympy.Expr) -> tuple[str, int]:
        self.dims_used |= value.free_symbols
        if value.is_Integer:
            return (str(value), ATOM) if value >= 0 else (str(value), UNARY)
        if value.is_Rational:
            return f"{value.p} / {value.q}", MUL
        if value.is_Float:
            return repr(float(value)), ATOM
        return self.symbolic_number(value)

    def with_dimension_names(self, value: sympy.Expr) -> sympy.Expr:
        """A number with its dimensions renamed as the variables that hold them."""
        return value.subs({s: sympy.Symbol(self.name(self.dim_vars[s]))
                           for s in value.free_symbols})

    def _print_Shared(self, e: Shared) -> tuple[str, int]:
        return self._code(e.value)

    def _print_Symbol(self, e: Symbol) -> tuple[str, int]:
        raise AssertionError(f"unbound name {e.name} in emitted code")

    def _print_Const(self, e: Const) -> tuple[str, int]:
        return self.number(e.value)

    def _print_Add(self, e: Add) -> tuple[str, int]:
        target = kind(e)
        strip = self.has_full_operand(e, e.terms)
        out = ""
        for i, term in enumerate(e.terms):
            negative, positive = negated(term)
            if negative and i > 0 and not self.is_bound(term):
                out += " - " + self.operand(positive, target, ADD + 1, strip)
            else:
                text = self.operand(term, target, ADD + 1 if i else ADD, strip)
                out = text if i == 0 else out + " + " + text
        return out, ADD

    def _print_MatMul(self, e: MatMul) -> tuple[str, int]:
        coeff = e.coeff
        negative = coeff.could_extract_minus_sign()
        if negative:
            coeff = -coeff
        parts = []
        if coeff != 1:
            text, prec = self.number(coeff)
            parts.append(text if prec == ATOM else f"({text})")
        parts.extend(self.wrap(f, MUL + 1) for f in e.scalars)
        chain = list(e.chain)
        if (parts or negative) and len(chain) > 1:
            # The scale goes on the smallest operand: a factor smaller than the product, if any.
            sizes = [estimated_size(f.shape[0]) * estimated_size(f.shape[1]) for f in chain]
            smallest = min(range(len(chain)), key=sizes.__getitem__)
            if sizes[smallest] < estimated_size(e.shape[0]) * estimated_size(e.shape[1]):
                scale = ("-" if negative else "") + " * ".join(parts)
                return self.chain_product(chain, {smallest: scale})
        return self.scaled_product(negative, parts, self.chain_product(chain) if chain else None)

    def chain_product(self, chain: list[Expr], scaled: dict[int, str] | None = None
                      ) -> tuple[str, int]:
        """The product of a chain, in the cheapest order the dimensions allow; (code, level).

        ``scaled`` maps a factor's index to the scalar it is multiplied by first.
        """
        return self.subchain(chain, cheapest_split(chain), scaled or {}, 0, len(chain) - 1)

    def subchain(self, chain: list[Expr], split: list[list[int]], scaled: dict[int, str],
                 i: int, j: int) -> tuple[str, int]:
        """The product of factors i..j of the chain, split as the cheapest order says."""
        if i == j:
            if i in scaled:
                return self.scaled_factor(scaled[i], chain[i]), ATOM
            return self._code(chain[i])
        k = split[i][j]
        return self.matrix_product(self.subchain(chain, split, scaled, i, k - 1),
                                   self.subchain(chain, split, scaled, k, j),
                                   chain_kind(chain[i:k]), chain_kind(chain[k:j + 1]))

    def _print_Hadamard(self, e: Hadamard) -> tuple[str, int]:
        target = kind(e)
        strip = self.has_full_operand(e, e.factors)
        text = ""
        for i, f in enumerate(multiply_first(e.factors)):
            divisor = divisor_of(f, self.bound) if i > 0 and not self.is_bound(f) else None
            if divisor is not None:
                text += self.divided_by + self.operand(divisor, target, MUL + 1, strip)
            else:
                part = self.operand(f, target, MUL + 1 if i else MUL, strip)
                text = part if i == 0 else text + self.times + part
        return text, MUL

    def _print_Power(self, e: Power) -> tuple[str, int]:
        base = e.base
        if isinstance(e.exponent, Const):
            p = e.exponent.value
            if p < 0 and reciprocal_zero(e):
                self.helpers.add(self.inverse_or_zero)
                inverse = f"{self.inverse_or_zero}({self.code(base)})"
                return (inverse, ATOM) if p == -1 else \
                    (f"{inverse}{self.scalar_power_operator}{-p}", POWER)
            if p == 2 and self.has_square:
                return self.call("square", self.code(base)), ATOM
            if p == HALF:
                return self.call("sqrt", self.code(base)), ATOM
            if p in (-1, -HALF):
                return f"{self.reciprocal}{self.wrap(divisor_of(e, self.bound), MUL + 1)}", MUL
        exponent = self.wrap(e.exponent, POWER + 1)
        return f"{self.wrap(base, POWER + 1)}{self.power_operator}{exponent}", POWER

    def _print_Func(self, e: Func) -> tuple[str, int]:
        arg = e.arg
        if e.name != "tr" or not isinstance(arg, MatMul) or len(arg.chain) < 2 \
                or self.is_bound(arg):
            return self.function_call(e)
        # tr(P Q) as the sum of the entries of P^T .* Q: no product beyond what P needs
        *left, last = arg.chain
        scale = mul(Const(arg.coeff), *arg.scalars)
        first = self.transposed(mul(*left))
        if isinstance(first, Transpose) and isinstance(last, Transpose) \
                and not self.is_bound(last):
            first, last = first.arg, last.arg   # <P^T, Q^T> = <P, Q>, without transposing
        inner = self.vdot(first, last)
        if scale == Const(1):
            return inner, ATOM
        return f"{self.wrap(scale, MUL)} * {inner}", MUL


def reciprocal_zero(e: Power) -> bool:
    """Whether e is 1 / f(x) of an f zero only where its subgradient makes 1 / f count as 0."""
    return isinstance(e.base, Func) and e.base.op.reciprocal_zero_at_zero
