"""LaTeX output is well formed: balanced braces and delimiters, no double superscripts."""
from __future__ import annotations

import re

import pytest

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
