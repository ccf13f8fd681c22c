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
from dataclasses import dataclass

from ..diff.backprop import backprop
from ..expr.nodes import SCALAR, Add, Const, Expr, MatMul, Power, Shared, Sum, Symbol, Transpose, depends_on, postorder, symbols_in
from ..expr.simplify import add, mul, rebuild, transpose
from ..expr.ops import apply
from .assemble import Function, definition_hints
from .chain import chain_order, run_cost, share_products
from ..naming import python_namer
from .statements import Output, Target, Var, dimensions_of
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


@dataclass
class Hoisting:
    """The two functions of hoisted code, as programs: prepare(data) and the per-call code."""
    variables: list[Symbol]
    data: list[Symbol]
    outputs: list[Output]
    per_call: Function
    prepare: Function | None          # None: nothing to compute, only data to pass on
    data_checks: Function | None      # the data's shape checks, where prepare is None
    returned: list[str]                # what prepare returns: prepared values, dimensions
    dim_vars: dict                     # dimension symbol -> the prepared Var holding it


def hoisting(parameters: list[Symbol], wrt: list[str], value: Expr, gradients: dict[str, Expr],
             definitions: dict[str, Expr] | None, printer: Target, pnames: dict[str, str],
             reserved: set[str], kept: set[str]) -> Hoisting:
    """What prepare() computes once, and the per-call program that reads it (any target).

    ``reserved``: names nothing prepared may take; ``kept``: the formula's dimensions that
    keep their names where they are read (those the snippet does not need itself)."""
    variables = [p for p in parameters if p.name in wrt]
    data = [p for p in parameters if p.name not in wrt]
    # the gradients in the order of --wrt, as value_and_grad of the plain snippet returns them
    outputs = [Output("value", value)] + [Output(f"grad_{n}", gradients[n]) for n in wrt]
    shared = share_products([o.expr for o in outputs], run_cost)
    outputs = [Output(o.name, e) for o, e in zip(outputs, shared)]
    prepared = _prepared_nodes([o.expr for o in outputs], frozenset(wrt), data)
    # Data the per-call code uses as they are (x beside a prepared x x^T) come along too.
    reached = postorder([o.expr for o in outputs], lambda n: n not in prepared)
    prepared += [s for s in reached if isinstance(s, Symbol) and s.name not in wrt
                 and s not in prepared]
    # Dimensions the per-call code needs that no variable's shape gives: prepare reads them.
    per_call_dims = {d for v in variables for d in v.shape}
    needed: set = set()
    for node in reached:
        if node not in prepared:
            needed |= {d for d in dimensions_of(node) if d not in per_call_dims}
    # prepared values are named p1, p2, ... past every name and dimension of the formula
    namer = python_namer(reserved)
    prepared_vars: dict[Expr, Var] = {}
    for node in prepared:
        # a datum passed on keeps its parameter's name (value_and_grad has no such parameter)
        name = pnames[node.name] if isinstance(node, Symbol) else namer.numbered("p")
        prepared_vars[node] = Var(node.shape, "prepared", name, readonly=True)
    # a dimension that a prepared array's shape gives is read from it in the per-call code
    # (jax.jit cannot take a size as a value)
    needed -= {d for v in prepared_vars.values() for d in v.shape}
    dim_vars: dict = {}
    for d in sorted(needed, key=str):
        if any(d in s.shape for s in data):
            dim_vars[d] = Var(SCALAR, "prepared", namer.exact(str(d), "_dim"), source=d)
    # a dimension keeps its name where it is read, unless the snippet needs that name
    reserved = set(namer.taken) - kept
    hints = definition_hints(definitions)
    per_call = Function(printer, variables, outputs, reserved, pnames,
                         inputs=prepared_vars,
                         hints=hints, provided_dims=dim_vars, share=False)
    computed = [Output(prepared_vars[n].hint, n) for n in prepared if not isinstance(n, Symbol)]
    prepare = Function(printer, data, computed, reserved, pnames, hints=hints, share=False) \
        if computed else None
    data_checks = None if prepare else \
        Function(printer, data, [], reserved, pnames, share=False)
    returned = [prepared_vars[n].hint for n in prepared] + [v.hint for v in dim_vars.values()]
    return Hoisting(variables, data, outputs, per_call, prepare, data_checks, returned, dim_vars)




EXPANDED_NOTE = ("The squared norms were expanded into traces of products of the data, computed",
                 "once in prepare(): faster, but the value loses accuracy when the residual is",
                 "small against the data.")




def _prepared_nodes(outputs: list[Expr], wrt: frozenset[str], data: list[Symbol]) -> list[Expr]:
    """The largest pieces of the outputs that do not involve the variables."""
    involves: dict[Expr, bool] = {}
    for e in outputs:
        depends_on(e, wrt, involves)
    uses_data: dict[Expr, bool] = {}
    for e in outputs:
        depends_on(e, frozenset(s.name for s in symbols_in(e)) - wrt, uses_data)

    available = {d for s in data for d in s.shape}
    dims: dict[Expr, set] = {}
    for node in postorder(outputs):
        own = set(node.shape) | dimensions_of(node)
        dims[node] = own.union(*(dims[c] for c in node.children))

    def worth_preparing(node: Expr) -> bool:
        # Constants (ones, I) cost nothing per call; prepare() knows only the data's sizes.
        return not involves[node] and uses_data[node] and all(
            d.is_Integer or d in available for d in dims[node])
    def unviewed(node: Expr) -> Expr:
        # A transpose is a free view, and the printer may turn a product around it (x^T X^T
        # as X x): prepare what it views, so that either side is at hand.
        return node.arg if isinstance(node, Transpose) else node
    found: dict[Expr, None] = {}
    for node in postorder(outputs, lambda n: involves[n]):
        if involves[node]:
            for child in node.children:
                if worth_preparing(child):
                    found.setdefault(unviewed(child), None)
        elif node in outputs and worth_preparing(node):
            found.setdefault(unviewed(node), None)
    return list(found)
