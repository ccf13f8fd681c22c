"""Backpropagation: the delta of every node, and the gradients read off them.

The delta of a node is dF/dnode, with the node's shape. The cost's delta is 1;
each node hands its delta to its operands through the vector-Jacobian product
of its operation (the table ``VJPS`` below for the structural operations, the
``Op`` record a ``Func`` node holds for the named ones); an operand used
several times gets the sum. The gradient of a variable is its delta. Deltas are
built with the simplifying constructors, so they come out as a person would
write them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..expr.nodes import Add, Broadcast, Const, Expr, Func, Hadamard, MatMul, ONE, Power, Sum, Symbol, Transpose, depends_on, postorder, zeros
from ..expr.simplify import add, broadcast, hadamard, mul, power, summation, transpose, unbroadcast
from ..expr.ops import apply


def _add_vjp(node: Add, delta: Expr, i: int) -> Expr:
    return unbroadcast(delta, node.terms[i].shape)


def _matmul_vjp(node: MatMul, delta: Expr, i: int) -> Expr:
    factor = node.factors[i]
    others = node.factors[:i] + node.factors[i + 1:]
    if factor.is_scalar:
        rest = mul(Const(node.coeff), *others)
        return mul(delta, rest) if node.is_scalar else summation(hadamard(delta, rest), None)
    scalars = [f for f in others if f.is_scalar]
    chain = [f for f in node.factors if not f.is_scalar]
    k = [j for j, f in enumerate(node.factors) if not f.is_scalar].index(i)
    left, right = chain[:k], chain[k + 1:]
    return mul(Const(node.coeff), *scalars,
               *([transpose(mul(*left))] if left else []), delta,
               *([transpose(mul(*right))] if right else []))


def _hadamard_vjp(node: Hadamard, delta: Expr, i: int) -> Expr:
    others = node.factors[:i] + node.factors[i + 1:]
    return unbroadcast(hadamard(delta, *others), node.factors[i].shape)


def _power_vjp(node: Power, delta: Expr, i: int) -> Expr:
    base, exponent = node.base, node.exponent
    if i == 0:
        return hadamard(delta, mul(exponent, power(base, add(exponent, Const(-ONE)))))
    return summation(hadamard(delta, node, apply("log", base)), None)


def _transpose_delta(delta: Expr) -> Expr:
    # A sum of shares is transposed term by term, so that each can meet its like terms.
    if isinstance(delta, Add):
        return add(*[transpose(t) for t in delta.terms])
    return transpose(delta)


def _func_vjp(node: Func, delta: Expr, i: int) -> Expr:
    return node.op.vjp(node, delta)[i]


VJPS: dict[type, Callable[[Expr, Expr, int], Expr]] = {
    Add: _add_vjp,
    MatMul: _matmul_vjp,
    Hadamard: _hadamard_vjp,
    Power: _power_vjp,
    Transpose: lambda node, delta, i: _transpose_delta(delta),
    Sum: lambda node, delta, i: broadcast(delta, node.arg.shape),
    Broadcast: lambda node, delta, i: unbroadcast(delta, node.arg.shape),
    Func: _func_vjp,
}


@dataclass
class Backprop:
    """Deltas of every node between the cost and the variables, and the gradients."""
    cost: Expr
    wrt: list[Symbol]
    deltas: dict[Expr, Expr]
    gradients: dict[str, Expr]
    # For each variable, the share each use of it contributes: (using node, share).
    contributions: dict[str, list[tuple[Expr, Expr]]] = field(default_factory=dict)
    subgradients: list[str] = field(default_factory=list)


def backprop(cost: Expr, wrt: list[Symbol]) -> Backprop:
    names = frozenset(s.name for s in wrt)
    memo: dict[Expr, bool] = {}
    depends_on(cost, names, memo)
    order = parents_first(cost, memo)
    deltas: dict[Expr, Expr] = {}
    # A node's shares all arrive before it is reached (parents come first): sum them once.
    shares: dict[Expr, list[Expr]] = {cost: [Const(ONE)]}
    contributions: dict[str, list[tuple[Expr, Expr]]] = {s.name: [] for s in wrt}
    notes: list[str] = []
    for node in order:
        delta = deltas[node] = add(*shares.pop(node))
        if isinstance(node, Func):
            note = node.op.subgradient
            if note and note not in notes:
                notes.append(note)
        for i, child in enumerate(node.children):
            if not memo.get(child):
                continue
            share = VJPS[type(node)](node, delta, i)
            if isinstance(child, Symbol):
                contributions[child.name].append((node, share))
            shares.setdefault(child, []).append(share)
    gradients = {s.name: deltas.get(s, zeros(s.shape)) for s in wrt}
    return Backprop(cost, list(wrt), deltas, gradients, contributions, notes)


def parents_first(root: Expr, depends: dict[Expr, bool]) -> list[Expr]:
    """The nodes that depend on the variables, every node after all its users."""
    # Right to left, so that reversed the terms of the cost are met left to right and
    # the gradient lists its terms in the order the cost has them.
    nodes = postorder(root, lambda n: depends[n], right_to_left=True)
    return [n for n in reversed(nodes) if depends[n]]
