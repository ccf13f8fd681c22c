"""The closed-form Jacobian of a layer, sigmoid(W x + b), against autodiff's Jacobians.

For x of length n and W m×n (m = n for jac_x; m = 50 for jac_W, whose Jacobian is
m × mn), in one process, float64, one thread each:

  derive            the emitted ``jacobian_x(W, x, b)`` (diag(f'(z)) W, written as the rows
                    of W scaled) and ``jacobian_W(W, x, b)`` (diag(f'(z)) kron(x^T, I))
  jax.jacrev        ``jax.jit(jax.jacrev(f))``, with ``block_until_ready``
  jax.jacfwd        ``jax.jit(jax.jacfwd(f))``
  torch.func.jacrev ``torch.func.jacrev(f)``

Every candidate is checked against derive's result first (BAD and untimed if not).
Each round calls every candidate in a rotating order (benchmarks/timing.py); the ratio
derive / peer is taken within each round (paired) and its median over ``--repeat``
rounds reported: below 1, derive is faster.

    python benchmarks/jacobian.py [--repeat 7] [--sizes 500,1000]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen"
                           "=false intra_op_parallelism_threads=1").strip()

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import derive  # noqa: E402
from timing import paired_times  # noqa: E402

LAYER = "sigmoid(W*x + b)"
ROWS_FOR_W = 50   # jac_W is m x mn: 10 MB at n = 500


def peers(variable: str, W: np.ndarray, x: np.ndarray, b: np.ndarray) -> dict:
    """Each installed peer's Jacobian of the layer with respect to ``variable``, as a
    function of no arguments returning a NumPy-comparable 2-D array."""
    out = {}
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        Wj, xj, bj = jnp.asarray(W), jnp.asarray(x), jnp.asarray(b)
        if variable == "x":
            f = lambda v: jax.nn.sigmoid(Wj @ v + bj)
            at = xj
        else:
            # numerator layout: vec stacks columns, so differentiate with respect to W^T
            # flattened in C order (the columns of W), then read the result as it is
            f = lambda v: jax.nn.sigmoid(v.reshape(W.shape[1], W.shape[0]).T @ xj + bj)
            at = Wj.T.reshape(-1)
        for name, transform in (("jax.jacrev", jax.jacrev), ("jax.jacfwd", jax.jacfwd)):
            compiled = jax.jit(transform(f))
            out[name] = lambda c=compiled: np.asarray(c(at).block_until_ready())
    except ImportError:
        pass
    try:
        import torch
        torch.set_num_threads(1)
        Wt, xt, bt = (torch.tensor(a) for a in (W, x, b))
        if variable == "x":
            g, at_t = (lambda v: torch.sigmoid(Wt @ v + bt)), xt
        else:
            g = lambda v: torch.sigmoid(v.reshape(W.shape[1], W.shape[0]).T @ xt + bt)
            at_t = Wt.T.reshape(-1).contiguous()
        jac = torch.func.jacrev(g)
        out["torch.func.jacrev"] = lambda: jac(at_t).numpy()
    except ImportError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sizes", default="500,1000")
    options = parser.parse_args()
    d = derive.jacobian(LAYER, ["x", "W"], inline=True)
    functions = {}
    exec(compile(d.numpy, "<derive>", "exec"), functions)
    print(f"derive jac {LAYER!r}: jac_x = {d.text.splitlines()[0].split(' = ', 1)[1]}")
    ratios: dict[str, list[float]] = {}
    for n in (int(s) for s in options.sizes.split(",")):
        for variable in ("x", "W"):
            m = n if variable == "x" else ROWS_FOR_W
            rng = np.random.default_rng(0)
            W, x, b = rng.standard_normal((m, n)) / np.sqrt(n), rng.standard_normal(n), \
                rng.standard_normal(m)
            ours = functions[f"jacobian_{variable}"]
            reference = ours(W=W, x=x, b=b)   # by name: the parameter order follows --wrt
            candidates = {"derive": lambda f=ours: f(W=W, x=x, b=b)}
            for name, run in peers(variable, W, x, b).items():
                if name == "jax.jacfwd" and variable == "W" and n > 500:
                    continue   # mn forward passes: 3 s at n = 500, out of memory at 1000
                error = np.abs(run() - reference).max() / max(np.abs(reference).max(), 1e-300)
                if error > 1e-8:
                    print(f"  n={n} jac_{variable} {name}: BAD (relative error {error:.1e})")
                    continue
                candidates[name] = run
            samples = paired_times(candidates, options.repeat)
            for name in candidates:
                if name == "derive":
                    continue
                paired = [a / p for a, p in zip(samples["derive"], samples[name])]
                ratio = statistics.median(paired)
                ratios.setdefault(name, []).append(ratio)
                ms = {k: statistics.median(samples[k]) * 1e3 for k in ("derive", name)}
                print(f"  n={n:5d} jac_{variable}: derive {ms['derive']:8.2f} ms  "
                      f"{name:18s} {ms[name]:8.2f} ms  derive/peer {ratio:6.3f}")
    for name, values in ratios.items():
        print(f"median derive/{name}: {statistics.median(values):.3f}")


if __name__ == "__main__":
    main()
