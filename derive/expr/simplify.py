"""The simplifying constructors: the whole of derive's simplification.

Build expressions only through these lower-case constructors (``add``, ``mul``,
``hadamard``, ``power``, ...): they keep the tree in the canonical form a person
would write (transposes at the leaves, scalar factors collected in front, like
terms combined, no identities or ones). Simplification happens as deltas are
built, never as a pass at the end.
"""
from __future__ import annotations

import sympy

from .nodes import (Add, Broadcast, broadcast_shape, Const, Expr, Func, Hadamard, Identity, is_const, is_onehot, is_symmetric, is_zero, MatMul, MAX_CHAIN, MAX_CONSTANT_BITS, ONE, postorder, Power, SCALAR, Shape, Shared, split_coeff, split_power, Sum, Symbol, TooLarge, Transpose, zeros)


def ones(shape: Shape) -> Expr:
    return broadcast(Const(ONE), shape)


def broadcast(e: Expr, shape: Shape) -> Expr:
    if e.shape == shape:
        return e
    if isinstance(e, Broadcast):
        e = e.arg
    if is_zero(e):
        return zeros(shape)
    if isinstance(e, MatMul) and e.chain and (e.coeff != 1 or e.scalars):
        # Scalars stay outside: c (v 1^T), so that products and sums can collect them.
        return mul(Const(e.coeff), *e.scalars, Broadcast(mul(*e.chain), shape))
    return Broadcast(e, shape)


def add(*terms: Expr) -> Expr:
    flat: list[Expr] = []
    for t in terms:
        flat.extend(t.terms if isinstance(t, Add) else (t,))
    shape = broadcast_shape(t.shape for t in flat)
    assert shape is not None, "add: shapes do not broadcast"
    # Like terms: the same expression up to a numeric factor.
    collected: dict[Expr | None, sympy.Expr] = {}
    for t in flat:
        if is_zero(t):
            continue
        if isinstance(t, Broadcast) and t.arg.is_scalar:
            t = t.arg  # the sum broadcasts a scalar term by itself: 1 - s, not ones(m, n) - s
        coeff, rest = split_coeff(t)
        collected[rest] = collected.get(rest, 0) + coeff
    parts = _factor_common([_scaled(c, rest) for rest, c in collected.items() if c != 0])
    if not parts:
        return zeros(shape)
    if len(parts) == 1:
        return broadcast(parts[0], shape)
    common = _common_scalars(parts)
    if common:
        divided = [mul(*[power(f, Const(-ONE)) for f in common], p) for p in parts]
        # Only if dividing removed them: sum(x.^2) / norm(x)^2 keeps both (norm(x)^2 is
        # rewritten as sum(x.^2)), and e^-u times the 1x1 product e^u (a^T d) keeps e^-u
        # beside it; factoring again would never end.
        # Nor where an inverse is left anywhere inside: step(z) (x^T d) / step(z) would be
        # 0/0 where step(z) is 0, a wrong value where the sum itself is right.
        inverses = {power(f, Const(-ONE)) for f in common}
        left = set(_common_scalars(divided))
        if not left & set(common) and inverses.isdisjoint(postorder(divided)):
            return broadcast(mul(*common, add(*divided)), shape)
    parts_shape = broadcast_shape(p.shape for p in parts)
    return broadcast(Add(tuple(parts), parts_shape), shape)


def _common_scalars(terms: list[Expr]) -> list[Expr]:
    """Scalar factors every term has (``a/m + b/m`` is ``(a + b)/m``)."""
    common = None
    for t in terms:
        factors = set(t.scalars) if isinstance(t, MatMul) else set()
        common = factors if common is None else common & factors
        if not common:
            return []
    return [f for f in terms[0].scalars if f in common]


def _factor_common(terms: list[Expr]) -> list[Expr]:
    """``A^T x + A x`` as ``(A^T + A) x``: products of two factors that share one of them."""
    for side in (-1, 0):
        groups: dict[Expr, list[int]] = {}
        for i, t in enumerate(terms):
            if isinstance(t, MatMul) and len(t.chain) == 2:
                groups.setdefault(t.chain[side], []).append(i)
        for shared, members in groups.items():
            if len(members) < 2:
                continue
            others = add(*[mul(Const(terms[i].coeff), *terms[i].scalars, terms[i].chain[1 + side])
                           for i in members])
            merged = mul(others, shared) if side == -1 else mul(shared, others)
            rest = [t for i, t in enumerate(terms) if i not in members]
            return _factor_common([merged] + rest) if len(rest) > 1 else [merged] + rest
    return terms


def _scaled(coeff: sympy.Expr, rest: Expr | None) -> Expr:
    if rest is None:
        return Const(coeff)
    return mul(Const(coeff), rest) if coeff != 1 else rest


