"""Every target's code, and the second order, against the oracle that shares none of derive's
code (issue 18): what tests/test_oracle.py does for the NumPy code, for the rest.

The cases are tests/support/oracle_generator.py's; the reference is the same
(tests/support/oracle.py: the formula's own syntax tree interpreted with NumPy,
central differences with an extrapolated second opinion, JAX autodiff of the
interpreter). For every case:

* ``jax``: ``value_and_grad`` and every ``grad_X`` of ``d.code("jax")`` called plainly,
  ``value_and_grad`` under ``jax.jit`` and under ``jax.jit(jax.vmap(...))`` (a batch of
  the case's data and a second draw: the first against the oracle, the second against
  the plain call there); every
  result an array of the arguments' dtype (float64), the value 0-d;
* ``torch``: the same functions on fresh float64 tensors (a scalar as a Python float or a
  0-d tensor, by the seed): every result a tensor of float64 that builds no graph, none
  of them an argument or sharing memory with one or with another result, and the
  arguments unchanged;
* ``hvp``: ``derive.hvp`` of the case's variables (often several), its ``hvp`` in NumPy,
  JAX and PyTorch against JAX's ``jvp`` of ``grad`` of the interpreter along a random
  direction (first against mixed central differences of the interpreter, and where they
  disagree, against JAX), with the same dtype and freshness checks;
* ``hessian``: ``derive.hessian`` of each variable (a refusal that points to hvp is
  allowed), its ``hessian_X`` in the three targets against the dense Hessian of the
  interpreter in vec(X), the columns stacked (differences, then JAX);
* ``matlab``: ``d.code("matlab")`` in GNU Octave, many cases per Octave process.

The default run is modest (``DEFAULT_COUNT`` formulas per mode, Octave ``OCTAVE_COUNT``);
``pytest --slow`` runs ``FULL_COUNT``; the acceptance run, N formulas from seed S::

    python tests/test_oracle_targets.py MODE N S      (MODE: jax, torch, second, matlab)
"""
from __future__ import annotations

import inspect
import os
import sys
import time
import warnings
from collections import Counter

import numpy as np
import pytest
from support import oracle
from support.oracle_generator import generate
from support.target_runner import Call, OctaveCase, octave_available, run_octave
from test_oracle import (CRASH, PASS, REFUSED, UNSURE, WRONG, Convention, Reference, bind,
                         check, compare_grads, describe, spec_order)

import derive

DEFAULT_COUNT = {"jax": 10, "torch": 20, "second": 6}   # formulas in the default suite
OCTAVE_COUNT = 20
FULL_COUNT = 300
FIRST_SEED = 100_000         # away from test_oracle.py's seeds
OCTAVE_BATCH = 100           # cases per Octave process
SECOND_TARGETS = tuple(os.environ.get("DERIVE_SECOND_TARGETS", "numpy,torch,jax").split(","))
DIFFERENCES_TOLERANCE = 1e-5   # hvp and Hessian against mixed differences, first
SECOND_TOLERANCE = 1e-6        # then against JAX autodiff (no differencing noise)

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
torch = pytest.importorskip("torch")


# ---------------------------------------------------------------- results as docs/targets.md says

def _fresh_results(results, args, target: str) -> str:
    """'' if every result has the arguments' floating dtype (float64 here) and, in PyTorch,
    is a tensor of its own: not an argument, no memory shared with one or with another."""
    for i, r in enumerate(results):
        if target == "jax":
            if not isinstance(r, jax.Array) or r.dtype != jnp.float64:
                return f"result {i} is {type(r).__name__} of {getattr(r, 'dtype', '?')}"
        elif target == "torch":
            if not isinstance(r, torch.Tensor) or r.dtype != torch.float64:
                return f"result {i} is {type(r).__name__} of {getattr(r, 'dtype', '?')}"
            if r.requires_grad or r.grad_fn is not None:
                return f"result {i} is part of an autograd graph"
            others = [a for a in args if isinstance(a, torch.Tensor)] + list(results[:i])
            if any(r is a or r.untyped_storage().data_ptr() == a.untyped_storage().data_ptr()
                   for a in others if isinstance(a, torch.Tensor) and a.numel() and r.numel()):
                return f"result {i} is (or shares memory with) an argument or another result"
        else:
            ok = isinstance(r, float) or isinstance(r, np.ndarray) and r.dtype == np.float64 \
                or isinstance(r, np.float64)
            if not ok:
                return f"result {i} is {type(r).__name__} of {getattr(r, 'dtype', '?')}"
            if isinstance(r, np.ndarray) and any(
                    isinstance(a, np.ndarray) and np.shares_memory(r, a)
                    for a in list(args) + list(results[:i])):
                return f"result {i} shares memory with an argument or another result"
    return ""


