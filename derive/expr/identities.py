"""The identities a reader knows, one table: what each says, when it holds, and how it applies.

Two kinds of rows. A *fact* is used by the simplifying constructors as every delta is
built (``transpose`` of a symmetric matrix is itself, the column sums of a softmax are
ones): it makes every output shorter, the emitted code too. A *reading* rewrite is used
only on the results as printed for people (expr/tidy.py): the code keeps the forms that
are cheaper or numerically safer (``-softplus(-z)`` for ``log(sigmoid(z))``), the text and
LaTeX the forms a paper writes (``log(p)`` where ``p = sigmoid(z)`` is a definition).

Every row has a fingerprint in the tests (tests/test_identities.py): both sides evaluated
on random data that meets the condition, as tensorgrad checks its rewrites. A rewrite is
only tried where its condition holds, and the tidy pass keeps it only if it prints shorter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy

from .nodes import postorder, Add, Const, Expr, Func, Hadamard, Identity, MatMul, ONE, Shared, split_coeff, split_power, Sum
from .ops import apply, lookup
from .polynomial import collected, expand, TooMany
from .simplify import add, hadamard, mul, neg, ones, power, sub, summation


@dataclass(frozen=True)
class Context:
    """What a rewrite may use: the formula's definitions (each node -> how it prints, an
    opaque node for its name) and the numbers the user wrote as decimals."""
    definitions: dict
    decimals: tuple


@dataclass(frozen=True)
class Rule:
    """One identity: its name, the equation as a reader knows it, the condition under which it
    holds, where it is applied, the rewrite (None for facts, which the constructors apply),
    and a fingerprint: (left side, right side, --shape, --assume) in the formula language."""
    name: str
    equation: str
    condition: str
    applied_by: str
    rewrite: Callable[[Expr, Context], Expr | list[Expr] | None] | None
    fingerprint: tuple[str, str, tuple, tuple]


# ---------------------------------------------------------------- reading rewrites


def _definition_power(e: Expr, ctx: Context) -> Expr | None:
    """b^p as d^(p/q) where d = b^q is a definition and p/q is a whole number."""
    base, p = split_power(e)
    if p == 1:
        return None
    for d in ctx.definitions:
        d_base, q = split_power(d)
        if d_base == base and q != 1 and d is not e and (p / q).is_Integer:
            return power(ctx.definitions[d], Const(p / q))
    return None


def _factors(e: Expr) -> dict[Expr, sympy.Expr]:
    return dict(split_power(f) for f in (e.factors if isinstance(e, Hadamard) else (e,)))


def _definition_in_product(e: Expr, ctx: Context) -> Expr | None:
    """x .* y .* z as D .* z where D = x .* y is a definition (with powers: x .* y.^-3 is
    D .* y.^-2 where D = x ./ y)."""
    if not isinstance(e, Hadamard):
        return None
    have = _factors(e)
    for d in ctx.definitions:
        if not isinstance(d, Hadamard) or d.shape != e.shape:
            continue
        need = _factors(d)
        if all(b in have and (have[b] / q).is_positive and abs(have[b]) >= abs(q)
               for b, q in need.items()):
            rest = [power(b, Const(p - need.get(b, 0))) for b, p in have.items()]
            return hadamard(ctx.definitions[d], *rest)
    return None


def _definition_in_sum(e: Expr, ctx: Context) -> Expr | None:
    """a + b + c as D + c where D = a + b is a definition (c may be absent: a multiple of D)."""
    if not isinstance(e, Add):
        return None
    for d in ctx.definitions:
        if not isinstance(d, Add):
            continue
        for scale in dict.fromkeys([ONE, -ONE] + [t.coeff for t in e.terms if isinstance(t, MatMul)]):
            scaled = [mul(Const(scale), t) for t in d.terms]
            if all(t in e.terms for t in scaled):
                rest = [t for t in e.terms if t not in scaled]
                return add(mul(Const(scale), ctx.definitions[d]), *rest)
    return None


def _definition_scaled(e: Expr, ctx: Context) -> Expr | None:
    """c X = (c / k) D where D = k X is a definition (sum(A, 2) = m rho_hat where
    rho_hat = mean(A, 2))."""
    base, p = split_power(e)
    coeff, rest = split_coeff(base)
    if rest is None or not p.is_Integer:
        return None
    for d in ctx.definitions:
        k, body = split_coeff(d)
        if isinstance(d, MatMul) and body == rest and d is not base:
            # (c X)^p = (c / k)^p D^p, whole p
            return mul(Const((coeff / k) ** p), power(ctx.definitions[d], Const(p)))
    return None


def _scale_into_sum(e: Expr, ctx: Context) -> Expr | None:
    """c (a / c + b) W = (a + c b) W: a number multiplied into the sum it scales, where it
    cancels a fraction there (a minus sign stays in front: -(x - mu), not (mu - x))."""
    if not isinstance(e, MatMul) or abs(e.coeff) == 1:
        return None
    for i, f in enumerate(e.factors):
        if isinstance(f, Add) and any(_denominator(split_coeff(t)[0] * e.coeff) <
                                      _denominator(split_coeff(t)[0]) for t in f.terms):
            factors = list(e.factors)
            factors[i] = add(*[mul(Const(e.coeff), t) for t in f.terms])
            return mul(*factors)
    return None


def _denominator(number: sympy.Expr) -> int:
    """How long a number's denominator prints (1 for none)."""
    below = sympy.fraction(number)[1]
    return 1 if below == 1 else 1 + len(str(below))


