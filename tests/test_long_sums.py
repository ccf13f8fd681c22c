"""A cost of thousands of terms: the code and the text grow with the formula, not faster.

A user summed 5,000 terms, sum(sin(1*x)) + ... + sum(sin(5000*x)), and got 38.7 MB of
NumPy that Python could not compile: every temporary was named one underscore longer
than the last (grad_x_term, grad_x_term_, grad_x_term__, ...) and the value was one
expression of 5,000 terms, deeper than Python's compiler recurses. Here a long sum is
accumulated over statements in every target, fresh names are numbered, and each
emitted line stays short, whatever the number of terms.

The values are checked against a plain NumPy evaluation written here, and the gradient
against its central differences (never against the emitted value).
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import derive
from derive.naming import Namer, python_namer
from support.target_runner import Call, OctaveCase, run_jax, run_octave, run_torch

TARGETS = ("numpy", "jax", "torch", "matlab")
LONGEST_LINE = 100   # characters: the documentation wraps a long formula at 80


def formula(n: int) -> str:
    return " + ".join(f"sum(sin({i}*x))" for i in range(1, n + 1))


def plain(n: int, x: np.ndarray) -> float:
    """The cost, written by hand in NumPy."""
    return float(sum(np.sum(np.sin(i * x)) for i in range(1, n + 1)))


def central(n: int, x: np.ndarray, h: float = 1e-7) -> np.ndarray:
    return np.array([(plain(n, x + h * e) - plain(n, x - h * e)) / (2 * h)
                     for e in np.eye(len(x))])


X = np.array([3e-4, -7e-4, 1.1e-3])   # small: sin(i x) stays smooth at i = 2,000


def emitted_names(code: str) -> set[str]:
    return set(re.findall(r"^\s*(\w+) =", code, flags=re.M))


# ------------------------------------------------------------------ the namer

def test_a_taken_name_gets_one_underscore_then_a_number():
    namer = Namer({"H"})
    assert [namer.exact("H") for _ in range(4)] == ["H_", "H_2", "H_3", "H_4"]
    assert [namer.exact("n", "_dim") for _ in range(3)] == ["n", "n_dim", "n_dim2"]


def test_a_generated_name_is_numbered_from_its_second_use():
    namer = python_namer({"grad_x_term3"})   # the formula's own name is skipped
    assert [namer.exact("grad_x_term", "") for _ in range(4)] == \
        ["grad_x_term", "grad_x_term2", "grad_x_term4", "grad_x_term5"]


def test_a_thousand_requests_for_one_name_stay_short():
    namer = Namer(set())
    names = [namer.exact("t_term", "") for _ in range(1000)]
    assert len(set(names)) == 1000 and max(map(len, names)) == len("t_term1000")


# ------------------------------------------------------------------ NumPy at 2,000 terms

@pytest.fixture(scope="module")
def long_numpy() -> str:
    return derive.gradient(formula(2000), "x").numpy


def test_two_thousand_terms_give_numpy_code_linear_in_size(long_numpy):
    # each term costs a few short lines in each function: far below a kilobyte
    assert len(long_numpy) < 1000 * 2000
    assert max(map(len, long_numpy.splitlines())) <= LONGEST_LINE


def test_two_thousand_terms_compile_and_agree_with_finite_differences(long_numpy):
    functions: dict = {}
    exec(compile(long_numpy, "<derive>", "exec"), functions)
    value, grad = functions["value_and_grad"](X.copy())
    assert isinstance(value, float)
    assert np.isclose(value, plain(2000, X), rtol=1e-10)
    np.testing.assert_allclose(grad, central(2000, X), rtol=1e-5)
    np.testing.assert_allclose(functions["grad_x"](X.copy()), grad, rtol=1e-12)


def test_no_name_grows_a_run_of_underscores(long_numpy):
    names = emitted_names(long_numpy)
    assert not [n for n in names if "__" in n]
    assert {"grad_x_term", "grad_x_term2", "grad_x_term1997"} <= names


# ------------------------------------------------------------------ every target

@pytest.fixture(scope="module")
def long_codes() -> dict[str, dict[str, str]]:
    """Each target's code of a 300-term sum: its gradient, Hessian-vector product, Hessian."""
    text = formula(300)
    results = {"grad": derive.gradient(text, "x"), "hvp": derive.hvp(text, "x"),
               "hess": derive.hessian(text, "x")}
    return {target: {kind: d.code(target) for kind, d in results.items()}
            for target in TARGETS}


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_spells_a_long_sum_in_short_lines(long_codes, target):
    for kind, code in long_codes[target].items():
        lines = code.splitlines()
        assert max(map(len, lines)) <= LONGEST_LINE, (kind, max(lines, key=len))
        assert len(code) < 1000 * 300, kind
        if target != "matlab":
            compile(code, f"<{target} {kind}>", "exec")


def test_jax_accumulates_without_updating_in_place(long_codes):
    for kind, code in long_codes["jax"].items():
        assert not re.search(r"^\s*\w+ [-+*/]= ", code, flags=re.M), kind
        assert re.search(r"^\s*(\w+) = \1 \+ ", code, flags=re.M), kind


def test_every_target_computes_the_long_sum(long_codes):
    import jax
    jax.config.update("jax_enable_x64", True)
    call = Call("value_and_grad", [X.copy()], 2, ["col"])
    want_value, want_grad = plain(300, X), central(300, X)
    results = {"jax": run_jax(long_codes["jax"]["grad"], call),
               "torch": run_torch(long_codes["torch"]["grad"], call)}
    octave, = run_octave([OctaveCase(long_codes["matlab"]["grad"], [call])])
    assert not isinstance(octave, str), octave
    results["matlab"] = octave[0]
    for target, (value, grad) in results.items():
        assert np.isclose(float(np.squeeze(value)), want_value, rtol=1e-10), target
        np.testing.assert_allclose(np.ravel(grad), want_grad, rtol=1e-5, err_msg=target)
