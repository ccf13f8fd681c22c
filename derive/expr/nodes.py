"""The expression tree every later stage works on: immutable nodes and their traversals.

Nodes are immutable and compare structurally (hash cached at construction), so
equal subexpressions are found by dictionary look-up: backprop accumulates
deltas per node, and the emitter shares every repeated subexpression.

Shapes are pairs of SymPy dimensions (integers or symbols); a scalar is 1x1 and a
column vector is n x 1. Nodes are made only through the constructors of
``simplify``, which keep the tree in canonical form; this module imports nothing
of the package.
"""
from __future__ import annotations

import functools
import sys
from typing import Callable, Iterable

import sympy

Dim = sympy.Expr
Shape = tuple  # (rows, cols) of Dim

ONE = sympy.Integer(1)
HALF = sympy.Rational(1, 2)
SCALAR: Shape = (ONE, ONE)


class Expr:
    """Base node: a shape and structural identity."""

    __slots__ = ("shape", "_hash")

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self._hash = hash((type(self).__name__, self._fields()))

    def _fields(self) -> tuple:
        raise NotImplementedError

    @property
    def children(self) -> tuple["Expr", ...]:
        return ()

    def __eq__(self, other: object) -> bool:
        return self is other or (type(self) is type(other) and self._hash == other._hash
                                 and self._fields() == other._fields())

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        # Structural: the readable form is printing.text.to_text (nodes imports no printer).
        return f"{type(self).__name__}{self._fields()!r}"

    @property
    def is_scalar(self) -> bool:
        # SymPy's 1 is a singleton: identity is exact and much cheaper than ==.
        return self.shape[0] is ONE and self.shape[1] is ONE


class Symbol(Expr):
    """A free name of the formula: a scalar, vector or matrix.

    ``assumption`` is what ``--assume`` declared and the formula cannot show
    (``symmetric``, ``spd``, ``onehot``); the constructors use it.
    """

    __slots__ = ("name", "assumption")

    def __init__(self, name: str, shape: Shape, assumption: str | None = None) -> None:
        self.name = name
        self.assumption = assumption
        super().__init__(shape)

    def _fields(self) -> tuple:
        return (self.name, self.shape, self.assumption)


class Placeholder(Symbol):
    """The input z of a layer: prints as a name but never equals a formula's symbol."""

    __slots__ = ()


class TooLarge(ArithmeticError):
    """A constant or a product beyond what derive computes with (the builder says where)."""


# Constants stay within float range (about 2^1000), with exact fractions of bounded size.
MAX_CONSTANT_BITS = 1000
MAX_CHAIN = 256


def _checked(value: sympy.Expr) -> sympy.Expr:
    if value.is_Rational and value != 0:
        top, bottom = value.p.bit_length(), value.q.bit_length()
        if abs(top - bottom) > MAX_CONSTANT_BITS or max(top, bottom) > 4 * MAX_CONSTANT_BITS:
            raise TooLarge("a constant of the formula is beyond the range of floating point "
                           "numbers (about 1e300)")
    elif value.is_finite is False or value is sympy.nan:
        raise TooLarge("the formula divides by zero")
    return value


class Const(Expr):
    """A scalar constant: a SymPy number, possibly in the dimensions (1/m)."""

    __slots__ = ("value",)

    def __init__(self, value: sympy.Expr) -> None:
        self.value = _checked(sympy.sympify(value))
        super().__init__(SCALAR)

    def _fields(self) -> tuple:
        return (self.value,)


class Identity(Expr):
    __slots__ = ()

    def __init__(self, n: Dim) -> None:
        super().__init__((n, n))

    def _fields(self) -> tuple:
        return (self.shape,)


class Broadcast(Expr):
    """``arg`` repeated to ``shape`` (a scalar to every entry, a column to every column...)."""

    __slots__ = ("arg",)

    def __init__(self, arg: Expr, shape: Shape) -> None:
        self.arg = arg
        super().__init__(shape)

    def _fields(self) -> tuple:
        return (self.arg, self.shape)

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


class Add(Expr):
    __slots__ = ("terms",)

    def __init__(self, terms: tuple[Expr, ...], shape: Shape) -> None:
        self.terms = terms
        super().__init__(shape)

    def _fields(self) -> tuple:
        return self.terms

    @property
    def children(self) -> tuple[Expr, ...]:
        return self.terms