def _tuple(out, count: int) -> tuple:
    return out if count > 1 else (out,)


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _torch_args(args: list, seed: int) -> list:
    """Fresh float64 tensors; a scalar a Python float (even seeds) or a 0-d tensor."""
    return [torch.tensor(a, dtype=torch.float64) if isinstance(a, np.ndarray)
            or seed % 2 else a for a in args]


def _first_worst(statuses: list[tuple[str, str]]) -> tuple[str, str]:
    order = [CRASH, WRONG, REFUSED, UNSURE, PASS]
    return min(statuses, key=lambda s: order.index(s[0]), default=(PASS, ""))


# ---------------------------------------------------------------- first order: JAX, PyTorch

def run_jax(case, d, ref: Reference) -> tuple[str, str]:
    wrt = list(dict.fromkeys(case.wrt))
    names = spec_order(case.formula.names(), wrt)
    try:
        functions: dict = {}
        exec(compile(d.code("jax"), "<jax>", "exec"), functions)  # noqa: S102 - derive's output
        args, ndims = bind(case, functions["value_and_grad"], names, ref.values)
    except Convention as error:
        return WRONG, str(error)
    except derive.DeriveError as error:   # a dimension no argument fixes: test_oracle's to judge
        return REFUSED, f"DeriveError: {error}"
    except Exception as error:  # noqa: BLE001 - any exception is the finding
        return CRASH, describe(error, "jax code")
    arrays = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    statuses = []
    # grad_X alone plainly; under jit value_and_grad (each jit is a compilation)
    for how, wrap in (("plain", lambda f: f), ("jit", jax.jit)):
        try:
            out = wrap(functions["value_and_grad"])(*arrays)
            alone = [functions[f"grad_{n}"](*arrays) for n in wrt] if how == "plain" else []
        except Exception as error:  # noqa: BLE001
            return CRASH, describe(error, f"jax {how}")
        if np.ndim(out[0]) != 0:
            return WRONG, f"jax {how}: the value is not 0-d"
        fresh = _fresh_results(list(out) + alone, arrays, "jax")
        if fresh:
            return WRONG, f"jax {how}: {fresh}"
        statuses.append(compare_grads(case, tuple(np.asarray(o) for o in out), wrt, ref,
                                      f"jax {how} value_and_grad", ndims))
        for name, g in zip(wrt, alone):
            statuses.append(compare_grads(case, (out[0], np.asarray(g)), [name], ref,
                                          f"jax {how} grad_{name}", ndims))
    statuses.append(_vmapped(case, functions, args, ndims, ref, names))
    return _first_worst(statuses)


def _vmapped(case, functions, args, ndims, ref, names) -> tuple[str, str]:
    """value_and_grad under vmap, on a batch of the case's data and a second draw."""
    other = case.draw(7)
    try:
        oracle.strict_value(case, other)
    except oracle.Domain:
        other = ref.values
    second = [case.argument(n, other[n], ndims[n]) for n in names] + args[len(names):]
    batched = len(names)
    stacked = [jnp.stack([jnp.asarray(a), jnp.asarray(b)]) for a, b in
               zip(args[:batched], second[:batched])] + list(args[batched:])
    axes = [0] * batched + [None] * (len(args) - batched)
    try:
        # under jit too: vmap alone runs op by op, compiling each for the batch's shapes
        out = jax.jit(jax.vmap(functions["value_and_grad"], in_axes=axes))(*stacked)
        there = functions["value_and_grad"](*[jnp.asarray(a) if isinstance(a, np.ndarray)
                                              else a for a in second])
    except Exception as error:  # noqa: BLE001
        return CRASH, describe(error, "jax vmap")
    fresh = _fresh_results(list(out), stacked, "jax")
    if fresh:
        return WRONG, f"jax vmap: {fresh}"
    first = tuple(np.asarray(o)[0] for o in out)
    status = compare_grads(case, first, list(dict.fromkeys(case.wrt)), ref, "jax vmap [0]", ndims)
    if status[0] != PASS:
        return status
    for o, t in zip(out, there):
        if not np.allclose(np.asarray(o)[1], np.asarray(t), rtol=1e-9, atol=1e-12,
                           equal_nan=True):
            return WRONG, "jax vmap [1] differs from the plain call on the same data"
    return PASS, ""


