"""Hessians of the kinds the recipes and textbooks have, against JAX's dense Hessian.

A corpus of two-layer networks (biases broadcast over the columns, as UFLDL writes
``sigmoid(W1 X + b1)``), softmax regression with biases, least squares in W and b, and
every variable of every recipe. Each Hessian derive writes in closed form is evaluated
from the emitted NumPy ``hessian_X`` on the data of ``derive check`` and compared with
``jax.hessian`` of the test oracle's own interpreter (tests/support/oracle.py, which
shares nothing with derive), vec stacking columns; ``derive check --hess`` passes on it.
Only Hessians whose product has a transpose of the direction are refused (their vec form
needs the commutation matrix), with a message pointing to hvp.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from support.oracle import Interpreter, parse
from test_targets import needs_jax

import derive
from derive.numcheck import check_second_order, random_instance
from derive.recipes import all_recipes

COLUMNS = {"X": ("n", "m")}
TWO_LAYER_SOFTPLUS = "sum(sum(softplus(W2*sigmoid(W1*X + b1) + b2)))"
TWO_LAYER_TANH = "norm(W2*tanh(W1*X + b1) + b2 - Y, 'fro')^2"
AUTOENCODER = "norm(W2*sigmoid(W1*X + b1) + b2 - X, 'fro')^2"
SIGMOID_OUTPUT = "norm(sigmoid(W2*sigmoid(W1*X + b1) + b2) - Y, 'fro')^2"
SOFTMAX_NET = "-sum(sum(Y .* log(softmax(W2*sigmoid(W1*X + b1) + b2))))"

OWN = [(f, v, COLUMNS) for f in (TWO_LAYER_SOFTPLUS, TWO_LAYER_TANH, SIGMOID_OUTPUT,
                                 SOFTMAX_NET) for v in ("b1", "b2")] + [
    (TWO_LAYER_TANH, "W1", COLUMNS), (TWO_LAYER_TANH, "W2", COLUMNS),
    (AUTOENCODER, "b1", COLUMNS), (AUTOENCODER, "b2", COLUMNS),
    ("sum(sigmoid(W1*X + b1))", "b1", COLUMNS),
    ("sum(sum(sigmoid(W1*X + b1)))", "W1", COLUMNS),
    ("-sum(sum(Y .* log(softmax(W*X + b))))", "b", COLUMNS),
    ("-sum(sum(Y .* log(softmax(W*X + b))))", "W", COLUMNS),
    ("sum(logsumexp(W*X + b, 1)) - sum(sum(Y .* (W*X + b)))", "b", COLUMNS),
    ("norm(W*X + b - Y, 'fro')^2", "b", COLUMNS),
    ("norm(W*X + b - Y, 'fro')^2", "W", COLUMNS),
    ("sum(sum(softplus(-Y .* (W*X + b))))", "b", COLUMNS),
    ("sum(sum(exp(W*X + b)))", "b", COLUMNS),
    ("sum(sum(softplus(W2*relu(W1*X + b1) + b2)))", "b1", COLUMNS),
    ("sum(softplus(w2'*tanh(W1*X + b1)))", "b1", COLUMNS),
    ("norm(W2*tanh(W1*X + b1) - Y, 'fro')^2 + lambda*norm(b1)^2", "b1", COLUMNS),
    ("norm(W2*tanh(W1*x + b1) + b2 - y)^2", "b1", None),
    ("norm(W2*tanh(W1*x + b1) + b2 - y)^2", "W1", None),
]
# A transpose of the direction in the product: no vec form without the commutation matrix.
REFUSED = {("gaussian_nll", "Sigma"), ("ica_reconstruction", "W"), ("matrix_factorisation", "V"),
           ("pca_reconstruction", "W"), ("rica", "W")}
# The recipes' matrix variables are checked against differences in test_second_order.py;
# here their first-layer biases (the ones that were refused) and their refusals.
CASES = [pytest.param(*c, False, id=f"{c[0][:40]}-{c[1]}") for c in OWN] + [
    pytest.param(r.formula, v, r.shapes, (r.name, v) in REFUSED, id=f"{r.name}-{v}")
    for r in all_recipes() for v in r.variables if v == "b1" or (r.name, v) in REFUSED]


def jax_hessian(d, args, sizes) -> np.ndarray:
    """The dense Hessian of the cost in vec(X) (columns stacked), by JAX over the oracle."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    formula = parse(d.formula.source)
    interpreter = Interpreter(jnp)
    interpreter.dims = {str(k): v for k, v in sizes.items()}
    values = {p.name: np.asarray(a, dtype=float).reshape(
        (sizes[p.shape[0]], sizes[p.shape[1]])) for p, a in zip(d.parameters, args)}
    name = d.wrt[0]
    shape = values[name].shape

    def cost(v):
        env = {n: jnp.asarray(a) for n, a in values.items()}
        env[name] = v.reshape(shape, order="F")
        for defined, body in formula.definitions:
            env[defined] = interpreter.eval(body, env)
        return interpreter.eval(formula.cost, env).reshape(())
    return np.asarray(jax.hessian(cost)(jnp.asarray(values[name].reshape(-1, order="F"))))


@needs_jax
@pytest.mark.parametrize("formula, wrt, shapes, refused", CASES)
def test_hessian_is_jaxs_dense_hessian(formula, wrt, shapes, refused):
    if refused:
        with pytest.raises(derive.DeriveError, match="commutation matrix.*use derive hvp"):
            derive.hessian(formula, wrt, shapes)
        return
    d = derive.hessian(formula, wrt, shapes)
    args, _, sizes = random_instance(d)
    ours = np.atleast_2d(np.asarray(d.function()(*args), dtype=float))
    np.testing.assert_allclose(ours, jax_hessian(d, args, sizes), rtol=1e-7, atol=1e-9)
    assert check_second_order(d).passed


def test_every_recipe_hessian_is_in_closed_form_but_for_transposes_of_the_direction():
    for r in all_recipes():
        for v in r.variables:
            if (r.name, v) in REFUSED:
                continue
            assert check_second_order(derive.hessian(r.formula, v, r.shapes)).passed


def test_a_varying_middle_of_the_columns_is_a_face_splitting_product():
    """b1 of a two-layer net: sum_j diag(a_j) W2^T diag(c_j) W2 diag(a_j) = Z diag(vec(C)) Z^T,
    Z = kron(A, 1^T) .* kron(1^T, W2^T); in the code, no diagonal matrix is built."""
    d = derive.hessian(TWO_LAYER_SOFTPLUS, "b1", COLUMNS)
    assert "kron(ones(1, m), W2^T)" in d.text and "diag(vec(" in d.text
    code = d.numpy.split("def hessian_b1")[1].split("\ndef ")[0]
    assert "np.eye" not in code and not re.search(r"np\.diag\([^)]*\) @|@ np\.diag", code)