class MatMul(Expr):
    """``coeff`` times scalar factors times a chain of matrix factors, in that order."""

    __slots__ = ("coeff", "factors")

    def __init__(self, coeff: sympy.Expr, factors: tuple[Expr, ...], shape: Shape) -> None:
        self.coeff = coeff
        self.factors = factors
        super().__init__(shape)

    def _fields(self) -> tuple:
        return (self.coeff, self.factors)

    @property
    def children(self) -> tuple[Expr, ...]:
        return self.factors

    @property
    def scalars(self) -> tuple[Expr, ...]:
        return tuple(f for f in self.factors if f.is_scalar)

    @property
    def chain(self) -> tuple[Expr, ...]:
        return tuple(f for f in self.factors if not f.is_scalar)


class Hadamard(Expr):
    __slots__ = ("factors",)

    def __init__(self, factors: tuple[Expr, ...], shape: Shape) -> None:
        self.factors = factors
        super().__init__(shape)

    def _fields(self) -> tuple:
        return self.factors

    @property
    def children(self) -> tuple[Expr, ...]:
        return self.factors


class Power(Expr):
    """Elementwise power; the exponent is a scalar expression."""

    __slots__ = ("base", "exponent")

    def __init__(self, base: Expr, exponent: Expr) -> None:
        self.base = base
        self.exponent = exponent
        super().__init__(base.shape)

    def _fields(self) -> tuple:
        return (self.base, self.exponent)

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.base, self.exponent)


class Transpose(Expr):
    __slots__ = ("arg",)

    def __init__(self, arg: Expr) -> None:
        self.arg = arg
        super().__init__((arg.shape[1], arg.shape[0]))

    def _fields(self) -> tuple:
        return (self.arg,)

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


class Sum(Expr):
    """Sum of all entries (axis None), down the columns (axis 0) or along the rows (axis 1)."""

    __slots__ = ("arg", "axis")

    def __init__(self, arg: Expr, axis: int | None) -> None:
        self.arg = arg
        self.axis = axis
        rows, cols = arg.shape
        shape = SCALAR if axis is None else (ONE, cols) if axis == 0 else (rows, ONE)
        super().__init__(shape)

    def _fields(self) -> tuple:
        return (self.arg, self.axis)

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


class Func(Expr):
    """An operation with a rule record (``functions.Op``): elementwise or of whole matrices.

    The node holds its record, so every stage reads the operation's rules (shape,
    derivative, spellings, transpose) from the node itself.
    """

    __slots__ = ("op", "args", "params")

    def __init__(self, op, args: tuple[Expr, ...], params: tuple, shape: Shape) -> None:
        self.op = op
        self.args = args
        self.params = params
        super().__init__(shape)

    def _fields(self) -> tuple:
        return (self.op.name, self.args, self.params)

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def children(self) -> tuple[Expr, ...]:
        return self.args

    @property
    def arg(self) -> Expr:
        return self.args[0]


class Shared(Expr):
    """A value computed once (a product two chains share, prepared data): opaque to the
    constructors, so products keep it as one factor."""

    __slots__ = ("value",)

    def __init__(self, value: Expr) -> None:
        self.value = value
        super().__init__(value.shape)

    def _fields(self) -> tuple:
        return (self.value,)

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.value,)


# ---------------------------------------------------------------- helpers

DEEP_RECURSION = 20_000


def deep(function: Callable) -> Callable:
    """For the recursive walks (printers): a deep network nests deeper than Python's default."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, DEEP_RECURSION))
        try:
            return function(*args, **kwargs)
        finally:
            sys.setrecursionlimit(limit)
    return wrapper



def zeros(shape: Shape) -> Expr:
    return Broadcast(Const(sympy.Integer(0)), shape) if shape != SCALAR else Const(sympy.Integer(0))


def is_zero(e: Expr) -> bool:
    if isinstance(e, Const):
        return e.value == 0
    return isinstance(e, Broadcast) and is_zero(e.arg)


def is_const(e: Expr, value=None) -> bool:
    """A constant (optionally of the given value), broadcast or not."""
    if isinstance(e, Broadcast):
        return is_const(e.arg, value)
    return isinstance(e, Const) and (value is None or e.value == value)


def broadcast_shape(shapes: Iterable[Shape]) -> Shape | None:
    """NumPy's broadcasting of 2-D shapes; None if they do not agree."""
    rows, cols = ONE, ONE
    for r, c in shapes:
        if r is not ONE:
            if rows is not ONE and rows is not r and rows != r:
                return None
            rows = r
        if c is not ONE:
            if cols is not ONE and cols is not c and cols != c:
                return None
            cols = c
    return (rows, cols)


