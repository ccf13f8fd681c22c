"""Which nodes a result prints by name: the formula's definitions, parts printed more than
once, and parts of terms too wide for a line of LaTeX; and the "where" list that defines them.

The map (node -> Name) is made once per set of results and shared by every printer
(and by the code emitters), so that text, LaTeX, JSON and code name the same things.

Nodes are hash-consed, so a definition of the formula (``H = sigmoid(W1*X + b1)``)
is found wherever it occurs in a gradient by dictionary look-up. Besides the
user's definitions, a large subexpression printed more than once gets a
generated name (``t1``, as matrixcalculus.org names its t0, t1), chosen so that
it cannot clash with any name of the formula. The map is built once per set of
printed roots, not by changing build or backprop: the expression trees stay what
they are.
"""
from __future__ import annotations

from typing import Callable

from ..expr.nodes import Add, Broadcast, Const, Expr, Func, Identity, MatMul, Symbol, Transpose, postorder, split_power
from .latex import LatexPrinter, latex_name
from ..naming import Name, Namer
from .width import latex_width, text_width

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


# Parts of one too wide term tried for a name (the largest that fit), and how much wider
# than a line a term may be for names to help: bounds the work on a huge formula (whose
# ten thousand terms no name makes fit).
MAX_TRIALS, HOPELESS = 24, 20


def term_width() -> float:
    """Room a right-hand side's term may take: the text width less a left-hand side and an
    indent."""
    return text_width() - 90.0


def choose_names(roots: list[Expr], definitions: dict[str, Expr], taken: set[str],
                 initial: dict[Expr, Name] | None = None,
                 may_name: Callable[[Expr], bool] = lambda e: True) -> dict[Expr, Name]:
    """The named nodes the roots print, in dependency order (each after the names it uses):
    the formula's definitions (or ``initial``), then generated names (t1, t2, ...) for large
    subexpressions printed more than once and for parts of terms too wide for a line, each
    a node ``may_name`` accepts."""
    names: dict[Expr, Name] = dict(initial) if initial is not None else {}
    if initial is None:
        for name, e in definitions.items():
            if not is_leaf(e) and e not in names:
                names[e] = Name(name, latex_name(name))
    kept = set(names)
    taken = taken | set(definitions) | {n.text for n in names.values()}
    generated = Namer(taken).fresh("t", lambda i: f"t_{{{i}}}")
    shared_names(roots, names, generated, may_name)
    _narrow(roots, names, generated, may_name)
    order = _definitions_first(used_names(roots, names), kept, names)
    # Number the generated names in the order a reader meets them.
    renumber = Namer(taken).fresh("t", lambda i: f"t_{{{i}}}")
    return {n: names[n] if n in kept else renumber() for n in order}


def _definitions_first(order: list[Expr], kept: set[Expr], names: dict[Expr, Name]
                       ) -> list[Expr]:
    """The order, the formula's own definitions as early as what they use allows."""
    out: list[Expr] = []

    def place(node: Expr) -> None:
        if node not in out:
            for used in used_names([node], names):
                place(used)
            out.append(node)

    for node in [n for n in order if n in kept] + [n for n in order if n not in kept]:
        place(node)
    return out


def _narrow(roots: list[Expr], names: dict[Expr, Name], fresh,
            may_name: Callable[[Expr], bool]) -> None:
    """Name a part of every term too wide for a line, until it fits."""
    printer = LatexPrinter(names)
    queue = list(roots) + list(used_names(roots, names))
    # In how many of the results a node occurs: a part several share is the better name.
    shared: dict[Expr, int] = {}
    for root in roots:
        for node in postorder(root):
            shared[node] = shared.get(node, 0) + 1
    memo: dict[Expr, int] = {}
    while queue:
        body = queue.pop(0)
        terms = body.terms if isinstance(body, Add) else (body,)
        for term in terms:
            while term is body or term not in names:
                width = latex_width(printer.definition(term) if term is body
                                    else printer.print(term))
                if width <= term_width() or width > HOPELESS * term_width():
                    break
                part = _part_to_name(term, term is body, names, printer, memo, shared, may_name)
                if part is None:
                    break
                names[part] = fresh()
                queue.append(part)


def _part_to_name(term: Expr, is_body: bool, names: dict[Expr, Name], printer: LatexPrinter,
                  memo: dict, shared: dict[Expr, int], may_name: Callable[[Expr], bool]
                  ) -> Expr | None:
    """Of the parts of a too wide term whose name makes it fit (tried, so a part printed
    twice counts twice), the one most results share, the larger first; failing that, the
    largest part that fits a line of its own."""
    memo.clear()   # sizes change as parts get names
    parts = [n for n in postorder(term, lambda n: n is term or n not in names)
             if n is not term and n not in names and nameable(n) and may_name(n)]
    parts.sort(key=lambda p: printed_size(p, names, memo))
    fitting = [p for p in parts if latex_width(printer.definition(p)) <= term_width()]
    making_fit = []
    for part in fitting[-MAX_TRIALS:]:
        names[part] = Name("t", "t_{0}")
        width = latex_width(printer.definition(term) if is_body else printer.print(term))
        del names[part]
        if width <= term_width():
            making_fit.append(part)
    if making_fit:
        return max(making_fit, key=lambda p: (shared.get(p, 0), printed_size(p, names, memo)))
    return (fitting or parts or [None])[-1]
