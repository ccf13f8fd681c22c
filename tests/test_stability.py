"""Numerically safe emitted code: the stable forms survive inputs scaled to 1e3.

Run under np.errstate(all='raise') with warnings as errors: no overflow, no
division by zero, no invalid value, and finite results.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import derive

LOGISTIC = "sum(softplus(-y .* (X*w)))"
CROSS_ENTROPY = "-sum(y .* log(sigmoid(X*w)) + (1 - y) .* log(1 - sigmoid(X*w)))"
SOFTMAX = "-sum(sum(Y .* log(softmax(Theta*X))))/m + lambda/2*norm(Theta, 'fro')^2"


def _run(formula, wrt, args):
    namespace: dict = {}
    exec(derive.gradient(formula, wrt).numpy, namespace)
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        results = namespace["value_and_grad"](*args)
    for r in results:
        assert np.all(np.isfinite(r)), results
    return results


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_logistic_regression_at_scale_1e3(rng):
    X = rng.standard_normal((50, 5)) * 1e3
    y = np.sign(rng.standard_normal(50))
    w = rng.standard_normal(5)
    _run(LOGISTIC, "w", [w, X, y])


def test_cross_entropy_with_log_sigmoid_at_scale_1e3(rng):
    y = (rng.standard_normal(50) > 0).astype(float)
    X = rng.standard_normal((50, 5)) * 1e3
    w = rng.standard_normal(5)
    value, grad = _run(CROSS_ENTROPY, "w", [w, X, y])
    assert value > 0


def test_softmax_regression_at_scale_1e3(rng):
    k, n, m = 4, 6, 30
    Y = np.eye(k)[:, rng.integers(0, k, m)]
    Theta = rng.standard_normal((k, n)) * 1e3
    X = rng.standard_normal((n, m))
    _run(SOFTMAX, "Theta", [Theta, 0.1, float(m), X, Y])


@pytest.mark.parametrize("formula, wrt", [
    ("logsumexp(X) + sum(logsumexp(X, 1))", "X"),
    ("sum(softmax(X) .* C)", "X"),
    ("sum(sigmoid(X)) + sum(softplus(X)) + sum(tanh(X))", "X"),
    ("sum(log(1 + exp(X)))", "X"),
])
def test_family_at_scale_1e3(formula, wrt, rng):
    d = derive.gradient(formula, wrt)
    args = [rng.standard_normal((4, 5)) * 1e3 for _ in d.parameters]
    _run(formula, wrt, args)
