"""Random formulas: every gradient derive emits must agree with finite differences.

``formula_generator.generate(seed)`` makes a random, well-shaped formula over
every operator and function of the language, with concrete dimensions and
domains respected (see that module). For each one this test derives the
gradient, runs the emitted NumPy snippet in a fresh namespace on data from
``derive.numcheck.random_instance`` (same seed as the case, so ``derive check
... --seed N`` reproduces it), and checks

* the emitted value against an independent NumPy evaluation of the formula;
* every ``grad_X`` against central finite differences of the emitted value:
  ``||g - fd|| / max(||g||, ||fd||, 1e-6) < 1e-6`` with steps
  ``h = 1e-6 * max(1, |x|)``; a gradient that misses this is given a second
  opinion (Richardson-extrapolated differences with a larger step) before it
  counts as wrong, since a gradient that is identically zero (``sum(softmax(X))``)
  is below the rounding noise of the small step;
* ``grad_X(...)`` against the same gradient from ``value_and_grad(...)``.

A refusal (``derive.DeriveError``) is allowed but listed, since the formulas
are well formed; any other exception is a failure.

The default run checks ``DEFAULT_COUNT`` formulas in batches; ``pytest --slow``
runs ``FULL_COUNT``, and ``DERIVE_RANDOM_FORMULAS=N`` runs N. For a report::

    python tests/test_random_formulas.py [COUNT [START]]
"""
from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from support.formula_generator import FEATURES, Case, generate, shrink

import derive
from derive import numcheck
from derive.numcheck import random_instance

TOLERANCE = 1e-6
CASE_SECONDS = 10          # a case taking longer is reported as a crash (a hang)
DEFAULT_COUNT = 500
FULL_COUNT = 10_000
BATCH = 50
ENV = "DERIVE_RANDOM_FORMULAS"
SHRINK_SECONDS = 15.0       # at most this long reducing failures in the default run
_shrunk_for = [0.0]

PASS, NOISY, FAIL, CRASH, REFUSED = "pass", "pass (second opinion)", "fail", "crash", "refused"


@dataclass
class Outcome:
    case: Case
    status: str
    detail: str = ""
    errors: dict = field(default_factory=dict)     # relative error per variable
    strategy: str = ""
    reduced: Outcome | None = None                # a smaller case failing the same way

    @property
    def bad(self) -> bool:
        return self.status in (FAIL, CRASH)

    def report(self) -> str:
        lines = [f"{self.status.upper()}: {self.case}", f"    {self.case.command(self.case.seed)}"]
        if self.detail:
            lines += ["    " + line for line in self.detail.splitlines()]
        if self.reduced is not None and self.reduced.case.formula != self.case.formula:
            lines.append(f"    reduced: {self.reduced.case.command(self.reduced.case.seed)}")
            lines += ["      " + line for line in self.reduced.detail.splitlines()]
        return "\n".join(lines)


# ---------------------------------------------------------------- the check of one case

class Hang(BaseException):
    pass


def check_case(case: Case) -> Outcome:
    """Derive, run and compare one case; never raises (a hang becomes a crash)."""
    guard = (hasattr(signal, "setitimer")
             and threading.current_thread() is threading.main_thread())
    if not guard:
        return _check_case(case)

    def alarm(_signum, _frame):
        raise Hang(f"no answer within {CASE_SECONDS} s")
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    try:
        return _check_case(case)
    except Hang as error:
        return Outcome(case, CRASH, _describe(error, "the whole check"))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _check_case(case: Case) -> Outcome:
    try:
        derivation = derive.gradient(case.formula, case.wrt, case.shapes)
        snippet = derivation.numpy
    except derive.DeriveError as error:
        return Outcome(case, REFUSED, f"DeriveError: {error}")
    except Exception as error:          # noqa: BLE001 - any other exception is the finding
        return Outcome(case, CRASH, _describe(error, "derive.gradient / .numpy"))
    try:
        namespace: dict = {}
        exec(compile(snippet, "<snippet>", "exec"), namespace)  # noqa: S102 - derive's own output
        value_and_grad = namespace["value_and_grad"]
    except Exception as error:          # noqa: BLE001
        return Outcome(case, CRASH, _describe(error, "executing the snippet") + "\n" + snippet)
    try:
        args, strategy, _sizes = random_instance(derivation, case.seed)
    except derive.DeriveError as error:
        return Outcome(case, FAIL, f"no data: {error} (the formula is finite on Gaussian data)")
    except Exception as error:          # noqa: BLE001
        return Outcome(case, CRASH, _describe(error, "random_instance (value_and_grad)"))
    if strategy != "gaussian":
        # The formulas are finite on any data, so the emitted code raised a NumPy warning on
        # the Gaussian draw (a division by zero, say) and random_instance moved on to other
        # data: check at the Gaussian draw all the same.
        args = gaussian_instance(derivation, case.seed)
        strategy = f"gaussian (derive check uses {strategy} data)"
    try:
        return _compare(case, derivation, namespace, value_and_grad, args, strategy)
    except Exception as error:          # noqa: BLE001
        return Outcome(case, CRASH, _describe(error, "running the snippet"), strategy=strategy)