def _sigmoid_of_negative(e: Expr, ctx: Context) -> Expr | None:
    """sigmoid(-z) = 1 - sigmoid(z), read where sigmoid(z) is a definition."""
    if isinstance(e, Func) and e.name == "sigmoid":
        positive = neg(e.arg)
        named = apply("sigmoid", positive)
        if named in ctx.definitions:
            return sub(ones(e.shape), ctx.definitions[named])
    return None


def _softplus_of_negative(e: Expr, ctx: Context) -> Expr | None:
    """softplus(-z) = -log(sigmoid(z)), read where sigmoid(z) is a definition."""
    if isinstance(e, Func) and e.name == "softplus":
        named = apply("sigmoid", neg(e.arg))
        if named in ctx.definitions:
            return neg(_log(ctx.definitions[named]))
    return None


def _log(e: Expr) -> Expr:
    # Built as a node, not through apply: apply would turn it back into the stable form.
    return Func(lookup("log"), (e,), (), e.shape)


def _log_softmax(e: Expr, ctx: Context) -> Expr | None:
    """Z - logsumexp(Z, 1) = log(P) where P = softmax(Z) is a definition (also as two terms
    of a longer sum, and negated)."""
    if not isinstance(e, Add):
        return None
    for z in e.terms:
        named = apply("softmax", z)
        if named not in ctx.definitions:
            continue
        for sign in (ONE, -ONE):
            pair = [mul(Const(sign), z), mul(Const(-sign), apply("logsumexp", z, 0))]
            if all(t in e.terms for t in pair):
                rest = [t for t in e.terms if t not in pair]
                return add(mul(Const(sign), _log(ctx.definitions[named])), *rest)
    return None


def _exp_minus_logsumexp(e: Expr, ctx: Context) -> Expr | None:
    """exp(Z - logsumexp(Z, 1)) = softmax(Z): one column at a time, exp(z) / sum(exp(z))."""
    if isinstance(e, Func) and e.name == "exp" and isinstance(e.arg, Add) and \
            len(e.arg.terms) == 2:
        for z in e.arg.terms:
            if z.shape == e.shape and neg(apply("logsumexp", z, 0)) in e.arg.terms:
                return apply("softmax", z)
    return None


def _trace_of_product_with_identity(e: Expr, ctx: Context) -> Expr | None:
    """sum(A .* I) = tr(A), and tr is linear: tr(c A + B) = c tr(A) + tr(B)."""
    if not isinstance(e, Sum) or e.axis is not None:
        return None
    out = []
    for term in e.arg.terms if isinstance(e.arg, Add) else (e.arg,):
        coeff, rest = split_coeff(term)
        if not isinstance(rest, Hadamard) or not any(isinstance(f, Identity) for f in rest.factors):
            return None
        inner = hadamard(*[f for f in rest.factors if not isinstance(f, Identity)])
        out += [mul(Const(coeff), _trace(t)) for t in
                (inner.terms if isinstance(inner, Add) else (inner,))]
    return add(*out)


