"""The acceptance run of derive jac (issue 19) on the random formula generator, N seeds.

For each seed, ``outputs_of`` takes up to three vector- or matrix-valued parts of the
generated formula (the argument of a sum, a norm, a trace...) and its first variable. Each
is checked as tests/test_jacobian.py checks a case: the NumPy jacobian_X (where there is
a closed form), jvp and vjp against JAX's jacobian, jvp and vjp of the test oracle's
interpreter. Then jvp, vjp, value_and_jvp, value_and_vjp and the
jacobian_X of JAX (plainly), PyTorch and MATLAB (in Octave, many cases a process) against
that NumPy code on the same data::

    cd tests && PYTHONPATH=$PWD/..:$PWD python support/jacobian_acceptance.py N [FIRST_SEED]
"""
from __future__ import annotations

import sys
import time
import traceback
import warnings
from collections import Counter

import numpy as np
from support.oracle import Domain, Formula, to_text
from support.oracle_generator import generate
from support.target_runner import (Call, OctaveCase, assert_matches, namespace, run_jax,
                                   run_octave, run_torch)
from test_jacobian import Checked, argument

import derive
from derive.program import kind

RTOL = 1e-8
OCTAVE_BATCH = 100


def calls_of(c: Checked) -> tuple[list[Call], list[list[np.ndarray]]]:
    """The calls every target makes, and what the NumPy code returns for them."""
    args = c.args()
    arg_kinds = [kind(s) for s in c.d.parameters]
    direction, cotangent = c.d.directions[c.name], c.d.cotangent
    along = args + [argument(c.direction, kind(direction))]
    back = args + [argument(c.cotangent, kind(cotangent))]
    calls = [Call("jvp", along, 1, arg_kinds + [kind(direction)]),
             Call("value_and_jvp", along, 2, arg_kinds + [kind(direction)]),
             Call("vjp", back, 1, arg_kinds + [kind(cotangent)]),
             Call("value_and_vjp", back, 2, arg_kinds + [kind(cotangent)])]
    if c.name in c.d.jacobians:
        calls.append(Call(f"jacobian_{c.name}", args, 1, arg_kinds))
    functions = namespace(c.d.numpy)
    expected = []
    for call in calls:
        out = functions[call.function](*call.args)
        expected.append([np.asarray(r, dtype=float) for r in
                         (out if isinstance(out, tuple) else (out,))])
    return calls, expected


def compare(got, expected, target: str, calls: list[Call]) -> None:
    for call, outputs, reference in zip(calls, got, expected):
        assert len(outputs) == len(reference), (target, call.function)
        for i, (r, e) in enumerate(zip(outputs, reference)):
            assert_matches(r, e, target, f"{target} {call.function} output {i}", RTOL)


def outputs_of(case):
    """The formula's vector- or matrix-valued parts that involve a variable: the costs of
    the generator with their last reduction taken off (and the scalar cost itself)."""
    out = [case.formula]
    node = case.formula.cost
    seen = 0
    stack = [node]
    while stack and seen < 3:
        n = stack.pop()
        if n.op in ("sum", "mean", "norm", "norm1", "norm2", "logsumexp", "tr", "trace") \
                and n.args:
            out.append(Formula(case.formula.definitions, n.args[0]))
            seen += 1
        stack.extend(a for a in n.args if hasattr(a, "op"))
    return out


def cases(seeds):
    """(seed, formula text, variable, shapes, dims) of each Jacobian of the seeds' formulas
    (tests/test_jacobian.py's random_jacobians runs them too, in NumPy)."""
    for seed in seeds:
        case = generate(seed)
        for formula in outputs_of(case):
            text = "".join(f"{n} = {to_text(b)}; " for n, b in formula.definitions) + \
                to_text(formula.cost)
            names = set(formula.names())
            for wrt in [w for w in case.wrt if w in names][:1]:
                shapes = {n: case.declared.get(n, s) for n, s in case.sizes.items()
                          if n in names}
                yield seed, text, wrt, {n: shapes[n] for n in formula.names()}, case.dims


def run(seeds) -> tuple[Counter, list[str], list]:
    counts: Counter = Counter()
    problems: list[str] = []
    octave: list = []
    for seed, text, wrt, shapes, dims in cases(seeds):
        label = f"seed {seed}: jac {text!r} --wrt {wrt} {shapes}"
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                c = Checked(text, wrt, shapes, seed=seed, dims=dims)
                c.d.numpy
        except derive.DeriveError as error:
            counts["derive refused the formula"] += 1
            problems.append(f"REFUSED {label}\n  {str(error)[:200]}")
            continue
        except (Domain, ValueError, FloatingPointError):
            counts["no data where defined"] += 1
            continue
        except Exception as error:  # noqa: BLE001 - the finding
            counts["crashed"] += 1
            problems.append(f"CRASH {label}\n  {type(error).__name__}: {error}")
            continue
        except BaseException as error:  # pytest.skip: no data where the formula is defined
            if type(error).__name__ != "Skipped":
                raise
            counts["no data where defined"] += 1
            continue
        counts["total"] += 1
        closed = wrt in c.d.jacobians
        counts["closed form" if closed else "no closed form"] += 1
        if not closed:
            counts["refused: " + "; ".join(c.d.notes)[:90]] += 1
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                c.compare()
        except AssertionError as error:
            counts["numpy wrong"] += 1
            problems.append(f"WRONG numpy {label}\n  {str(error)[:600]}")
            continue
        except Exception as error:  # noqa: BLE001
            counts["numpy crashed"] += 1
            problems.append(f"CRASH numpy {label}\n  {traceback.format_exc()[-800:]}")
            continue
        counts["numpy right" + (" (closed form)" if closed else "")] += 1
        calls, expected = calls_of(c)
        for target, runner in (("jax", run_jax), ("torch", run_torch)):
            try:
                code = c.d.code(target)
                compare([runner(code, call) for call in calls], expected, target, calls)
                counts[f"{target} right"] += 1
            except AssertionError as error:
                counts[f"{target} wrong"] += 1
                problems.append(f"WRONG {target} {label}\n  {str(error)[:600]}")
            except Exception as error:  # noqa: BLE001
                counts[f"{target} crashed"] += 1
                problems.append(f"CRASH {target} {label}\n  {type(error).__name__}: "
                                f"{str(error)[:600]}")
        octave.append((label, OctaveCase(c.d.code("matlab"), calls), expected, calls))
    for start in range(0, len(octave), OCTAVE_BATCH):
        batch = octave[start:start + OCTAVE_BATCH]
        outputs = run_octave([b[1] for b in batch], timeout=60 + 10 * len(batch))
        for (label, _, expected, calls), got in zip(batch, outputs):
            if isinstance(got, str):
                counts["matlab crashed"] += 1
                problems.append(f"CRASH matlab {label}\n  Octave: {got}")
                continue
            try:
                compare(got, expected, "matlab", calls)
                counts["matlab right"] += 1
            except AssertionError as error:
                counts["matlab wrong"] += 1
                problems.append(f"WRONG matlab {label}\n  {str(error)[:600]}")
    return counts, problems, octave


if __name__ == "__main__":  # pragma: no cover - the acceptance run, for people
    import jax
    jax.config.update("jax_enable_x64", True)
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 8_000_000
    begun = time.perf_counter()
    counts, problems, _ = run(range(first, first + total))
    for p in problems:
        print(p, flush=True)
    print(f"seeds {first}..{first + total - 1} ({time.perf_counter() - begun:.0f} s)")
    for key, n in sorted(counts.items()):
        print(f"  {key}: {n}")
