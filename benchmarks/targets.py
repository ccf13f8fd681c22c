"""derive's emitted JAX and PyTorch code against each framework's own autodiff.

On the six costs of ``peers.py`` (same formulas, data and shapes), with the same
dtype, device and threads for every candidate, this times value + gradient:

  JAX     derive's ``value_and_grad`` (``--format jax``) under ``jax.jit``, plain and
          hoisted (``prepare`` once, untimed), against
          ``jax.jit(jax.value_and_grad(f))`` of a direct transcription ``f``;
  PyTorch derive's ``value_and_grad`` (``--format torch``), plain and hoisted, against
          ``loss.backward()`` and ``torch.func.grad_and_value(f)``.

Every round calls each candidate of a framework once, in a rotating order; the
ratio derive / autodiff is taken within each round (paired) and the median over
rounds is reported, so a load that drifts during the run affects both sides of a
ratio alike. Before timing, every candidate's value and gradient are checked
against the framework's autodiff (``BAD`` and untimed if they differ).

    python benchmarks/targets.py                  # float64, NumPy's BLAS thread count
    python benchmarks/targets.py --threads 1
    python benchmarks/targets.py --device cuda    # the same run on a GPU
    python benchmarks/targets.py --scale 0.1 --repeat 7   # a quick try
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys


def _parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every library (default: NumPy's BLAS thread count)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    p.add_argument("--repeat", type=int, default=15, help="timed rounds (median of ratios)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="scale the sample-count dimension (e.g. 0.1 for a quick try)")
    p.add_argument("--only", action="append", default=[],
                   help="run only the costs whose key contains this text (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


ARGS = _parse_args()
if ARGS.threads == 1:
    # The one documented way to keep XLA's CPU backend to one thread (jax #743, #1539);
    # read when jax starts, so set before anything imports it.
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen"
                               "=false intra_op_parallelism_threads=1").strip()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import peers  # noqa: E402  (the six costs; imports jax and torch)

import derive  # noqa: E402
from timing import paired_times  # noqa: E402

jax, jnp, torch = peers.jax, peers.jnp, peers.torch
if jax is None or torch is None:
    raise SystemExit("this benchmark needs jax and torch: pip install -e '.[bench]'")
THREADS = ARGS.threads or peers.THREADS
torch.set_num_threads(THREADS)
if peers.threadpool_limits is not None:
    _LIMITS = peers.threadpool_limits(limits=THREADS)
jax.config.update("jax_enable_x64", ARGS.dtype == "float64")
TORCH_DTYPE = getattr(torch, ARGS.dtype)
GPU = ARGS.device.startswith("cuda")
JAX_DEVICE = jax.devices("gpu")[0] if GPU else jax.devices("cpu")[0]


def _sync(result):
    if GPU:
        torch.cuda.synchronize()
    return result


# ------------------------------------------------------------------------ candidates

def _emitted(case, target: str, hoist: bool):
    """derive's code for a target, executed: (value_and_grad, prepare or None)."""
    d = derive.gradient(case.formula, case.wrt, shapes=case.shapes)
    namespace: dict = {}
    exec(compile(d.code(target, hoist=hoist), f"<derive {target}: {case.key}>", "exec"),
         namespace)
    return namespace["value_and_grad"], namespace.get("prepare"), d


def _arguments(function, case, convert, skip_last: bool = False) -> list:
    import inspect
    names = list(inspect.signature(function).parameters)
    names = names[:-1] if skip_last else names
    return [convert(peers.arg_value(n, case.data)) for n in names]


def jax_candidates(case) -> dict:
    def convert(a):
        return jax.device_put(jnp.asarray(a, dtype=ARGS.dtype), JAX_DEVICE) \
            if isinstance(a, np.ndarray) else a
    out = {}
    for hoist in (False, True):
        value_and_grad, prepare, d = _emitted(case, "jax", hoist)
        step = jax.jit(value_and_grad)
        if hoist:
            data = [s.name for s in d.formula.symbols if s.name not in d.wrt]
            prepared = jax.block_until_ready(
                prepare(*[convert(peers.arg_value(n, case.data)) for n in data]))
            args = _arguments(value_and_grad, case, convert, skip_last=True) + [prepared]
        else:
            args = _arguments(value_and_grad, case, convert)
        out["derive hoisted" if hoist else "derive"] = \
            lambda step=step, args=args: jax.block_until_ready(step(*args))[:2]
    autodiff = jax.jit(jax.value_and_grad(case.jax_f, argnums=case.order.index(case.wrt)))
    args = [convert(case.data[n]) for n in case.order]
    out["jax.value_and_grad"] = lambda: jax.block_until_ready(autodiff(*args))
    return out


