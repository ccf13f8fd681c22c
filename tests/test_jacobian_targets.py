"""derive jac in every target: JAX (plain, under jit and under vmap), PyTorch and MATLAB
(in GNU Octave) compute what the NumPy code computes.

The NumPy code is the reference here; tests/test_jacobian.py checks it against JAX's
jacobian, jvp and vjp of the test oracle. Each case of that file runs jacobian_X
(where there is a closed form), jvp, vjp, value_and_jvp and value_and_vjp on the same
data and the same direction and cotangent.
"""
from __future__ import annotations

import numpy as np
import pytest
from support.target_runner import (Call, OctaveCase, assert_matches, namespace, run_jax, run_octave,
                           run_torch)
from test_jacobian import CASES, argument, checked
from test_targets import needs_jax, needs_torch, require_octave

from derive.program import kind

RTOL = 1e-8
IDS = [f"{i}-{f}-{v}" for i, (f, v, _, _) in enumerate(CASES)]


class Reference:
    """A case's calls and what the NumPy code returns for them."""

    def __init__(self, i: int) -> None:
        c = checked(i)
        self.d = c.d
        symbols = c.d.parameters
        args = c.args()
        arg_kinds = [kind(s) for s in symbols]
        direction = c.d.directions[c.name]
        cotangent = c.d.cotangent
        along = args + [argument(c.direction, kind(direction))]
        back = args + [argument(c.cotangent, kind(cotangent))]
        along_kinds = arg_kinds + [kind(direction)]
        back_kinds = arg_kinds + [kind(cotangent)]
        self.calls = [Call("jvp", along, 1, along_kinds),
                      Call("value_and_jvp", along, 2, along_kinds),
                      Call("vjp", back, 1, back_kinds),
                      Call("value_and_vjp", back, 2, back_kinds)]
        if c.name in c.d.jacobians:
            self.calls.append(Call(f"jacobian_{c.name}", args, 1, arg_kinds))
        functions = namespace(c.d.numpy)
        self.expected = [[np.asarray(r, dtype=float) for r in (
            out if isinstance(out, tuple) else (out,))]
            for out in (functions[call.function](*call.args) for call in self.calls)]

    def compare(self, got, target: str) -> None:
        for call, outputs, expected in zip(self.calls, got, self.expected):
            assert len(outputs) == len(expected), (target, call.function)
            for i, (result, reference) in enumerate(zip(outputs, expected)):
                assert_matches(result, reference, target,
                               f"{target} {call.function} output {i}", RTOL)


_references: dict[int, Reference] = {}


def reference(i: int) -> Reference:
    if i not in _references:
        _references[i] = Reference(i)
    return _references[i]


# jit compiles every call: a few cases of each kind are enough for it
JITTED = (0, 1, 14, 19, 27, 30, 35, 47)


@needs_jax
@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_jax_computes_what_numpy_computes_plain_and_under_jit(i):
    ref = reference(i)
    code = ref.d.code("jax")
    for jit in (False, True) if i in JITTED else (False,):
        ref.compare([run_jax(code, call, jit=jit) for call in ref.calls], "jax")


@needs_jax
@pytest.mark.parametrize("i", JITTED, ids=[IDS[i] for i in JITTED])
def test_jax_jvp_and_vjp_under_vmap_over_directions_and_cotangents(i):
    import jax
    import jax.numpy as jnp
    ref = reference(i)
    functions = namespace(ref.d.code("jax"))
    for name in ("jvp", "vjp"):
        call = next(c for c in ref.calls if c.function == name)
        *args, last = [jnp.asarray(a) for a in call.args]
        batch = jnp.stack([last, 2 * last, -last])
        mapped = jax.jit(jax.vmap(lambda v: functions[name](*args, v)))(batch)
        single = np.asarray(functions[name](*args, last))
        np.testing.assert_allclose(np.asarray(mapped)[1], 2 * single, rtol=RTOL, atol=RTOL)


@needs_torch
@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_torch_computes_what_numpy_computes(i):
    ref = reference(i)
    code = ref.d.code("torch")
    ref.compare([run_torch(code, call) for call in ref.calls], "torch")


@pytest.fixture(scope="module")
def octave_results():
    """Every case's file run in one Octave process."""
    require_octave()
    cases = [OctaveCase(reference(i).d.code("matlab"), reference(i).calls)
             for i in range(len(CASES))]
    return run_octave(cases)


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_matlab_computes_what_numpy_computes(i, octave_results):
    ref = reference(i)
    got = octave_results[i]
    assert not isinstance(got, str), f"Octave: {got}\n{ref.d.code('matlab')}"
    ref.compare(got, "matlab")
