"""The whole derivation, laid out as the UFLDL note does it by hand: equations with their
names in text and LaTeX, for ``--steps`` (the mathematics is ``diff``'s, read here).

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

from ..diff.backprop import VJPS, Backprop, parents_first
from ..frontend.build import Formula
from ..expr.nodes import Add, Broadcast, Const, Expr, Func, Hadamard, MatMul, ONE, Placeholder, Power, Sum, Symbol, Transpose, depends_on, postorder, zeros
from ..expr.simplify import add, mul
from .document import Equation
from .naming import choose_names, is_leaf, nameable, used_names
from .base import negated
from .latex import latex_name
from ..naming import Name, Namer


@dataclass
class Steps:
    forward: list[Equation]      # z(l), a(l) and the formula's definitions, then F
    backward: list[Equation]     # delta(l) from the last layer back
    gradients: list[Equation]    # each gradient in terms of the deltas
    names: dict[Expr, Name]      # how the named nodes and the delta symbols print
    inputs: list[tuple[str, int]]  # the variables a network starts from, and their layer l

    @property
    def forward_nodes(self) -> list[Expr]:
        """The nodes the forward pass defines (later sections use them by name)."""
        defined = {eq.text_lhs for eq in self.forward if eq.is_definition}
        return [node for node, name in self.names.items() if name.text in defined]


def derivation_steps(formula: Formula, result: Backprop) -> Steps:
    cost = formula.cost
    memo: dict[Expr, bool] = {}
    wrt = frozenset(s.name for s in result.wrt)
    depends_on(cost, wrt, memo)
    namer = Namer(formula.taken_names())
    user = {e: name for name, e in formula.definitions.items() if not is_leaf(e)}
    inputs, sources, activation_of = _layers(cost, memo, wrt)
    # A layer input merged into a larger sum or product by the constructors (z2 = W2 H + b2
    # in W2 H + b2 - logsumexp(...), W x in W^T W x) is made an operand of it again, so that
    # its delta is all of dF/dz2.
    through = _regrouped(cost, memo, inputs)
    tree = _regrouped_tree(cost, through)
    # Numbered in the order the forward pass prints them.
    shown = {_regrouped_tree(z, through): z for z in inputs}
    printed = used_names([tree], {n: Name("", "") for n in [*shown, *user]})
    computed = [shown[n] for n in printed if n in shown]
    later = [z for z in reversed(_operands_last(cost, memo, through))
             if z in inputs and z not in computed]
    number = {z: l for l, z in enumerate(sources + computed + later, 1)}
    layer_names = _layer_names(number, activation_of, user, sources, namer)
    symbols, delta_names = _delta_symbols(cost, memo, through, number, user, namer)
    backward, gradients = _backward(cost, memo, through, symbols, delta_names)

    forward_names = {**{e: Name(n, latex_name(n)) for e, n in user.items()}, **layer_names}
    # Each forward value also under its regrouped form (W^T z2 for W^T W x), which is how the
    # forward pass prints it.
    regrouped = {n: _regrouped_tree(n, through) for n in forward_names}
    forward_names.update({r: forward_names[n] for n, r in regrouped.items()})
    grads = [Equation(f"grad_{s.name}", rf"\nabla_{{{latex_name(s.name)}}} F",
                      gradients.get(s.name, zeros(s.shape))) for s in result.wrt]
    # A forward value inside a product of the gradients prints by its name too: z2 delta3^T
    # (a(2) delta(3)^T, as the note writes it), not W x delta3^T.
    for eq in grads:
        eq.rhs = _regrouped_tree(eq.rhs, _regrouped(eq.rhs, None, list(number)))
    # Names are generated for forward values only (the forward pass defines them), never
    # for anything holding a delta.
    deltas = frozenset(p.name for p in symbols.values())
    holds_delta: dict[Expr, bool] = {}
    names = choose_names([tree] + [eq.rhs for eq in backward + grads], formula.definitions,
                         namer.taken, forward_names,
                         may_name=lambda e: not depends_on(e, deltas, holds_delta))
    forward: list[Equation] = []
    for n in names:
        if names[n].text not in {eq.text_lhs for eq in forward}:
            forward.append(Equation(names[n].text, names[n].latex, regrouped.get(n, n), True))
    # A delta that is a forward value itself (delta6 = z6) prints as its name.
    defined = {eq.text_lhs for eq in forward}
    for eq in backward + grads:
        if eq.rhs in forward_names and forward_names[eq.rhs].text in defined:
            names.setdefault(eq.rhs, forward_names[eq.rhs])
    value = _fresh(namer, "F", r"\mathcal{F}", "") if "F" in namer.taken else Name("F", "F")
    forward.append(Equation(value.text, value.latex, tree))
    inputs_named = [(s.name, number[s]) for s in sources]
    return Steps(forward, backward, grads, {**names, **delta_names}, inputs_named)


def _activation_input(node: Expr) -> Expr | None:
    if isinstance(node, Func):
        return node.arg
    if isinstance(node, Power) and isinstance(node.exponent, Const):
        return node.base
    return None


def _layers(cost: Expr, memo: dict, wrt: frozenset[str]
            ) -> tuple[list[Expr], list[Symbol], dict[Expr, Expr]]:
    """The layer inputs z(l), the variables the networks start from, and each activation's
    layer input.

    Every input of an activation is a layer input; below one, the note's layers are kept as
    layers: the operand of a weight (W a in W a + b, as in z(3) = V z(2)) and the term a
    constant is added to (z + eps) are layer inputs too, down to the network's input (s in
    s.^2), which is numbered z(1) but keeps its own name."""
    inputs: list[Expr] = []
    activation_of: dict[Expr, Expr] = {}
    for node in reversed(parents_first(cost, memo)):
        z = _activation_input(node)
        if z is not None and memo.get(z) and not isinstance(z, Symbol):
            if z not in inputs:
                inputs.append(z)
            activation_of.setdefault(node, z)
    sources: list[Symbol] = []
    work = list(inputs)
    while work:
        below = _layer_below(work.pop(), memo, wrt)
        if isinstance(below, Symbol):
            if below not in sources:
                sources.append(below)
        elif below is not None and below not in inputs:
            inputs.append(below)
            work.append(below)
    for a in parents_first(cost, memo):
        z = _activation_input(a)
        if z in sources:
            activation_of.setdefault(a, z)
    return inputs, sources, activation_of


def _layer_names(number: dict[Expr, int], activation_of: dict[Expr, Expr], user: dict[Expr, str],
                 sources: list[Symbol], namer: Namer) -> dict[Expr, Name]:
    """z(l) and a(l) for the layer inputs and activations the formula does not name itself
    (a variable the network starts from keeps its name)."""
    names: dict[Expr, Name] = {}
    for z, l in number.items():
        if z not in user and z not in sources:
            names[z] = _fresh(namer, "z", f"z^{{({l})}}", str(l))
    for a, z in activation_of.items():
        # An activation that never prints as itself (1 ./ z4 inside m rho ./ z4) gets no
        # name: it would define an a(l) nothing uses.
        if a not in user and a not in names and z in number and nameable(a):
            names[a] = _fresh(namer, "a", f"a^{{({number[z]})}}", str(number[z]))
    return names


def _layer_below(z: Expr, memo: dict, wrt: frozenset[str]) -> Expr | None:
    """The input of the layer that computes the layer input z, where the note draws one: the
    operand of weights (x in W x, W x in W^T W x), the term a constant is added to (V a in
    V a + eps), the variable an activation is applied to (s in s.^2); None where z is no
    such layer."""
    if isinstance(z, MatMul) and z.coeff == 1 and not z.scalars and len(z.chain) > 1 and \
            all(_is_weight(w) for w in z.chain[:-1]):
        below = mul(*z.chain[1:])
        if isinstance(below, Symbol) or not _is_weight(below) and depends_on(below, wrt, memo):
            return below
        return None
    if isinstance(z, Add):
        dependent = [t for t in z.terms if memo.get(t)]
        # A subtracted term (X - W W^T X) prints as its positive form, never by a name.
        if len(dependent) == 1 and not negated(dependent[0])[0]:
            return dependent[0]
        return None
    below = _activation_input(z)
    return below if isinstance(below, Symbol) and memo.get(below) else None


def _is_weight(e: Expr) -> bool:
    return isinstance(e, Symbol) or isinstance(e, Transpose) and isinstance(e.arg, Symbol)


def _delta_symbols(cost: Expr, memo: dict, through: dict[Expr, Expr], number: dict[Expr, int],
                   user: dict[Expr, str], namer: Namer
                   ) -> tuple[dict[Expr, Placeholder], dict[Expr, Name]]:
    """A symbol for the delta of every layer input and of every definition the variables
    reach (delta2, delta_H), and how each prints."""
    symbols: dict[Expr, Placeholder] = {}
    names: dict[Expr, Name] = {}
    for node in _operands_last(cost, memo, through):
        # A layer input the formula names (A3) has its delta by that name (delta_A3).
        if node in user:
            name = _fresh(namer, "delta_", rf"\delta_{{{latex_name(user[node])}}}", user[node])
        elif node in number:
            name = _fresh(namer, "delta", rf"\delta^{{({number[node]})}}", str(number[node]))
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


def _regrouped(cost: Expr, memo: dict | None, inputs: list[Expr]) -> dict[Expr, Expr]:
    """For each sum or product that holds a layer input's terms or factors among its own,
    the same node with that layer input as one operand (built as is, not simplified); in
    the part of cost that depends on the variables (memo), or in all of it (None)."""
    out: dict[Expr, Expr] = {}
    candidates = sorted((z for z in inputs if isinstance(z, (Add, MatMul))),
                        key=lambda z: -len(z.children))
    for original in postorder(cost, lambda n: memo is None or memo.get(n, False)):
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