def torch_candidates(case) -> dict:
    def convert(a):
        return torch.as_tensor(a, dtype=TORCH_DTYPE, device=ARGS.device)
    out = {}
    for hoist in (False, True):
        value_and_grad, prepare, d = _emitted(case, "torch", hoist)
        if hoist:
            data = [s.name for s in d.formula.symbols if s.name not in d.wrt]
            prepared = _sync(prepare(*[convert(peers.arg_value(n, case.data)) for n in data]))
            args = _arguments(value_and_grad, case, convert, skip_last=True) + [prepared]
        else:
            args = _arguments(value_and_grad, case, convert)
        out["derive hoisted" if hoist else "derive"] = \
            lambda f=value_and_grad, args=args: _sync(f(*args)[:2])
    i = case.order.index(case.wrt)
    base = [convert(case.data[n]) for n in case.order]

    def backward():
        args = list(base)
        args[i] = base[i].detach().requires_grad_(True)
        loss = case.torch_f(*args)
        loss.backward()
        return _sync((loss.detach(), args[i].grad))
    grad_and_value = torch.func.grad_and_value(case.torch_f, argnums=i)

    def func_grad():
        grad, value = grad_and_value(*base)
        return _sync((value, grad))
    out["loss.backward()"] = backward
    out["torch.func.grad"] = func_grad
    return out


def _numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def checked(candidates: dict, reference: str) -> dict:
    """The candidates whose value and gradient agree with the reference's (rtol 1e-6)."""
    value, grad = (_numpy(x) for x in candidates[reference]())
    tolerance = 1e-6 if ARGS.dtype == "float64" else 1e-3
    good = {}
    for name, run in candidates.items():
        v, g = (_numpy(x) for x in run())
        if g.shape == grad.shape and np.allclose(v, value, rtol=tolerance) and np.allclose(
                g, grad, rtol=tolerance, atol=tolerance * np.max(np.abs(grad))):
            good[name] = run
        else:
            print(f"  BAD: {name} disagrees with {reference}; not timed")
    return good


def report(framework: str, samples: dict, references: tuple[str, ...]) -> None:
    """Each derive candidate's median time and its paired ratio to each autodiff."""
    def ms(name: str) -> str:
        return f"{statistics.median(samples[name]) * 1e3:.2f} ms"
    cells = []
    for name in (n for n in samples if n.startswith("derive")):
        ratios = [statistics.median(a / b for a, b in zip(samples[name], samples[reference]))
                  for reference in references if reference in samples]
        cells.append(f"{name} {ms(name)} ({' / '.join(f'{r:.2f}x' for r in ratios)})")
    autodiff = ", ".join(f"{r} {ms(r)}" for r in references if r in samples)
    print(f"  {framework}: {autodiff} | " + " | ".join(cells))


def main() -> None:
    print(f"dtype {ARGS.dtype}, device {ARGS.device}, threads {THREADS} "
          f"(jax {jax.__version__}, torch {torch.__version__}), {ARGS.repeat} rounds, "
          f"ratios: median over rounds of derive / autodiff in the same round "
          f"(PyTorch: against loss.backward() / torch.func.grad)")
    rng = np.random.default_rng(ARGS.seed)
    for case in peers.make_cases(rng, ARGS.scale):
        if ARGS.only and not any(o in case.key for o in ARGS.only):
            continue
        print(case.key)
        for framework, make, references in (
                ("JAX", jax_candidates, ("jax.value_and_grad",)),
                ("PyTorch", torch_candidates, ("loss.backward()", "torch.func.grad"))):
            candidates = checked(make(case), references[0])
            if references[0] in candidates:
                report(framework, paired_times(candidates, ARGS.repeat), references)


if __name__ == "__main__":
    main()
