"""The recipes of recipes/: every one passes `derive check` for every listed variable,
and `derive recipe` lists them and derives them through the path of `derive grad`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run

import derive
from derive.recipes import Recipe, all_recipes, load, names, parse

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
RECIPES = all_recipes()

def shape_options(recipe: Recipe) -> list[str]:
    return [arg for value in recipe.shape_args() for arg in ("--shape", value)]


def check_cases():
    for recipe in RECIPES:
        for variable in recipe.variables:
            yield pytest.param(recipe.name, variable, id=f"{recipe.name}-{variable}")


def test_the_classic_costs_are_there():
    assert len(RECIPES) >= 14
    assert {"least_squares", "ridge", "smoothed_lasso", "sparse_coding",
            "topographic_sparse_coding", "ica_reconstruction", "logistic_regression",
            "softmax_regression", "sparse_autoencoder", "matrix_factorisation", "gaussian_nll",
            "pca_reconstruction", "two_layer_tanh"} <= set(names())


@pytest.mark.parametrize("name, variable", list(check_cases()))
def test_every_recipe_passes_derive_check(name, variable):
    recipe = load(name)
    # "--" ends the options: a formula may start with a minus sign.
    code, out, err = run("check", "--wrt", variable, *shape_options(recipe), "--", recipe.formula)
    assert code == 0, out + err
    assert "PASS" in out


def test_sparse_autoencoder_gradient_on_data_in_its_domain():
    """What `derive check` cannot do yet (CHECK_GAPS): the UFLDL sparsity target rho = 0.05."""
    recipe = load("sparse_autoencoder")
    d = recipe.gradient()
    value_and_grad = d.namespace()["value_and_grad"]
    rng = np.random.default_rng(1)
    n, h, m = 4, 3, 5
    data = {"W1": rng.standard_normal((h, n)), "X": rng.uniform(0, 1, (n, m)),
            "b1": rng.standard_normal(h), "W2": rng.standard_normal((n, h)),
            "b2": rng.standard_normal(n), "m": float(m), "lambda": 1e-3, "beta": 3.0, "rho": 0.05}
    order = [s.name for s in d.parameters]
    args = [data[name] for name in order]
    emitted = value_and_grad(*args)[1:]
    for variable, grad in zip(d.wrt, emitted):
        index = order.index(variable)
        x = np.array(args[index], dtype=float)
        numeric = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            for sign in (1, -1):
                moved = x.copy()
                moved[i] += sign * 1e-6
                numeric[i] += sign * value_and_grad(*args[:index], moved, *args[index + 1:])[0]
        numeric /= 2e-6
        error = np.linalg.norm(grad - numeric) / max(np.linalg.norm(numeric), 1e-6)
        assert error < 1e-6, (variable, error)


def test_derive_recipe_lists_every_recipe():
    code, out, err = run("recipe")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["recipe", "variables", "description"]
    assert len(lines) == 1 + len(RECIPES)
    for recipe, line in zip(RECIPES, lines[1:]):
        assert line.startswith(recipe.name + " ")
        assert ", ".join(recipe.variables) in line and recipe.description in line


def test_derive_recipe_lists_as_json():
    code, out, _ = run("recipe", "--format", "json")
    assert code == 0
    listed = json.loads(out)
    assert [r["name"] for r in listed] == names()
    assert listed[0].keys() >= {"variables", "description", "reference", "formula", "shapes"}


def test_softmax_regression_gradient():
    code, out, err = run("recipe", "softmax_regression", "--wrt", "Theta")
    assert code == 0, err
    # Y holds one-hot labels (the recipe assumes it): the textbook form, no sum(Y, 1).
    assert out == ("grad_Theta = (softmax(Theta X) - Y) X^T / m + lambda Theta\n"
                   "note: assumed: Y holds one-hot labels (entries in [0, 1], every column sums "
                   "to 1) (--assume Y=onehot)\n")


@pytest.mark.parametrize("name", names())
def test_recipe_is_derive_grad_on_its_formula_and_shapes(name):
    recipe = load(name)
    code, out, err = run("recipe", name)
    assert code == 0, err
    wrt = [arg for v in recipe.variables for arg in ("--wrt", v)]
    assume = [arg for n, p in recipe.assume.items() for arg in ("--assume", f"{n}={p}")]
    assert run("grad", *wrt, *shape_options(recipe), *assume, "--", recipe.formula) == \
        (code, out, err)
    assert [line.split(" = ")[0] for line in out.splitlines() if line.startswith("grad_")] == \
        [f"grad_{v}" for v in recipe.variables]


def test_recipe_wrt_picks_one_variable():
    code, out, _ = run("recipe", "sparse_coding", "--wrt", "s")
    assert code == 0
    assert out.startswith("grad_s = ") and "grad_A" not in out


def test_recipe_formats_and_steps():
    code, out, _ = run("recipe", "sparse_coding", "--format", "numpy")
    assert code == 0 and "def grad_A(" in out and "def grad_s(" in out
    compile(out, "<recipe>", "exec")
    code, out, _ = run("recipe", "sparse_coding", "--format", "latex")
    assert code == 0 and r"\nabla_{A} F" in out
    code, out, _ = run("recipe", "sparse_coding", "--format", "json")
    assert code == 0 and set(json.loads(out)["gradients"]) == {"A", "s"}
    code, out, _ = run("recipe", "ica_reconstruction", "--steps")
    assert code == 0 and "Forward pass" in out and "delta2 = W delta3" in out and "grad_W = " in out


def test_unknown_recipe_is_exit_2_with_did_you_mean():
    code, out, err = run("recipe", "softmax_regresion")
    assert code == 2 and out == ""
    assert "no recipe named 'softmax_regresion'" in err
    assert "did you mean 'softmax_regression'" in err
    code, _, err = run("recipe", "lasso")
    assert code == 2 and "'smoothed_lasso'" in err
    code, _, err = run("recipe", "zzz")
    assert code == 2 and "least_squares" in err


def test_wrt_must_be_a_variable_of_the_recipe():
    code, out, err = run("recipe", "ridge", "--wrt", "X")
    assert code == 2 and out == ""
    assert "--wrt X" in err and "w" in err and "Traceback" not in err


def test_options_without_a_recipe_are_refused():
    for args in (["--wrt", "x"], ["--steps"], ["--format", "latex"]):
        code, out, err = run("recipe", *args)
        assert code == 2 and out == "" and "recipe name" in err


def test_python_api():
    recipe = load("least_squares")
    assert recipe.gradient().text == "grad_x = 2 A^T (A x - b)"
    assert recipe.check().passed
    assert recipe.choose() == ["x"]


@pytest.mark.parametrize("name", names())
def test_recipe_file_is_well_formed(name):
    recipe = load(name)
    assert recipe.description and "\n" not in recipe.description
    assert recipe.reference
    free = {s.name for s in derive.gradient(recipe.formula, recipe.variables[0],
                                            recipe.shapes).formula.symbols}
    assert set(recipe.variables) <= free
    assert set(recipe.shapes) <= free, "a shape declared for a name the formula does not use"


@pytest.mark.parametrize("text, complaint", [
    ('name = "x"', "missing"),
    (('name = "oops"\ndescription = "d"\nreference = "r"\nformula = "norm(x)^2"\n'
      'variables = ["x"]\n[shapes]\n'), "differs from the file's name"),
    (('name = "x"\ndescription = "d"\nreference = "r"\nformula = "norm(x)^2"\n'
      'variables = []\n[shapes]\n'), "variables"),
    (('name = "x"\ndescription = "d"\nreference = "r"\nformula = "norm(x)^2"\n'
      'variables = ["x"]\n[shapes]\nx = ["n", "k", "p"]\n'), "at most two"),
    (('name = "x"\ndescription = "d"\nreference = "r"\nformula = "norm(x)^2"\n'
      'variables = ["x"]\nvariable = ["x"]\n[shapes]\n'), "unknown key"),
    ('name = "x', "not valid TOML"),
])
def test_malformed_recipe_files_are_refused(text, complaint):
    with pytest.raises(derive.DeriveError, match=complaint) as caught:
        parse(text, "x")
    assert "recipe file x.toml" in str(caught.value)


def test_the_recipes_loaded_are_the_files_of_recipes_folder():
    assert names() == sorted(p.stem for p in (ROOT / "recipes").glob("*.toml"))


def test_pyproject_installs_the_recipes_and_every_subpackage():
    """packages are listed, not found (recipes/ becomes derive.recipe_files): keep them complete."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    setuptools = config["setuptools"]
    assert setuptools["package-dir"]["derive.recipe_files"] == "recipes"
    assert "*.toml" in setuptools["package-data"]["derive.recipe_files"]
    assert (ROOT / "recipes" / "__init__.py").is_file()
    subpackages = {".".join(p.parent.relative_to(ROOT).parts)
                   for p in (ROOT / "derive").rglob("__init__.py")}
    missing = subpackages - set(setuptools["packages"])
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"
    assert "derive.recipe_files" in setuptools["packages"]


def test_markdown_table_has_a_row_per_recipe():
    from derive.recipes import markdown_table
    rows = markdown_table(RECIPES).splitlines()
    assert len(rows) == 2 + len(RECIPES)
    for recipe, row in zip(RECIPES, rows[2:]):
        assert row.startswith(f"| `{recipe.name}` |") and "grad_" in row