def _trace(e: Expr) -> Expr:
    """tr(c A) = c tr(A); tr(u v^T) = v^T u (the trace is cyclic)."""
    if isinstance(e, MatMul):
        chain = list(e.chain)
        for i, f in enumerate(chain):
            if f.shape[1] == 1 and i + 1 < len(chain):
                # rotate so that the column vector is last: a scalar v^T ... u
                rotated = chain[i + 1:] + chain[:i + 1]
                return mul(Const(e.coeff), *e.scalars, *rotated)
        return mul(Const(e.coeff), *e.scalars, apply("tr", mul(*chain)))
    return apply("tr", e)


def _numbers_as_written(e: Expr, ctx: Context) -> Expr | None:
    """c X as r d X, where d is a product of numbers the user wrote (1.702) and r a small
    fraction (0.7978845608 / 2 rather than 997355701 / 2500000000)."""
    coeff = e.coeff if isinstance(e, MatMul) else e.value if isinstance(e, Const) else None
    if coeff is None or not coeff.is_Rational or coeff.q <= SMALL or not ctx.decimals:
        return None
    for value, written in _products(ctx.decimals):
        r = coeff / value
        if abs(r.p) <= SMALL and r.q <= SMALL:
            rest = e.factors if isinstance(e, MatMul) else ()
            return mul(Const(r), *[Shared(Const(d)) for d in written], *rest)
    return None


SMALL = 12   # the largest numerator and denominator of a fraction the calculus makes (3/2)


def _products(decimals: tuple) -> list[tuple[sympy.Expr, tuple]]:
    """The written numbers, and products of two or three of them: (value, factors)."""
    out = [(a, (a,)) for a in decimals]
    pairs = [(a, b) for i, a in enumerate(decimals) for b in decimals[i:]]
    out += [(a * b, (a, b)) for a, b in pairs]
    return out + [(a * b * c, (a, b, c)) for a, b in pairs for c in decimals
                  if decimals.index(c) >= decimals.index(b)]


def _collected(e: Expr, ctx: Context) -> Expr | None:
    """Expanded, like terms collected, common factors out (expr/polynomial.py)."""
    if not isinstance(e, (Add, Hadamard, Sum)) or isinstance(e, Sum) and e.axis is None:
        return None
    try:
        order = {node: i for i, node in enumerate(postorder(e))}
        return collected(expand(e), e.shape, order)
    except TooMany:
        return None


def _common_factor(e: Expr, ctx: Context) -> list[Expr] | None:
    """a .* b + a .* c + d = a .* (b + c) + d: each factor several terms of a sum share, taken
    out of those terms (the factors they all share with it)."""
    if not isinstance(e, Add):
        return None
    split = [_term_factors(t) for t in e.terms]
    # the terms each factor is in, in the order the factors are first seen (one pass: a
    # sum of n terms costs n steps, not n^2)
    terms_with: dict[Expr, list[int]] = {}
    for i, (_, factors) in enumerate(split):
        for b in factors:
            terms_with.setdefault(b, []).append(i)
    seen = list(terms_with)
    out = []
    for base in seen:
        members = terms_with[base]
        if len(members) < 2 or len(members) == len(split) and len(seen) == 1:
            continue
        shared = {b: k for b, k in split[members[0]][1].items()
                  if all(b in split[i][1] and (split[i][1][b] > 0) == (k > 0) for i in members)}
        shared = {b: min((split[i][1][b] for i in members), key=abs) for b in shared}
        inner = add(*[mul(Const(split[i][0]), hadamard(*[
            power(b, Const(k - shared.get(b, 0))) for b, k in split[i][1].items()]))
            for i in members])
        grouped = hadamard(*[power(b, Const(k)) for b, k in shared.items()], inner)
        out.append(add(grouped, *[t for i, t in enumerate(e.terms) if i not in members]))
    return out or None


