"""Second order in every target: the MATLAB, JAX and PyTorch hvp and hessian_X compute what
the NumPy code computes.

derive hvp's MATLAB file is ``value_grad_hvp.m`` (local ``hvp`` and ``grad_X``), derive
hess's is ``hessian_X.m``. For the Matrix Cookbook's Hessians, the UFLDL costs and every
recipe, the NumPy code on the data of ``derive check`` and a random direction is the
reference (itself checked against differences of the gradient in
tests/test_second_order.py); each target runs the same functions on the same data
(float64) and must agree with it to 1e-8 relative. MATLAB runs in GNU Octave, every case
in one process (skipped, with the reason, where ``octave-cli`` is missing, never under CI).
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import run
from support.target_runner import (Call, OctaveCase, assert_matches, kinds, namespace,
                                   octave_script, run_jax, run_octave, run_torch)
from test_targets import RTOL, needs_jax, needs_torch, require_octave

import derive
from derive.numcheck import random_instance
from derive.recipes import all_recipes

SPARSE_CODING = "norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2"
SPARSE_SHAPES = {"s": ("n", "k"), "x": ("m", "k")}
# (id, formula, variables, shapes): derive hvp of all the variables, derive hess of each
# variable whose Hessian has a closed form
COOKBOOK = [
    ("quadratic_form", "x'*A*x", ["x"], None),                 # A + A^T
    ("least_squares", "norm(A*x - b)^2", ["x"], None),         # 2 A^T A
    ("a_x_x_b", "a'*X'*X*b", ["X"], None),                     # (a b^T ⊗ I) + (b a^T ⊗ I)
    ("trace_x_a_x", "tr(X'*A*X)", ["X"], None),                # I ⊗ (A + A^T)
    ("logdet", "logdet(X)", ["X"], None),                      # hvp only: -X^-T D^T X^-T
    ("linear", "sum(A*x)", ["A"], None),                       # zeros(m*n, m*n)
    ("scalar", "alpha^2 * exp(alpha)", ["alpha"], None),
]
UFLDL = [
    ("ufldl_sparse_coding", SPARSE_CODING, ["A", "s"], SPARSE_SHAPES),
    ("ufldl_topographic", "sum(sqrt(V*(s.^2) + eps))", ["s"], None),
    ("ufldl_ica", "norm(W'*W*x - x)^2", ["W"], None),
    ("ufldl_logistic", "sum(softplus(-y .* (X*w)))", ["w"], None),
    # b1 under a second layer: face-splitting products kron(A, 1^T) .* kron(1^T, W2^T)
    ("two_layer_b1", "sum(sum(softplus(W2*sigmoid(W1*X + b1) + b2)))", ["b1"],
     {"X": ("n", "m")}),
    ("one_output_b1", "sum(softplus(w2'*tanh(W1*X + b1)))", ["b1"], {"X": ("n", "m")}),
]
# Names MATLAB reserves, and the second-order file's own function and output names.
NAMES = ("names", "sum(hvp .* hvp) + eps*norm(end)^2 + sum(i .* hessian) + sum(value_grad_hvp)",
         ["hvp", "end"], None)
RECIPES = [(f"recipe_{r.name}", r.formula, list(r.variables), dict(r.shapes))
           for r in all_recipes()]
# issue 18: a matrix variable times a vector (a ⊗ I: np.kron took the 1-D a as a row) and by
# a row (I ⊗ A^T); an hvp of two variables whose simplification recursed without end; the
# Hessian of logsumexp (eye(m) - t1' in Octave, whose eye does not broadcast)
ISSUE18 = [
    ("kron_vector", "sum(softplus(W*a))", ["W"], {"W": (3, 2), "a": (2,)}),
    ("kron_row", "sum(softplus(A*W))", ["W"], {"W": (3, 2), "A": (1, 3)}),
    ("two_variables", "exp(x'*a+norm(q))", ["x", "q"], None),
    ("logsumexp", "logsumexp(w)", ["w"], None),
]
CASES = COOKBOOK + UFLDL + [NAMES] + RECIPES + ISSUE18


class Reference:
    """A case's derivations (hvp of every variable, hess of each that has one), its data,
    a direction, and what the NumPy code returns."""

    def __init__(self, formula: str, wrt: list[str], shapes) -> None:
        self.hvp = derive.hvp(formula, wrt, shapes)
        self.args, _, _ = random_instance(self.hvp, seed=1)
        names = [s.name for s in self.hvp.parameters]
        every = kinds(self.hvp)
        rng = np.random.default_rng(2)
        directions = [_like(self.args[names.index(w)], rng) for w in wrt]
        both = self.args + directions
        both_kinds = every + [every[names.index(w)] for w in wrt]
        k = len(wrt)
        self.hvp_calls = [Call("value_grad_hvp", both, 1 + 2 * k, both_kinds),
                          Call("hvp", both, k, both_kinds)] + \
            [Call(f"grad_{w}", self.args, 1, every) for w in wrt]
        self.hessians = {}
        for w in wrt:
            try:
                self.hessians[w] = derive.hessian(formula, w, shapes)
            except derive.DeriveError as error:
                assert "use derive hvp" in str(error)
        # hessian_w takes w first, then the other names (docs/targets.md)
        order = {w: [names.index(p.name) for p in d.parameters] for w, d in self.hessians.items()}
        self.hessian_calls = {w: [Call(f"hessian_{w}", [self.args[i] for i in order[w]], 1,
                                       [every[i] for i in order[w]])]
                              for w in self.hessians}
        functions = namespace(self.hvp.numpy)
        self.expected = [_results(functions[c.function](*c.args)) for c in self.hvp_calls]
        self.expected_hessians = {
            w: [_results(namespace(d.numpy)[f"hessian_{w}"](*self.hessian_calls[w][0].args))]
            for w, d in self.hessians.items()}

    def compare(self, got: list[list[np.ndarray]], calls: list[Call], expectations,
                target: str) -> None:
        for call, outputs, expected in zip(calls, got, expectations):
            assert len(outputs) == len(expected), (target, call.function)
            for i, (result, reference) in enumerate(zip(outputs, expected)):
                assert_matches(result, reference, target, f"{target} {call.function} output {i}",
                               RTOL)


def _like(x, rng: np.random.Generator):
    """A random direction shaped like x (a float for a scalar)."""
    return float(rng.standard_normal()) if np.ndim(x) == 0 \
        else rng.standard_normal(np.shape(x))


def _results(results) -> list[np.ndarray]:
    return [np.asarray(r, dtype=float) for r in (results if isinstance(results, tuple)
                                                  else (results,))]


IDS = [c[0] for c in CASES]
_references: dict[str, Reference] = {}


def reference(case_id: str) -> Reference:
    if case_id not in _references:
        _, formula, wrt, shapes = CASES[IDS.index(case_id)]
        _references[case_id] = Reference(formula, wrt, shapes)
    return _references[case_id]


@pytest.fixture(scope="module")
def octave_results():
    """Every case's value_grad_hvp.m and hessian_X.m files run in one Octave process."""
    require_octave()
    cases, keys = [], []
    for case_id in IDS:
        ref = reference(case_id)
        cases.append(OctaveCase(ref.hvp.code("matlab"), ref.hvp_calls))
        keys.append((case_id, None))
        for w, d in ref.hessians.items():
            cases.append(OctaveCase(d.code("matlab"), ref.hessian_calls[w]))
            keys.append((case_id, w))
    return dict(zip(keys, run_octave(cases)))


