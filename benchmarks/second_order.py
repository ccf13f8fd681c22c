"""Second order: derive's emitted hvp and hessian_X against autodiff's second derivatives.

For each cost this times, in one process, float64, one thread for every library:

  derive            the emitted ``hvp(..., d_X)`` (or ``hessian_X(...)``), derived afresh
  jax               ``jax.jit(lambda x, d: jax.jvp(jax.grad(f), (x,), (d,))[1])`` (or
                    ``jax.jit(jax.hessian(f))``), with ``block_until_ready``
  torch backward    PyTorch's double backward: ``torch.autograd.grad`` of the gradient
                    (built with ``create_graph=True``) along d
  torch.func        ``torch.func.jvp(torch.func.grad(f))`` (or ``torch.func.hessian(f)``)

A peer that is not installed is left out. Every candidate is checked against
derive's result first (relative error below 1e-8: ``BAD`` and untimed if not), and
derive's against central differences of its gradient (``derive check --hvp``/``--hess``).
Every round calls each candidate in a rotating order; the ratio derive / peer is
taken within each round (paired) and its median over ``--repeat`` rounds reported
(below 1: derive is faster), so a load that drifts during the run affects both
sides of a ratio alike. The last lines give the median of those ratios over the costs.

    python benchmarks/second_order.py [--repeat 9] [--sizes 10,100,500,2000]
"""
from __future__ import annotations

import argparse
import os
import statistics
from dataclasses import dataclass
from typing import Callable

# One thread for every library, set before any of them starts its pools: the figures
# compare algorithms, not how well each library spreads over a loaded 2-core machine.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
# the one documented way to keep XLA's CPU backend to one thread (jax #743, #1539)
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen"
                           "=false intra_op_parallelism_threads=1").strip()

import numpy as np  # noqa: E402

import derive  # noqa: E402
from timing import paired_times  # noqa: E402
from derive.numcheck import check_second_order  # noqa: E402

try:
    import jax  # noqa: E402
    import jax.numpy as jnp  # noqa: E402
    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover - optional peer
    jax = jnp = None

try:
    import torch  # noqa: E402
    import torch.func  # noqa: E402
    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - optional peer
    torch = None

try:
    from threadpoolctl import threadpool_limits  # noqa: E402
    _LIMITS = threadpool_limits(limits=1)   # any BLAS pool the variables above missed
except ImportError:  # pragma: no cover
    pass


@dataclass
class Cost:
    key: str
    formula: str
    wrt: str
    shapes: dict
    data: Callable[[np.random.Generator, int], dict]   # n -> every argument by name
    jax_f: Callable | None                # f(x, **data) in jax.numpy
    torch_f: Callable | None              # f(x, **data) in torch


def _logistic_data(rng, n):
    X = rng.standard_normal((4 * n, n)) / np.sqrt(n)
    return {"y": np.sign(rng.standard_normal(4 * n)), "X": X, "w": rng.standard_normal(n)}


def _quadratic_data(rng, n):
    return {"x": rng.standard_normal(n), "A": rng.standard_normal((n, n))}


