"""Hoisting: split the work into ``prepare(data)``, done once, and ``value_and_grad(variables, prepared)``.

Everything that does not involve the variables is computed in ``prepare``. To
make that pay, squared norms of products are first expanded into traces whose
data factors stand together, so that the data meet only once:

    ||A s - x||^2 = tr(A^T A (s s^T)) - 2 tr(A^T (x s^T)) + ||x||^2

and the gradient is derived from the expanded cost. The expansion subtracts
large numbers when the residual is small against the data, so it trades
rounding accuracy for speed; the snippet says so when it does it.
"""
from __future__ import annotations

import itertools

from ..diff.backprop import backprop
from ..expr.nodes import Add, Const, Expr, MatMul, Power, Shared, Sum, Symbol, Transpose, depends_on, postorder
from ..expr.simplify import add, mul, rebuild, transpose
from ..expr.ops import apply
from .chain import chain_order
from ..printing.text import to_text


def _as_chain(term: Expr) -> tuple[Expr, list[Expr]] | None:
    """A term of a residual as (scale, chain of matrix factors), if it is a plain product."""
    if isinstance(term, MatMul):
        return mul(Const(term.coeff), *term.scalars), list(term.chain)
    if isinstance(term, (Symbol, Transpose)):
        return Const(1), [term]
    return None


def _data_blocks(chain: list[Expr], involves) -> int:
    """How many separate runs of data-only factors the chain has."""
    return sum(1 for is_data, _ in itertools.groupby(chain, key=lambda f: not involves(f))
               if is_data)


def _trace_form(chain: list[Expr], involves) -> list[Expr]:
    """The rotation (of the chain or of its transpose) that keeps the data factors together.

    Equal traces get the same form, so that the sum of them combines.
    """
    flipped = [transpose(f) for f in reversed(chain)]
    candidates = [c[i:] + c[:i] for c in (chain, flipped) for i in range(len(c))]
    return min(candidates, key=lambda c: (_data_blocks(c, involves), involves(c[-1]),
                                          repr([to_text(f) for f in c])))


# Sizes assumed for symbolic dimensions: a dimension only the data have is the number of
# examples, the one hoisting is for; the others are the variables' own.
VARIABLE_DIMENSION, DATA_DIMENSION = 100, 10_000


def _per_call_cost(chains: list[list[Expr]], involves, size) -> int:
    """Multiplications per call for these products, data runs counted as prepared."""
    total = 0
    for chain in chains:
        collapsed: list[tuple] = []
        for is_data, run in itertools.groupby(chain, key=lambda f: not involves(f)):
            run = list(run)
            pieces = [(run[0].shape[0], run[-1].shape[1])] if is_data else \
                [f.shape for f in run]
            collapsed += pieces
        dims = [size(collapsed[0][0])] + [size(c[1]) for c in collapsed]
        total += chain_order(dims)[0] + dims[0] * dims[-1]
    return total


def expand_squares(cost: Expr, variables: list[Symbol]) -> tuple[Expr, bool]:
    """The cost with squared norms of product sums expanded into traces where that saves work
    per call; and whether any was."""
    names = frozenset(s.name for s in variables)
    memo: dict = {}
    own = {d for s in variables for d in s.shape}

    def involves(e: Expr) -> bool:
        return depends_on(e, names, memo)

    def size(d) -> int:
        return int(d) if d.is_Integer else VARIABLE_DIMENSION if d in own else DATA_DIMENSION

    expanded = False
    done: dict[Expr, Expr] = {}
    for node in postorder(cost):
        residual = node.arg.base if isinstance(node, Sum) and node.axis is None and \
            isinstance(node.arg, Power) and node.arg.exponent == Const(2) else None
        terms = None
        if residual is not None and involves(residual):
            parts = residual.terms if isinstance(residual, Add) else (residual,)
            if all(p.shape == residual.shape for p in parts):
                terms = [_as_chain(p) for p in parts]
                terms = terms if all(t is not None for t in terms) else None
        if terms is not None:
            forms = [(scale_i, scale_j, _trace_form(
                        [transpose(f) for f in reversed(chain_i)] + chain_j, involves))
                     for (scale_i, chain_i), (scale_j, chain_j) in itertools.product(terms,
                                                                                    repeat=2)]
            plain = _per_call_cost([c for _, c in terms], involves, size)
            traces = _per_call_cost([f for *_, f in forms if involves(mul(*f))], involves, size)
            terms = terms if traces < plain else None
        if terms is not None:
            pieces = []
            for scale_i, scale_j, form in forms:
                inner = mul(*form)
                pieces.append(mul(scale_i, scale_j,
                                  inner if inner.is_scalar else apply("tr", inner)))
            done[node] = add(*pieces)
            expanded = True
        else:
            children = [done[c] for c in node.children]
            same = all(a is b for a, b in zip(children, node.children))
            done[node] = node if same else rebuild(node, children)
    return done[cost], expanded


def share_data_runs(e: Expr, involves) -> Expr:
    """Wrap each run of two or more data-only factors of a product, so that it is prepared once."""
    done: dict[Expr, Expr] = {}
    for node in postorder(e):
        children = [done[c] for c in node.children]
        if isinstance(node, MatMul) and involves(node) and len(node.chain) > 2:
            chain: list[Expr] = []
            for is_data, run in itertools.groupby([done[f] for f in node.chain],
                                                  key=lambda f: not involves(f)):
                run = list(run)
                chain += [Shared(mul(*run))] if is_data and len(run) > 1 else run
            done[node] = mul(Const(node.coeff), *[done[f] for f in node.scalars], *chain)
        else:
            same = all(a is b for a, b in zip(children, node.children))
            done[node] = node if same else rebuild(node, children)
    return done[e]


def hoisted_outputs(cost: Expr, wrt: list[Symbol]) -> tuple[Expr, dict[str, Expr], bool]:
    """(value, gradients, whether squares were expanded) of the cost as hoisting computes it.

    The data runs are bound before differentiating, so that a symmetric one (s s^T)
    is seen to be its own transpose and its two shares combine.
    """
    names = frozenset(s.name for s in wrt)
    expanded_cost, expanded = expand_squares(cost, wrt)
    memo: dict = {}
    prepared_cost = share_data_runs(expanded_cost, lambda e: depends_on(e, names, memo))
    result = backprop(prepared_cost, wrt)
    return prepared_cost, result.gradients, expanded
