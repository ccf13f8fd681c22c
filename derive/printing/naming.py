"""Which nodes a result prints by name: the formula's definitions, parts printed more than
once, and parts of terms too wide for a line of LaTeX.

The map (node -> Name) is made once per set of results and shared by every printer
(and by the code emitters), so that text, LaTeX, JSON and code name the same things.
"""
from __future__ import annotations

from typing import Callable

from ..expr.nodes import Add, Expr, postorder
from .latex import LatexPrinter, latex_name
from ..naming import Name, Namer
from .names import is_leaf, nameable, printed_size, shared_names, used_names
from .width import latex_width, text_width

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