def _term_factors(term: Expr) -> tuple[sympy.Expr, dict[Expr, sympy.Expr]]:
    """A term of a sum as (number, {base: exponent}) of its elementwise factors."""
    coeff, rest = split_coeff(term)
    if rest is None:
        return coeff, {}
    if isinstance(rest, MatMul) and len(rest.chain) <= 1:
        parts = [*rest.scalars, *rest.chain]
    else:
        parts = [rest]
    factors: dict[Expr, sympy.Expr] = {}
    for p in parts:
        for f in p.factors if isinstance(p, Hadamard) else (p,):
            b, k = split_power(f)
            factors[b] = factors.get(b, 0) + k
    return coeff, factors


def _factor_into_sum(e: Expr, ctx: Context) -> list[Expr] | None:
    """r .* sum(A, 1) = sum(r .* A, 1) for a row r (a factor constant down the columns),
    taken where a definition then forms inside the sum (s.^-1 .* sum(G .* Xc, 1) is
    sum(G .* Xh, 1) where Xh = Xc ./ s); a mean alike. Every power moved is a candidate."""
    if not isinstance(e, Hadamard):
        return None
    factors = list(e.factors)
    out = []
    for i, f in enumerate(factors):
        scale, total = _scaled_sum(f)
        if total is None:
            continue
        for j, g in enumerate(factors):
            base, k = split_power(g)
            if j == i or not isinstance(base, Shared) or base.shape[total.axis] != 1 or \
                    not k.is_Integer:
                continue
            for step in range(1, abs(int(k)) + 1):
                step = sympy.Integer(step if k > 0 else -step)
                moved = mul(Const(scale), summation(
                    hadamard(total.arg, power(base, Const(step))), total.axis))
                rest = [power(base, Const(k - step)) if n == j else h
                        for n, h in enumerate(factors) if n != i]
                out.append(hadamard(Shared(moved) if scale != 1 else moved, *rest))
    return out or None


def _scaled_sum(f: Expr) -> tuple[sympy.Expr, Sum | None]:
    """(k, sum(A, axis)) for sum(A, axis) or a mean made by _mean (k sum(A, axis))."""
    if isinstance(f, Shared) and isinstance(f.value, MatMul) and len(f.value.factors) == 1:
        f, k = f.value.factors[0], f.value.coeff
    else:
        k = ONE
    return (k, f) if isinstance(f, Sum) and f.axis is not None else (k, None)


def _mean(e: Expr, ctx: Context) -> Expr | None:
    """sum(A, 1) / m = mean(A, 1) for A with m rows: the division kept with the sum it
    averages, where the sum is a factor of an elementwise product."""
    if not isinstance(e, MatMul) or len(e.chain) != 1 or not isinstance(e.chain[0], Hadamard):
        return None
    factors = list(e.chain[0].factors)
    for i, f in enumerate(factors):
        if isinstance(f, Sum):
            count = f.arg.shape[0] * f.arg.shape[1] if f.axis is None else f.arg.shape[f.axis]
            if count != 1 and not (e.coeff * count).has(count):
                averaged = Shared(mul(Const(1 / count), f))
                return mul(Const(e.coeff * count), *e.scalars,
                           hadamard(averaged, *factors[:i], *factors[i + 1:]))
    return None


# ---------------------------------------------------------------- the table