def _compare(case, derivation, namespace, value_and_grad, args, strategy) -> Outcome:
    names = [s.name for s in derivation.parameters]
    if sorted(names) != sorted(case.shapes):
        return Outcome(case, FAIL, f"free names {names}, expected {sorted(case.shapes)}")
    with np.errstate(all="ignore"):
        out = value_and_grad(*args)
    if len(out) != 1 + len(derivation.wrt):
        return Outcome(case, FAIL, f"value_and_grad returned {len(out)} values, "
                                   f"expected {1 + len(derivation.wrt)}")
    value = float(out[0])
    expected = case.reference_value(dict(zip(names, args)))
    if not np.isfinite(value) or abs(value - expected) > 1e-8 * max(1.0, abs(expected)):
        return Outcome(case, FAIL, f"wrong value: emitted {value!r}, reference {expected!r}",
                       strategy=strategy)
    cost = lambda a: float(value_and_grad(*a)[0])
    errors, second, details = {}, {}, []
    for position, name in enumerate(derivation.wrt):
        index = names.index(name)
        grad = np.asarray(out[1 + position], dtype=float)
        if not np.all(np.isfinite(grad)):
            details.append(f"grad_{name} is not finite: {grad.tolist()}")
            errors[name] = float("inf")
            continue
        if grad.shape != np.shape(args[index]):
            details.append(f"grad_{name} has shape {grad.shape}, expected {np.shape(args[index])}")
            errors[name] = float("inf")
            continue
        with np.errstate(all="ignore"):
            alone = np.asarray(namespace[f"grad_{name}"](*args), dtype=float)
        if alone.shape != grad.shape or not np.allclose(alone, grad, rtol=1e-8,
                                                        atol=1e-10 * (1 + np.abs(grad).max())):
            details.append(f"grad_{name}(...) differs from value_and_grad(...)'s: "
                           f"{alone.tolist()} vs {grad.tolist()}")
            errors[name] = float("inf")
            continue
        with np.errstate(all="ignore"):
            numeric = central_differences(cost, args, index)
        errors[name] = relative_error(grad, numeric)
        if errors[name] < TOLERANCE:
            continue
        with np.errstate(all="ignore"):
            careful = richardson_differences(cost, args, index)
        # what rounding alone leaves in the extrapolated differences
        noise = 10 * np.finfo(float).eps * max(1.0, abs(value)) / RICHARDSON_STEP * np.sqrt(grad.size)
        second[name] = relative_error(grad, careful, noise)
        if second[name] >= TOLERANCE:
            details.append(f"grad_{name}: relative error {errors[name]:.2e} "
                           f"(second opinion {second[name]:.2e})\n"
                           f"  emitted:   {np.round(grad, 6).tolist()}\n"
                           f"  numerical: {np.round(careful, 6).tolist()}")
    if details:
        return Outcome(case, FAIL, "\n".join(details), errors, strategy)
    if second:
        detail = "; ".join(f"grad_{n}: {errors[n]:.1e} at h=1e-6, {e:.1e} extrapolated"
                           for n, e in second.items())
        return Outcome(case, NOISY, detail, errors, strategy)
    return Outcome(case, PASS, "", errors, strategy)


def gaussian_instance(derivation, seed: int) -> list:
    """The first draw of ``random_instance(derivation, seed)``: the Gaussian data."""
    rng = np.random.default_rng(seed)
    symbols = derivation.formula.symbols
    sizes = numcheck.random_dimensions(symbols, rng)
    drawn = {s.name: numcheck.draw(s, sizes, "gaussian", rng) for s in symbols}
    return [drawn[p.name] for p in derivation.parameters]


