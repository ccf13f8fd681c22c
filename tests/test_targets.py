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

import re
import os
import sys

import numpy as np
import pytest

import derive
from derive.numcheck import random_instance
from derive.recipes import all_recipes
from support.formula_generator import generate
from support.target_runner import (Call, OctaveCase, assert_matches, kinds, namespace,
                                   octave_available, octave_script, run_jax, run_octave,
                                   run_torch)

try:
    import jax
    jax.config.update("jax_enable_x64", True)
except ImportError:   # pragma: no cover - the test extras install it
    jax = None
try:
    import torch
except ImportError:   # pragma: no cover
    torch = None
needs_jax = pytest.mark.skipif(jax is None,
                               reason="jax is not installed (pip install -e '.[test]')")
needs_torch = pytest.mark.skipif(torch is None,
                                 reason="torch is not installed (pip install -e '.[test]')")


def require_octave() -> None:
    """Skip where Octave is missing, with the reason; never under CI (.ci/run installs it)."""
    if not octave_available():
        if os.environ.get("CI") == "true":
            pytest.fail("octave-cli is missing under CI: .ci/run installs Debian's octave")
        pytest.skip("octave-cli is not installed (Debian: apt-get install octave); "
                    "the MATLAB code is not run")

RTOL = 1e-8
RANDOM_SAMPLE = 40     # random formulas of the default run (DERIVE_TARGET_FORMULAS=N for more)
JAX_RANDOM_SAMPLE = 6   # of which JAX runs the first few: each compiles under jit (~0.5 s)
JAX_HOISTED_SAMPLE = 8  # cases whose hoisted JAX code runs under jit (all of them with --slow)
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


# Names that are keywords, constants or built-ins of a target, or its module.
NAMES = ("names", "eps*norm(end)^2 + sum(i .* e) + pi*sum(sum(NaN)) + sum(torch .* jnp)",
         ["end", "i", "torch"], None)
RECIPES = [(r.name, r.formula, list(r.variables), dict(r.shapes)) for r in all_recipes()]
RANDOM = _random_cases(int(os.environ.get("DERIVE_TARGET_FORMULAS", RANDOM_SAMPLE)))
# A negation of a negation: Octave reads "--q" as a decrement.
NEGATED = ("negated_twice", "-(q*(-s))", ["q"], {"q": (1, 3), "s": (3,)})
# The formulas of the emitted code's known past defects (tests/test_emitted_code.py).
DEFECTS = [
    ("softmax_of_a_row", "sum(softmax(x'))", ["x"], {"x": (3,)}),
    ("logsumexp_of_a_row", "sum(logsumexp(R, 1)) + sum(sum(softmax(R) .* C))", ["R"],
     {"R": (1, 4), "C": (1, 4)}),
    ("aliased_view", "sqrt(exp(x)')*r", ["x"], {"x": (3,), "r": (3,)}),
    ("aliased_views", "norm(exp(A)'*F)^2 + sum(sum(sqrt(exp(A)')))", ["A"], None),
    ("aliased_inverse", "logdet(0.1*tanh(inv(diag(softplus(q)))) + eye(3))", ["q"], {"q": (3,)}),
    ("read_only_view", "sum(sqrt(diag(S)))", ["S"], None),
    ("negated_divisor", "sum(x ./ (-2*A*y)) + sum(x)/(-2*x'*x)", ["x"], None),
    ("scaled_matrix_inverse", "mean(sqrt(exp(tanh(abs(-diag(R^-1))))))", ["R"], None),
    ("replications", "sum(sum(tanh(alpha - x*ones(1,4)))) + sum(sum(exp(x*ones(1,4)/3)))",
     ["alpha", "x"], {"x": (3,)}),
    ("temporaries_names", "norm(A*np - value)^2 + lambda*sum(sigmoid(float)) + sum(t2)"
     " + sum(exp(t1))*sum(exp(t1))", ["np", "t1"], None),
    ("functions_of_a_scalar", "softmax(alpha) + logsumexp(alpha) + sum(diag(alpha))",
     ["alpha"], None),
    ("definition", "H = sigmoid(W1*X + b1); sum(sum(H .* H)) + sum(sum(H))", ["W1"], None),
    # a trace of three factors: the MATLAB printer, a copy of NumPy's, once failed on it
    ("trace_of_three_factors", "tr(X'*A*X) + tr(B*X'*X)", ["X"], None),
    ("scaled_traces_of_three_factors", "2*tr(A*B*C) - tr(A'*B*C)", ["A", "C"], None),
]
CASES = UFLDL + [NAMES, NEGATED] + DEFECTS + RECIPES + RANDOM
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
        names = [s.name for s in d.parameters]
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
                assert_matches(result, reference, target, f"{target} {call.function} output {i}",
                               RTOL)


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


