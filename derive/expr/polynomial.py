"""Elementwise expressions as polynomials: expanded, like terms collected, common factors out.

An elementwise expression (sums, Hadamard products, scalings, whole powers, broadcasts,
column or row sums) is a sum of monomials, each a number times a product of powers of
atoms (everything else: a symbol, a call, a matrix product, a definition). Expanding,
collecting like monomials and taking out the factors every monomial shares is how a reader
simplifies ``(1 - y) .* p - y .* (1 - p)`` to ``p - y``; a column sum distributes over the
monomials, and what is constant down a column comes out of it (``sum(r .* A, 1) = r .*
sum(A, 1)`` for a row r), so that the columns of a centred matrix are seen to sum to zero.
The identities are those of a commutative ring, applied entry by entry: they always hold.
"""
from __future__ import annotations

import functools

import sympy

from .nodes import Add, Broadcast, Const, Expr, Hadamard, MatMul, ONE, Power, Shared, split_power, Sum, zeros
from .simplify import add, broadcast, hadamard, mul, power, summation

Monomial = tuple   # ((atom, exponent), ...) in a fixed order of the atoms
Poly = dict        # Monomial -> coefficient

# Expansions beyond this many monomials are not what a reader would write.
MAX_TERMS = 48


class TooMany(Exception):
    pass


def expand(e: Expr, inline: bool = False) -> Poly:
    """e as a polynomial; ``inline``: a definition (Shared) that is elementwise is expanded."""
    if isinstance(e, Const):
        return {(): e.value} if e.value != 0 else {}
    if isinstance(e, Broadcast):
        return expand(e.arg, inline)
    if isinstance(e, Shared) and inline and isinstance(e.value, (Add, Hadamard, MatMul)):
        return expand(e.value, inline)
    if isinstance(e, Shared) and isinstance(e.value, MatMul) and len(e.value.factors) == 1 \
            and isinstance(e.value.factors[0], Sum):
        return expand(e.value, inline)   # a mean: what is constant in it comes out
    if isinstance(e, Add):
        out: Poly = {}
        for t in e.terms:
            _add_into(out, expand(t, inline))
        return out
    if isinstance(e, Hadamard):
        out = {(): ONE}
        for f in e.factors:
            out = _times(out, expand(f, inline))
        return out
    if isinstance(e, MatMul) and len(e.chain) <= 1:
        out = {(): e.coeff}
        for f in e.factors:
            out = _times(out, expand(f, inline))
        return out
    if isinstance(e, Power) and isinstance(e.exponent, Const):
        p = e.exponent.value
        if p.is_Integer and 1 < p <= 3 and isinstance(e.base, Add):
            base = expand(e.base, inline)
            out = {(): ONE}
            for _ in range(int(p)):
                out = _times(out, base)
            return out
        base, q = split_power(e)
        inner = expand(base, inline) if p.is_Integer else None
        if inner is not None and len(inner) == 1:
            ((monomial, c),) = inner.items()
            return {_normal(tuple((a, k * p) for a, k in monomial)): c ** p}
        return {((base, p),): ONE}
    if isinstance(e, Sum) and e.axis is not None:
        return _summed(expand(e.arg, inline), e.arg.shape, e.axis)
    return {((e, ONE),): ONE}


def _summed(poly: Poly, shape, axis: int, zeros_known: bool = True) -> Poly:
    """sum(poly, axis): each monomial's factors constant along the axis come out
    (``zeros_known``: a sum of a definition that vanishes is left out)."""
    out: Poly = {}
    count = shape[axis]
    for monomial, c in poly.items():
        constant = tuple((a, k) for a, k in monomial if a.shape[axis] == 1)
        varying = [power(a, Const(k)) for a, k in monomial if a.shape[axis] != 1]
        if not varying:
            _add_into(out, {_normal(constant): c * count})
            continue
        inner = hadamard(*varying)
        if zeros_known and _sums_to_zero(inner, axis):
            continue
        _add_into(out, _times({constant: c}, {((summation(inner, axis), ONE),): ONE}))
    return out


def _sums_to_zero(e: Expr, axis: int) -> bool:
    """A definition whose sums along the axis vanish (X - mean(X, 1) down its columns)."""
    if not isinstance(e, Shared) and not (isinstance(e, Hadamard) and any(
            isinstance(f, Shared) for f in e.factors)):
        return False
    try:
        return not _summed(expand(e, inline=True), e.shape, axis, zeros_known=False)
    except TooMany:
        return False


def _normal(monomial) -> Monomial:
    merged: dict[Expr, sympy.Expr] = {}
    for a, k in monomial:
        merged[a] = merged.get(a, 0) + k
    return tuple(sorted(((a, k) for a, k in merged.items() if k != 0),
                        key=lambda item: _key(item[0])))


@functools.lru_cache(maxsize=4096)
def _key(atom: Expr) -> str:
    # Structural and the same in every run (a hash of a name is not: PYTHONHASHSEED).
    return repr(atom)


def _add_into(out: Poly, poly: Poly) -> None:
    for m, c in poly.items():
        total = out.get(m, 0) + c
        if total == 0:
            out.pop(m, None)
        else:
            out[m] = total
    if len(out) > MAX_TERMS:
        raise TooMany


def _times(left: Poly, right: Poly) -> Poly:
    out: Poly = {}
    for m1, c1 in left.items():
        for m2, c2 in right.items():
            _add_into(out, {_normal(m1 + m2): c1 * c2})
    return out


def collected(poly: Poly, shape, order: dict[Expr, int]) -> Expr:
    """The polynomial as an expression: the factors every monomial shares taken out, the
    factors of each product in ``order`` (where they stood in the expression expanded)."""
    if not poly:
        return zeros(shape)
    common: dict[Expr, sympy.Expr] | None = None
    for monomial in poly:
        powers = dict(monomial)
        if common is None:
            common = powers
            continue
        common = {a: (min(k, powers[a]) if k > 0 else max(k, powers[a]))
                  for a, k in common.items() if a in powers and (k > 0) == (powers[a] > 0)}
    common = common or {}
    if len(poly) == 1:
        common = {}
    terms = []
    place = lambda item: order.get(item[0], len(order))
    for monomial, c in poly.items():
        rest = [power(a, Const(k - common.get(a, 0))) for a, k in sorted(monomial, key=place)]
        terms.append(mul(Const(c), hadamard(*rest)) if rest else Const(c))
    body = add(*terms)
    # The shared factors after the sum: (G - ...) ./ s, as a paper writes it.
    if not common:
        return broadcast(body, shape)
    # The sum stands where its first factor stood: (G - ...) ./ s; A .* H .* (1 - H).
    first = min(place(item) for monomial in poly for item in monomial
                if item[1] != common.get(item[0]))
    parts = sorted([(first, body)] + [(place(item), power(item[0], Const(item[1])))
                                      for item in common.items()], key=lambda p: p[0])
    out = hadamard(*[p for _, p in parts])
    return broadcast(out, shape)
