"""Rewrites for speed, applied to what the NumPy code computes (never to what is printed).

A product that several matrix chains share, possibly transposed, is computed
once: the ICA gradient ``2 W R x^T + 2 W x R^T`` shares ``M = R x^T`` and, once
M is one factor, the constructors factor the sum to ``2 W (M + M^T)``.
"""
from __future__ import annotations

import functools

from ..expr.nodes import Const, Expr, MatMul, Shared, Transpose, postorder
from ..expr.simplify import mul, rebuild, transpose
from .statements import kind_of_shape


# Longest product looked for in two chains: longer shared runs are rare, and the search
# is quadratic in it.
MAX_RUN = 6


def share_products(outputs: list[Expr], cost) -> list[Expr]:
    """Bind the most expensive product that two chains share, until none is shared."""
    for _ in range(32):  # each round removes a shared product; chains are short
        best = _most_expensive_shared_run(outputs, cost)
        if best is None:
            return outputs
        shared = Shared(mul(*best))
        outputs = [_replace_run(e, best, shared) for e in outputs]
    return outputs


def _chains(outputs: list[Expr]) -> list[tuple[Expr, ...]]:
    return [tuple(node.chain) for node in postorder(outputs)
            if isinstance(node, MatMul) and len(node.chain) >= 2]


def _reversed_transposed(run: tuple[Expr, ...]) -> tuple[Expr, ...]:
    return tuple(transpose(f) for f in reversed(run))


def _most_expensive_shared_run(outputs: list[Expr], cost):
    counts: dict[tuple[Expr, ...], int] = {}
    for chain in _chains(outputs):
        seen_here: set[tuple[Expr, ...]] = set()
        n = len(chain)
        flipped = _reversed_transposed(chain)   # flipped[n-j:n-i] is run i:j transposed
        for i in range(n):
            for j in range(i + 2, min(n, i + MAX_RUN) + 1):
                run, run_flipped = chain[i:j], flipped[n - j:n - i]
                key = run if run in counts or run_flipped not in counts else run_flipped
                if key in seen_here:
                    continue
                seen_here.add(key)
                counts[key] = counts.get(key, 0) + 1
    shared = [(cost(run), run) for run, n in counts.items() if n >= 2]
    if not shared:
        return None
    return max(shared, key=lambda pair: pair[0])[1]


def _replace_run(e: Expr, run: tuple[Expr, ...], shared: Shared) -> Expr:
    flipped = _reversed_transposed(run)
    done: dict[Expr, Expr] = {}
    for node in postorder(e):
        children = [done[c] for c in node.children]
        if isinstance(node, MatMul) and len(node.chain) >= len(run):
            chain = _substitute_run(list(node.chain), run, shared)
            chain = _substitute_run(chain, flipped, Transpose(shared))
            scalars = [done[f] for f in node.scalars]
            new_chain = [done.get(f, f) for f in chain]
            done[node] = mul(Const(node.coeff), *scalars, *new_chain)
        elif isinstance(node, Shared):
            done[node] = node
        else:
            same = all(a is b for a, b in zip(children, node.children))
            done[node] = node if same else rebuild(node, children)
    return done[e]


def _substitute_run(chain: list[Expr], run: tuple[Expr, ...], replacement: Expr) -> list[Expr]:
    out: list[Expr] = []
    i, k = 0, len(run)
    while i < len(chain):
        if tuple(chain[i:i + k]) == run:
            out.append(replacement)
            i += k
        else:
            out.append(chain[i])
            i += 1
    return out


def chain_order(dims: list[int]) -> tuple[int, list[list[int]]]:
    """The classic dynamic programme for a chain with these dimensions: (cost, split table)."""
    n = len(dims) - 1
    best = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            best[i][j], split[i][j] = min(
                (best[i][k] + best[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1], k + 1)
                for k in range(i, j))
    return best[0][n - 1], split


def chain_dims(run, size) -> list[int]:
    return [size(run[0].shape[0])] + [size(f.shape[1]) for f in run]


# Size assumed for a symbolic dimension when choosing the order of a matrix chain.
DEFAULT_DIMENSION = 100


def estimated_size(d) -> int:
    """A dimension as a number for the cost of a chain: a symbolic one counts as 100."""
    return int(d) if d.is_Integer else DEFAULT_DIMENSION


def run_cost(run: list[Expr]) -> int:
    """The cost of multiplying the factors of ``run`` in the cheapest order."""
    return chain_order(chain_dims(run, estimated_size))[0]


def cheapest_split(chain: list[Expr]) -> list[list[int]]:
    """The split table of the cheapest order of ``chain`` (see ``chain_order``)."""
    return _split(tuple(chain_dims(chain, estimated_size)))


@functools.lru_cache(maxsize=1024)
def _split(dims: tuple[int, ...]) -> list[list[int]]:
    # a statement is spelled more than once (a dry run, then the line): cached
    return chain_order(list(dims))[1]


def chain_kind(chain: list[Expr]) -> str:
    """The kind (scalar, col, row, matrix) of the product of the factors of ``chain``."""
    return kind_of_shape((chain[0].shape[0], chain[-1].shape[1]))