@pytest.mark.parametrize("case_id", IDS)
def test_matlab_hvp_computes_what_numpy_computes(case_id, octave_results):
    ref = reference(case_id)
    got = octave_results[case_id, None]
    assert not isinstance(got, str), f"Octave: {got}\n{ref.hvp.code('matlab')}"
    ref.compare(got, ref.hvp_calls, ref.expected, "matlab")


@pytest.mark.parametrize("case_id", IDS)
def test_matlab_hessians_compute_what_numpy_computes(case_id, octave_results):
    """Each variable's hessian_X.m, where derive hess gives one (the others: hvp above)."""
    ref = reference(case_id)
    for w, d in ref.hessians.items():
        got = octave_results[case_id, w]
        assert not isinstance(got, str), f"Octave: {got}\n{d.code('matlab')}"
        ref.compare(got, ref.hessian_calls[w], ref.expected_hessians[w], "matlab")


@needs_torch
@pytest.mark.parametrize("case_id", IDS)
def test_torch_second_order_computes_what_numpy_computes(case_id):
    ref = reference(case_id)
    code = ref.hvp.code("torch")
    ref.compare([run_torch(code, call) for call in ref.hvp_calls], ref.hvp_calls, ref.expected,
                "torch")
    for w, d in ref.hessians.items():
        calls = ref.hessian_calls[w]
        ref.compare([run_torch(d.code("torch"), c) for c in calls], calls,
                    ref.expected_hessians[w], "torch")


