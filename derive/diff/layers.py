"""The cost read as small networks, as the UFLDL note lays it out.

Each additive term of the cost that involves a variable is one network. Reading
the term from the outside in, every operation becomes one layer: a product by a
matrix is a layer with that weight and the identity activation f(z) = z;
anything else is an activation f (with weight I, or none for the last layer).
The input of the network is what is left at the bottom (the right-most factor
of a product: for ``A s`` the input is s and A is a weight, as in UFLDL).

Each layer's delta is dJ/dz(l) for its input z(l), computed from the layer above
with the same vector-Jacobian products as backprop, and shown in terms of the
formula's names.
"""
from __future__ import annotations

from dataclasses import dataclass

from .backprop import VJPS, Backprop
from ..expr.nodes import deep, Add, Broadcast, Const, Expr, Func, Hadamard, MatMul, ONE, Placeholder, Power, Sum, Symbol, Transpose, depends_on, is_const
from ..expr.simplify import add, broadcast, hadamard, mul, ones, power, substitute, summation, transpose



@dataclass
class Layer:
    weight: Expr | None        # None: no weight (the last layer)
    is_identity_weight: bool   # weight I
    activation: Expr           # f as an expression of the placeholder z
    derivative: Expr | str     # f' (an expression of z), or the map a matrix operation applies
    delta: Expr                # dJ/dz(l), in the formula's names
    z: Expr                    # the layer's input z(l), in the formula's names


@dataclass
class Network:
    term: Expr                 # the term of the cost this network computes
    input: Expr
    layers: list[Layer]
    sums_output: bool          # J is the sum of the last layer's outputs


@deep
def layer_tables(cost: Expr, result: Backprop) -> list[Network]:
    names = frozenset(s.name for s in result.wrt)
    terms = cost.terms if isinstance(cost, Add) else (cost,)
    memo: dict = {}
    return [_network(t, names, memo) for t in terms if depends_on(t, names, memo)]


def _network(term: Expr, names: frozenset[str], memo: dict) -> Network:
    node, sums = (term.arg, True) if isinstance(term, Sum) and term.axis is None else (term, False)
    steps: list[tuple[Expr, Symbol, Expr | None]] = []   # (operation of z, z, weight) top-down
    while True:
        step = _step(node, names, memo)
        if step is None:
            break
        operation, placeholder, weight, below = step
        steps.append((operation, placeholder, weight))
        node = below
    steps.reverse()
    values = [node]                      # the value below each step, bottom-up
    for operation, z, _ in steps:
        values.append(substitute(operation, {z: values[-1]}))
    delta = ones(values[-1].shape) if sums else Const(ONE)
    layers: list[Layer] = []
    for index in range(len(steps) - 1, -1, -1):
        operation, z, weight = steps[index]
        delta = substitute(_vjp(operation, z, delta), {z: values[index]})
        layers.append(_layer(operation, z, weight, delta, values[index]))
    layers.reverse()
    if not layers or layers[-1].weight is not None:
        z = Placeholder("z", values[-1].shape)
        final_delta = ones(z.shape) if sums else Const(ONE)
        layers.append(Layer(None, False, z, Const(ONE), final_delta, values[-1]))
    for layer in layers[:-1]:
        if layer.weight is None:
            layer.is_identity_weight = True
    return Network(term, node, layers, sums)


def _vjp(operation: Expr, z: Placeholder, delta: Expr) -> Expr:
    """dJ/dz through ``operation`` (which uses z once), by the rules of backprop."""
    return VJPS[type(operation)](operation, delta, operation.children.index(z))


def _layer(operation: Expr, z: Symbol, weight: Expr | None, delta: Expr, value: Expr) -> Layer:
    if weight is not None:
        return Layer(weight, False, z, Const(ONE), delta, value)
    if isinstance(operation, Func) and not operation.op.elementwise:
        derivative: Expr | str = operation.op.derivative_text
    else:
        derivative = _vjp(operation, z, ones(operation.shape))
        if isinstance(derivative, Broadcast) and is_const(derivative):
            derivative = derivative.arg
    return Layer(None, False, operation, derivative, delta, value)


def _step(node: Expr, names: frozenset[str], memo: dict):
    """(operation of a placeholder z, z, weight or None, the node below), or None at the input."""
    def placeholder(below: Expr) -> Symbol:
        return Placeholder("z", below.shape)

    def dependent(items) -> int:
        return next((i for i, c in enumerate(items) if depends_on(c, names, memo)), 0)

    if isinstance(node, MatMul):
        chain = list(node.chain)
        scalars = list(node.scalars)
        if chain:
            if node.coeff != 1 or scalars:
                weight = mul(Const(node.coeff), *scalars)
                below = mul(*chain)
                z = placeholder(below)
                return mul(weight, z), z, weight, below
            below = mul(*chain[1:])
            z = placeholder(below)
            return mul(chain[0], z), z, chain[0], below
        i = dependent(scalars)
        below = scalars[i]
        weight = mul(Const(node.coeff), *scalars[:i], *scalars[i + 1:])
        z = placeholder(below)
        return mul(weight, z), z, weight, below
    if isinstance(node, Add):
        i = dependent(node.terms)
        below = node.terms[i]
        z = placeholder(below)
        return add(z, *node.terms[:i], *node.terms[i + 1:]), z, None, below
    if isinstance(node, Hadamard):
        i = dependent(node.factors)
        below = node.factors[i]
        z = placeholder(below)
        return hadamard(z, *node.factors[:i], *node.factors[i + 1:]), z, None, below
    if isinstance(node, Power):
        z = placeholder(node.base)
        return power(z, node.exponent), z, None, node.base
    if isinstance(node, Func):
        z = placeholder(node.arg)
        return node.op.apply(z, *node.params), z, None, node.arg
    if isinstance(node, Transpose):
        z = placeholder(node.arg)
        return transpose(z), z, None, node.arg
    if isinstance(node, Sum):
        z = placeholder(node.arg)
        return summation(z, node.axis), z, None, node.arg
    if isinstance(node, Broadcast):
        z = placeholder(node.arg)
        return broadcast(z, node.shape), z, None, node.arg
    return None
