"""Backprop (derive/diff/backprop.py) on small costs, against central finite differences.

The UFLDL note's method: the delta of the cost is 1, each node hands its delta to its
operands through the vector-Jacobian product of its operation, and a variable used
several times gets the sum of its shares. Here the costs are built with the
constructors, the gradients backprop returns are evaluated by a plain NumPy walk of the
tree written for this test, and compared with differences of the cost.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy

from derive.diff.backprop import backprop
from derive.expr.nodes import (Add, Broadcast, Const, Expr, Func, Hadamard, Identity, MatMul,
                               ONE, Power, SCALAR, Sum, Symbol, Transpose, postorder)
from derive.expr.ops import apply
from derive.expr.simplify import add, hadamard, mul, neg, power, sub, summation, transpose

m, n, k = sympy.symbols("m n k")
SIZES = {m: 4, n: 3, k: 2}

FUNCTIONS = {
    "exp": lambda a: np.exp(a), "log": lambda a: np.log(a), "tanh": lambda a: np.tanh(a),
    "sigmoid": lambda a: 1 / (1 + np.exp(-a)), "softplus": lambda a: np.log1p(np.exp(a)),
    "sin": lambda a: np.sin(a), "cos": lambda a: np.cos(a),
    "inv": lambda a: np.linalg.inv(a), "tr": lambda a: np.array([[np.trace(a)]]),
    "logdet": lambda a: np.array([[np.linalg.slogdet(a)[1]]]),
    "det": lambda a: np.array([[np.linalg.det(a)]]),
}


def _softmax(a: np.ndarray, axis=0) -> np.ndarray:
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _function(node: Func, a: np.ndarray) -> np.ndarray:
    if node.name == "softmax":
        return _softmax(a)
    if node.name == "logsumexp":
        axis = node.params[0] if node.params else None
        top = a.max(axis=axis, keepdims=True)
        out = np.log(np.exp(a - top).sum(axis=axis, keepdims=True)) + top
        return out.reshape(1, 1) if axis is None else out
    return FUNCTIONS[node.name](a)


def evaluate(root: Expr, values: dict[Symbol, np.ndarray], sizes: dict) -> np.ndarray:
    """The value of an expression tree as a 2-D array, by the plain meaning of each node."""
    def size(d) -> int:
        return int(sympy.sympify(d).subs(sizes))

    def number(c) -> float:
        return float(sympy.sympify(c).subs(sizes))

    out: dict[Expr, np.ndarray] = {}
    for node in postorder(root):
        if isinstance(node, Symbol):
            out[node] = values[node]
        elif isinstance(node, Const):
            out[node] = np.array([[number(node.value)]])
        elif isinstance(node, Identity):
            out[node] = np.eye(size(node.shape[0]))
        elif isinstance(node, Broadcast):
            out[node] = np.broadcast_to(out[node.arg], tuple(map(size, node.shape))).copy()
        elif isinstance(node, Add):
            out[node] = sum(out[t] for t in node.terms)
        elif isinstance(node, MatMul):
            scalar = number(node.coeff)
            for f in node.scalars:
                scalar = scalar * out[f].item()
            chain = [out[f] for f in node.chain]
            out[node] = scalar * (np.linalg.multi_dot(chain) if len(chain) > 1 else
                                  chain[0] if chain else np.ones((1, 1)))
        elif isinstance(node, Hadamard):
            out[node] = np.prod(np.broadcast_arrays(*[out[f] for f in node.factors]), axis=0)
        elif isinstance(node, Power):
            out[node] = out[node.base] ** out[node.exponent].item()
        elif isinstance(node, Transpose):
            out[node] = out[node.arg].T
        elif isinstance(node, Sum):
            out[node] = out[node.arg].sum(axis=node.axis, keepdims=True)
        elif isinstance(node, Func):
            out[node] = _function(node, out[node.arg])
        else:
            raise TypeError(f"no meaning for {type(node).__name__} in this test")
        assert out[node].shape == tuple(map(size, node.shape)), node
    return out[root]


def random_values(symbols: list[Symbol], sizes: dict, seed: int = 0) -> dict[Symbol, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = {}
    for sym in symbols:
        shape = tuple(int(sympy.sympify(d).subs(sizes)) for d in sym.shape)
        a = rng.standard_normal(shape)
        if sym.assumption == "spd":
            a = a @ a.T + shape[0] * np.eye(shape[0])
        values[sym] = a
    return values


def finite_differences(cost: Expr, values: dict, variable: Symbol, h: float = 1e-6) -> np.ndarray:
    gradient = np.zeros_like(values[variable])
    for index in np.ndindex(gradient.shape):
        plus, minus = dict(values), dict(values)
        plus[variable] = values[variable].copy()
        minus[variable] = values[variable].copy()
        plus[variable][index] += h
        minus[variable][index] -= h
        gradient[index] = (evaluate(cost, plus, SIZES).item()
                           - evaluate(cost, minus, SIZES).item()) / (2 * h)
    return gradient


def assert_gradients_match(cost: Expr, wrt: list[Symbol], others: list[Symbol]) -> None:
    values = random_values(wrt + others, SIZES)
    result = backprop(cost, wrt)
    for variable in wrt:
        ours = evaluate(result.gradients[variable.name], values, SIZES)
        assert np.isfinite(ours).all()
        assert ours.shape == values[variable].shape   # the gradient has the variable's shape
        np.testing.assert_allclose(ours, finite_differences(cost, values, variable),
                                   rtol=1e-5, atol=1e-7)


def squared_norm(e: Expr) -> Expr:
    return summation(power(e, Const(2)), None)


A, s, x = Symbol("A", (m, n)), Symbol("s", (n, k)), Symbol("x", (m, k))
gamma, eps = Symbol("gamma", SCALAR), Symbol("eps", SCALAR)


def test_sparse_coding_in_both_variables():
    # F = ||A s - x||_F^2 + gamma ||A||_F^2: grad_A = 2 (A s - x) s^T + 2 gamma A
    cost = add(squared_norm(sub(mul(A, s), x)), mul(gamma, squared_norm(A)))
    assert_gradients_match(cost, [A, s], [x, gamma])


def test_topographic_sparse_coding_four_layers():
    # F = sum(sqrt(V (s .* s) + eps)), with V and eps kept positive by squaring them
    V = Symbol("V", (m, n))
    cost = summation(power(add(mul(power(V, Const(2)), hadamard(s, s)), power(eps, Const(2))),
                           Const(sympy.Rational(1, 2))), None)
    assert_gradients_match(cost, [s], [V, eps])


def test_ica_sums_the_shares_of_both_uses_of_W():
    W, xv = Symbol("W", (m, n)), Symbol("x", (n, ONE))
    cost = squared_norm(sub(mul(transpose(W), W, xv), xv))
    assert_gradients_match(cost, [W], [xv])
    result = backprop(cost, [W])
    assert len(result.contributions["W"]) == 2   # one share per use, summed


def test_logistic_regression_through_softplus():
    X, y, w = Symbol("X", (m, n)), Symbol("y", (m, ONE)), Symbol("w", (n, ONE))
    cost = summation(apply("softplus", neg(hadamard(y, mul(X, w)))), None)
    assert_gradients_match(cost, [w], [X, y])


def test_softmax_regression_every_path_through_softmax():
    Theta, X, Y = Symbol("Theta", (m, n)), Symbol("X", (n, k)), Symbol("Y", (m, k))
    cost = neg(summation(hadamard(Y, apply("log", apply("softmax", mul(Theta, X)))), None))
    assert_gradients_match(cost, [Theta], [X, Y])


def test_a_two_layer_network_with_a_broadcast_bias():
    W1, b1, X = Symbol("W1", (m, n)), Symbol("b1", (m, ONE)), Symbol("X", (n, k))
    H = apply("tanh", add(mul(W1, X), b1))          # b1 is added to every column
    cost = squared_norm(H)
    assert_gradients_match(cost, [W1, b1], [X])


def test_log_determinant_and_trace():
    S = Symbol("S", (n, n), "spd")
    B = Symbol("B", (n, n))
    cost = sub(apply("logdet", S), apply("tr", mul(B, S)))
    assert_gradients_match(cost, [S], [B])


def test_the_cost_s_delta_is_one_and_a_variable_s_delta_is_its_gradient():
    cost = squared_norm(A)
    result = backprop(cost, [A])
    assert result.deltas[cost] == Const(1)
    assert result.gradients["A"] == result.deltas[A]


def test_a_variable_the_cost_does_not_use_has_a_zero_gradient():
    result = backprop(squared_norm(A), [A, s])
    values = random_values([A, s], SIZES)
    assert not evaluate(result.gradients["s"], values, SIZES).any()


def test_a_non_smooth_function_is_reported():
    result = backprop(summation(apply("relu", A), None), [A])
    assert result.subgradients and "relu" in result.subgradients[0]


@pytest.mark.parametrize("seed", range(3))
def test_the_gradient_holds_on_other_data(seed):
    cost = add(squared_norm(sub(mul(A, s), x)), mul(gamma, squared_norm(A)))
    values = random_values([A, s, x, gamma], SIZES, seed)
    grad_A = evaluate(backprop(cost, [A]).gradients["A"], values, SIZES)
    a, sv, xv, g = (values[v] for v in (A, s, x, gamma))
    np.testing.assert_allclose(grad_A, 2 * (a @ sv - xv) @ sv.T + 2 * g * a, rtol=1e-12)
