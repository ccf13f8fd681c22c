"""scipy in one line: ``d.objective(data)`` is ``f(flat) -> (value, gradient)`` for minimize.

The two examples of docs/python.md, trained to convergence on small data: logistic
regression (one vector variable) and sparse coding (two matrix variables packed
one after the other).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import sympy

import derive

optimize = pytest.importorskip("scipy.optimize")

LOGISTIC = "sum(softplus(X*w) - y .* (X*w)) + lambda*norm(w)^2/2"
SPARSE_CODING = "norm(A*s - x, 'fro')^2 + lambda*sum(sqrt(s.^2 + eps)) + gamma*norm(A, 'fro')^2"


def gradient_error(f, x0) -> float:
    """SciPy's own finite-difference check, relative to the gradient's size."""
    error = optimize.check_grad(lambda v: f(v)[0], lambda v: f(v)[1], x0)
    return error / np.linalg.norm(f(x0)[1])


def converges(f, x0) -> np.ndarray:
    """Minimise, and check that the gradient has all but vanished."""
    result = optimize.minimize(f, x0, jac=True, method="L-BFGS-B",
                               options={"gtol": 1e-9, "ftol": 1e-15, "maxiter": 5000})
    start, end = np.linalg.norm(f(x0)[1]), np.linalg.norm(f(result.x)[1])
    assert result.fun < f(x0)[0]
    assert end < 1e-4 * start, result.message
    return result.x


def test_logistic_regression_trains_with_scipy():
    d = derive.gradient(LOGISTIC, wrt="w")
    assert d.text == "grad_w = X^T (sigmoid(X w) - y) + lambda w"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    y = (X @ np.array([1.0, -2.0, 0.0, 0.5, 1.0]) > 0).astype(float)
    f = d.objective({"X": X, "y": y, "lambda": 0.1})
    assert f.size == 5
    assert gradient_error(f, rng.standard_normal(5)) < 1e-5
    w = d.unpack(converges(f, np.zeros(f.size)))["w"]
    assert w.shape == (5,)
    assert np.mean((X @ w > 0) == y) > 0.95


def test_sparse_coding_trains_both_matrices_packed_in_order():
    d = derive.gradient(SPARSE_CODING, wrt=["A", "s"], shapes={"s": ("n", "k"), "x": ("m", "k")})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 10))
    f = d.objective({"x": x, "lambda": 0.1, "eps": 1e-2, "gamma": 0.01}, sizes={"n": 3})
    assert f.size == 6 * 3 + 3 * 10
    x0 = 0.1 * rng.standard_normal(f.size)
    assert gradient_error(f, x0) < 1e-5
    variables = d.unpack(converges(f, x0))
    assert list(variables) == ["A", "s"]
    assert variables["A"].shape == (6, 3) and variables["s"].shape == (3, 10)


def test_the_flat_vector_is_each_variable_in_c_order():
    d = derive.gradient(SPARSE_CODING, wrt=["s", "A"], shapes={"s": ("n", "k"), "x": ("m", "k")})
    f = d.objective({"x": np.ones((2, 3)), "lambda": 1, "eps": 1, "gamma": 1}, sizes={"n": 2})
    flat = np.arange(f.size, dtype=float)
    variables = d.unpack(flat)
    assert np.array_equal(variables["s"], np.arange(6.0).reshape(2, 3))
    assert np.array_equal(variables["A"], np.arange(6.0, 10.0).reshape(2, 2))
    assert np.array_equal(f.pack(variables), flat)
    value, gradient = f(flat)
    grad_s, grad_A = d.function()(variables["s"], variables["A"], 1.0, 1.0, 1.0, np.ones((2, 3)))
    assert np.allclose(gradient, np.concatenate([grad_s.ravel(), grad_A.ravel()]))


def test_a_sympy_cost_takes_data_keyed_by_its_symbols():
    k = sympy.Symbol("k")
    X, a, b = sympy.MatrixSymbol("X", k, k), sympy.MatrixSymbol("a", k, 1), \
        sympy.MatrixSymbol("b", k, 1)
    d = derive.gradient(sympy.Trace((X - a*b.T).T*(X - a*b.T)), X)
    f = d.objective({a: np.ones(3), b: np.arange(3.0)})
    solution = d.unpack(converges(f, np.zeros(9)))["X"]
    assert np.allclose(solution, np.outer(np.ones(3), np.arange(3.0)))


@pytest.mark.parametrize("data, sizes, message", [
    ({"X": np.ones((4, 2))}, None, "needs data for lambda, y"),
    ({"X": np.ones((4, 2)), "y": np.ones(4), "lambda": 1, "w": np.ones(2)}, None,
     "w is a variable"),
    ({"X": np.ones((4, 2)), "y": np.ones(5), "lambda": 1}, None, "dimension m is 4"),
    ({"X": np.ones((4, 2)), "y": np.ones(4), "lambda": 1, "z": 1}, None, "not a name"),
    ({"X": np.ones((4, 2)), "y": np.ones(4), "lambda": np.ones(2)}, None, "lambda is a scalar"),
])
def test_bad_data_is_refused_with_the_name(data, sizes, message):
    with pytest.raises(derive.DeriveError, match=message):
        derive.gradient(LOGISTIC, wrt="w").objective(data, sizes)


def test_a_size_the_data_does_not_fix_is_asked_for():
    d = derive.gradient(SPARSE_CODING, wrt=["A", "s"], shapes={"s": ("n", "k"), "x": ("m", "k")})
    with pytest.raises(derive.DeriveError, match=r"sizes=\{'n': ...\}"):
        d.objective({"x": np.ones((2, 3)), "lambda": 1, "eps": 1, "gamma": 1})
    with pytest.raises(derive.DeriveError, match="unpack follows objective"):
        d.unpack(np.zeros(3))


def python_page_block(section: str) -> str:
    text = (Path(__file__).resolve().parent.parent / "docs" / "python.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", body, flags=re.S).group(1)


def test_the_readme_examples_run_as_they_say():
    namespace = {"derive": derive}
    exec(python_page_block("SymPy"), namespace)   # the documentation's own text, not user input
    assert namespace["d"].sympy == {"A": (2*namespace["A"]*namespace["s"] - 2*namespace["x"])
                                    * namespace["s"].T,
                                    "s": namespace["A"].T*(2*namespace["A"]*namespace["s"]
                                                           - 2*namespace["x"])}
    assert derive.gradient(namespace["cost"], namespace["w"]).text == \
        "grad_w = M^T (sigmoid(M w) - y)"
    exec(python_page_block("scipy"), namespace)
    assert namespace["result"].success
    assert namespace["A"].shape == (8, 4) and namespace["s"].shape == (4, 20)
    assert np.mean((namespace["X"] @ namespace["w"] > 0) == namespace["y"]) > 0.95
