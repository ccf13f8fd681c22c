"""Every target runs: the JAX, PyTorch and MATLAB code computes what the NumPy code computes.

For each case (the three UFLDL examples, every recipe, and a sample of random
formulas from tests/formula_generator.py) the NumPy snippet on the data of
``derive check`` is the reference; each target's ``value_and_grad`` and every
``grad_X`` run on the same data (float64) and must agree with it to 1e-8
relative. JAX runs plainly and under ``jax.jit``; PyTorch must return tensors
that carry no autograd graph; MATLAB runs in GNU Octave (skipped, with the
reason, where ``octave-cli`` is missing, but never under CI).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import derive
from derive.numcheck import random_instance
from derive.recipes import all_recipes
from formula_generator import generate
from target_runner import (Call, OctaveCase, kinds, like_numpy, namespace, octave_available,
                           run_jax, run_octave, run_torch)

jax = pytest.importorskip("jax")
torch = pytest.importorskip("torch")
jax.config.update("jax_enable_x64", True)

RTOL = 1e-8
RANDOM_SAMPLE = 40     # random formulas of the default run (DERIVE_TARGET_FORMULAS=N for more)
JAX_RANDOM_SAMPLE = 12  # of which JAX runs the first few: each compiles under jit (~0.5 s)
UFLDL = [
    ("ufldl_sparse_coding", "norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2", ["A", "s"],
     {"s": ("n", "k"), "x": ("m", "k")}),
    ("ufldl_topographic", "sum(sqrt(V*(s.^2) + eps))", ["s"], {"s": ("n", "k")}),
    ("ufldl_ica", "norm(W'*W*x - x)^2", ["W"], None),
]


def _random_cases(count: int) -> list[tuple]:
    cases, seed = [], 0
    while len(cases) < count:
        case = generate(seed)
        seed += 1
        try:
            derive.gradient(case.formula, case.wrt, case.shapes)
        except derive.DeriveError:
            continue
        cases.append((f"random{case.seed}", case.formula, case.wrt, case.shapes))
    return cases


CASES = UFLDL + [(r.name, r.formula, list(r.variables), dict(r.shapes)) for r in all_recipes()] \
    + _random_cases(int(os.environ.get("DERIVE_TARGET_FORMULAS", RANDOM_SAMPLE)))
IDS = [c[0] for c in CASES]


class Reference:
    """A case derived once, its data, and what the NumPy code returns on it."""

    def __init__(self, formula: str, wrt: list[str], shapes) -> None:
        self.derivation = derive.gradient(formula, wrt, shapes)
        d = self.derivation
        self.args, _, _ = random_instance(d, seed=1)
        functions = namespace(d.numpy)
        every = kinds(d)
        self.calls = [Call("value_and_grad", self.args, 1 + len(d.wrt), every)] + \
            [Call(f"grad_{w}", self.args, 1, every) for w in d.wrt]
        self.expected = []
        for call in self.calls:
            results = functions[call.function](*self.args)
            results = results if isinstance(results, tuple) else (results,)
            self.expected.append([np.asarray(r, dtype=float) for r in results])
        # hoisted code: prepare(data) once, then value_and_grad(variables, prepared), each
        # in the order of the formula
        names = [s.name for s in d.formula.symbols]
        split = [[(a, k) for a, k, n in zip(self.args, every, names) if (n in d.wrt) == wrt]
                 for wrt in (True, False)]
        self.hoisted = Call("value_and_grad", [a for a, _ in split[0]], 1 + len(d.wrt),
                            [k for _, k in split[0]], data=[a for a, _ in split[1]],
                            data_kinds=[k for _, k in split[1]])

    def compare(self, got: list[list[np.ndarray]], target: str, hoisted: bool = False) -> None:
        calls, expectations = ([self.hoisted], self.expected[:1]) if hoisted \
            else (self.calls, self.expected)
        for call, outputs, expected in zip(calls, got, expectations):
            for i, (result, reference) in enumerate(zip(outputs, expected)):
                what = f"{target} {call.function} output {i}"
                result = np.asarray(result, dtype=float)
                if target == "matlab":
                    result = like_numpy(result, reference)    # MATLAB's values are 2-D
                assert result.shape == reference.shape, (what, result.shape, reference.shape)
                scale = max(float(np.max(np.abs(reference), initial=0.0)), 1.0)
                np.testing.assert_allclose(result, reference, rtol=RTOL, atol=RTOL * scale,
                                           err_msg=what)


_references: dict[str, Reference] = {}


def reference(case_id: str) -> Reference:
    if case_id not in _references:
        _, formula, wrt, shapes = CASES[IDS.index(case_id)]
        _references[case_id] = Reference(formula, wrt, shapes)
    return _references[case_id]


def _jax_ids() -> list[str]:
    randoms = [i for i in IDS if i.startswith("random")]
    keep = set(randoms[:int(os.environ.get("DERIVE_TARGET_FORMULAS", JAX_RANDOM_SAMPLE))])
    return [i for i in IDS if not i.startswith("random") or i in keep]


@pytest.mark.parametrize("case_id", _jax_ids())
def test_jax_code_under_jit_computes_what_numpy_computes(case_id):
    ref = reference(case_id)
    code = ref.derivation.code("jax")
    ref.compare([run_jax(code, ref.calls[0], jit=True)], "jax.jit")


@pytest.mark.parametrize("case_id", [c[0] for c in UFLDL])
def test_jax_code_of_ufldl_examples_runs_plainly_and_each_gradient_alone(case_id):
    ref = reference(case_id)
    code = ref.derivation.code("jax")
    ref.compare([run_jax(code, call) for call in ref.calls], "jax")
    ref.compare([run_jax(code, call, jit=True) for call in ref.calls], "jax.jit")


@pytest.mark.parametrize("case_id", IDS)
def test_torch_code_computes_what_numpy_computes(case_id):
    ref = reference(case_id)
    code = ref.derivation.code("torch")
    ref.compare([run_torch(code, call) for call in ref.calls], "torch")


NOT_RANDOM = [i for i in IDS if not i.startswith("random")]


@pytest.mark.parametrize("case_id", NOT_RANDOM)
def test_hoisted_jax_code_under_jit_computes_what_numpy_computes(case_id):
    ref = reference(case_id)
    code = ref.derivation.code("jax", hoist=True)
    ref.compare([run_jax(code, ref.hoisted, jit=True)], "hoisted jax.jit", hoisted=True)


@pytest.mark.parametrize("case_id", IDS)
def test_hoisted_torch_code_computes_what_numpy_computes(case_id):
    ref = reference(case_id)
    code = ref.derivation.code("torch", hoist=True)
    ref.compare([run_torch(code, ref.hoisted)], "hoisted torch", hoisted=True)


@pytest.fixture(scope="module")
def octave_results():
    if not octave_available():
        if os.environ.get("CI") == "true":
            pytest.fail("octave-cli is missing under CI: .ci/run installs Debian's octave")
        pytest.skip("octave-cli is not installed (Debian: apt-get install octave); "
                    "the MATLAB code is not run")
    cases, keys = [], []
    for case_id in IDS:
        ref = reference(case_id)
        cases.append(OctaveCase(ref.derivation.code("matlab"), ref.calls))
        cases.append(OctaveCase(ref.derivation.code("matlab", hoist=True), [ref.hoisted]))
        keys += [(case_id, False), (case_id, True)]
    return dict(zip(keys, run_octave(cases)))


@pytest.mark.parametrize("hoist", [False, True], ids=["plain", "hoisted"])
@pytest.mark.parametrize("case_id", IDS)
def test_matlab_code_computes_what_numpy_computes(case_id, hoist, octave_results):
    got = octave_results[case_id, hoist]
    code = reference(case_id).derivation.code("matlab", hoist=hoist)
    assert not isinstance(got, str), f"Octave: {got}\n{code}"
    reference(case_id).compare(got, "matlab", hoisted=hoist)