def run_torch(case, d, ref: Reference) -> tuple[str, str]:
    wrt = list(dict.fromkeys(case.wrt))
    names = spec_order(case.formula.names(), wrt)
    try:
        functions: dict = {}
        exec(compile(d.code("torch"), "<torch>", "exec"), functions)  # noqa: S102
        args, ndims = bind(case, functions["value_and_grad"], names, ref.values)
    except Convention as error:
        return WRONG, str(error)
    except derive.DeriveError as error:   # a dimension no argument fixes: test_oracle's to judge
        return REFUSED, f"DeriveError: {error}"
    except Exception as error:  # noqa: BLE001
        return CRASH, describe(error, "torch code")
    statuses = []
    calls = [("value_and_grad", 1 + len(wrt), wrt)] + \
        [(f"grad_{n}", 1, [n]) for n in wrt]
    for function, count, names_out in calls:
        tensors = _torch_args(args, case.seed)
        before = [_numpy(t).copy() if isinstance(t, torch.Tensor) else t for t in tensors]
        try:
            with torch.enable_grad():
                out = _tuple(functions[function](*tensors), count)
        except Exception as error:  # noqa: BLE001
            return CRASH, describe(error, f"torch {function}")
        fresh = _fresh_results(list(out), tensors, "torch")
        if fresh:
            return WRONG, f"torch {function}: {fresh}"
        for t, b in zip(tensors, before):
            if isinstance(t, torch.Tensor) and not np.array_equal(_numpy(t), b):
                return WRONG, f"torch {function} changed an argument in place"
        results = tuple(_numpy(o) for o in out)
        if count == 1:
            results = (ref.value,) + results
        statuses.append(compare_grads(case, results, names_out, ref, f"torch {function}", ndims))
    return _first_worst(statuses)


# ---------------------------------------------------------------- second order

def _direction(case, name: str, rng) -> np.ndarray:
    return rng.standard_normal(case.sizes[name])


def _close(got, differences: np.ndarray, exact, what: str) -> tuple[str, str]:
    """A second-order result against mixed differences of the interpreter, and where they
    disagree, against JAX autodiff (``exact()``, compiled op by op: slow, so asked last)."""
    got = np.asarray(got, dtype=float)
    if got.size != differences.size:
        return WRONG, f"{what} has shape {got.shape}, expected {differences.shape}"
    if not np.all(np.isfinite(got)):
        return WRONG, f"{what} is not finite"
    got = got.reshape(differences.shape)
    if oracle.relative_error(got, differences) < DIFFERENCES_TOLERANCE:
        return PASS, ""
    reference = exact()
    error = oracle.relative_error(got, reference)
    if error >= SECOND_TOLERANCE:
        return WRONG, f"{what}: relative error {error:.2e}\n  got:    " \
                      f"{np.round(got.reshape(-1), 6).tolist()}\n  oracle: " \
                      f"{np.round(reference.reshape(-1), 6).tolist()}"
    return PASS, ""


