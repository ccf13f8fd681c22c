"""Named intermediates: which nodes print as a name, and the "where" list that defines them.

Nodes are hash-consed, so a definition of the formula (``H = sigmoid(W1*X + b1)``)
is found wherever it occurs in a gradient by dictionary look-up. Besides the
user's definitions, a large subexpression printed more than once gets a
generated name (``t1``, as matrixcalculus.org names its t0, t1), chosen so that
it cannot clash with any name of the formula. The printers take the resulting
map (node -> Name) and print a named node as its name; the code emitters can
use the same map, so that every output names the same things.

The map is built once per set of printed roots, not by changing build or
backprop: the expression trees stay what they are.
"""
from __future__ import annotations

from typing import Callable

from ..naming import Name
from ..expr.nodes import Broadcast, Const, Expr, Func, Identity, MatMul, Symbol, Transpose, postorder, split_power

# A subexpression printed more than once is named when it is large (in nodes, a function
# call counting as two) and its copies together are larger still: sigmoid(W1 X + b1) printed
# three times is named, W^T W x - x printed twice is not, A s - x never is.
LARGE, REPEATED = 7, 24
# Any part of a few symbols (inv(C), a call) printed three times or more is named too.
THRICE, SMALL_PART = 3, 3


def is_leaf(e: Expr) -> bool:
    return isinstance(e, (Symbol, Const, Identity)) or (
        isinstance(e, Broadcast) and isinstance(e.arg, Const))


def printed_size(e: Expr, names: dict[Expr, Name], memo: dict[Expr, int]) -> int:
    """The printed size of e, named nodes counting as leaves (capped: sizes only compare)."""
    for node in postorder(e, lambda n: n is e or n not in names and n not in memo):
        if node in memo:
            continue
        if node is not e and node in names or is_leaf(node):
            memo[node] = 1
        else:
            own = 2 if isinstance(node, Func) else 1
            memo[node] = min(own + sum(memo.get(c, 1) for c in node.children), 10_000)
    return memo[e]


def nameable(e: Expr) -> bool:
    # A transpose is named through its argument (H^T rather than a name for H^T), and a
    # reciprocal through its base: it prints as a division by the base (x ./ y).
    # A negated term of a sum prints as a subtraction of its positive form, never by name.
    return not is_leaf(e) and not isinstance(e, Transpose) and split_power(e)[1] != -1 and \
        not (isinstance(e, MatMul) and e.coeff.could_extract_minus_sign())


def shared_names(roots: list[Expr], names: dict[Expr, Name], fresh: Callable[[], Name],
                 may_name: Callable[[Expr], bool] = lambda e: True) -> None:
    """Add to ``names`` a name for every large subexpression the roots print more than once.

    Occurrences are counted as printed: a node under an unnamed node printed twice
    is printed twice too; a named node's definition is printed once.
    """
    bodies = list(roots) + [n for n in used_names(roots, names) if n not in roots]
    order = list(reversed(postorder(bodies)))      # every node before its operands
    printed: dict[Expr, int] = {}
    for root in bodies:
        printed[root] = printed.get(root, 0) + 1
    memo: dict[Expr, int] = {}
    for node in order:
        count = printed.get(node, 0)
        if node in names:
            count = 1
        elif node not in roots and count >= 2 and nameable(node) and may_name(node) and (
                LARGE <= printed_size(node, names, memo) >= REPEATED / count or
                count >= THRICE and printed_size(node, names, memo) >= SMALL_PART):
            names[node] = fresh()
            count = 1
        for child in node.children:
            printed[child] = printed.get(child, 0) + count


def used_names(roots: list[Expr], names: dict[Expr, Name]) -> list[Expr]:
    """The named nodes the roots print, each after the named nodes its definition uses."""
    out: list[Expr] = []
    placed: set[Expr] = set()

    def visit(body: Expr) -> None:
        # Named nodes directly under body (not under another named node), in print order.
        for node in postorder(body, lambda n: n is body or n not in names):
            if node is not body and node in names and node not in placed and not is_leaf(node):
                placed.add(node)
                visit(node)
                out.append(node)

    for root in roots:
        visit(root)
    return out