@needs_jax
@pytest.mark.parametrize("case_id", _jax_ids())
def test_jax_code_under_jit_computes_what_numpy_computes(case_id):
    ref = reference(case_id)
    code = ref.derivation.code("jax")
    ref.compare([run_jax(code, ref.calls[0], jit=True)], "jax.jit")


@needs_jax
@pytest.mark.parametrize("case_id", [c[0] for c in UFLDL])
def test_jax_code_of_ufldl_examples_runs_plainly_and_each_gradient_alone(case_id):
    ref = reference(case_id)
    code = ref.derivation.code("jax")
    ref.compare([run_jax(code, call) for call in ref.calls], "jax")
    ref.compare([run_jax(code, call, jit=True) for call in ref.calls], "jax.jit")


@needs_torch
@pytest.mark.parametrize("case_id", IDS)
def test_torch_code_computes_what_numpy_computes(case_id):
    ref = reference(case_id)
    code = ref.derivation.code("torch")
    ref.compare([run_torch(code, call) for call in ref.calls], "torch")


NOT_RANDOM = [i for i in IDS if not i.startswith("random")]


@needs_jax
@pytest.mark.parametrize("case_id", NOT_RANDOM)
def test_hoisted_jax_code_under_jit_computes_what_numpy_computes(case_id, slow):
    if NOT_RANDOM.index(case_id) >= JAX_HOISTED_SAMPLE and not slow:
        pytest.skip("compiling every recipe's hoisted code under jit is for --slow")
    ref = reference(case_id)
    code = ref.derivation.code("jax", hoist=True)
    ref.compare([run_jax(code, ref.hoisted, jit=True)], "hoisted jax.jit", hoisted=True)


@needs_torch
@pytest.mark.parametrize("case_id", IDS)
def test_hoisted_torch_code_computes_what_numpy_computes(case_id):
    ref = reference(case_id)
    code = ref.derivation.code("torch", hoist=True)
    ref.compare([run_torch(code, ref.hoisted)], "hoisted torch", hoisted=True)


@pytest.fixture(scope="module")
def octave_results():
    require_octave()
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


# ---------------------------------------------------------------- what each target promises

ICA = UFLDL[2][1]


def _ica_data(dtype=np.float64):
    rng = np.random.default_rng(3)
    return rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(4).astype(dtype)


@needs_jax
def test_jax_code_runs_under_vmap_and_in_float32():
    d = derive.gradient(ICA, "W")
    value_and_grad = namespace(d.code("jax"))["value_and_grad"]
    reference = namespace(d.numpy)["value_and_grad"]
    W, x = _ica_data()
    batch = np.stack([W, 2 * W, -W])
    values, grads = jax.jit(jax.vmap(value_and_grad, in_axes=(0, None)))(batch, x)
    for i in range(3):
        value, grad = reference(batch[i], x)
        np.testing.assert_allclose(values[i], value, rtol=1e-12)
        np.testing.assert_allclose(grads[i], grad, rtol=1e-12)
    value, grad = value_and_grad(*(jax.numpy.asarray(a) for a in _ica_data(np.float32)))
    assert value.shape == () and value.dtype == np.float32 and grad.dtype == np.float32