def neg(e: Expr) -> Expr:
    return mul(Const(-ONE), e)


def sub(a: Expr, b: Expr) -> Expr:
    return add(a, neg(b))


def mul(*factors: Expr) -> Expr:
    """Matrix product; 1x1 factors scale (and commute)."""
    coeff = ONE
    scalars: dict[Expr, sympy.Expr] = {}
    chain: list[Expr] = []

    def take_scalar(f: Expr) -> None:
        nonlocal coeff
        if isinstance(f, Const):
            coeff *= f.value
            return
        if isinstance(f, MatMul) and not f.chain:
            coeff *= f.coeff
            for s in f.factors:
                take_scalar(s)
            return
        base, exp = split_power(f)
        if isinstance(base, Const) and exp.is_Integer:
            coeff *= base.value ** exp
            return
        scalars[base] = scalars.get(base, 0) + exp

    for f in factors:
        if isinstance(f, MatMul) and not f.is_scalar:
            coeff *= f.coeff
            for s in f.scalars:
                take_scalar(s)
            chain.extend(f.chain)
        elif f.is_scalar:
            take_scalar(f)
        else:
            chain.append(f)
    if len(chain) > MAX_CHAIN:
        raise TooLarge(f"a product of more than {MAX_CHAIN} matrices")
    shape = (chain[0].shape[0], chain[-1].shape[1]) if chain else SCALAR
    for left, right in zip(chain, chain[1:]):
        assert left.shape[1] == right.shape[0], f"mul: {left.shape} times {right.shape}"
    if coeff == 0 or any(is_zero(f) for f in chain):
        return zeros(shape)
    if len(chain) > 1:
        chain = [f for f in chain if not isinstance(f, Identity)] or [chain[0]]
    chain = _absorb_diagonals(chain)
    coeff, chain = _contract_ones(coeff, chain)
    if len(chain) == 2 and _is_ones(chain[0]) and chain[1].shape[0] == 1:
        chain = [broadcast(chain[1], shape)]          # 1 r: r repeated down the rows
    elif len(chain) == 2 and _is_ones(chain[1]) and chain[0].shape[1] == 1:
        chain = [broadcast(chain[0], shape)]          # v 1^T: v repeated across the columns
    if len(chain) == 1 and isinstance(chain[0], Broadcast) and chain[0].arg.is_scalar:
        # c * (s broadcast) is (c s) broadcast: the sum it sits in broadcasts it by itself.
        return broadcast(mul(Const(coeff), *scalars_of(scalars), chain[0].arg), shape)
    scalar_factors = scalars_of(scalars)
    all_factors = tuple(scalar_factors + chain)
    if not all_factors:
        return Const(coeff)
    if coeff == 1 and len(all_factors) == 1:
        return all_factors[0]
    return MatMul(coeff, all_factors, shape)


def scalars_of(powers: dict[Expr, sympy.Expr]) -> list[Expr]:
    factors = [power(b, Const(e)) for b, e in powers.items() if e != 0]
    return [f for f in factors if not is_const(f, 1)]


def _is_ones(e: Expr) -> bool:
    return isinstance(e, Broadcast) and isinstance(e.arg, Const)


def _contract_ones(coeff, chain: list[Expr]) -> tuple[sympy.Expr, list[Expr]]:
    """Products with a matrix of ones are sums: Y 1 is sum(Y, 2), 1^T Y is sum(Y, 1)."""
    if len(chain) < 2 or not any(_is_ones(f) for f in chain):
        return coeff, chain
    split: list[Expr] = []
    for f in chain:
        if _is_ones(f) and f.shape[0] != 1 and f.shape[1] != 1:
            coeff *= f.arg.value   # c 1_(r x s) = c 1_r 1_s^T
            split += [ones((f.shape[0], ONE)), ones((ONE, f.shape[1]))]
        elif _is_ones(f):
            coeff *= f.arg.value
            split.append(ones(f.shape))
        else:
            split.append(f)
    for i in range(len(split) - 1):
        left, right = split[i], split[i + 1]
        if _is_ones(right) and right.shape[1] == 1 and not _is_ones(left):
            return _contract_ones(coeff, split[:i] + [summation(left, 1)] + split[i + 2:])
        if _is_ones(left) and left.shape[0] == 1 and not _is_ones(right):
            return _contract_ones(coeff, split[:i] + [summation(right, 0)] + split[i + 2:])
    return coeff, split


def _is_diagonal(e: Expr) -> bool:
    return isinstance(e, Func) and e.name == "diag" and e.arg.shape[1] == 1 and e.shape[0] != 1