def _convert(target: str, args: list, seed: int) -> list:
    if target == "jax":
        return [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    if target == "torch":
        return _torch_args(args, seed)
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _call_checked(target: str, function, args: list, count: int, seed: int):
    """(results, '') or (None, what went wrong): fresh, of the dtype, arguments unchanged."""
    converted = _convert(target, args, seed)
    before = [_numpy(a).copy() if not isinstance(a, float) else a for a in converted]
    with torch.enable_grad():
        out = _tuple(function(*converted), count)
    fresh = _fresh_results(list(out), converted, target)
    for a, b in zip(converted, before):
        if not isinstance(a, float) and not np.array_equal(_numpy(a), b):
            fresh = fresh or "an argument was changed in place"
    return (None, fresh) if fresh else ([_numpy(o) for o in out], "")


def run_hvp(case, ref: Reference) -> tuple[str, str]:
    wrt = list(dict.fromkeys(case.wrt))
    names = spec_order(case.formula.names(), wrt)
    try:
        d = derive.hvp(case.text, wrt, case.declared)
        codes = {t: d.code(t) for t in SECOND_TARGETS}
    except derive.DeriveError as error:
        return REFUSED, f"hvp: DeriveError: {error}"
    except Exception as error:  # noqa: BLE001
        return CRASH, describe(error, "derive.hvp")
    rng = np.random.default_rng(case.seed)
    directions = {n: _direction(case, n, rng) for n in wrt}
    differences = oracle.hvp_differences(case, ref.values, directions)
    exact: dict = {}

    def reference(name):
        if not exact:
            exact.update(oracle.jax_hvp(case, ref.values, directions))
        return exact[name]
    statuses = []
    for target, code in codes.items():
        try:
            functions: dict = {}
            exec(compile(code, f"<{target} hvp>", "exec"), functions)  # noqa: S102
            hvp = functions["hvp"]
            params = list(inspect.signature(hvp).parameters)
            dirs = [None] * len(wrt)
            args, ndims = bind(case, hvp, names, ref.values, extra=dirs)
            args[len(args) - len(wrt):] = [case.argument(n, directions[n], ndims[n])
                                           for n in wrt]
            out, problem = _call_checked(target, hvp, args, len(wrt), case.seed)
        except Convention as error:
            return WRONG, str(error)
        except Exception as error:  # noqa: BLE001
            return CRASH, describe(error, f"{target} hvp")
        if problem:
            return WRONG, f"{target} hvp{tuple(params)}: {problem}"
        for name, got in zip(wrt, out):
            statuses.append(_close(got, differences[name], lambda: reference(name),
                                   f"{target} hvp_{name}"))
    return _first_worst(statuses)


def run_hessian(case, ref: Reference) -> tuple[str, str]:
    statuses = []
    for name in dict.fromkeys(case.wrt):
        names = spec_order(case.formula.names(), [name])
        try:
            d = derive.hessian(case.text, name, case.declared)
            codes = {t: d.code(t) for t in SECOND_TARGETS}
        except derive.DeriveError as error:
            if "hvp" in str(error):
                continue        # no closed form: docs/targets.md points to hvp
            statuses.append((REFUSED, f"hessian_{name}: DeriveError: {error}"))
            continue
        except Exception as error:  # noqa: BLE001
            return CRASH, describe(error, f"derive.hessian {name}")
        dense = oracle.hessian_differences(case, ref.values, name)
        exact: list = []

        def reference():
            exact[:] = exact or [oracle.jax_hessian(case, ref.values, name)]
            return exact[0]
        for target, code in codes.items():
            try:
                functions: dict = {}
                exec(compile(code, f"<{target} hessian>", "exec"), functions)  # noqa: S102
                function = functions[f"hessian_{name}"]
                args, _ = bind(case, function, names, ref.values)
                out, problem = _call_checked(target, function, args, 1, case.seed)
            except Convention as error:
                return WRONG, str(error)
            except Exception as error:  # noqa: BLE001
                return CRASH, describe(error, f"{target} hessian_{name}")
            if problem:
                return WRONG, f"{target} hessian_{name}: {problem}"
            statuses.append(_close(out[0], dense, reference, f"{target} hessian_{name}"))
    return _first_worst(statuses)


# ---------------------------------------------------------------- MATLAB in Octave

def _octave_kind(case, name: str, arg) -> str:
    if np.ndim(arg) == 0:
        return "scalar"
    if np.ndim(arg) == 1:
        return "row" if case.kinds[name] == oracle.MATRIX and case.sizes[name][0] == 1 \
            else "col"
    return "matrix"


def run_matlab(cases: list) -> list[tuple[str, str]]:
    """Each case's value_and_grad.m in Octave (one process per OCTAVE_BATCH cases)."""
    prepared, results = [], {}
    for index, case in enumerate(cases):
        try:
            d = derive.gradient(case.text, case.wrt, case.declared)
            code = d.code("matlab")
            numpy_functions: dict = {}
            exec(compile(d.numpy, "<numpy>", "exec"), numpy_functions)  # noqa: S102
        except derive.DeriveError as error:
            results[index] = (REFUSED, f"DeriveError: {error}")
            continue
        except Exception as error:  # noqa: BLE001
            results[index] = (CRASH, describe(error, "derive matlab"))
            continue
        values = case.data
        names = spec_order(case.formula.names(), list(dict.fromkeys(case.wrt)))
        args, ndims = bind(case, numpy_functions["value_and_grad"], names, values)
        kinds = [_octave_kind(case, n, a) for n, a in zip(names, args)] + \
            ["scalar"] * (len(args) - len(names))
        wrt = list(dict.fromkeys(case.wrt))
        prepared.append((index, Reference(case, values), ndims, args,
                         OctaveCase(code, [Call("value_and_grad", args, 1 + len(wrt), kinds)])))
    for start in range(0, len(prepared), OCTAVE_BATCH):
        batch = prepared[start:start + OCTAVE_BATCH]
        try:
            outputs = run_octave([b[-1] for b in batch], timeout=60 + 10 * len(batch))
        except Exception as error:  # noqa: BLE001
            outputs = [f"{type(error).__name__}: {error}"] * len(batch)
        for (index, ref, ndims, args, _), got in zip(batch, outputs):
            case = cases[index]
            if isinstance(got, str):
                results[index] = (CRASH, f"Octave: {got}")
                continue
            wrt = list(dict.fromkeys(case.wrt))
            names = spec_order(case.formula.names(), wrt)
            shaped = [got[0][0].reshape(())] + [
                g.reshape(np.shape(args[names.index(n)])) for n, g in zip(wrt, got[0][1:])]
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                results[index] = compare_grads(case, tuple(shaped), wrt, ref, "matlab", ndims)
    return [results[i] for i in range(len(cases))]


# ---------------------------------------------------------------- one case, many cases

def check_case(case, modes: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """Derive once; run each mode (jax, torch, hvp, hessian) against the oracle."""
    try:
        d = derive.gradient(case.text, case.wrt, case.declared)
    except derive.DeriveError as error:
        return {"derive": (REFUSED, f"DeriveError: {error}")}
    except Exception as error:  # noqa: BLE001
        return {"derive": (CRASH, describe(error, "derive.gradient"))}
    out = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = Reference(case, case.data)
        for mode in modes:
            try:
                run = {"jax": lambda: run_jax(case, d, ref),
                       "torch": lambda: run_torch(case, d, ref),
                       "hvp": lambda: run_hvp(case, ref),
                       "hessian": lambda: run_hessian(case, ref)}[mode]
                out[mode] = run()
            except Exception as error:  # noqa: BLE001 - the harness itself: still a finding
                out[mode] = (CRASH, describe(error, mode))
    return out


MODES = {"jax": ("jax",), "torch": ("torch",), "second": ("hvp", "hessian")}


def run_many(mode: str, start: int, count: int) -> list[tuple[object, dict]]:
    cases = [generate(seed) for seed in range(start, start + count)]
    if mode == "matlab":
        return [(c, {"matlab": r}) for c, r in zip(cases, run_matlab(cases))]
    return [(c, check_case(c, MODES[mode])) for c in cases]


def _bad(modes: dict) -> bool:
    # a refusal of the gradient is test_oracle.py's to judge; here only what runs is judged
    return any(s in (WRONG, CRASH) for s, _ in modes.values())


def summary(outcomes: list, seconds: float | None = None) -> str:
    per_mode: dict = {}
    for _, modes in outcomes:
        for mode, (status, _) in modes.items():
            per_mode.setdefault(mode, Counter())[status] += 1
    bad = [(c, m) for c, m in outcomes if _bad(m)]
    lines = [f"{len(outcomes)} formulas, {len(bad)} with a wrong or crashed result"
             + (f" ({seconds:.1f} s)" if seconds is not None else "")]
    for mode, counts in per_mode.items():
        lines.append(f"  {mode}: " + ", ".join(f"{n} {s}" for s, n in counts.most_common()))
    for case, modes in sorted(bad, key=lambda cm: len(cm[0].text))[:8]:
        lines.append(f"\n{case}")
        for mode, (status, detail) in modes.items():
            if status in (WRONG, CRASH):
                lines.append(f"  {mode}: {status}: " + detail.replace("\n", "\n    "))
    return "\n".join(lines)


def _fail_on(outcomes: list) -> None:
    if any(_bad(m) for _, m in outcomes):
        pytest.fail(summary(outcomes), pytrace=False)


# ---------------------------------------------------------------- the tests

@pytest.mark.parametrize("mode", ["jax", "torch", "second"])
def test_random_formulas_in_every_target(mode, slow):
    count = FULL_COUNT if slow else DEFAULT_COUNT[mode]
    _fail_on(run_many(mode, FIRST_SEED, count))


def test_random_formulas_in_octave(slow):
    if not octave_available():
        if os.environ.get("CI"):
            pytest.fail("octave-cli is not installed")
        pytest.skip("octave-cli is not installed")
    _fail_on(run_many("matlab", FIRST_SEED, FULL_COUNT if slow else OCTAVE_COUNT))


@pytest.mark.parametrize("text, wrt, shapes", [
    # issue 18's own: constants passed to functions, integer fills, W times a vector or a
    # row, two variables in one hvp, logsumexp's Hessian
    ("sum(x)*tanh(2^0.5)", ["x"], {"x": (3,)}),
    ("sum(x)*sqrt(3)", ["x"], {"x": (3,)}),
    ("sum(sigmoid(x - x) .* x)", ["x"], {"x": (3,)}),
    ("eta + eta", ["eta"], {"eta": ()}),
    ("x'*q + tr(A'*B)", ["x", "A"], {"x": (3,), "q": (3,), "A": (3, 2), "B": (3, 2)}),
    ("sum(softplus(W*a))", ["W"], {"W": (3, 2), "a": (2,)}),
    ("sum(softplus(A*W))", ["W"], {"W": (3, 2), "A": (1, 3)}),
    ("exp(x'*a+norm(q))", ["x", "q"], {"x": (3,), "a": (3,), "q": (2,)}),
    ("logsumexp(w)", ["w"], {"w": (3,)}),
])
def test_issue18_cases_in_every_target(text, wrt, shapes):
    case = oracle.case_from_shapes("issue 18", text, wrt, shapes)
    case.data = case.draw()
    outcome = check_case(case, ("jax", "torch", "hvp", "hessian"))
    outcome.update(zip(["matlab"], run_matlab([case])) if octave_available() else [])
    assert not _bad(outcome), "\n".join(f"{m}: {s}: {d}" for m, (s, d) in outcome.items())
    assert check(case).status == PASS    # and the NumPy code, as tests/test_oracle.py runs it


if __name__ == "__main__":  # pragma: no cover - the acceptance run, for people
    chosen = sys.argv[1] if len(sys.argv) > 1 else "jax"
    total = int(sys.argv[2]) if len(sys.argv) > 2 else FULL_COUNT
    first = int(sys.argv[3]) if len(sys.argv) > 3 else FIRST_SEED
    begun, outcomes = time.perf_counter(), []
    for start in range(first, first + total, 50):    # a line of progress every 50
        chunk = run_many(chosen, start, min(50, first + total - start))
        outcomes += chunk
        print(summary(outcomes, time.perf_counter() - begun).split("\n")[0], flush=True)
        if any(_bad(m) for _, m in chunk):
            print("  " + summary(chunk).replace("\n", "\n  "), flush=True)
    print(summary(outcomes, time.perf_counter() - begun), flush=True)
