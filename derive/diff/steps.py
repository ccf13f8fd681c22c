"""The whole derivation, laid out as the UFLDL note does it by hand.

Forward pass: every input of an activation (an elementwise function, a power, a
matrix function such as softmax or logsumexp) is a layer input z(l), every
activation of one is a(l) = f(l)(z(l)); the formula's own definitions keep
their names. Backward pass: the delta of each z(l), and of each definition,
delta = dF/dz, written in terms of the deltas of the layers above it, from the
last layer back; every path through the cost contributes (softmax, logsumexp,
both uses of a weight). Gradients: each variable's gradient in terms of those
deltas (delta(l+1) a(l)^T for a weight). Substituting the deltas gives back
the gradient derive prints (the tests read both back and compare).

The deltas are computed with backprop's own vector-Jacobian products, the
delta of every layer input replaced by a symbol as it is passed down.
"""
from __future__ import annotations

from dataclasses import dataclass

from .backprop import VJPS, Backprop, parents_first
from ..frontend.build import Formula
from ..expr.nodes import Add, Broadcast, Const, Expr, Func, Hadamard, MatMul, ONE, Placeholder, Power, Sum, Symbol, Transpose, depends_on, postorder, zeros
from ..expr.simplify import add
from ..printing.document import Equation
from ..printing.naming import choose_names
from ..printing.latex import latex_name
from ..naming import Name, Namer
from ..printing.names import is_leaf, used_names


@dataclass
class Steps:
    forward: list[Equation]      # z(l), a(l) and the formula's definitions, then F
    backward: list[Equation]     # delta(l) from the last layer back
    gradients: list[Equation]    # each gradient in terms of the deltas
    names: dict[Expr, Name]      # how the named nodes and the delta symbols print

    @property
    def forward_nodes(self) -> list[Expr]:
        """The nodes the forward pass defines (later sections use them by name)."""
        return [eq.rhs for eq in self.forward if eq.is_definition]


def derivation_steps(formula: Formula, result: Backprop) -> Steps:
    cost = formula.cost
    memo: dict[Expr, bool] = {}
    depends_on(cost, frozenset(s.name for s in result.wrt), memo)
    namer = Namer(formula.taken_names())
    user = {e: name for name, e in formula.definitions.items() if not is_leaf(e)}
    number, layer_names = _layers(cost, memo, user, namer)
    # A layer input merged into a larger sum or product by the constructors (z2 = W2 H + b2
    # in W2 H + b2 - logsumexp(...)) is made an operand of it again, so that its delta is
    # all of dF/dz2.
    through = _regrouped(cost, memo, list(number))
    symbols, delta_names = _delta_symbols(cost, memo, through, number, user, namer)
    backward, gradients = _backward(cost, memo, through, symbols, delta_names)

    forward_names = {**{e: Name(n, latex_name(n)) for e, n in user.items()}, **layer_names}
    grads = [Equation(f"grad_{s.name}", rf"\nabla_{{{latex_name(s.name)}}} F",
                      gradients.get(s.name, zeros(s.shape))) for s in result.wrt]
    # Names are generated for forward values only (the forward pass defines them), never
    # for anything holding a delta.
    deltas = frozenset(p.name for p in symbols.values())
    holds_delta: dict[Expr, bool] = {}
    names = choose_names([cost] + [eq.rhs for eq in backward + grads], formula.definitions,
                         namer.taken, forward_names,
                         may_name=lambda e: not depends_on(e, deltas, holds_delta))
    forward = [Equation(names[n].text, names[n].latex, n, True) for n in names]
    value = _fresh(namer, "F", r"\mathcal{F}", "") if "F" in namer.taken else Name("F", "F")
    forward.append(Equation(value.text, value.latex, _regrouped_tree(cost, through)))
    return Steps(forward, backward, grads, {**names, **delta_names})


def _activation_input(node: Expr) -> Expr | None:
    if isinstance(node, Func):
        return node.arg
    if isinstance(node, Power) and isinstance(node.exponent, Const):
        return node.base
    return None


def _layers(cost: Expr, memo: dict, user: dict[Expr, str], namer: Namer
            ) -> tuple[dict[Expr, int], dict[Expr, Name]]:
    """The layer inputs z(l), numbered in the order the forward pass computes them, and the
    names of the layer inputs and activations the formula does not name itself."""
    inputs: list[Expr] = []
    activation_of: dict[Expr, Expr] = {}
    for node in reversed(parents_first(cost, memo)):
        z = _activation_input(node)
        if z is not None and memo.get(z) and not isinstance(z, Symbol):
            if z not in inputs:
                inputs.append(z)
            activation_of.setdefault(node, z)
    every = {n: Name("", "") for n in [*inputs, *activation_of, *user]}
    computed = [n for n in used_names([cost], every) if n in inputs]
    number = {z: l for l, z in enumerate(computed + [z for z in inputs if z not in computed], 1)}
    names: dict[Expr, Name] = {}
    for z, l in number.items():
        if z not in user:
            names[z] = _fresh(namer, "z", f"z^{{({l})}}", str(l))
    for a, z in activation_of.items():
        if a not in user and a not in names:
            names[a] = _fresh(namer, "a", f"a^{{({number[z]})}}", str(number[z]))
    return number, names