def _absorb_diagonals(chain: list[Expr]) -> list[Expr]:
    """diag(v) B is v .* B and A diag(v) is A .* v^T: no diagonal matrix stays in a product."""
    for i, f in enumerate(chain):
        if _is_diagonal(f) and len(chain) > 1:
            v = f.arg
            if i + 1 < len(chain):
                merged = hadamard(v, chain[i + 1])
                return _absorb_diagonals(chain[:i] + [merged] + chain[i + 2:])
            merged = hadamard(chain[i - 1], transpose(v))
            return _absorb_diagonals(chain[:i - 1] + [merged])
    return chain


def hadamard(*factors: Expr) -> Expr:
    """Elementwise product: scalars pulled out in front, equal bases merged into powers."""
    shape = broadcast_shape(f.shape for f in factors)
    assert shape is not None, "hadamard: shapes do not broadcast"
    scalar_part: list[Expr] = []
    bases: dict[Expr, sympy.Expr] = {}
    pending = list(factors)
    while pending:
        f = pending.pop(0)
        if isinstance(f, Broadcast) and f.arg.is_scalar:
            f = f.arg
        if f.is_scalar:
            scalar_part.append(f)
        elif isinstance(f, Hadamard):
            pending[:0] = f.factors
        elif isinstance(f, MatMul) and (f.scalars or f.coeff != 1):
            # (c X) .* Y is c (X .* Y)
            scalar_part += [Const(f.coeff), *f.scalars]
            pending.insert(0, mul(*f.chain))
        else:
            base, exp = split_power(f)
            bases[base] = bases.get(base, 0) + exp
    if any(is_zero(s) for s in scalar_part) or any(is_zero(b) for b in bases):
        return zeros(shape)
    kept = [power(b, Const(e)) for b, e in bases.items() if e != 0]
    kept = [k for k in kept if not is_const(k, 1)]
    if not kept:
        body: Expr = Const(ONE)
    elif len(kept) == 1:
        body = kept[0]
    else:
        body = Hadamard(tuple(kept), broadcast_shape(k.shape for k in kept))
    return broadcast(mul(*scalar_part, body), shape)


def power(base: Expr, exponent: Expr) -> Expr:
    """Elementwise power (for a scalar base, the ordinary power)."""
    if isinstance(exponent, Const):
        p = exponent.value
        if p == 0:
            return ones(base.shape)
        if p == 1:
            return base
        if isinstance(base, Const) and (p.is_Integer or base.value == 1):
            if base.value == 0 and p < 0:
                raise TooLarge("the formula divides by zero")
            if base.value.is_Rational and p.is_Integer and abs(p) * max(
                    base.value.p.bit_length(), base.value.q.bit_length()) > 4 * MAX_CONSTANT_BITS:
                raise TooLarge("a constant of the formula is beyond the range of floating point "
                               "numbers (about 1e300)")
            return Const(base.value ** p)
        if isinstance(base, Power) and isinstance(base.exponent, Const) and p.is_Integer:
            return power(base.base, Const(base.exponent.value * p))
        if isinstance(base, Broadcast):
            return broadcast(power(base.arg, exponent), base.shape)
        if p == 2 and isinstance(base, Func) and base.name == "norm":
            # The squared 2-norm is the sum of squares: the form whose derivative reads 2x.
            return summation(power(base.arg, exponent), None)
        if isinstance(base, MatMul) and p.is_Integer and len(base.chain) <= 1:
            # (c s X).^p = c^p s^p X.^p, elementwise, for a whole power; not for x'y,
            # whose factors are not scalars
            return mul(*[power(f, exponent) for f in base.factors], Const(base.coeff ** p))
        if isinstance(base, Hadamard) and p.is_Integer:
            return hadamard(*[power(f, exponent) for f in base.factors])
    return Power(base, exponent)


def transpose(e: Expr) -> Expr:
    """Transpose, pushed through products to the leaves.

    Sums and elementwise results keep their transpose, ``(A s - x)^T``: pushed in
    they read worse and no longer share the untransposed value.
    """
    if e.is_scalar:
        return e
    if isinstance(e, Add) and all(_named_matrix(t) for t in e.terms):
        # (A^T + A)^T is A + A^T: as short, and what a second derivative (of x'Ax) reads like
        return add(*[transpose(t) for t in e.terms])
    if is_symmetric(e):
        return e
    if isinstance(e, Transpose):
        return e.arg
    if isinstance(e, MatMul):
        return mul(Const(e.coeff), *e.scalars, *[transpose(f) for f in reversed(e.chain)])
    if isinstance(e, Broadcast):
        return broadcast(transpose(e.arg), (e.shape[1], e.shape[0]))
    if isinstance(e, Shared) and transpose(e.value) == e.value:
        return e  # symmetric, like s s^T
    if isinstance(e, Sum) and e.axis is not None and isinstance(e.arg, Transpose):
        return summation(e.arg.arg, 1 - e.axis)
    if isinstance(e, Func) and e.op.transpose is not None:
        return e.op.transpose(e)
    return Transpose(e)


