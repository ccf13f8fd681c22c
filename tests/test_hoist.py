"""Hoisted code: prepare(data) once, value_and_grad(variables, prepared) per call.

It must compute what the plain snippet computes, for every formula of the suite.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import derive
from derive.numcheck import random_instance

from conftest import run
from test_formulas import CASES

EXPANDED = [
    ("norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2", ["A"], {"s": ("n", "k"), "x": ("m", "k")}),
    ("norm(W'*W*X - X, 'fro')^2", ["W"], {"X": ("n", "k")}),
    ("norm(X - U*V', 'fro')^2 + lambda*norm(U, 'fro')^2", ["U"], None),
    ("norm(A*x - b)^2", ["x"], None),
]


def _run_both(formula, wrt, shapes):
    d = derive.gradient(formula, wrt, shapes)
    plain: dict = {}
    exec(d.numpy, plain)
    hoisted: dict = {}
    exec(d.hoisted, hoisted)
    args, _, _ = random_instance(d, seed=1)
    names = [s.name for s in d.parameters]
    variables = [args[names.index(w)] for w in d.wrt]
    data = [a for a, n in zip(args, names) if n not in d.wrt]
    prepared = hoisted["prepare"](*data)
    return plain["value_and_grad"](*args), hoisted["value_and_grad"](*variables, prepared)


@pytest.mark.parametrize("formula, wrt, shapes", CASES + EXPANDED,
                         ids=[c[0] for c in CASES + EXPANDED])
def test_hoisted_code_computes_the_same(formula, wrt, shapes):
    expected, got = _run_both(formula, wrt, shapes)
    assert len(expected) == len(got)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(np.asarray(b, float), np.asarray(a, float),
                                   rtol=1e-8, atol=1e-8)


def test_sparse_coding_hoists_the_gram_matrices():
    code, out, _ = run("grad", EXPANDED[0][0], "--wrt", "A", "--shape", "s=n,k",
                       "--shape", "x=m,k", "--format", "numpy", "--hoist")
    assert code == 0
    prepare, per_call = out.split("def value_and_grad")
    assert "s @ s.T" in prepare and "s @ x.T" in prepare or "x @ s.T" in prepare
    # per call, nothing of size k (the number of examples) is touched
    body = per_call.split("= prepared\n")[1]
    assert not re.search(r"\b[sx]\b", body), body
    assert "loses accuracy" in per_call


def test_hoist_implies_numpy_format_and_refuses_another():
    code, out, err = run("grad", "sum(A*x)", "--wrt", "A", "--hoist")
    assert code == 0 and "def prepare(" in out
    assert run("grad", "sum(A*x)", "--wrt", "A", "--hoist", "--format", "numpy")[1] == out
    code, _, err = run("grad", "sum(A*x)", "--wrt", "A", "--hoist", "--format", "latex")
    assert code == 2 and "--format latex" in err