def _sparse_coding_data(rng, n):
    return {"A": rng.standard_normal((n, n // 2 + 1)), "s": rng.standard_normal((n // 2 + 1, 64)),
            "x": rng.standard_normal((n, 64)), "gamma": 0.1}


def _softmax_data(rng, n):
    k, m = 10, 4 * n
    labels = rng.integers(0, k, m)
    return {"Y": np.eye(k)[:, labels], "Theta": rng.standard_normal((k, n)) / np.sqrt(n),
            "X": rng.standard_normal((n, m)), "m": float(m), "lambda": 1e-3}


def _costs() -> list[Cost]:
    j, t = jnp, torch
    return [
        Cost("logistic regression", "sum(softplus(-y .* (X*w)))", "w", {}, _logistic_data,
             j and (lambda w, y, X: j.sum(jax.nn.softplus(-y * (X @ w)))),
             t and (lambda w, y, X: t.nn.functional.softplus(-y * (X @ w)).sum())),
        Cost("quadratic form", "x'*A*x", "x", {}, _quadratic_data,
             j and (lambda x, A: x @ A @ x), t and (lambda x, A: x @ A @ x)),
        Cost("sparse coding (A)", "norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2", "A",
             {"s": ("n", "k"), "x": ("m", "k")}, _sparse_coding_data,
             j and (lambda A, s, x, gamma: j.sum((A @ s - x) ** 2) + gamma * j.sum(A ** 2)),
             t and (lambda A, s, x, gamma: ((A @ s - x) ** 2).sum() + gamma * (A ** 2).sum())),
        Cost("softmax regression", "-sum(sum(Y .* log(softmax(Theta*X))))/m + "
             "lambda/2*norm(Theta, 'fro')^2", "Theta", {"m": ()}, _softmax_data,
             j and (lambda Theta, Y, X, m, **kw: -j.sum(Y * jax.nn.log_softmax(Theta @ X, axis=0))
                    / m + kw["lambda"] / 2 * j.sum(Theta ** 2)),
             t and (lambda Theta, Y, X, m, **kw: -(Y * t.log_softmax(Theta @ X, dim=0)).sum() / m
                    + kw["lambda"] / 2 * (Theta ** 2).sum())),
    ]


def _relative(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _candidates(cost: Cost, data: dict, d, hessian: bool) -> dict[str, Callable]:
    """name -> a function of no arguments returning the product (or the Hessian)."""
    namespace = d.namespace()
    names = [s.name for s in d.formula.symbols]
    args = [data[n] for n in names]
    x = data[cost.wrt]
    direction = np.random.default_rng(1).standard_normal(np.shape(x))
    rest = {k: v for k, v in data.items() if k != cost.wrt}
    out = {}
    if hessian:
        out["derive"] = lambda: namespace[f"hessian_{cost.wrt}"](*args)
    else:
        out["derive"] = lambda: namespace["hvp"](*args, direction)
    if cost.jax_f is not None:
        f = lambda v: cost.jax_f(v, **rest)   # noqa: E731
        if hessian:
            compiled = jax.jit(jax.hessian(f))
            out["jax"] = lambda: compiled(x).block_until_ready()
        else:
            compiled = jax.jit(lambda v, dv: jax.jvp(jax.grad(f), (v,), (dv,))[1])
            out["jax"] = lambda: compiled(x, direction).block_until_ready()
    if cost.torch_f is not None:
        tensors = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in rest.items()}
        tx, td = (torch.as_tensor(v, dtype=torch.float64) for v in (x, direction))
        g = lambda v: cost.torch_f(v, **tensors)   # noqa: E731
        if hessian:
            out["torch.func"] = lambda: torch.func.hessian(g)(tx)
        else:
            def double_backward():
                v = tx.detach().requires_grad_(True)
                grad, = torch.autograd.grad(g(v), v, create_graph=True)
                product, = torch.autograd.grad(grad, v, grad_outputs=td)
                return product
            out["torch backward"] = double_backward
            out["torch.func"] = lambda: torch.func.jvp(torch.func.grad(g), (tx,), (td,))[1]
    return out


def _numpy(a) -> np.ndarray:
    return a.detach().numpy() if torch is not None and isinstance(a, torch.Tensor) \
        else np.asarray(a)


PEERS = ("jax", "torch backward", "torch.func")


def run(cost: Cost, n: int, repeat: int, hessian: bool, ratios: dict[str, list[float]]) -> str:
    """One line: derive's median time, each peer's and the paired median ratio derive / peer
    (also appended to ``ratios[peer]``)."""
    data = cost.data(np.random.default_rng(0), n)
    make = derive.hessian if hessian else derive.hvp
    # The data's own sizes, so that the emitted chains are ordered for them
    d = make(cost.formula, cost.wrt, {k: np.shape(v) for k, v in data.items()})
    check = check_second_order(make(cost.formula, cost.wrt, cost.shapes))
    candidates = _candidates(cost, data, d, hessian)
    reference = _numpy(candidates["derive"]())
    cells = [f"{cost.key:<20} n={n:<5}", "check " + ("ok" if check.passed else "FAIL")]
    good = {"derive": candidates["derive"]}
    for peer in PEERS:
        if peer in candidates:
            result = _numpy(candidates[peer]()).reshape(reference.shape)
            if _relative(result, reference) <= 1e-8:
                good[peer] = candidates[peer]
    samples = paired_times(good, repeat)
    cells.append(f"derive {1e3 * statistics.median(samples['derive']):9.3f} ms")
    for peer in (p for p in PEERS if p in candidates):
        if peer not in samples:
            cells.append(f"{peer} BAD")
            continue
        ratio = statistics.median(a / b for a, b in zip(samples["derive"], samples[peer]))
        ratios.setdefault(peer, []).append(ratio)
        cells.append(f"{peer} {1e3 * statistics.median(samples[peer]):9.3f} ms ({ratio:.3g}x)")
    return "  ".join(cells)


def _summary(ratios: dict[str, list[float]]) -> str:
    return "median ratio over these: " + ", ".join(
        f"{peer} {statistics.median(r):.3g}x (max {max(r):.3g}x)" for peer, r in ratios.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="timed rounds (median of ratios)")
    parser.add_argument("--sizes", default="10,100,500,2000",
                        help="sizes n of the Hessian benchmarks (comma separated)")
    parser.add_argument("--hvp-size", type=int, default=200, help="n of the hvp benchmarks")
    args = parser.parse_args()
    costs = _costs()
    versions = [f"numpy {np.__version__}"] + ([f"jax {jax.__version__}"] if jax else []) \
        + ([f"torch {torch.__version__}"] if torch else [])
    print(f"float64, 1 thread, {args.repeat} paired rounds ({', '.join(versions)})")
    print("Hessian-vector products (derive / peer below 1: derive faster)")
    ratios: dict[str, list[float]] = {}
    for cost in costs:
        print(run(cost, args.hvp_size, args.repeat, False, ratios), flush=True)
    print(_summary(ratios))
    print("\nFull Hessians")
    for cost in costs[:2]:
        ratios = {}
        for n in (int(s) for s in args.sizes.split(",")):
            print(run(cost, n, args.repeat, True, ratios), flush=True)
        print(f"{cost.key}: {_summary(ratios)}")


if __name__ == "__main__":
    main()
