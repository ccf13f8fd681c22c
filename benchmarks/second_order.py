"""Second order: derive's emitted hvp and hessian_X against forward-over-reverse autodiff.

For each cost this times, interleaved in one process (float64):

  derive   the emitted ``hvp(..., d_X)`` (or ``hessian_X(...)``), derived afresh by the API
  jax      ``jax.jit(lambda x, d: jax.jvp(jax.grad(f), (x,), (d,))[1])`` (or
           ``jax.jit(jax.hessian(f))``), with ``block_until_ready``
  torch    ``torch.func.jvp(torch.func.grad(f))`` (or ``torch.func.hessian(f)``)

A peer that is not installed prints ``n/a``. Every candidate is checked against
derive's result first (relative error below 1e-8), and derive's against central
differences of its gradient (``derive check --hvp``/``--hess``). The median of
``--repeat`` rounds is reported, and the ratio derive / peer (below 1: derive is faster).

    python benchmarks/second_order.py [--repeat 9] [--sizes 10,100,500,2000]
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

import derive
from derive.numcheck import check_second_order

try:
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover - optional peer
    jax = jnp = None

try:
    import torch
    import torch.func
except ImportError:  # pragma: no cover - optional peer
    torch = None


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


def _median_ms(run: Callable[[], object], repeat: int) -> float:
    run()   # warm-up (and compilation)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


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
        f = lambda v: cost.torch_f(v, **tensors)   # noqa: E731
        if hessian:
            out["torch"] = lambda: torch.func.hessian(f)(tx)
        else:
            out["torch"] = lambda: torch.func.jvp(torch.func.grad(f), (tx,), (td,))[1]
    return out


def run(cost: Cost, n: int, repeat: int, hessian: bool) -> str:
    data = cost.data(np.random.default_rng(0), n)
    make = derive.hessian if hessian else derive.hvp
    # The data's own sizes, so that the emitted chains are ordered for them
    d = make(cost.formula, cost.wrt, {k: np.shape(v) for k, v in data.items()})
    check = check_second_order(make(cost.formula, cost.wrt, cost.shapes))
    candidates = _candidates(cost, data, d, hessian)
    reference = np.asarray(candidates["derive"]())
    cells = [f"{cost.key:<20} n={n:<5}", "check " + ("ok" if check.passed else "FAIL")]
    derive_ms = _median_ms(candidates["derive"], repeat)
    cells.append(f"derive {derive_ms:9.3f} ms")
    for peer in ("jax", "torch"):
        if peer not in candidates:
            cells.append(f"{peer} n/a")
            continue
        result = np.asarray(candidates[peer]()).reshape(reference.shape)
        if _relative(result, reference) > 1e-8:
            cells.append(f"{peer} BAD")
            continue
        ms = _median_ms(candidates[peer], repeat)
        cells.append(f"{peer} {ms:9.3f} ms ({derive_ms / ms:.2f}x)")
    return "  ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--sizes", default="10,100,500,2000",
                        help="sizes n of the Hessian benchmarks (comma separated)")
    parser.add_argument("--hvp-size", type=int, default=200, help="n of the hvp benchmarks")
    args = parser.parse_args()
    costs = _costs()
    print("Hessian-vector products (derive / peer below 1: derive faster)")
    for cost in costs:
        print(run(cost, args.hvp_size, args.repeat, hessian=False))
    print("\nFull Hessians")
    for cost in costs[:2]:
        for n in (int(s) for s in args.sizes.split(",")):
            print(run(cost, n, args.repeat, hessian=True))


if __name__ == "__main__":
    main()
