"""What users meet first: kinds they can see, errors that name the fix, --assume, and the
small things of the command line (issue 10), 1x1 as a scalar and bugs told from bad input
(issue 8). Every gradient here is checked numerically."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import derive
from derive.errors import InternalError

from conftest import finite_difference_error, run, without_kinds


def refused(args: list[str], *fragments: str, caret_under: str | None = None) -> str:
    """Exit code 2, nothing on standard output, the fragments in the message, and the caret
    under the first character of ``caret_under`` (a piece of the formula)."""
    code, out, err = run(*args)
    assert code == 2 and out == "", (code, out, err)
    for fragment in fragments:
        assert fragment in err, err
    if caret_under is not None:
        _, shown, caret = err.rstrip("\n").split("\n")[-3:]
        index = caret.index("^")
        assert shown[index:index + len(caret_under)] == caret_under, err
    return err


# ---------------------------------------------------------------- kinds you can see

def test_text_output_begins_with_the_kinds_defaults_decided():
    code, out, err = run("grad", "sum((X*beta - y).^2)", "--wrt", "beta")
    assert code == 0
    assert out.splitlines()[:4] == [
        "kinds from the names (--shape changes them):",
        "  X: m×n matrix (upper-case name)",
        "  beta: scalar (Greek name; --shape beta=n for a vector)",
        "  y: vector of length m (lower-case name; --shape y= for a scalar)",
    ]


def test_no_kinds_lines_when_every_name_is_declared():
    code, out, _ = run("grad", "x'*x/m", "--wrt", "x", "--shape", "x=n", "--shape", "m=")
    assert code == 0 and out == "grad_x = 2 x / m\n"


def test_a_kind_the_formula_forces_is_listed_with_its_reason():
    # m is a divisor, so a scalar whatever its name says (docs/language.md).
    code, out, _ = run("grad", "x'*x/m", "--wrt", "x", "--shape", "x=n")
    assert code == 0
    assert out.splitlines() == ["kinds from the names (--shape changes them):",
                                "  m: scalar (the divisor in '(x'*x)/m')",
                                "grad_x = 2 x / m"]
    code, out, _ = run("grad", "sum(x.^p)", "--wrt", "x")
    assert "  p: scalar (the exponent in 'x.^p')" in out.splitlines()


def test_a_power_of_a_vector_by_its_name_is_an_error_naming_the_fixes():
    # Ridge regression with w^2 for w.^2: w must not silently become a scalar.
    formula = "lambda*sum(w^2) + norm(X*w - y)^2"
    refused(["grad", formula, "--wrt", "w"], "line 1, column 12", "'w^2'", "write w.^2",
            "declare --shape w=", caret_under="w^2")
    refused(["check", formula, "--wrt", "w"], "write w.^2")
    with pytest.raises(derive.DeriveError, match=r"w\.\^2") as raised:
        derive.gradient(formula, "w")
    assert (raised.value.line, raised.value.column) == (1, 12)
    # Either fix is taken at its word.
    code, out, _ = run("grad", "lambda*sum(w.^2) + norm(X*w - y)^2", "--wrt", "w")
    assert code == 0 and "  w: vector of length" in out
    code, out, _ = run("grad", formula, "--wrt", "w", "--shape", "w=")
    assert code == 0 and "grad_w = 2 lambda w" in out


def test_json_has_the_kinds_defaults_decided_and_the_warnings():
    import json
    code, out, _ = run("grad", "sum((X*beta - y).^2)", "--wrt", "beta", "--format", "json")
    data = json.loads(out)
    assert data["assumed_kinds"] == {"X": "matrix", "beta": "scalar", "y": "vector"}
    assert "--shape beta=n" in data["warnings"][0]


def test_layers_and_check_begin_with_the_kinds_too():
    for command in ("layers", "check"):
        code, out, _ = run(command, "norm(W'*W*x - x)^2", "--wrt", "W")
        assert code == 0 and out.startswith("kinds from the names"), out


def test_a_default_scalar_that_only_scales_a_matrix_is_a_warning():
    code, out, err = run("grad", "sum((X*beta - y).^2)", "--wrt", "beta")
    assert code == 0
    assert err.startswith("warning: beta is taken as a scalar") and "--shape beta=n" in err
    with pytest.warns(derive.DeriveWarning, match="--shape beta=n"):
        derive.gradient("sum((X*beta - y).^2)", "beta")
    # Declared, it is the least-squares gradient, and no warning.
    code, out, err = run("grad", "sum((X*beta - y).^2)", "--wrt", "beta", "--shape", "beta=n")
    assert err == "" and without_kinds(out) == "grad_beta = 2 X^T (X beta - y)\n"
    assert finite_difference_error("sum((X*beta - y).^2)", ["beta"], {"beta": ("n",)}) < 1e-6


@pytest.mark.parametrize("formula", [
    "norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2",    # gamma scales a scalar
    "sum(sum((lambda*W).^2))",                            # a vector lambda would not fit
    "sum(sqrt(V*(s.^2) + eps))",                          # a sum, not a product
])
def test_no_warning_where_a_scalar_is_the_only_reading(formula):
    with warnings.catch_warnings():
        warnings.simplefilter("error", derive.DeriveWarning)
        derive.gradient(formula, derive.gradient(formula, "A" if "A" in formula else
                                                 "W" if "W" in formula else "s").wrt)


@pytest.mark.parametrize("formula, name, fix", [
    ("sum((X*w - y).^2) + lam*sum(w.^2)", "lam", "--shape lam="),
    ("sum((X*w - y).^2)/(2*m)", "m", "--shape m="),
])
def test_an_error_a_default_kind_caused_names_the_name_and_the_fix(formula, name, fix):
    err = refused(["grad", formula, "--wrt", "w"], f"{name} is taken as a column vector", fix,
                  caret_under=name)
    assert "wrap it in sum" not in err and "use ./" not in err
    shapes = {name: ()}
    assert finite_difference_error(formula, ["w"], shapes) < 1e-6


def test_the_likely_slip_is_named_first():
    # theta, not X: a Greek name that is a vector is a likelier slip than a matrix that is not.
    refused(["grad", "R = X*theta - y; R'*R/n", "--wrt", "theta"],
            "if theta is a column vector, declare it with --shape theta=k", caret_under="theta")


def test_a_matrix_power_error_is_not_blamed_on_a_kind():
    err = refused(["grad", "sum(X^999)", "--wrt", "X"], "at most 64")
    assert "taken as" not in err


def test_the_shapes_line_keeps_a_scalar_m_apart_from_a_dimension_m():
    code, out, _ = run("layers", "sum(X*w)/m", "--wrt", "w", "--shape", "X=n,m",
                       "--shape", "m=")
    assert code == 0
    assert "shapes: X: n×m_dim, w: m_dim, m: scalar (m_dim: the dimension m, not the scalar m)" \
        in out


# ---------------------------------------------------------------- errors that know what people type

@pytest.mark.parametrize("formula, fragments, caret_under", [
    ("sum(x**2)", ["'**' is Python's power", "x.^2"], "**"),
    ("np.sum(x)", ["'np.sum' is NumPy", "write sum(...)"], ".sum"),
    ("sum(x.dot(y))", ["'x.dot'", "x'*y"], ".dot"),
    ("sum(max(0, z))", ["max(0, z) is relu(z)"], "max"),
    ("sum(x(2))", ["x(2) looks like indexing"], "x(2)"),
    ("sum(x[2])", ["indexing"], "[2]"),
    ("sum(x(1:n))", ["ranges and slices"], ":n"),
    ("sum(X, axis=0)", ["keyword argument", "sum(X, 1)"], "axis"),
])
def test_habits_from_other_languages_get_the_fix(formula, fragments, caret_under):
    refused(["grad", formula, "--wrt", "x"], *fragments, caret_under=caret_under)


def test_python_transpose_and_matmul_just_work():
    code, out, _ = run("grad", "x.T @ A @ x", "--wrt", "x", "--assume", "A=symmetric")
    assert code == 0 and without_kinds(out).startswith("grad_x = 2 A x\n")


# ---------------------------------------------------------------- --assume

def test_symmetric_quadratic_form_is_2_A_x():
    d = derive.gradient("x'*A*x", "x", assume={"A": "symmetric"})
    assert d.text == "grad_x = 2 A x"
    assert derive.check("x'*A*x", ["x", "A"], assume={"A": "symmetric"}).passed


def test_gaussian_negative_log_likelihood_with_spd_covariance():
    formula = "(x - mu)'*inv(Sigma)*(x - mu) + logdet(Sigma)"
    code, out, _ = run("grad", formula, "--wrt", "x", "--wrt", "Sigma", "--shape", "mu=n",
                       "--assume", "Sigma=spd")
    assert code == 0
    assert without_kinds(out) == (
        "grad_x = 2 t1 t2\n"
        "grad_Sigma = t1 - t1 t2 t2^T t1\n"
        "where\n"
        "  t1 = inv(Sigma)\n"
        "  t2 = x - mu\n"
        "note: assumed: Sigma is symmetric positive definite (--assume Sigma=spd)\n")
    assert derive.check(formula, ["x", "Sigma"], {"mu": "n"}, assume={"Sigma": "spd"}).passed
    code, out, _ = run("grad", formula, "--wrt", "x", "--assume", "Sigma=spd", "--format", "latex")
    # LaTeX notes are prose, without the command line
    assert "assuming Sigma is symmetric positive definite" in out


def test_onehot_labels_give_the_textbook_softmax_regression():
    formula = "-sum(sum(Y .* log(softmax(Theta*X))))/m + lambda/2*norm(Theta, 'fro')^2"
    shapes = {"Theta": ("k", "n"), "X": ("n", "m"), "Y": ("k", "m"), "m": ()}
    d = derive.gradient(formula, "Theta", shapes, assume={"Y": "onehot"})
    assert d.text == "grad_Theta = (softmax(Theta X) - Y) X^T / m + lambda Theta"
    assert derive.check(formula, "Theta", shapes, assume={"Y": "onehot"}).passed


def test_check_draws_data_that_has_the_property():
    from derive.numcheck import random_instance
    d = derive.gradient("x'*A*x + logdet(S) + sum(sum(Y))", "x",
                        assume={"A": "symmetric", "S": "spd", "Y": "onehot"})
    args, _, _ = random_instance(d, seed=1)
    x, A, S, Y = args
    assert np.allclose(A, A.T) and np.allclose(S, S.T) and np.all(np.linalg.eigvalsh(S) > 0)
    assert set(np.unique(Y)) <= {0.0, 1.0} and np.allclose(Y.sum(axis=0), 1)
    code, out, _ = run("check", "x'*A*x", "--wrt", "x", "--assume", "A=symmetric")
    assert code == 0 and "note: assumed: A is symmetric" in out


@pytest.mark.parametrize("args, fragment", [
    (["--assume", "A=diagonal"], "PROPERTY one of symmetric, spd, onehot"),
    (["--assume", "B=spd"], "'B' is not a name of the formula"),
    (["--assume", "x=spd"], "needs a square matrix"),
    (["--assume", "A=spd", "--shape", "A=m,n"], "needs a square matrix"),
])
def test_assumptions_that_cannot_hold_are_refused(args, fragment):
    refused(["grad", "x'*A*x", "--wrt", "x", *args], fragment)


# ---------------------------------------------------------------- the smaller things

def test_recipes_are_reachable_from_import_derive():
    assert derive.recipes.load("ridge").name == "ridge"


def test_recipe_takes_the_options_of_grad():
    code, out, _ = run("recipe", "sparse_coding", "--wrt", "A", "--hoist")
    assert code == 0 and "def prepare(" in out
    code, out, _ = run("recipe", "least_squares", "--shape", "A=100,5", "--shape", "x=5",
                       "--shape", "b=100", "--format", "numpy")
    assert code == 0 and "(100, 5)" in out
    code, out, _ = run("recipe", "generalized_least_squares", "--assume", "Sigma=symmetric")
    assert code == 0 and "--assume Sigma=symmetric" in out


def test_steps_with_numpy_says_it_is_ignored():
    code, out, err = run("grad", "sum(A*x)", "--wrt", "A", "--format", "numpy", "--steps")
    assert code == 0 and "def value_and_grad" in out and "--steps is ignored" in err


def test_every_command_shows_its_own_examples():
    helps = {command: run(command, "--help")[1] for command in ("grad", "layers", "check",
                                                                 "recipe")}
    for command, text in helps.items():
        examples = [line for line in text.splitlines() if line.strip().startswith("derive ")]
        assert examples and all(line.strip().startswith(f"derive {command}")
                                for line in examples), text


def test_version():
    for flag in ("-V", "--version"):
        code, out, _ = run(flag)
        assert code == 0 and derive.__version__ in out


# ---------------------------------------------------------------- a 1x1 is a scalar (issue 8)

@pytest.mark.parametrize("formula, wrt, shapes", [
    ("tr(x'*A*x)", ["x", "A"], {}),
    ("inv(alpha)*sum(x)", ["alpha", "x"], {}),
    ("det(x'*x) + logdet(x'*x)", ["x"], {}),
    ("inv(x'*x)*sum(x)", ["x"], {}),
    ("sum(sum(diag(x')*A))", ["x", "A"], {}),
    ("tr(X*eye(n))", ["X"], {"X": (3, 3)}),
    ("sum(sum(X*ones(n, 2)))", ["X"], {"X": (3, 4)}),
])
def test_a_one_by_one_is_a_scalar_wherever_a_scalar_is_expected(formula, wrt, shapes):
    assert finite_difference_error(formula, wrt, shapes) < 1e-6


def test_a_dimension_named_in_ones_is_not_reused_for_an_unknown_one():
    code, out, _ = run("grad", "sum(A*x) + sum(sum(B*ones(n, 2)))", "--wrt", "x")
    assert code == 0 and "  A: m×k matrix (upper-case name)" in out
    assert finite_difference_error("sum(A*x) + sum(sum(B*ones(n, 2)))", ["x"]) < 1e-6


def test_a_vector_is_not_made_square_by_binding_its_length_to_1():
    refused(["grad", "tr(x)", "--wrt", "x"], "tr needs a square matrix")


def test_an_unknown_dimension_is_never_bound_to_1_to_make_a_product_fit():
    # y would silently be a vector of length 1; the message says what was meant instead.
    refused(["grad", "sum(x*y)", "--wrt", "x"], "does not fit", "use .*", "--shape y=",
            caret_under="x")


# ---------------------------------------------------------------- bugs are not bad input

def _broken_backprop(*args, **kwargs):
    raise KeyError("no rule for 'frobnicate'")


def test_an_internal_failure_is_exit_3_and_says_it_is_a_bug(monkeypatch):
    monkeypatch.setattr("derive.api.backprop", _broken_backprop)
    code, out, err = run("grad", "sum(x)", "--wrt", "x")
    assert code == 3 and out == ""
    assert "this is a bug in derive, please report it" in err and "formula: sum(x)" in err
    with pytest.raises(InternalError) as info:
        derive.gradient("sum(x)", "x")
    assert not isinstance(info.value, derive.DeriveError)


def test_a_formula_too_deep_for_the_stack_stays_a_refusal(monkeypatch):
    def too_deep(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")
    monkeypatch.setattr("derive.api.backprop", too_deep)
    code, _, err = run("grad", "sum(x)", "--wrt", "x")
    assert code == 2 and "too large or too deeply nested" in err


def test_the_language_page_shows_the_real_error_for_a_default_kind():
    from pathlib import Path
    page = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text()
    _, _, err = run("grad", "sum((X*w - y).^2) + lam*sum(w.^2)", "--wrt", "w")
    assert err in page