@needs_jax
@pytest.mark.parametrize("case_id", [c[0] for c in ISSUE18])
def test_issue18_second_order_against_jax_autodiff(case_id):
    """The NumPy reference itself, for these cases, against JAX's jvp of grad and its dense
    Hessian of a transcription written here (vec stacks columns)."""
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    costs = {
        "kron_vector": lambda v: jnp.sum(jax.nn.softplus(v["W"] @ v["a"])),
        "kron_row": lambda v: jnp.sum(jax.nn.softplus(v["A"] @ v["W"])),
        "two_variables": lambda v: jnp.exp(v["x"] @ v["a"] + jnp.linalg.norm(v["q"])),
        "logsumexp": lambda v: jax.nn.logsumexp(v["w"]),
    }
    ref, (_, _, wrt, _) = reference(case_id), CASES[IDS.index(case_id)]
    names = [s.name for s in ref.hvp.parameters]
    values = {n: jnp.asarray(a) for n, a in zip(names, ref.args)}
    directions = {w: jnp.asarray(d) for w, d in zip(wrt, ref.hvp_calls[1].args[len(names):])}

    def grad(chosen):
        return jax.grad(lambda c: costs[case_id]({**values, **c}))(chosen)
    _, tangent = jax.jvp(grad, ({w: values[w] for w in wrt},), (directions,))
    for w, got in zip(wrt, ref.expected[1]):
        assert_matches(got, np.asarray(tangent[w]), "numpy", f"hvp_{w}", RTOL)
    for w in ref.hessians:
        shape = values[w].shape

        def of_vec(flat):
            return costs[case_id]({**values, w: flat.reshape(shape[::-1]).T})
        dense = jax.hessian(of_vec)(values[w].T.reshape(-1))
        assert_matches(ref.expected_hessians[w][0][0], np.asarray(dense), "numpy",
                       f"hessian_{w}", RTOL)


@needs_jax
@pytest.mark.parametrize("case_id", [c[0] for c in COOKBOOK + UFLDL + ISSUE18])
def test_jax_second_order_computes_what_numpy_computes(case_id):
    ref = reference(case_id)
    code = ref.hvp.code("jax")
    ref.compare([run_jax(code, call) for call in ref.hvp_calls], ref.hvp_calls, ref.expected,
                "jax")
    for w, d in ref.hessians.items():
        calls = ref.hessian_calls[w]
        ref.compare([run_jax(d.code("jax"), c) for c in calls], calls,
                    ref.expected_hessians[w], "jax")


# ---------------------------------------------------------------- the MATLAB files

def test_hvp_file_is_value_grad_hvp_with_local_hvp_and_gradients():
    code, out, err = run("hvp", SPARSE_CODING, "--wrt", "A", "--wrt", "s", "--format", "matlab")
    assert code == 0, err
    assert out.startswith("function [value, grad_A, grad_s, hvp_A, hvp_s] = "
                          "value_grad_hvp(A, s, gamma, x, d_A, d_s)\n")
    assert "% Save this file as value_grad_hvp.m" in out
    assert "%   d_A: the direction of A, shaped like A" in out
    assert "\nfunction [hvp_A, hvp_s] = hvp(A, s, gamma, x, d_A, d_s)\n" in out
    assert "\nfunction grad = grad_A(A, s, gamma, x)\n" in out
    assert "value_and_grad" not in out


def test_hess_file_is_hessian_x_and_says_what_it_acts_on():
    code, out, err = run("hess", SPARSE_CODING, "--wrt", "A", *sum(
        (["--shape", f"{n}={','.join(s)}"] for n, s in SPARSE_SHAPES.items()), []),
        "--format", "matlab")
    assert code == 0, err
    assert out.startswith("function hessian = hessian_A(A, gamma, s, x)\n")
    assert "% It acts on A(:), the columns of A stacked." in out
    assert "% Save this file as hessian_A.m" in out
    assert "hvp" not in out and "grad_" not in out
    # logistic regression: X^T diag(a) X as a scaling of X's rows, no diagonal matrix built
    code, out, err = run("hess", "sum(softplus(-y .* (X*w)))", "--wrt", "w", "--format", "matlab")
    assert code == 0, err
    assert "diag(" not in out and "eye(" not in out


def test_json_of_second_order_carries_matlab():
    import json
    code, out, err = run("hvp", "x'*A*x", "--wrt", "x", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["matlab"].startswith(
        "function [value, grad_x, hvp_x] = value_grad_hvp(x, A, d_x)")


def test_readme_newton_example_converges_in_octave():
    from conftest import documented_block
    require_octave()
    formula = "sum(softplus(-y .* (X*w))) + lambda/2*norm(w)^2"
    files = {"value_and_grad.m": derive.gradient(formula, "w").code("matlab"),
             "hessian_w.m": derive.hessian(formula, "w").code("matlab")}
    output = octave_script(files, documented_block("matlab", "% Newton"))
    gradient_norms = [float(line.split()[2]) for line in output.strip().splitlines()]
    assert len(gradient_norms) == 10 and gradient_norms[-1] < 1e-9 * gradient_norms[0], output


def test_two_variable_hvp_does_not_recurse():
    # issue 18: "too large or too deeply nested", exit 2, for a short formula: add() factored
    # e^u out of e^u (a^T d_x) and e^-u e^u (q^T d_q)/norm(q) back and forth without end
    code, out, err = run("hvp", "exp(x'*a+norm(q))", "--wrt", "x", "--wrt", "q")
    assert code == 0, err
    assert out.startswith("hvp_x = ") or "hvp_x = " in out

