"""LaTeX output is well formed: balanced braces and delimiters, no double superscripts."""
from __future__ import annotations

import json
import re

import pytest

import derive
from conftest import run, shape_args
from test_formulas import CASES


def assert_well_formed(latex: str) -> None:
    depth = 0
    for ch in latex.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, latex
    assert depth == 0, latex
    assert latex.count(r"\left") == latex.count(r"\right"), latex
    # x^{a}^{b} and f'^{a} are double superscripts: TeX refuses them
    assert not re.search(r"(\^\{[^{}]*\}|')\^", latex), latex


@pytest.mark.parametrize("formula, wrt, shapes", CASES, ids=[c[0] for c in CASES])
def test_latex_with_steps_is_well_formed(formula, wrt, shapes):
    code, out, err = run("grad", formula, *sum((["--wrt", w] for w in wrt), []),
                         *shape_args(shapes), "--format", "latex", "--steps")
    assert code == 0, err
    assert r"\nabla_{" in out
    assert_well_formed(out)


MLP = "H = sigmoid(W1*X + b1); P = softmax(W2*H + b2); -sum(sum(Y .* log(P)))/m"


def test_definitions_keep_their_names_in_text_latex_and_json():
    d = derive.gradient(MLP, ["W1", "W2"], {"m": ()})
    assert d.text.startswith("grad_W1 = ")
    where = d.text.split("\nwhere\n")[1].splitlines()
    assert where[:2] == ["  H = sigmoid(W1 X + b1)", "  P = softmax(W2 H + b2)"], d.text
    assert "sigmoid" not in d.text.split("\nwhere\n")[0]
    assert r"\intertext{where}" in d.latex and r"H &= \operatorname{sigmoid}" in d.latex
    code, out, _ = run("grad", MLP, "--wrt", "W1", "--shape", "m=", "--format", "json")
    assert [w["name"] for w in json.loads(out)["where"]][:2] == ["H", "P"]


def test_inline_prints_everything_expanded():
    code, out, _ = run("grad", MLP, "--wrt", "W2", "--shape", "m=", "--inline")
    assert code == 0 and "where" not in out and "softmax(W2 sigmoid(W1 X + b1) + b2)" in out
    assert "where" not in derive.gradient(MLP, "W2", {"m": ()}, inline=True).latex


def test_generated_names_do_not_clash_with_the_formulas_names():
    formula = "sum(sigmoid(A*t1 + b) .* sigmoid(A*t1 + b) .* sigmoid(A*t1 + b) .* t2)"
    d = derive.gradient(formula, ["A", "b"])
    defined = [line.split(" = ")[0].strip() for line in d.text.split("\nwhere\n")[1].splitlines()]
    assert defined and not {"t1", "t2"} & set(defined), d.text


def test_sigmoid_ones_and_indicators_read_unambiguously():
    latex = derive.gradient("sum(sigmoid(sigma*x)) + sum(relu(x)) + sum(softmax(X))",
                            ["x", "X"]).latex
    assert r"\operatorname{sigmoid}" in latex and r"\sigma" in latex    # sigma is the user's
    assert r"\mathbb{1}" not in latex
    code, out, _ = run("grad", "sum(step(x) .* y) + sum(relu(x) .^ 2)", "--wrt", "x",
                       "--format", "latex")
    assert code == 0 and r"\left[x > 0\right]" in out and r"\mathbb" not in out
    assert r"\mathbf{1}_{k}" in derive.gradient("sum(sum(Y, 1) .* z')", "Y",
                                                {"Y": ("k", "m")}).latex


def doubled_brackets(latex: str) -> list[str]:
    """Brackets whose whole content is another bracket: ((...))."""
    pairs, opened = {}, []
    for match in re.finditer(r"\\left\(|\\right\)", latex):
        if match.group() == r"\left(":
            opened.append(match.start())
        else:
            pairs[opened.pop()] = match.end()
    inner = len(r"\left(")
    return [latex[start:end] for start, end in pairs.items()
            if pairs.get(start + inner) == end - len(r"\right)")]


def test_no_doubled_brackets():
    assert doubled_brackets(r"\left(\left(x\right)\right)") and \
        not doubled_brackets(r"\left(\left(x\right) y\right)")
    for formula, wrt in [("sum(sum(Y, 1) .* sum(X, 2)')", "Y"),
                         ("sum(sum((A*x - b) .* y))", "x"), (MLP, "W1")]:
        latex = derive.gradient(formula, wrt).latex
        assert not doubled_brackets(latex), latex


def test_det_of_inv_has_no_double_superscript():
    for options in ([], ["--steps"]):
        code, out, _ = run("grad", "det(inv(X)) + sum(inv(X)^2 * y)", "--wrt", "X",
                           "--format", "latex", *options)
        assert code == 0
        assert_well_formed(out)


def test_text_keeps_per_column_logsumexp_and_step_is_in_the_language():
    d = derive.gradient("sum(logsumexp(X, 1).^2) + logsumexp(Y) + sum(relu(z))", ["X", "Y", "z"])
    assert "logsumexp(X, 1)" in d.text and "step(z)" in d.text
    derive.gradient("sum(step(x) .* y)", "y")


def test_notebook_display():
    d = derive.gradient("norm(A*s - x)^2", "A")
    assert d._repr_latex_().startswith(r"\begin{align*}")
    assert repr(d) == "<Derivation of grad_A: 'norm(A*s - x)^2'>"


def test_a_mean_reads_as_papers_write_it():
    """The column means of X are (1/m) 1^T X, the scalar in front at text size, and the mean
    row subtracted from a matrix carries its ones vector: X - (1/m) 1_m 1_m^T X."""
    d = derive.gradient("sum(sum((X - mean(X, 1)).^2))", "X")
    assert r"X - \tfrac{1}{m} \mathbf{1}_{m} \mathbf{1}_{m}^{\top} X" in d.latex
    code, out, _ = run("grad", "sum(log(mean(A, 2)))", "--wrt", "A", "--format", "latex",
                       "--steps")
    assert code == 0 and r"{z^{(1)}} &= \tfrac{1}{n} A \mathbf{1}_{n}" in out
    named = derive.gradient("mu = mean(X, 2); sum(sum((X - mu).^2))", "X")
    assert r"X - \mu \mathbf{1}_{n}^{\top}" in named.latex and r"\mu &= \tfrac{1}{n} X" in named.latex