def _delta_symbols(cost: Expr, memo: dict, through: dict[Expr, Expr], number: dict[Expr, int],
                   user: dict[Expr, str], namer: Namer
                   ) -> tuple[dict[Expr, Placeholder], dict[Expr, Name]]:
    """A symbol for the delta of every layer input and of every definition the variables
    reach (delta2, delta_H), and how each prints."""
    symbols: dict[Expr, Placeholder] = {}
    names: dict[Expr, Name] = {}
    for node in _operands_last(cost, memo, through):
        if node in number:
            name = _fresh(namer, "delta", rf"\delta^{{({number[node]})}}", str(number[node]))
        elif node in user:
            name = _fresh(namer, "delta_", rf"\delta_{{{latex_name(user[node])}}}", user[node])
        else:
            continue
        symbols[node] = Placeholder(name.text, node.shape)
        names[symbols[node]] = name
    return symbols, names


def _backward(cost: Expr, memo: dict, through: dict[Expr, Expr],
              symbols: dict[Expr, Placeholder], delta_names: dict[Expr, Name]
              ) -> tuple[list[Equation], dict[str, Expr]]:
    """Backprop from the cost down, each layer's delta passed on as its symbol: the delta
    equations (last layer first) and each variable's gradient in the deltas."""
    shares: dict[Expr, list[Expr]] = {cost: [Const(ONE)]}
    backward: list[Equation] = []
    gradients: dict[str, Expr] = {}
    for node in _operands_last(cost, memo, through):
        delta = add(*shares.pop(node))
        if node in symbols:
            name = delta_names[symbols[node]]
            backward.append(Equation(name.text, name.latex, delta))
            delta = symbols[node]
        if isinstance(node, Symbol):
            gradients[node.name] = delta
        node = through.get(node, node)
        for i, child in enumerate(node.children):
            if memo.get(child):
                shares.setdefault(child, []).append(VJPS[type(node)](node, delta, i))
    return backward, gradients


def _without(terms: list[Expr], part: tuple[Expr, ...]) -> list[Expr] | None:
    """terms less each of part's terms (once each); None if some is missing."""
    rest = list(terms)
    for t in part:
        if t not in rest:
            return None
        rest.remove(t)
    return rest


def _regrouped(cost: Expr, memo: dict, inputs: list[Expr]) -> dict[Expr, Expr]:
    """For each sum or product that holds a layer input's terms or factors among its own,
    the same node with that layer input as one operand (built as is, not simplified)."""
    out: dict[Expr, Expr] = {}
    candidates = sorted((z for z in inputs if isinstance(z, (Add, MatMul))),
                        key=lambda z: -len(z.children))
    for original in postorder(cost, lambda n: memo.get(n, False)):
        node = original
        for z in candidates:
            if z == original or type(z) is not type(node):
                continue
            if isinstance(node, Add):
                rest = _without(list(node.terms), z.terms)
                if rest is not None:
                    node = Add((z, *rest), node.shape)
            elif z.coeff == 1 and not z.scalars:
                chain, k = list(node.chain), len(z.chain)
                for i in range(len(chain) - k + 1):
                    if tuple(chain[i:i + k]) == z.chain:
                        factors = (*node.scalars, *chain[:i], z, *chain[i + k:])
                        node = MatMul(node.coeff, factors, node.shape)
                        break
        if node is not original:
            out[original] = node
    return out


def _regrouped_tree(e: Expr, through: dict[Expr, Expr]) -> Expr:
    """e with every regrouped node in place (W2 H + b2 - a2 read as z2 - a2), built as is."""
    done: dict[Expr, Expr] = {}
    for node in postorder(e, lambda n: True):
        shape = through.get(node, node)
        children = tuple(done.get(c, c) for c in shape.children)
        if isinstance(shape, (Add, Hadamard)):
            done[node] = type(shape)(children, shape.shape)
        elif isinstance(shape, MatMul):
            done[node] = MatMul(shape.coeff, children, shape.shape)
        elif isinstance(shape, Func):
            done[node] = Func(shape.op, children, shape.params, shape.shape)
        elif isinstance(shape, Sum):
            done[node] = Sum(children[0], shape.axis)
        elif isinstance(shape, Power):
            done[node] = Power(*children)
        elif isinstance(shape, Transpose):
            done[node] = Transpose(children[0])
        elif isinstance(shape, Broadcast):
            done[node] = Broadcast(children[0], shape.shape)
        else:
            done[node] = shape
    return done[e]


def _operands_last(cost: Expr, memo: dict, through: dict[Expr, Expr]) -> list[Expr]:
    """The nodes that depend on the variables, each after all its users (regrouped)."""
    out: list[Expr] = []
    seen: set[Expr] = set()
    stack: list[tuple[Expr, bool]] = [(cost, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            out.append(node)
        elif node not in seen and memo.get(node):
            seen.add(node)
            stack.append((node, True))
            stack.extend((c, False) for c in through.get(node, node).children)
    return list(reversed(out))


def _fresh(namer: Namer, stem: str, latex: str, suffix: str) -> Name:
    """The name stem+suffix (z1, delta2, delta_H), or with an underscore (then a number)
    added if the formula has it; its LaTeX in braces, so that a transpose of it is no
    double superscript."""
    return Name(namer.exact(f"{stem}{suffix}"), "{" + latex + "}")