@needs_torch
def test_torch_code_keeps_dtype_builds_no_graph_and_leaves_its_arguments_alone():
    d = derive.gradient("norm(W'*W*x - x)^2 + alpha*sum(sigmoid(W*x))", "W")
    value_and_grad = namespace(d.code("torch"))["value_and_grad"]
    W, x = (torch.tensor(a, requires_grad=True) for a in _ica_data(np.float32))
    before = W.detach().clone(), x.detach().clone()
    value, grad = value_and_grad(W, 0.5, x)        # a scalar may be a Python float
    assert value.shape == () and value.dtype == grad.dtype == torch.float32
    assert value.grad_fn is None and grad.grad_fn is None and not grad.requires_grad
    assert torch.equal(W.detach(), before[0]) and torch.equal(x.detach(), before[1])
    expected = namespace(d.numpy)["value_and_grad"](before[0].double().numpy(), 0.5,
                                                    before[1].double().numpy())
    np.testing.assert_allclose(value.item(), expected[0], rtol=1e-5)
    np.testing.assert_allclose(grad.numpy(), expected[1], rtol=1e-4, atol=1e-5)


def test_every_operation_has_a_spelling_in_every_target():
    from derive.codegen import TARGETS
    from derive.expr.ops import ACTIVATIONS, MATRIX_OPS
    assert set(TARGETS) == {"numpy", "jax", "torch", "matlab"}
    for op in [*ACTIVATIONS.values(), *MATRIX_OPS.values()]:
        if op.name.startswith("sympy:"):
            continue   # a function a SymPy cost brought (spelled for NumPy only)
        assert set(op.code) == set(TARGETS), op


def test_names_a_language_reserves_are_renamed_or_reached_by_an_alias():
    """(NAMES is also one of the cases every target runs.)"""
    _, formula, wrt, shapes = NAMES
    d = derive.gradient(formula, wrt, shapes)
    assert "value_and_grad(end_, i_, torch, e_, eps_, jnp, NaN_, pi_)" in d.code("matlab")
    # Python keeps the formula's names, and reaches a module a parameter hides by an alias
    for target in ("numpy", "jax", "torch"):
        assert "value_and_grad(end, i, torch, e, eps, jnp, NaN, pi)" in d.code(target)
    assert "_torch = torch" in d.code("torch") and "_jnp = jnp" in d.code("jax")


@needs_jax
@needs_torch
def test_an_integer_size_is_checked_by_every_target():
    d = derive.gradient("mean((X*w - y).^2)", "w", {"X": (5, 3)})
    rng = np.random.default_rng(0)
    X, w, y = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(4)
    with pytest.raises(ValueError, match="argument X has shape"):
        namespace(d.code("jax"))["value_and_grad"](w, X, y)
    with pytest.raises(ValueError, match="argument X has shape"):
        namespace(d.code("torch"))["value_and_grad"](*(torch.tensor(a) for a in (w, X, y)))
    if octave_available():   # (the other Octave tests fail under CI without it)
        got, = run_octave([OctaveCase(d.code("matlab"), [
            Call("value_and_grad", [w, X, y], 2, ["col", "matrix", "col"])])])
        assert "argument X has size [4 3]" in got


def test_a_name_longer_than_matlab_takes_is_shortened_the_same_way_every_time():
    # MATLAB's names have at most 63 characters: the parameter, grad_ and hvp_ of a longer
    # name keep their start and end in a digest of the whole
    long = "w_" + "very_long_" * 7
    formula = f"sum({long}.^2) + sum(exp(B*{long}))"
    code = derive.gradient(formula, long).code("matlab")
    for text in (code, derive.hvp(formula, long).code("matlab"),
                 derive.gradient(formula, long).code("matlab", hoist=True)):
        statements = "\n".join(line for line in text.splitlines()
                               if not line.lstrip().startswith("%"))
        assert max(len(name) for name in re.findall(r"[A-Za-z_]\w*", statements)) == 63
    assert code == derive.gradient(formula, long).code("matlab")
    require_octave()
    B, x = np.eye(3), np.arange(3.0)
    got, = run_octave([OctaveCase(code, [Call("value_and_grad", [x, B], 2, ["col", "matrix"])])])
    np.testing.assert_allclose(np.ravel(got[0][1]), 2 * x + np.exp(x), rtol=1e-12)