def relative_error(grad: np.ndarray, numeric: np.ndarray, noise: float = 0.0) -> float:
    """||g - fd|| / max(||g||, ||fd||, 1e-6), less an allowance for rounding noise."""
    scale = max(np.linalg.norm(grad), np.linalg.norm(numeric), 1e-6)
    error = float(max(np.linalg.norm(grad - numeric) - noise, 0.0) / scale)
    return error if np.isfinite(error) else float("inf")


def _moved(args: list, index: int, x: np.ndarray) -> list:
    a = list(args)
    a[index] = float(x) if np.ndim(x) == 0 else x.copy()
    return a


def central_differences(cost, args: list, index: int, step: float = 1e-6) -> np.ndarray:
    """(f(x + h e_i) - f(x - h e_i)) / 2h with h = step * max(1, |x_i|)."""
    x = np.array(args[index], dtype=float)
    out = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        h = step * max(1.0, abs(float(x[i])))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        out[i] = (cost(_moved(args, index, up)) - cost(_moved(args, index, down))) / (2 * h)
    return out


RICHARDSON_STEP = 5e-4


def richardson_differences(cost, args: list, index: int) -> np.ndarray:
    """Central differences at steps 2h and h, extrapolated: error O(h^4), little rounding."""
    coarse = central_differences(cost, args, index, 2 * RICHARDSON_STEP)
    fine = central_differences(cost, args, index, RICHARDSON_STEP)
    return fine + (fine - coarse) / 3


def _describe(error: BaseException, where: str) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    inside = [f for f in frames if "derive" in f.filename or f.filename == "<snippet>"]
    at = inside[-1] if inside else (frames[-1] if frames else None)
    place = f" at {Path(at.filename).name}:{at.lineno} ({at.name})" if at else ""
    return f"{type(error).__name__} in {where}{place}: {error}"


# ---------------------------------------------------------------- many cases

def run(start: int, count: int) -> list[Outcome]:
    outcomes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for seed in range(start, start + count):
            outcomes.append(check_case(generate(seed)))
    return outcomes


def kind_of(outcome: Outcome) -> str:
    """A short key grouping outcomes of the same kind (numbers and names stripped)."""
    first = outcome.detail.splitlines()[0] if outcome.detail else ""
    first = re.sub(r"\[.*\]", "[…]", first)
    first = re.sub(r"'[^']*'|[-+]?\d+(\.\d+)?([eE][-+]?\d+)?|\([^()]*\)|\binf\b|\bnan\b",
                   "…", first)
    first = re.sub(r"grad_\w+", "grad_…", first)
    return f"{outcome.status}: {first[:120]}"


def reduce(outcomes: list[Outcome], per_kind: int = 1, seconds: float = 20.0) -> None:
    """Shrink the first failures of each kind to smaller formulas that fail the same way."""
    shrunk: Counter = Counter()
    for outcome in outcomes:
        kind = kind_of(outcome)
        if not outcome.bad or shrunk[kind] >= per_kind:
            continue
        shrunk[kind] += 1
        found: dict = {}

        def same(case: Case, kind: str = kind, found: dict = found) -> bool:
            result = check_case(case)
            if kind_of(result) == kind:
                found[case.formula] = result
                return True
            return False
        smaller = shrink(outcome.case, same, seconds)
        outcome.reduced = found.get(smaller.formula)


def summary(outcomes: list[Outcome], seconds: float | None = None) -> str:
    counts = Counter(o.status for o in outcomes)
    head = (f"{len(outcomes)} random formulas: {counts[PASS]} passed, "
            f"{counts[NOISY]} passed on a second opinion, {counts[FAIL]} failed, "
            f"{counts[CRASH]} crashed, {counts[REFUSED]} refused")
    if seconds is not None:
        head += f" ({seconds:.1f} s)"
    lines = [head]
    fallback = [o.case.seed for o in outcomes if o.strategy.startswith("gaussian (")]
    if fallback:
        lines.append(f"{len(fallback)} where derive check would fall back to other data "
                     f"(checked at the Gaussian draw): seeds {fallback[:20]}")
    kinds = Counter(kind_of(o) for o in outcomes if o.status not in (PASS,))
    if kinds:
        lines.append("kinds:")
        lines += [f"  {n:5d}  {k}" for k, n in kinds.most_common()]
    for status in (FAIL, CRASH, REFUSED, NOISY):
        listed = [o for o in outcomes if o.status == status]
        if listed:
            lines.append("")
            lines += [o.report() for o in listed]
    return "\n".join(lines)


