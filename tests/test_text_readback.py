"""The text output means what it says: read back through derive's parser, it is the same function.

The text notation is the formula language with two liberties a reader expects:
a product is written by juxtaposition (``2 A^T (A x - b)``) and a transpose as
``^T``. ``to_formula`` undoes exactly these, line by line; the where-definitions
(and, for --steps, the forward pass and the deltas) become definitions and each
gradient the cost ``sum(G .* R)`` for a random R of its shape. Evaluated by
derive's own NumPy code on the same data, it must equal the gradient derive
computed: a printed form that means something else (``logsumexp(X)`` for the
per-column ``logsumexp(X, 1)``) fails here.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import derive
from derive.frontend.build import CALLS
from derive.numcheck import random_instance
from derive.frontend.parse import tokenize
from derive.recipes import all_recipes
from derive.render import render
from test_formulas import CASES
from test_latex_compile import MORE

_ENDS = {"name", "number", "transpose"}


def to_formula(text: str) -> str:
    """A line of derive's text notation in the formula language."""
    text = re.sub(r"\^T(?![A-Za-z0-9_])", "'", text)
    out: list[str] = []
    previous = None
    for token in tokenize(text):
        if token.kind == "end":
            break
        call = previous is not None and previous.kind == "name" and token.text == "(" and \
            previous.pos + len(previous.text) == token.pos
        if previous is not None and not call and \
                (previous.kind in _ENDS or previous.text == ")") and \
                (token.kind in ("name", "number") or token.text == "("):
            out.append("*")
        out.append(token.text)
        previous = token
    return " ".join(out)


def test_to_formula_undoes_juxtaposition_and_transposes():
    assert to_formula("2 (A s - x) s^T + 2 gamma A") == "2 * ( A * s - x ) * s ' + 2 * gamma * A"
    assert to_formula("sum(t1, 2) / m") == "sum ( t1 , 2 ) / m"
    assert to_formula("(ones(k, 1) sum(Y, 1)) .* P") == \
        "( ones ( k , 1 ) * sum ( Y , 1 ) ) .* P"


def equations(output: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(definitions, gradients) of a text output, in the formula language."""
    definitions, gradients = [], {}
    lines = output.splitlines()
    # --steps: the cost as written comes first, in the formula language already; the
    # equations start at the forward pass.
    start = next((i for i, line in enumerate(lines) if line.startswith("Forward pass")), 0)
    for line in lines[start:]:
        match = re.fullmatch(r"\s*([A-Za-z][A-Za-z0-9_]*) = (.*)", line)
        if not match:
            continue
        name, rhs = match.groups()
        if name.startswith("grad_"):
            gradients[name[5:]] = to_formula(rhs)
        else:
            definitions.append((name, to_formula(rhs)))
    return definitions, gradients


def assert_reads_back(d: derive.Derivation, output: str, seed: int = 0) -> None:
    """Each part of the output (with --steps: the derivation, then the result) on its own."""
    for part in output.split("\nResult:\n"):
        _assert_part_reads_back(d, part, seed)


def _assert_part_reads_back(d: derive.Derivation, output: str, seed: int) -> None:
    definitions, gradients = equations(output)
    assert set(gradients) == set(d.wrt), output
    args, _, sizes = random_instance(d, seed)
    # Dimensions a printed gradient uses as numbers (m in sum(x) / m, from mean) read back as
    # scalars. Where the formula has a scalar of the same name (the recipes' m, the number of
    # examples), the text cannot tell them apart: the test gives them the same value.
    dims = {str(k): float(v) for k, v in sizes.items() if not k.is_Integer}
    args = [dims[s.name] if s.is_scalar and s.name in dims else a
            for s, a in zip(d.parameters, args)]
    values = {s.name: a for s, a in zip(d.parameters, args)}
    expected = d.namespace()["value_and_grad"](*args)[1:]
    rng = np.random.default_rng(seed + 1)
    prefix = "".join(f"{name} = {rhs};\n" for name, rhs in definitions)
    for (name, gradient), value in zip(((n, gradients[n]) for n in d.wrt), expected):
        symbol = d.formula.symbol(name)
        weights = rng.standard_normal(np.shape(value))
        formula = prefix + f"sum(({gradient}) .* R_check)"
        # Names, leaving out the dimensions of ones(m, n) and eye(n), which are no names.
        used = set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", re.sub(
            r"\b(ones|eye) \( [^()]* \)", "", formula))) - set(CALLS)
        shapes = [f"{s.name}={','.join(str(x) for x in _dims(s))}" for s in d.parameters
                  if s.name in used]
        shapes.append(f"R_check={','.join(str(x) for x in _dims(symbol))}")
        shapes += [f"{k}=" for k in dims if k in used and not d.formula.symbol(k)
                   and k not in dict(definitions)]
        back = derive.gradient(formula, "R_check", shapes)
        inputs = {**dims, **values, "R_check": weights}
        arguments = [np.asarray(inputs[s.name], dtype=float) if np.ndim(inputs[s.name])
                     else float(inputs[s.name]) for s in back.parameters]
        got = back.namespace()["value_and_grad"](*arguments)[0]
        want = float(np.sum(np.asarray(value) * weights))
        assert np.isclose(got, want, rtol=1e-8, atol=1e-10), (name, got, want, formula)


def _dims(symbol) -> tuple:
    rows, cols = symbol.shape
    if symbol.is_scalar:
        return ()
    return (rows,) if cols == 1 else (rows, cols)


RECIPES = [r.name for r in all_recipes()]


@pytest.mark.parametrize("steps", [False, True], ids=["result", "steps"])
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_text_reads_back_as_the_same_function(name, steps):
    from derive.recipes import load
    d = load(name).gradient()
    assert_reads_back(d, render(d, "text", steps))


@pytest.mark.parametrize("steps", [False, True], ids=["result", "steps"])
@pytest.mark.parametrize("formula, wrt, shapes", CASES + MORE, ids=[c[0] for c in CASES + MORE])
def test_formula_text_reads_back_as_the_same_function(formula, wrt, shapes, steps):
    d = derive.gradient(formula, wrt, shapes)
    assert_reads_back(d, render(d, "text", steps))


@pytest.mark.parametrize("seed", range(40))
def test_random_formula_text_reads_back_as_the_same_function(seed):
    from derive.errors import DeriveError
    from support.formula_generator import generate
    case = generate(seed)
    try:
        d = derive.gradient(case.formula, case.wrt, case.shapes)
        random_instance(d, 0)
    except DeriveError as refused:   # refused, or no data where the cost is finite
        pytest.skip(str(refused))
    for steps in (False, True):
        assert_reads_back(d, render(d, "text", steps))


def test_inline_text_reads_back_too():
    d = derive.gradient("H = sigmoid(W*X + b); sum(sum(H .* H))", ["W", "b"], inline=True)
    assert "where" not in d.text
    assert_reads_back(d, d.text)