def postorder(root: Expr | list[Expr], descend=lambda node: True,
              right_to_left: bool = False) -> list[Expr]:
    """Every distinct node under ``root`` (or under any of a list of roots) once, children first.

    ``descend(node)`` false keeps the node but not what is below it.
    """
    out: list[Expr] = []
    seen: set[Expr] = set()
    roots = list(root) if isinstance(root, list) else [root]
    stack: list[tuple[Expr, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            out.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        if descend(node):
            children = node.children if right_to_left else reversed(node.children)
            stack.extend((c, False) for c in children)
    return out


def depends_on(e: Expr, names: frozenset[str], memo: dict | None = None) -> bool:
    """Whether ``e`` involves any of the named symbols; ``memo`` gets the answer for every node."""
    memo = {} if memo is None else memo
    for node in postorder(e, lambda n: n not in memo):
        if node not in memo:
            memo[node] = (isinstance(node, Symbol) and node.name in names) or any(
                memo[c] for c in node.children)
    return memo[e]


def symbols_in(e: Expr) -> list[Symbol]:
    """Free names in order of first appearance (left to right)."""
    return [node for node in postorder(e) if isinstance(node, Symbol)]


_SYMMETRIC: dict[Expr, bool] = {}


def is_symmetric(e: Expr) -> bool:
    """Known to equal its transpose (the rows of expr/identities.py that say why): a symbol
    assumed so, the identity, a square constant, inv of a symmetric matrix, A + A^T, B^T A B
    and B B^T with A symmetric, sums, scalings and elementwise functions of symmetric ones."""
    if e.is_scalar or e.shape[0] != e.shape[1]:
        return e.is_scalar
    known = _SYMMETRIC.get(e)
    if known is None:
        known = _SYMMETRIC[e] = _symmetric(e)
        if len(_SYMMETRIC) > 100_000:   # a bound for a long session, not a cache policy
            _SYMMETRIC.clear()
    return known


def _symmetric(e: Expr) -> bool:
    if isinstance(e, Symbol):
        return e.assumption in ("symmetric", "spd")
    if isinstance(e, Identity):
        return True
    if isinstance(e, Broadcast):
        return e.arg.is_scalar
    if isinstance(e, (Transpose, Shared)):
        return is_symmetric(e.children[0])
    if isinstance(e, Func):
        return (e.op.keeps_symmetry or e.op.elementwise) and is_symmetric(e.arg)
    if isinstance(e, (Hadamard, Power)):
        return all(is_symmetric(c) for c in e.children if not c.is_scalar)
    if isinstance(e, Add):
        # Every term symmetric, or paired with its transpose (A + A^T).
        rest = [t for t in e.terms if not is_symmetric(t)]
        return all(_transposed_of(t) in rest for t in rest)
    if isinstance(e, MatMul):
        # A palindrome up to transposes: B^T A B, B B^T, the middle factor symmetric.
        chain = e.chain
        for i in range((len(chain) + 1) // 2):
            left, right = chain[i], chain[-1 - i]
            if left is right or left == right:
                if not is_symmetric(left):
                    return False
            elif not _mirror(left, right):
                return False
        return True
    return False


def _mirror(left: Expr, right: Expr) -> bool:
    """left == right^T."""
    return isinstance(left, Transpose) and left.arg == right or \
        isinstance(right, Transpose) and right.arg == left


def _transposed_of(term: Expr) -> Expr:
    """The term with its matrix transposed, the scalar factors kept (c A -> c A^T)."""
    coeff, rest = split_coeff(term)
    if rest is None or not isinstance(rest, (Transpose, Symbol, Func)):
        return Transpose(term) if not isinstance(term, Transpose) else term.arg
    flipped = rest.arg if isinstance(rest, Transpose) else Transpose(rest)
    return flipped if coeff == 1 else MatMul(coeff, (flipped,), flipped.shape)


def is_onehot(e: Expr) -> bool:
    """Columns known to sum to 1: labels declared ``onehot``, a softmax (per column)."""
    return isinstance(e, Symbol) and e.assumption == "onehot" or \
        isinstance(e, Func) and e.name == "softmax"


def split_coeff(e: Expr) -> tuple[sympy.Expr, Expr | None]:
    """``e`` as (number, rest); rest None for a pure constant."""
    if isinstance(e, Const):
        return e.value, None
    if isinstance(e, MatMul):
        rest = e.factors[0] if len(e.factors) == 1 else MatMul(ONE, e.factors, e.shape)
        return e.coeff, rest
    return ONE, e


def split_power(e: Expr) -> tuple[Expr, sympy.Expr]:
    """``e`` as (base, numeric exponent)."""
    if isinstance(e, Power) and isinstance(e.exponent, Const):
        return e.base, e.exponent.value
    return e, ONE