# ---------------------------------------------------------------- the tests

@pytest.mark.parametrize("start", range(0, DEFAULT_COUNT, BATCH),
                         ids=lambda s: f"seeds {s}-{s + BATCH - 1}")
def test_random_formulas(start):
    outcomes = run(start, BATCH)
    refused = [o for o in outcomes if o.status == REFUSED]
    if refused:
        warnings.warn(UserWarning("derive refused well-formed random formulas:\n" +
                                  "\n".join(o.report() for o in refused)))
    bad = [o for o in outcomes if o.bad]
    if bad:
        # shrinking is slow; the default run spends at most SHRINK_SECONDS on it in all
        budget = max(0.0, SHRINK_SECONDS - _shrunk_for[0])
        begun = time.perf_counter()
        if budget:
            reduce(bad, per_kind=1, seconds=min(5.0, budget))
        _shrunk_for[0] += time.perf_counter() - begun
        pytest.fail(summary(outcomes), pytrace=False)


def test_random_formulas_full(slow):
    """The long run: ``pytest --slow`` (FULL_COUNT formulas) or DERIVE_RANDOM_FORMULAS=N."""
    count = int(os.environ.get(ENV, "0")) or (FULL_COUNT if slow else 0)
    if not count:
        pytest.skip(f"the long run: pytest --slow, or {ENV}=N")
    begun = time.perf_counter()
    outcomes = run(0, count)
    seconds = time.perf_counter() - begun
    reduce(outcomes, per_kind=1, seconds=20.0)
    report = summary(outcomes, seconds)
    print(report)
    refused = [o for o in outcomes if o.status == REFUSED]
    if refused:
        warnings.warn(UserWarning(f"derive refused {len(refused)} well-formed random formulas"))
    if any(o.bad for o in outcomes):
        pytest.fail(report, pytrace=False)


def test_generator_is_deterministic():
    assert generate(12345) == generate(12345)
    assert generate(1).formula != generate(2).formula


def test_generator_covers_the_language():
    used = set()
    for seed in range(DEFAULT_COUNT):
        used |= generate(seed).features
    assert used == set(FEATURES), f"never generated: {sorted(set(FEATURES) - used)}"


def test_shrinker_reads_formulas_back():
    """The shrinker's reference (from derive's parse tree) and printer agree with the generator."""
    from support.formula_generator import reference_of, to_text

    from derive.frontend import parse as syntax
    for seed in range(200):
        case = generate(seed)
        assert to_text(syntax.parse(case.formula)) == case.formula.replace(".T", "'")
        rng = np.random.default_rng(seed)
        values = {name: rng.standard_normal(dims[-1:] if dims[:1] == (1,) else dims)
                  for name, dims in case.shapes.items()}
        again = Case(seed, case.formula, case.shapes, case.wrt, reference_of(case.formula))
        assert again.reference_value(values) == pytest.approx(case.reference_value(values),
                                                              rel=1e-9, abs=1e-12), case


def test_shrink_finds_a_smaller_failing_formula():
    case = Case(0, "R = exp(A); sum(R*x) + norm(x)^2 + tr(A)", {"A": (2, 2), "x": (2,)},
                ["A", "x"], "")
    smaller = shrink(case, lambda c: "norm" in c.formula and "x" in c.wrt)
    assert smaller.formula == "norm(x)" and smaller.shapes == {"x": (2,)}


def test_reference_evaluation_agrees_on_a_known_formula():
    case = Case(0, "sum(A*x) + norm(x)^2", {"A": (2, 3), "x": (3,)}, ["A"],
                "(_scalar(np.sum((v_A @ v_x))) + (_scalar(np.linalg.norm(v_x))) ** 2)")
    a = np.arange(6.0).reshape(2, 3)
    x = np.array([1.0, -1.0, 2.0])
    assert case.reference_value({"A": a, "x": x}) == pytest.approx(np.sum(a @ x) + x @ x)


if __name__ == "__main__":  # pragma: no cover - the report, for people
    count = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_COUNT
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    begun = time.perf_counter()
    outcomes = run(first, count)
    seconds = time.perf_counter() - begun
    reduce(outcomes, per_kind=2, seconds=30.0)
    print(summary(outcomes, seconds))