RULES: tuple[Rule, ...] = (
    Rule("symmetric transpose", "A^T = A",
         "A declared symmetric or spd, I, inv(A), A + A^T, B^T A B, B B^T, K + c I, and sums, "
         "scalings and elementwise functions of symmetric matrices",
         "simplify.transpose (nodes.is_symmetric)", None,
         ("(B'*A*B + inv(K + 2*eye(n)))'", "B'*A*B + inv(K + 2*eye(n))", ("B=n,n",),
          ("A=symmetric", "K=symmetric"))),
    Rule("softmax columns sum to one", "sum(softmax(Z), 1) = ones(1, n)",
         "softmax per column; also declared onehot labels", "simplify.summation (nodes.is_onehot)",
         None, ("sum(softmax(Z), 1)", "ones(1, n)", ("Z=m,n",), ())),
    Rule("identity sums", "sum(I, 1) = ones(1, n), sum(I, 2) = ones(n, 1)", "always",
         "simplify.summation", None, ("sum(eye(n), 1)", "ones(1, n)", (), ())),
    Rule("power of a definition", "b^p = d^(p/q) where d = b^q", "p/q a whole number",
         "tidy", _definition_power,
         ("d = sqrt(v); v.^(-3/2)", "d = sqrt(v); d.^(-3)", ("v=n",), ())),
    Rule("definition in a product", "x .* y.^p .* z = D .* y.^(p-q) .* z where D = x .* y.^q",
         "p and q of one sign, |p| >= |q|", "tidy", _definition_in_product,
         ("D = x ./ y; x .* y.^(-3) .* z", "D = x ./ y; D .* y.^(-2) .* z", (), ())),
    Rule("definition in a sum", "a + b + c = D + c where D = a + b", "always", "tidy",
         _definition_in_sum, ("D = A*x + b; A*x + b - c", "D = A*x + b; D - c", (), ())),
    Rule("scaled definition", "c X = (c / k) D where D = k X", "k not zero", "tidy",
         _definition_scaled, ("D = mean(A, 2); sum(A, 2)", "D = mean(A, 2); m*D", ("A=n,m", "m="),
                              ())),
    Rule("a number into a sum", "c (a + b) W = (c a + c b) W", "always", "tidy",
         _scale_into_sum, ("2*(x/2 - A*x)", "x - 2*A*x", (), ())),
    Rule("sigmoid of a negative", "sigmoid(-z) = 1 - sigmoid(z)", "always", "tidy",
         _sigmoid_of_negative, ("sigmoid(-z)", "1 - sigmoid(z)", (), ())),
    Rule("softplus of a negative", "softplus(-z) = -log(sigmoid(z))", "always", "tidy",
         _softplus_of_negative, ("softplus(-z)", "-log(sigmoid(z))", (), ())),
    Rule("log of a softmax", "Z - logsumexp(Z, 1) = log(softmax(Z))", "always", "tidy",
         _log_softmax, ("Z - logsumexp(Z, 1)", "log(softmax(Z))", (), ())),
    Rule("softmax as exp", "exp(Z - logsumexp(Z, 1)) = softmax(Z)", "always", "tidy",
         _exp_minus_logsumexp, ("exp(Z - logsumexp(Z, 1))", "softmax(Z)", (), ())),
    Rule("trace", "sum(A .* I) = tr(A); tr(c A + B) = c tr(A) + tr(B); tr(A u v^T) = v^T A u",
         "always", "tidy", _trace_of_product_with_identity,
         ("sum((A*u*v' + 2*B) .* eye(n))", "v'*A*u + 2*tr(B)", ("A=n,n", "B=n,n"), ())),
    Rule("collect like terms", "(1 - y) .* p - y .* (1 - p) = p - y; 2 R + 2 R = 4 R",
         "always (a commutative ring, entry by entry)", "tidy", _collected,
         ("(1 - y) .* p - y .* (1 - p)", "p - y", (), ())),
    Rule("common factor", "a .* b + a .* c + d = a .* (b + c) + d", "always", "tidy",
         _common_factor, ("A .* B + A .* C + D", "A .* (B + C) + D", (), ())),
    Rule("row factor into a column sum", "r .* sum(A, 1) = sum(r .* A, 1)",
         "r a row (constant down each column)", "tidy", _factor_into_sum,
         ("r .* sum(A, 1)", "sum(ones(m, 1)*r .* A, 1)", ("r=1,n", "A=m,n"), ())),
    Rule("centred columns sum to zero", "sum(X - mean(X, 1), 1) = 0", "always",
         "tidy (expr/polynomial.py)", None,
         ("sum(X - ones(m,1)*mean(X, 1), 1)", "0*ones(1, n)", ("X=m,n",), ())),
    Rule("mean", "sum(A, 1) / m = mean(A, 1)", "A has m rows", "tidy", _mean,
         ("2*sum(A, 1) / m", "2*mean(A, 1)", ("A=m,n", "m="), ())),
    Rule("numbers as written", "997355701 / 2500000000 = 0.7978845608 / 2",
         "the number is a written number times a small fraction", "tidy", _numbers_as_written,
         ("0.7978845608*0.044715*3*x", "0.7978845608*0.044715*3*x", (), ())),
)

REWRITES = tuple(r.rewrite for r in RULES if r.rewrite is not None)
