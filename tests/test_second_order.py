"""Second order: Hessian-vector products and Hessians, forward over reverse in closed form.

Each test gives the cost, the expected closed form (the Matrix Cookbook's where it
has one), and the numerical check: the emitted hvp against central differences of
derive's own gradient (itself checked against the value by ``derive check``), and
the emitted Hessian against the stacked products with the unit vectors.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import run, shape_args, without_kinds
from test_formulas import CASES
from test_latex import assert_well_formed

import derive
from derive.numcheck import check_derivation, check_second_order, random_instance
from derive.recipes import all_recipes, load

TOLERANCE = 1e-5


def hvp_text(formula: str, *wrt: str, shapes=None) -> str:
    return derive.hvp(formula, list(wrt), shapes).text


def hess_text(formula: str, wrt: str, shapes=None) -> str:
    return derive.hessian(formula, wrt, shapes).text


def second_order_error(d) -> float:
    assert check_derivation(d).passed       # the gradient the differences are taken of
    return check_second_order(d).max_error


def stacked_hvps(d, args) -> np.ndarray:
    """The Hessian built column by column from hvp with the unit directions (vec: columns)."""
    (name,) = d.wrt
    names = [s.name for s in d.parameters]
    x = np.asarray(args[names.index(name)], dtype=float)
    hvp = d.namespace()["hvp"]
    columns = []
    for i in range(x.size):
        unit = np.zeros(x.size)
        unit[i] = 1.0
        direction = unit.reshape(x.shape, order="F")
        columns.append(np.asarray(hvp(*args, float(direction) if x.ndim == 0 else direction))
                       .reshape(-1, order="F"))
    return np.array(columns).T


def assert_hessian_is_stacked_hvps(d) -> None:
    args, _, _ = random_instance(d)
    hessian = np.atleast_2d(d.function()(*args))
    np.testing.assert_allclose(hessian, stacked_hvps(d, args), rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------- the Matrix Cookbook

def test_quadratic_form_hessian_is_a_plus_a_transpose():
    # Cookbook (eq. 89 on): d^2 (x^T A x) / dx^2 = A + A^T
    assert hvp_text("x'*A*x", "x") == "hvp_x = (A + A^T) d_x"
    d = derive.hessian("x'*A*x", "x")
    assert d.text == "hess_x = A + A^T"
    assert second_order_error(d) < TOLERANCE
    assert_hessian_is_stacked_hvps(d)


def test_least_squares_hessian_is_2_a_transpose_a():
    # ||A x - b||^2: the Hessian 2 A^T A, whatever x and b
    d = derive.hessian("norm(A*x - b)^2", "x")
    assert d.text == "hess_x = 2 A^T A"
    assert second_order_error(d) < TOLERANCE
    assert_hessian_is_stacked_hvps(d)


def test_a_transpose_x_transpose_x_b_in_kronecker_form():
    # Cookbook: d/dX (a^T X^T X b) = X (a b^T + b a^T); along D: D (a b^T + b a^T),
    # whose vec is ((a b^T + b a^T)^T ⊗ I) vec(D)
    assert hvp_text("a'*X'*X*b", "X") == "hvp_X = d_X b a^T + d_X a b^T"
    d = derive.hessian("a'*X'*X*b", "X")
    assert d.text == "hess_X = kron(a b^T, I) + kron(b a^T, I)"
    assert second_order_error(d) < TOLERANCE
    assert_hessian_is_stacked_hvps(d)


def test_trace_x_transpose_a_x():
    # Cookbook: d/dX tr(X^T A X) = (A + A^T) X; along D: (A + A^T) D, vec: I ⊗ (A + A^T)
    assert hvp_text("tr(X'*A*X)", "X") == "hvp_X = (A + A^T) d_X"
    d = derive.hessian("tr(X'*A*X)", "X")
    assert d.text == "hess_X = kron(I, A + A^T)"
    assert second_order_error(d) < TOLERANCE
    assert_hessian_is_stacked_hvps(d)


def test_elementwise_terms_of_a_matrix_hessian_are_diagonal_in_vec_form():
    # vec(a .* D) = diag(vec(a)) vec(D), and products compose: matrix factorisation in U
    # has 2 ((d_U V^T) .* M.^2) V, that is 2 (V^T ⊗ I) diag(vec(M.^2)) (V ⊗ I) vec(d_U)
    assert hess_text("sum(exp(X))", "X") == "hess_X = diag(vec(exp(X)))"
    recipe = load("matrix_factorisation")
    d = derive.hessian(recipe.formula, "U", recipe.shapes)
    assert d.text == "hess_U = 2 kron(V^T, I) diag(vec(M.^2)) kron(V, I) + 2 lambda I"
    assert "np.ravel(np.square(M), order='F')[:, None] * np.kron(V, " in d.numpy
    assert second_order_error(d) < TOLERANCE
    assert_hessian_is_stacked_hvps(d)


def test_logdet_directional_derivative_and_refused_hessian():
    # Cookbook: d/dX logdet(X) = X^-T; along D: -X^-T D^T X^-T, a transpose of D that
    # has no Kronecker form without the commutation matrix: derive hess refuses.
    assert hvp_text("logdet(X)", "X") == "hvp_X = -inv(X)^T d_X^T inv(X)^T"
    assert second_order_error(derive.hvp("logdet(X)", "X")) < TOLERANCE
    code, out, err = run("hess", "logdet(X)", "--wrt", "X")
    assert code == 2 and out == ""
    assert "cannot write the Hessian of the matrix variable X" in err
    assert "use derive hvp" in err


# ---------------------------------------------------------------- UFLDL's costs

SPARSE_CODING = "norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2"
SPARSE_SHAPES = {"s": ("n", "k"), "x": ("m", "k")}


def test_sparse_coding_hvp_in_a_and_its_kronecker_hessian():
    assert hvp_text(SPARSE_CODING, "A", shapes=SPARSE_SHAPES) == \
        "hvp_A = 2 d_A s s^T + 2 gamma d_A"
    d = derive.hessian(SPARSE_CODING, "A", SPARSE_SHAPES)
    assert d.text == "hess_A = 2 kron(s s^T, I) + 2 gamma I"
    assert d.notes == ["hess_A acts on vec(A), the columns of A stacked"]
    assert second_order_error(d) < TOLERANCE
    assert_hessian_is_stacked_hvps(d)


def test_sparse_coding_hvp_in_both_variables_has_the_cross_terms():
    # The whole Hessian times (d_A, d_s), restricted to A and to s: cross terms included.
    d = derive.hvp(SPARSE_CODING, ["A", "s"], SPARSE_SHAPES)
    assert d.text == ("hvp_A = 2 gamma d_A + 2 (A s - x) d_s^T + (2 d_A s + 2 A d_s) s^T\n"
                      "hvp_s = 2 d_A^T (A s - x) + A^T (2 d_A s + 2 A d_s)")
    assert second_order_error(d) < TOLERANCE


def test_topographic_sparse_coding_hessian_in_s():
    d = derive.hessian("sum(sqrt(V*(s.^2) + eps))", "s")
    assert d.text == ("hess_s = diag(V^T (V s.^2 + eps).^(-1/2)) - diag(s) V^T "
                      "diag((V s.^2 + eps).^(-3/2)) V diag(s)")
    assert second_order_error(d) < TOLERANCE
    # diag(s) V^T is a scaling of the rows of V^T: no diagonal matrix in a product
    code = d.numpy.split("def hessian_s")[1]
    assert "s[:, None] * (V.T @" in code
    assert not re.search(r"np\.diag\([^)]*\) @|@ np\.diag", code)
    assert_hessian_is_stacked_hvps(d)


def test_ica_reconstruction_hvp():
    d = derive.hvp("norm(W'*W*x - x)^2", "W")
    assert second_order_error(d) < TOLERANCE


def test_logistic_regression_hessian_never_builds_a_diagonal():
    d = derive.hessian("sum(softplus(-y .* (X*w)))", "w")
    assert d.text == ("hess_w = X^T diag(y.^2 .* sigmoid(-y .* (X w)) .* "
                      "(1 - sigmoid(-y .* (X w)))) X")
    hessian = d.numpy.split("def hessian_w")[1]
    assert "X.T @ (" in hessian and "[:, None] * X)" in hessian
    assert "np.diag" not in hessian and "np.eye" not in hessian
    assert second_order_error(d) < TOLERANCE
    assert_hessian_is_stacked_hvps(d)


def test_scalar_variable():
    d = derive.hessian("alpha^2 * exp(alpha)", "alpha")
    assert d.text == "hess_alpha = exp(alpha) (4 alpha + alpha^2 + 2)"
    assert second_order_error(d) < TOLERANCE


# ---------------------------------------------------------------- every recipe

def recipe_cases():
    return [pytest.param(r.name, id=r.name) for r in all_recipes()]


@pytest.mark.parametrize("name", recipe_cases())
def test_every_recipe_hvp_matches_differences_of_its_gradient(name):
    recipe = load(name)
    d = derive.hvp(recipe.formula, list(recipe.variables), recipe.shapes)
    assert second_order_error(d) < TOLERANCE


@pytest.mark.parametrize("name", recipe_cases())
def test_every_recipe_hessian_is_right_or_refused(name):
    recipe = load(name)
    for variable in recipe.variables:
        try:
            d = derive.hessian(recipe.formula, variable, recipe.shapes)
        except derive.DeriveError as error:
            assert "use derive hvp" in str(error)
            continue
        assert check_second_order(d).max_error < TOLERANCE
        assert_hessian_is_stacked_hvps(d)


def test_recipes_with_hessians_in_closed_form():
    expected = {
        ("least_squares", "x"): "hess_x = 2 A^T A",
        ("ridge", "w"): "hess_w = 2 X^T X + 2 lambda I",
        ("poisson_regression", "w"): "hess_w = X^T diag(exp(X w)) X",
        ("generalized_least_squares", "w"): "hess_w = X^T (inv(Sigma) + inv(Sigma)^T) X",
    }
    for (name, variable), text in expected.items():
        recipe = load(name)
        assert derive.hessian(recipe.formula, variable, recipe.shapes).text == text


# ---------------------------------------------------------------- emitted code and API

def test_emitted_functions_share_the_forward_pass():
    d = derive.hvp(SPARSE_CODING, ["A", "s"], SPARSE_SHAPES)
    namespace = d.namespace()
    assert {"value_and_grad", "grad_A", "grad_s", "hvp", "value_grad_hvp"} <= set(namespace)
    args, _, _ = random_instance(d)
    rng = np.random.default_rng(3)
    directions = [rng.standard_normal(np.shape(a)) for a in args[:2]]   # A and s come first
    together = namespace["value_grad_hvp"](*args, *directions)
    assert len(together) == 5
    value, grad_a, grad_s = namespace["value_and_grad"](*args)
    hvp_a, hvp_s = namespace["hvp"](*args, *directions)
    np.testing.assert_allclose(together[0], value)
    for got, want in zip(together[1:], (grad_a, grad_s, hvp_a, hvp_s)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_one_variable_hvp_returns_one_array():
    d = derive.hvp("x'*A*x", "x")
    args, _, _ = random_instance(d)
    direction = np.ones(np.shape(args[0]))
    x, a = args
    np.testing.assert_allclose(d.function()(*args, direction), (a + a.T) @ direction)


def test_direction_names_never_clash_with_the_formula():
    d = derive.hvp("sum(d_x .* x) + x'*x", "x")
    assert d.text == "hvp_x = 2 d_x_"
    assert "def hvp(x, d_x, d_x_):" in d.numpy


def test_the_directions_are_parameters_and_outputs_in_latex_and_json():
    d = derive.hvp("x'*A*x", "x")
    assert d.latex == r"\left(\nabla^2 F\, d\right)_{x} = \left(A + A^{\top}\right) d_{x}"
    assert derive.hessian("x'*A*x", "x").latex == r"\nabla^2_{x} F = A + A^{\top}"
    code, out, _ = run("hess", "norm(A*s - x)^2", "--wrt", "A", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["hessians"]["A"]["text"] == "2 kron(s s^T, I)"
    assert data["hessians"]["A"]["acts_on"] == "vec(A)"
    assert data["hvps"]["A"]["text"] == "2 d_A s s^T"
    assert data["directions"] == {"A": "d_A"}


def test_hessian_of_several_variables_is_refused():
    code, _, err = run("hess", "x'*A*x", "--wrt", "x", "--wrt", "A")
    assert code == 2 and "one --wrt" in err


# ---------------------------------------------------------------- the command line

def test_cli_hvp_and_hess():
    code, out, _ = run("hvp", SPARSE_CODING, "--wrt", "A", "--shape", "s=n,k", "--shape", "x=m,k")
    assert (code, without_kinds(out)) == (0, "hvp_A = 2 d_A s s^T + 2 gamma d_A\n")
    code, out, _ = run("hess", SPARSE_CODING, "--wrt", "A", "--shape", "s=n,k",
                       "--shape", "x=m,k")
    assert (code, without_kinds(out)) == (0, "hess_A = 2 kron(s s^T, I) + 2 gamma I\n"
                              "note: hess_A acts on vec(A), the columns of A stacked\n")


def test_cli_steps_show_the_tangents_of_inputs_and_deltas():
    code, out, _ = run("hvp", "sum(softplus(-y .* (X*w)))", "--wrt", "w", "--steps")
    assert code == 0
    assert "forward over reverse along d_w" in out
    assert "tangent of z(l)" in out and "tangent of delta(l)" in out
    assert "  2      X d_w  " in out
    assert out.endswith("hvp_w = X^T ((X d_w) .* y.^2 .* sigmoid(-y .* (X w)) .* "
                        "(1 - sigmoid(-y .* (X w))))\n")
    code, out, _ = run("hess", "x'*A*x", "--wrt", "x", "--steps", "--format", "latex")
    assert code == 0 and r"\dot{z}^{(1)} &=" in out and r"\dot{\delta}^{(1)} &=" in out


def test_cli_check_hvp_and_hess():
    for flag in ("--hvp", "--hess"):
        code, out, _ = run("check", "sum(softplus(-y .* (X*w)))", "--wrt", "w", flag)
        assert code == 0 and "PASS" in out
        assert f"{flag[2:]}_w: relative error" in out


def test_cli_numpy_output_runs():
    code, out, _ = run("hess", "sum(softplus(-y .* (X*w)))", "--wrt", "w", "--format", "numpy")
    assert code == 0
    namespace: dict = {}
    exec(out, namespace)
    assert {"value_and_grad", "grad_w", "hvp", "value_grad_hvp", "hessian_w"} <= set(namespace)


def test_bad_input_is_a_message():
    code, out, err = run("hvp", "x'*A*", "--wrt", "x")
    assert code == 2 and "line 1" in err and "Traceback" not in err


# ---------------------------------------------------------------- scipy

def test_trust_region_newton_with_hessp_on_a_recipe():
    optimize = pytest.importorskip("scipy.optimize")
    d = derive.hvp("sum(softplus(-y .* (X*w))) + lambda/2*norm(w)^2", "w")
    namespace = d.namespace()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    y = np.sign(X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 * rng.standard_normal(50))
    lam = 0.1
    result = optimize.minimize(lambda w: namespace["value_and_grad"](w, lam, X, y),
                               np.zeros(4), jac=True, method="trust-ncg",
                               hessp=lambda w, p: namespace["hvp"](w, lam, X, y, p))
    assert result.success
    assert np.linalg.norm(namespace["grad_w"](result.x, lam, X, y)) < 1e-6


def test_a_norm_and_its_square_as_common_factors_do_not_loop():
    # The emitter's shared products once made add() factor sum(s.^2) / norm(s)^2 out forever.
    formula = "norm(sigmoid(w ./ sigmoid(w) .* mean(X, 2)), 2)"
    d = derive.hvp(formula, ["X", "w"], {"X": (4, 3), "w": (4,)})
    assert second_order_error(d) < TOLERANCE


# ---------------------------------------------------------------- random formulas

RANDOM_COUNT = 150


def test_random_formulas_hvp_matches_differences_of_the_gradient():
    """The random formulas of test_random_formulas.py, to second order. A formula whose
    gradient misses the first-order check's tolerance is left to that test (which gives
    it a second opinion); a refusal is allowed."""
    from support.formula_generator import generate
    failures = []
    for seed in range(RANDOM_COUNT):
        case = generate(seed)
        try:
            d = derive.hvp(case.formula, case.wrt, case.shapes)
        except derive.DeriveError:
            continue
        if not check_derivation(d, seed=seed).passed:
            continue
        result = check_second_order(d, seed=seed)
        if not result.passed:
            failures.append((seed, case.formula, result.max_error))
    assert not failures


def test_a_linear_cost_has_a_zero_hessian():
    assert hess_text("sum(A*x)", "x") == "hess_x = zeros(n, n)"
    d = derive.hessian("sum(A*x)", "A")
    assert d.text == "hess_A = zeros(m*n, m*n)"
    assert second_order_error(d) < TOLERANCE


def test_matrix_cookbook_forms_of_vector_hessians():
    # (x^T x)^2: 8 x x^T + 4 (x^T x) I; sum((A x).^3): 6 A^T diag(A x) A; logsumexp:
    # A^T (diag(p) - p p^T) A, with diag(p) 1 p^T left as it is
    assert hess_text("(x'*x)^2", "x") == "hess_x = 8 x x^T + 4 (x^T x) I"
    assert hess_text("sum((A*x).^3)", "x") == "hess_x = 6 A^T diag(A x) A"
    assert hess_text("x'*inv(B)*x", "x") == "hess_x = inv(B) + inv(B)^T"
    for formula in ("(x'*x)^2", "sum((A*x).^3)", "x'*inv(B)*x", "logsumexp(A*x)", "norm(x)",
                    "sum(log(x))", "sum(softmax(A*x) .* y)"):
        d = derive.hessian(formula, "x")
        assert second_order_error(d) < TOLERANCE, formula
        assert_hessian_is_stacked_hvps(d)


@pytest.mark.parametrize("formula, wrt, shapes", CASES, ids=[c[0] for c in CASES])
def test_latex_of_second_order_is_well_formed(formula, wrt, shapes):
    code, out, err = run("hvp", formula, *sum((["--wrt", w] for w in wrt), []),
                         *shape_args(shapes), "--format", "latex", "--steps")
    assert code == 0, err
    assert r"\nabla^2 F" in out and r"\dot{\delta}^{(1)}" in out
    assert_well_formed(out)
    if len(wrt) == 1:
        code, out, err = run("hess", formula, "--wrt", wrt[0], *shape_args(shapes),
                             "--format", "latex")
        assert code == 0 and r"\nabla^2_{" in out or code == 2 and "use derive hvp" in err
        assert_well_formed(out)


def test_a_product_too_large_to_write_is_refused_quickly():
    # sum(A (A (... x))) with 40 A: the product with d_A has 40^2 / 2 terms of 40 factors
    formula = "sum(" + "A*(" * 40 + "x" + ")" * 40 + ")"
    code, out, err = run("hvp", formula, "--wrt", "A")
    assert code == 2 and out == ""
    assert "too large for a closed form" in err


# Each function of the language once, so that every VJP rule's output is differentiated
# again: step and sign have derivative 0, the non-smooth ones keep their subgradient.
EVERY_FUNCTION = {
    "exp": "sum(exp(A*x))", "log": "sum(log(x))", "sin": "sum(sin(A*x))",
    "cos": "sum(cos(A*x))", "tanh": "sum(tanh(A*x))", "sigmoid": "sum(sigmoid(A*x))",
    "softplus": "sum(softplus(A*x))", "abs": "sum(abs(A*x).^3)", "relu": "sum(relu(A*x).^2)",
    "sign": "sum(sign(A*x) .* (A*x).^2)", "sqrt": "sum(sqrt(x))", "square": "sum(square(A*x))",
    "norm": "norm(A*x)", "norm1": "norm(A*x, 1)", "tr": "tr(X*X*X)", "det": "det(X)",
    "logdet": "logdet(X)", "inv": "sum(inv(X))", "diag of a vector": "sum(diag(x)*A*x)",
    "diag of a matrix": "sum(diag(X*X).^2)", "softmax": "sum(softmax(X).^2)",
    "logsumexp": "logsumexp(X)", "logsumexp per column": "sum(logsumexp(X, 1))",
    "elementwise power": "sum(x.^alpha)", "matrix power": "sum(X^3)",
    "mean": "sum(mean(X, 2).^2)", "scalar power": "(x'*x)^alpha",
    "division": "sum(x ./ (1 + x.^2))",
}


@pytest.mark.parametrize("formula", EVERY_FUNCTION.values(), ids=EVERY_FUNCTION)
def test_every_function_to_second_order(formula):
    d = derive.hvp(formula, "X" if "X" in formula else "x")
    assert second_order_error(d) < TOLERANCE


# ---------------------------------------------------------------- results that show themselves


@pytest.mark.parametrize("make, lhs", [
    (lambda: derive.gradient("x'*A*x", "x"), r"\nabla_{x} F &="),
    (lambda: derive.hvp("x'*A*x", "x"), r"\left(\nabla^2 F\, d\right)_{x} &="),
    (lambda: derive.hessian("x'*A*x", "x"), r"\nabla^2_{x} F &="),
], ids=["gradient", "hvp", "hessian"])
def test_every_result_shows_itself_like_a_gradient(make, lhs):
    # In a notebook: delimited math (an align*, which MathJax reads), not LaTeX source;
    # at the prompt: a short repr naming what was derived, not the dataclass's fields.
    d = make()
    latex = d._repr_latex_()
    assert latex.startswith(r"\begin{align*}") and latex.rstrip().endswith(r"\end{align*}")
    assert lhs in latex
    assert_well_formed(latex)
    what = {"Derivation": "grad", "SecondOrder": "hvp"}[type(d).__name__]
    what = "hess" if getattr(d, "hessians", None) else what
    assert repr(d) == f"<Derivation of {what}_x: \"x'*A*x\">"


def test_the_layers_are_the_tables_derive_layers_prints():
    formula = "norm(W'*W*x - x)^2"
    for d in (derive.gradient(formula, "W"), derive.hvp(formula, "W")):
        code, out, _ = run("layers", formula, "--wrt", "W")
        assert code == 0
        assert str(d.layers) == repr(d.layers) == out.rstrip("\n")
        # Still the networks, one per term of the cost, each with its layers.
        (network,) = d.layers
        assert len(network.layers) == 4
        latex = d.layers._repr_latex_()
        assert latex.startswith("$$") and latex.rstrip().endswith("$$")
        assert r"\text{Network 1, input } z^{(1)} = x" in latex
        assert_well_formed(latex)


def test_no_factor_is_divided_out_where_it_may_be_zero():
    """A common factor is taken out of a sum only if no inverse of it is left inside: here
    step(x^T I x) (x^T d) / step(x^T I x) was 0/0 wherever x^T I x < 0 (found by the oracle)."""
    d = derive.hvp("relu(x'*I*x) ./ (-mean(exp(out) .* (0.5 + abs(out))))", ["x", "I", "out"],
                   {"x": (3,), "I": (3, 3), "out": (2, 2)})
    rng = np.random.default_rng(0)
    x, out = rng.standard_normal(3), rng.standard_normal((2, 2))
    I = -np.eye(3)                     # x^T I x < 0: relu and its step are 0 here
    products = d.function()(x, I, out, *(rng.standard_normal(a.shape) for a in (x, I, out)))
    assert all(np.all(np.isfinite(p)) for p in products)
    assert all(np.allclose(p, 0) for p in products)
