"""Gradients of many costs, every operator and function of the language, checked numerically.

Each case: the cost, the variables, declared shapes. The emitted NumPy code
(from the command line, run on its own) must agree with central finite
differences, and ``derive check`` must pass.
"""
from __future__ import annotations

import pytest

from conftest import finite_difference_error, run, shape_args

CASES = [
    # products, sums, transposes, scalars
    ("sum(A*x)", ["A", "x"], None),
    ("sum(A@B)", ["A", "B"], None),
    ("x'*A*x", ["x", "A"], None),
    ("a'*X*b", ["a", "X", "b"], None),
    ("norm(A.T*y - b)^2", ["A", "y"], None),
    ("sum(-x) - 3*sum(x) + 0.5*sum(x .* x) + 1e-3", ["x"], None),
    ("sum(A .* B) + sum(A ./ B)", ["A", "B"], None),
    ("sum(x) / m + sum(x.^3) / 2", ["x", "m"], None),
    ("alpha^2 + alpha^-1 + sum(x)^2", ["alpha", "x"], None),
    ("sum(X.^p)", ["X", "p"], None),
    ("sum((A*s - x).^2)", ["A", "s"], {"s": ("n", "k"), "x": ("m", "k")}),
    ("sum(A*x + b)", ["A", "b"], None),
    ("sum(W*X + b)", ["W", "b"], {"X": ("n", "k")}),
    ("sum(X + r)", ["X", "r"], {"r": (1, "k"), "X": ("m", "k")}),
    # definitions and repeated variables
    ("R = A*s - x; norm(R, 'fro')^2 + gamma*norm(A, 'fro')^2", ["A", "s", "gamma"],
     {"s": ("n", "k"), "x": ("m", "k")}),
    ("H = tanh(W*X); sum(sum((W'*H - X).^2))", ["W"], {"X": ("n", "k")}),
    # elementwise functions
    ("sum(exp(A*x))", ["A", "x"], None),
    ("sum(log(x .* x + 1))", ["x"], None),
    ("sum(sqrt(x .* x + eps))", ["x"], None),
    ("sum(abs(x)) + norm1(y)", ["x", "y"], None),
    ("sum(tanh(W*x))", ["W"], None),
    ("sum(sigmoid(W*x + b))", ["W", "b"], None),
    ("sum(softplus(-y .* (X*w)))", ["w"], None),
    ("sum(log(sigmoid(y .* (X*w))))", ["w"], None),
    ("sum(square(A*x - b))", ["A", "x"], None),
    ("sum(sin(x) .* cos(y))", ["x", "y"], None),
    ("sum(relu(W*x))", ["W", "x"], None),
    ("sum(sign(x) .* y)", ["y"], None),
    # reductions and norms
    ("sum(sum(X, 1)) + sum(sum(X, 2).^2)", ["X"], None),
    ("mean(X) + sum(mean(X, 1).^2) + sum(mean(X, 2).^2)", ["X"], None),
    ("norm(x) + norm(X) + norm(x, 2) + norm2(y)^2 + norm(y, 1)", ["x", "X", "y"], None),
    ("norm(A*x - b, 'fro')", ["A", "x"], None),
    # linear algebra
    ("tr(A*X*B)", ["X"], None),
    ("trace(X'*X)", ["X"], None),
    ("logdet(X)", ["X"], None),
    ("det(X)", ["X"], None),
    ("tr(inv(X)*A)", ["X"], None),
    ("sum(X^-1 * y) + sum(X^2 * y) + sum(X^3)", ["X"], None),
    ("sum(diag(x) * A * y)", ["x", "A"], None),
    ("sum(diag(X).^2)", ["X"], None),
    ("sum((eye(n) + X) * y) + sum(ones(n, 3) .* Y)", ["X", "Y"], {"X": ("n", "n")}),
    # softmax family
    ("sum(sum(Y .* log(softmax(Theta*X))))", ["Theta"], None),
    ("logsumexp(X) + sum(logsumexp(X, 1))", ["X"], None),
    ("sum(softmax(X) .* C)", ["X"], None),
]


@pytest.mark.parametrize("formula, wrt, shapes", CASES, ids=[c[0] for c in CASES])
def test_emitted_gradient_matches_finite_differences(formula, wrt, shapes):
    assert finite_difference_error(formula, wrt, shapes) < 1e-6


@pytest.mark.parametrize("formula, wrt, shapes", CASES, ids=[c[0] for c in CASES])
def test_derive_check_passes(formula, wrt, shapes):
    code, out, err = run("check", formula, *sum((["--wrt", w] for w in wrt), []),
                         *shape_args(shapes))
    assert code == 0, out + err