def test_command_line_prints_every_target():
    from conftest import run
    for target, first in (("jax", "import jax"), ("torch", "import torch"),
                          ("matlab", "function [value, grad_W] = value_and_grad(W, x)")):
        code, out, err = run("grad", ICA, "--wrt", "W", "--format", target)
        assert code == 0 and out.startswith(first), err
        code, out, err = run("grad", ICA, "--wrt", "W", "--format", target, "--hoist")
        assert code == 0 and "prepare" in out, err
        recipe = derive.recipes.load("sparse_coding").gradient()
        code, out, err = run("recipe", "sparse_coding", "--format", target)
        assert code == 0 and out == recipe.code(target)
        code, out, err = run("recipe", "sparse_coding", "--format", target, "--hoist")
        assert code == 0 and out == recipe.code(target, hoist=True)
    code, out, _ = run("grad", ICA, "--wrt", "W", "--format", "json")
    import json
    assert {"numpy", "jax", "torch", "matlab"} <= set(json.loads(out))
    code, _, err = run("grad", ICA, "--wrt", "W", "--hoist", "--format", "text")
    assert code == 2 and "--hoist" in err
    with pytest.raises(derive.DeriveError, match="the targets are numpy, jax, torch, matlab"):
        derive.gradient(ICA, "W").code("fortran")


def _decreasing(output: str) -> None:
    values = [float(line.split()[1]) for line in output.strip().splitlines()]
    assert len(values) == 3 and values[0] > values[1] > values[2], output


TRAINED = "norm(W'*W*X - X, 'fro')^2"


@needs_jax
@needs_torch
@pytest.mark.parametrize("target, first_line, module", [
    ("jax", "# JAX:", "ica_jax"), ("torch", "# PyTorch:", "ica_torch")])
def test_readme_train_it_examples_train(target, first_line, module, tmp_path, monkeypatch,
                                        capsys):
    from conftest import documented_block
    code = derive.gradient(TRAINED, "W", {"X": ("n", "k")}).code(target)
    (tmp_path / f"{module}.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # small products: a second thread only waits on a busy machine
    try:
        exec(compile(documented_block("python", first_line), "<README>", "exec"), {})
    finally:
        torch.set_num_threads(threads)
    sys.modules.pop(module, None)
    _decreasing(capsys.readouterr().out)


def test_readme_train_it_example_trains_in_octave():
    from conftest import documented_block
    require_octave()
    code = derive.gradient(TRAINED, "W", {"X": ("n", "k")}).code("matlab")
    _decreasing(octave_script({"value_and_grad.m": code}, documented_block("matlab", "% MATLAB")))


@needs_jax
@needs_torch
def test_hessian_vector_products_in_jax_and_torch():
    """derive hvp's code (hvp, value_grad_hvp) is the same program in each Python target
    (every target, MATLAB too, on more costs: tests/test_second_order_targets.py)."""
    from derive.api import hvp
    d = hvp(ICA, ["W"])
    rng = np.random.default_rng(4)
    W, x, d_W = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((3, 4))
    expected = namespace(d.numpy)["hvp"](W, x, d_W)
    got = namespace(d.code("jax"))["hvp"](*(jax.numpy.asarray(a) for a in (W, x, d_W)))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-10)
    got = namespace(d.code("torch"))["hvp"](*(torch.tensor(a) for a in (W, x, d_W)))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
