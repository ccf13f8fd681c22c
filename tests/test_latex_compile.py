"""The LaTeX goes into a paper as it is: pdflatex compiles it, and every line fits.

Every recipe, and a spread of formulas (several variables, --steps, det, inv,
logdet), is compiled with a real pdflatex in an 11pt article with amsmath and
amssymb and nothing else. Any error fails, as does a display whose equations
run together (an align* row with other than one ``&=``) and any line wider than
the text width by more than 10pt (an Overfull \\hbox warning).

Without pdflatex these tests skip, except under CI=true, where .ci/run installs it.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run, shape_args
from support.formula_generator import generate
from test_formulas import CASES

from derive.recipes import all_recipes

PDFLATEX = shutil.which("pdflatex")
if PDFLATEX is None and os.environ.get("CI") != "true":
    pytest.skip("pdflatex is not installed (Debian: apt-get install texlive-latex-base "
                "texlive-latex-recommended)", allow_module_level=True)

SLACK = 10.0   # points a line may exceed the text width (a warning below this is invisible)
MORE = [
    ("logdet(X) + det(inv(X)) + tr(inv(X)^2) + sum(inv(X)' * y)", ["X", "y"], None),
    ("sum(X^-1 * y) + det(X)^2 + logdet(X' * X)", ["X"], None),
    ("H = sigmoid(W1*X + b1); P = softmax(W2*H + b2); sum(sum(Y .* log(P))) + sigma*sum(H)",
     ["W1", "b1", "W2", "b2", "sigma"], None),
    ("S = X*X' + sigma^2*eye(n); logdet(S) + tr(inv(S)*C) + sum(inv(S)*y)", ["X", "sigma"],
     {"X": ("n", "k")}),
    ("sum(step(x) .* y) + sum(relu(A*x - b)) + sum(abs(x))", ["x", "A"], None),
]


def _body(latex: str) -> str:
    assert latex.startswith("% ") and "amsmath" in latex.splitlines()[0] \
        and "amssymb" in latex.splitlines()[0], latex[:200]
    return latex


def _compile(documents: dict[str, str], tmp_path: Path, options: str = "11pt") -> None:
    """One document holding every fragment; on failure, the fragments one by one."""
    source = f"\\documentclass[{options}]{{article}}\n\\usepackage{{amsmath}}\n" \
             "\\usepackage{amssymb}\n" \
             "\\begin{document}\n"
    starts = []
    for name, latex in documents.items():
        starts.append((source.count("\n") + 1, name))
        source += _body(latex) + "\n\\clearpage\n"
    source += "\\end{document}\n"
    log = _pdflatex(source, tmp_path, "all")
    errors = re.findall(r"^! .*", log, flags=re.M)
    if errors:
        for name, latex in documents.items():
            single = source.split("\\begin{document}")[0] + "\\begin{document}\n" + latex + \
                "\n\\end{document}\n"
            errors = re.findall(r"^! .*(?:\n.*){0,3}", _pdflatex(single, tmp_path, "one"),
                                flags=re.M)
            assert not errors, f"{name}: {errors}\n{latex}"
    wide = []
    for amount, line in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\).*?lines? (\d+)",
                                   log):
        owner = [n for start, n in starts if start <= int(line)][-1]
        if float(amount) > SLACK:
            wide.append(f"{owner}: {amount}pt too wide at line {line}")
    assert not wide, "\n".join(wide)


def _pdflatex(source: str, folder: Path, name: str) -> str:
    if PDFLATEX is None:
        pytest.fail("CI=true and pdflatex is missing: .ci/run installs it with apt-get")
    (folder / f"{name}.tex").write_text(source)
    subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
                   cwd=folder, capture_output=True, timeout=120)
    return (folder / f"{name}.log").read_text(errors="replace")


def _no_run_on(latex: str, tables: bool = False) -> None:
    """Every row of every align* is one equation: exactly one &=, rows ended by \\\\; no
    displayed maths outside them but the layer tables of second order's --steps."""
    for body in re.findall(r"\\begin\{align\*\}\n(.*?)\\end\{align\*\}", latex, flags=re.S):
        rows = re.split(r"\\\\\n", body.replace("\\intertext{where}\n", ""))
        for row in rows:
            if row.lstrip().startswith("&"):   # a continuation line of a broken equation
                continue
            assert row.count("&=") == 1, row
    assert tables or "\\[" not in latex


def _grad(formula, wrt, shapes, *options):
    code, out, err = run("grad", formula, *sum((["--wrt", w] for w in wrt), []),
                         *shape_args(shapes), "--format", "latex", *options)
    assert code == 0, err
    _no_run_on(out)
    return out


def test_every_recipe_compiles_and_fits(tmp_path):
    documents = {}
    for recipe in all_recipes():
        for options in ((), ("--steps",), ("--inline",)):
            code, out, err = run("recipe", recipe.name, "--format", "latex", *options)
            assert code == 0, err
            _no_run_on(out)
            documents[" ".join((recipe.name,) + options)] = out
    _compile(documents, tmp_path)


def test_formulas_compile_and_fit(tmp_path):
    documents = {}
    for formula, wrt, shapes in CASES + MORE:
        documents[formula] = _grad(formula, wrt, shapes)
        documents[formula + " --steps"] = _grad(formula, wrt, shapes, "--steps")
    _compile(documents, tmp_path)


RANDOM = 40   # generated formulas (tests/support/formula_generator.py), seeds 0 to 39


