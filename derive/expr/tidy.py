"""Results as a paper prints them: the reading rewrites of expr/identities.py, applied
bottom up to the gradients and the formula's definitions, each kept only where it makes the
result shorter (the definitions counting as one symbol each).

Only the forms printed for people go through here (text, LaTeX); the emitted code keeps the
forms it computes best. Every rewrite is an identity that holds under its stated condition,
so the printed result is the same function (tests/test_text_readback.py reads it back).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy

from .identities import Context, REWRITES, SMALL
from .nodes import Const, Expr, Func, Identity, MatMul, Shared, Sum, Symbol, postorder
from .simplify import rebuild

# Beyond this many distinct nodes a result is printed as built: no reader reads it line by
# line, and the rewrites would cost more than the derivation.
MAX_NODES = 3000
# A definition's name counts a little less than a symbol: of two forms as long, the one that
# reads through the formula's definitions (-log(p) for softplus(-z) where p = sigmoid(z)).
NAMED = 0.9
# How much shorter a rewrite must be to be taken (sizes are sums of fractions: not a tie).
SHORTER = 0.01
# Rewrites applied one on another at one node, at most.
DEPTH = 4


@dataclass
class Readable:
    """The gradients and the formula's definitions, as printed."""
    gradients: dict[str, Expr]
    definitions: dict[str, Expr]


def readable(gradients: dict[str, Expr], definitions: dict[str, Expr],
             decimals: tuple = ()) -> Readable:
    """The results rewritten by the identities where that prints them shorter.

    ``decimals``: the numbers the user wrote with a decimal point (as exact rationals), so
    that a number the derivation made of them prints through them."""
    if len(postorder(list(gradients.values()) + list(definitions.values()))) > MAX_NODES:
        return Readable(gradients, definitions)
    shown: dict[str, Expr] = {}
    # Each definition as printed (tidied, with the earlier ones as names), and what its
    # node in the results becomes: one opaque node, printed as its name.
    printed: dict[Expr, Expr] = {}
    replaced: dict[Expr, Expr] = {}
    for name, body in definitions.items():
        if isinstance(body, (Symbol, Const)) or body in replaced:
            shown[name] = body
            continue
        shown[name] = _tidy(body, Context(dict(printed), decimals), replaced, {}, top=body)
        printed[shown[name]] = replaced[body] = Shared(shown[name])
    ctx = Context(printed, decimals)
    memo: dict[Expr, Expr] = {}
    return Readable({n: _unwrap(_tidy(g, ctx, replaced, memo)) for n, g in gradients.items()},
                    shown)


def written_decimals(source: str) -> tuple:
    """The numbers of a formula written with a decimal point or an exponent, exact."""
    from ..errors import DeriveError
    from ..frontend.parse import tokenize
    try:
        tokens = list(tokenize(source))
    except DeriveError:   # a SymPy expression's text: its numbers are exact already
        return ()
    texts = {t.text for t in tokens if t.kind == "number" and not t.text.isdigit()}
    # 0.5 is 1/2, a fraction the calculus writes as well as the user.
    return tuple(sorted(v for v in map(sympy.Rational, texts) if v.q > SMALL))


def _unwrap(e: Expr) -> Expr:
    return e.value if isinstance(e, Shared) and not isinstance(e.value, Const) else e


def _tidy(e: Expr, ctx: Context, replaced: dict[Expr, Expr], memo: dict[Expr, Expr],
          top: Expr | None = None, depth: int = 0) -> Expr:
    stop = lambda n: n is not top and n in replaced or isinstance(n, Shared) or n in memo
    for node in postorder(e, lambda n: not stop(n)):
        if node in memo:
            continue
        if node is not top and node in replaced:
            memo[node] = replaced[node]
            continue
        if isinstance(node, Shared) or not node.children and not isinstance(node, Const):
            memo[node] = node
            continue
        children = [memo[c] for c in node.children]
        same = all(a is b for a, b in zip(children, node.children))
        built = node if same else rebuild(node, children)
        memo[node] = _best(built, ctx, replaced, memo, depth)
    return memo[e]


def _best(e: Expr, ctx: Context, replaced: dict[Expr, Expr], memo: dict[Expr, Expr],
          depth: int) -> Expr:
    """The shortest of e and what each rewrite makes of it (tidied in turn)."""
    best, size = e, _size(e)
    if depth >= DEPTH:
        return best
    for rewrite in REWRITES:
        found = rewrite(e, ctx)
        for candidate in found if isinstance(found, list) else [found]:
            if candidate is None or candidate == e:
                continue
            candidate = _tidy(candidate, ctx, replaced, memo, depth=depth + 1)
            candidate_size = _size(candidate)
            if candidate_size < size - SHORTER:
                best, size = candidate, candidate_size
    return best


def _size(e: Expr) -> float:
    """About the printed tokens, a part printed twice counting twice: a definition or a
    written number one, a call two more, a long number by its digits."""
    sizes: dict[Expr, float] = {}
    for node in postorder(e, lambda n: not isinstance(n, Shared)):
        if isinstance(node, Shared):
            own = NAMED
        elif isinstance(node, Const):
            own = _number_size(node.value)
        elif isinstance(node, MatMul):
            own = 1 + (_number_size(node.coeff) if node.coeff != 1 else 0)
        elif isinstance(node, Sum):
            own = 3 if node.axis is None else 5      # sum( , 1)
        elif isinstance(node, Identity):
            own = 4                                  # eye(n)
        else:
            own = 3 if isinstance(node, Func) else 1
        children = () if isinstance(node, Shared) else node.children
        sizes[node] = own + sum(sizes[c] for c in children)
    return sizes[e]


def _number_size(value: sympy.Expr) -> float:
    numerator, denominator = sympy.fraction(value)
    return sum(len(str(abs(n))) / 3 + 1 for n in (numerator, denominator) if n != 1)