def _named_matrix(e: Expr) -> bool:
    """A matrix of the formula (or a function of one: inv(A)) or its transpose, possibly
    scaled by a number: A, -2 B^T, inv(S)^T / 2."""
    if isinstance(e, MatMul) and len(e.factors) == 1:
        e = e.factors[0]
    if isinstance(e, Transpose):
        e = e.arg
    if isinstance(e, Func) and all(isinstance(a, Symbol) for a in e.args):
        e = e.args[0]
    return isinstance(e, Symbol) and e.shape[0] != 1 and e.shape[1] != 1


def summation(e: Expr, axis: int | None) -> Expr:
    """``sum`` over all entries (None), down columns (0) or along rows (1)."""
    rows, cols = e.shape
    if axis is None and e.is_scalar:
        return e
    if axis == 0 and rows == 1 or axis == 1 and cols == 1:
        return e
    if axis == 0 and cols == 1 or axis == 1 and rows == 1:
        axis = None
    if isinstance(e, Identity):
        # Every row and every column of I sums to 1.
        return Const(rows) if axis is None else ones((ONE, cols) if axis == 0 else (rows, ONE))
    if is_onehot(e) and axis != 1:
        # Every column sums to 1: the column sums are a row of ones, all entries sum to cols.
        return ones((ONE, cols)) if axis == 0 else Const(cols)
    if isinstance(e, MatMul) and (e.coeff != 1 or e.scalars):
        return mul(Const(e.coeff), *e.scalars, summation(mul(*e.chain), axis))
    if isinstance(e, Broadcast):
        inner = e.arg
        r, c = inner.shape
        # Entries repeated k times sum to k times the entry.
        if axis is None:
            return mul(Const(rows * cols / (r * c)), summation(inner, None))
        if axis == 0:
            return broadcast(mul(Const(rows / r), summation(inner, 0)), (ONE, cols))
        return broadcast(mul(Const(cols / c), summation(inner, 1)), (rows, ONE))
    if isinstance(e, Add):
        # Distribute only where it removes a broadcast; otherwise keep one reduction.
        if any(isinstance(t, Broadcast) or t.shape != e.shape for t in e.terms):
            return add(*[summation(broadcast(t, e.shape), axis) for t in e.terms])
    if axis is not None and isinstance(e, Transpose):
        return transpose(summation(e.arg, 1 - axis))
    if isinstance(e, MatMul) and len(e.chain) > 1:
        # The row sums of P (v 1^T) are P (m v), the column sums of (1 r) Q are (n r) Q: the
        # repeated factor is summed, not the product.
        end = e.chain[-1] if axis == 1 else e.chain[0] if axis == 0 else None
        if isinstance(end, Broadcast) and not end.arg.is_scalar:
            reduced = summation(end, axis)
            return mul(*e.chain[:-1], reduced) if axis == 1 else mul(reduced, *e.chain[1:])
    return Sum(e, axis)


def unbroadcast(delta: Expr, shape: Shape) -> Expr:
    """The adjoint of broadcasting ``shape`` up to ``delta.shape``: sum the repeats."""
    if delta.shape == shape:
        return delta
    rows, cols = shape
    if rows == 1 and cols == 1:
        return summation(delta, None)
    if rows == 1:
        return summation(delta, 0)
    return summation(delta, 1)


def rebuild(node: Expr, children: list[Expr]) -> Expr:
    """``node`` with new children, through the simplifying constructors."""
    if isinstance(node, Add):
        return add(*children)
    if isinstance(node, MatMul):
        return mul(Const(node.coeff), *children)
    if isinstance(node, Hadamard):
        return hadamard(*children)
    if isinstance(node, Power):
        return power(*children)
    if isinstance(node, Transpose):
        return transpose(children[0])
    if isinstance(node, Sum):
        return summation(children[0], node.axis)
    if isinstance(node, Broadcast):
        return broadcast(children[0], node.shape)
    if isinstance(node, Func) and len(children) > 1:
        return Func(node.op, tuple(children), node.params, node.shape)   # A ⊗ B: no rewrites
    if isinstance(node, Func):
        return node.op.apply(children[0], *node.params)
    return node


def substitute(e: Expr, mapping: dict[Expr, Expr]) -> Expr:
    """``e`` with every node in ``mapping`` replaced, rebuilt (and so simplified) bottom up."""
    done: dict[Expr, Expr] = {}
    for node in postorder(e, lambda n: n not in mapping):
        if node in mapping:
            done[node] = mapping[node]
        else:
            children = [done[c] for c in node.children]
            same = all(a is b for a, b in zip(children, node.children))
            done[node] = node if same else rebuild(node, children)
    return done[e]