def test_random_formulas_compile_and_fit(tmp_path):
    documents = {}
    for seed in range(RANDOM):
        case = generate(seed)
        for options in ((), ("--steps",)):
            code, out, _ = run("grad", case.formula, *sum((["--wrt", w] for w in case.wrt), []),
                               *shape_args(case.shapes), "--format", "latex", *options)
            if code == 0:     # a formula derive refuses has nothing to compile
                _no_run_on(out)
                documents[" ".join((case.formula,) + options)] = out
    assert len(documents) > RANDOM
    _compile(documents, tmp_path)


def test_ufldl_examples_steps_compile_and_fit(tmp_path):
    """The note's three worked examples, derivation and result, on an 11pt page."""
    documents = {}
    for formula, wrt, shapes in [
            ("norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2", ["A"],
             {"s": ("n", "k"), "x": ("m", "k")}),
            ("norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2", ["s"],
             {"s": ("n", "k"), "x": ("m", "k")}),
            ("sum(sqrt(V*(s.^2) + eps))", ["s"], {"s": ("n", "k")}),
            ("norm(W'*W*x - x)^2", ["W"], None)]:
        documents[f"{formula} --wrt {wrt[0]} --steps"] = _grad(formula, wrt, shapes, "--steps")
    _compile(documents, tmp_path)


def test_second_order_results_compile_and_fit(tmp_path):
    documents = {}
    for command, formula, wrt in [("hess", "x'*A*x", "x"), ("hess", "sum(softplus(-y .* (X*w)))", "w"),
                                  ("hess", "norm(A*s - x)^2 + gamma*norm(A)^2", "A"),
                                  ("hvp", "norm(A*s - x)^2 + gamma*norm(A)^2", "A"),
                                  ("hvp", "logdet(X) + tr(inv(X)*C)", "X")]:
        for options in ((), ("--steps",)):
            code, out, err = run(command, formula, "--wrt", wrt, "--format", "latex", *options)
            assert code == 0, err
            _no_run_on(out, tables=True)
            documents[" ".join((command, formula) + options)] = out
    _compile(documents, tmp_path)


def test_second_order_steps_of_every_recipe_compile_and_fit(tmp_path):
    """The tangent tables of hvp --steps (and hess --steps where the Hessian exists) are the
    widest LaTeX derive prints: every row fits the page."""
    documents = {}
    for recipe in all_recipes():
        shapes = sum((["--shape", value] for value in recipe.shape_args()), [])
        assume = sum((["--assume", f"{name}={what}"] for name, what in recipe.assume.items()), [])
        wrt = sum((["--wrt", name] for name in recipe.variables), [])
        code, out, err = run("hvp", recipe.formula, *wrt, *shapes, *assume, "--format", "latex",
                             "--steps")
        assert code == 0, err
        _no_run_on(out, tables=True)
        documents[f"hvp {recipe.name} --steps"] = out
        for name in recipe.variables:
            code, out, _ = run("hess", recipe.formula, "--wrt", name, *shapes, *assume,
                               "--format", "latex", "--steps")
            if code == 0:     # no Hessian in closed form: hess refuses and points to hvp
                _no_run_on(out, tables=True)
                documents[f"hess {recipe.name} --wrt {name} --steps"] = out
    _compile(documents, tmp_path)


def test_width_column_fits_a_two_column_paper(tmp_path):
    """--width column on recipe, hvp and hess (with their steps): every line fits one column
    of an 11pt two-column article."""
    documents = {}
    for command, subject, options in [
            ("recipe", "mlp_softmax", ()), ("recipe", "sparse_coding", ("--steps",)),
            ("recipe", "ica_reconstruction", ("--steps",)),
            ("hvp", "norm(A*s - x)^2 + gamma*norm(A)^2", ("--wrt", "A", "--steps")),
            ("hess", "sum(softplus(-y .* (X*w)))", ("--wrt", "w", "--steps")),
            ("grad", "sum(sqrt(V*(s.^2) + eps))", ("--wrt", "s", "--shape", "s=n,k", "--steps"))]:
        code, out, err = run(command, subject, *options, "--format", "latex", "--width", "column")
        assert code == 0, err
        _no_run_on(out, tables=True)
        documents[" ".join((command, subject) + options)] = out
    _compile(documents, tmp_path, "11pt,twocolumn")
    for command, subject in [("recipe", "ridge"), ("hvp", "x'*x"), ("hess", "x'*x")]:
        code, _, err = run(command, subject, *(("--wrt", "x") if command != "recipe" else ()),
                           "--width", "5")
        assert code == 2 and "--width" in err


def test_standalone_document_compiles_as_it_is(tmp_path):
    code, out, err = run("recipe", "mlp_softmax", "--format", "latex", "--steps", "--standalone")
    assert code == 0, err
    assert out.splitlines()[0].startswith("% ") and "\\documentclass" in out
    log = _pdflatex(out, tmp_path, "standalone")
    assert not re.findall(r"^! .*", log, flags=re.M)
    assert (tmp_path / "standalone.pdf").exists()


def test_a_gradient_of_two_thousand_terms_breaks_across_pages(tmp_path):
    # 2,000 terms make a gradient some 900 lines long: it may break between its own lines,
    # or it runs off its one page (and past TeX's largest dimension, no PDF at all)
    formula = " + ".join(f"sum(sin({i}*x))" for i in range(1, 2001))
    out = _grad(formula, ["x"], None)
    assert len(out) < 50 * 2000
    _compile({"2,000 terms": out}, tmp_path)
    log = (tmp_path / "all.log").read_text(errors="replace")
    assert "Overfull \\vbox" not in log
