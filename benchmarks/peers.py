"""Value + gradient of six matrix costs: derive's emitted NumPy against peers.

For each cost this times, interleaved in one process (float64, equal thread
counts):

  derive    derive's emitted ``value_and_grad`` (derived afresh by the API when
            this script starts, so it always measures the current emitter)
  hoisted   derive's hoisted snippet (``prepare(data...)`` once, then its
            ``value_and_grad``), when the Derivation has a ``hoisted`` attribute
  hand      a careful hand-written NumPy closed form (value and gradient)
  jax       ``jax.jit(jax.value_and_grad(f))`` with ``block_until_ready``
  torch     torch autograd (``torch.autograd.grad``)
  autograd  HIPS autograd ``value_and_grad``
  objective the hand-written objective alone (no gradient), for scale

A peer that is not installed prints ``n/a``.  Every candidate's value and
gradient is checked against the hand-written one (itself checked against a
finite difference) before anything is timed; a candidate that disagrees is
reported as ``BAD`` and not timed.

Run it with OpenBLAS's core-type overrides unset (they slow current NumPy):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/peers.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/peers.py --threads 1
"""
from __future__ import annotations

import argparse
import inspect
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# --------------------------------------------------------------------------------------
# Threads: decided before jax / torch are imported, since XLA reads its flags at start.
# --------------------------------------------------------------------------------------


def _parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every library (default: NumPy's BLAS thread count)")
    p.add_argument("--repeat", type=int, default=9,
                   help="timed rounds per candidate, median reported (at least 7; default 9)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per candidate first")
    p.add_argument("--only", action="append", default=[],
                   help="run only the costs whose key contains this text (repeatable)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="scale the sample-count dimension (e.g. 0.1 for a quick try)")
    p.add_argument("--show-slow", type=float, default=None, metavar="RATIO",
                   help="print derive's emitted value_and_grad for costs where "
                        "derive/hand exceeds RATIO (e.g. 1.05)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.repeat < 7:
        p.error("--repeat must be at least 7")
    return args


ARGS = _parse_args() if __name__ == "__main__" else None


def _blas_threads() -> tuple[int, list[dict]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1, []
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return (info[0]["num_threads"] if info else os.cpu_count() or 1), info


THREADS = (ARGS.threads if ARGS and ARGS.threads else _blas_threads()[0])
NCPU = os.cpu_count() or 1
JAX_THREAD_NOTE = "all cores (XLA default)"
if THREADS < NCPU:
    if THREADS == 1:
        # The one documented way to keep XLA's CPU backend to one thread (jax #743, #1539).
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()
        JAX_THREAD_NOTE = "1 (XLA_FLAGS=" + flags + ")"
    else:
        JAX_THREAD_NOTE = (f"not pinnable to {THREADS} of {NCPU} cores by a flag; "
                           "run under `taskset -c 0-{THREADS - 1}` to pin every library")

import derive  # noqa: E402  (after the thread set-up on purpose)

try:
    import jax  # noqa: E402
    import jax.numpy as jnp  # noqa: E402
    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover - optional peer
    jax = jnp = None

try:
    import torch  # noqa: E402
    torch.set_num_threads(THREADS)
except ImportError:  # pragma: no cover - optional peer
    torch = None

try:
    import autograd  # noqa: E402
    import autograd.numpy as anp  # noqa: E402
    from autograd.scipy.special import logsumexp as alogsumexp  # noqa: E402
except ImportError:  # pragma: no cover - optional peer
    autograd = anp = alogsumexp = None

try:
    from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402
    # Every BLAS / OpenMP pool loaded by now (NumPy's, torch's) gets THREADS, for the
    # whole run, checks and warm-ups included.
    _LIMITS = threadpool_limits(limits=THREADS)
except ImportError:  # pragma: no cover
    threadpool_info = threadpool_limits = None


# --------------------------------------------------------------------------------------
# The six costs: formula, data, hand-written forms and the peers' definitions.
# --------------------------------------------------------------------------------------


@dataclass
class Case:
    key: str
    formula: str
    wrt: str
    shapes: dict          # integer shapes for derive (so it can pick a chain order)
    data: dict            # name -> ndarray / float, names as in the formula
    order: list           # argument order used by the peers' functions
    hand_value: Callable  # (**data) -> float
    hand: Callable        # (**data) -> (value, grad)
    jax_f: Callable | None = None     # f(*args in order) with jnp
    torch_f: Callable | None = None   # f(*args in order) with torch
    ag_f: Callable | None = None      # f(*args in order) with autograd.numpy
    notes: list = field(default_factory=list)


def _sq(a):
    """Squared Frobenius norm without a temporary."""
    a = a.ravel()
    return float(np.dot(a, a))


# 1. sparse coding, w.r.t. A ------------------------------------------------------------

def sc_A_value(A, s, x, gamma):
    R = A @ s
    R -= x
    return _sq(R) + gamma * _sq(A)


def sc_A_hand(A, s, x, gamma):
    R = A @ s
    R -= x
    value = _sq(R) + gamma * _sq(A)
    G = R @ s.T          # 64x10000 @ 10000x121
    G += gamma * A
    G *= 2.0
    return value, G


# 2. sparse coding + smooth L1, w.r.t. s ----------------------------------------------

def sc_s_value(A, s, x, gamma, lambda_, eps):
    R = A @ s
    R -= x
    r = np.square(s)
    r += eps
    np.sqrt(r, out=r)
    return _sq(R) + gamma * _sq(A) + lambda_ * float(r.sum())


def sc_s_hand(A, s, x, gamma, lambda_, eps):
    R = A @ s
    R -= x
    r = np.square(s)
    r += eps
    np.sqrt(r, out=r)                     # r = sqrt(s.^2 + eps), reused below
    value = _sq(R) + gamma * _sq(A) + lambda_ * float(r.sum())
    G = (2.0 * A).T @ R                   # 121x64 @ 64x10000, the 2 folded into small A
    np.divide(s, r, out=r)                # s ./ sqrt(s.^2 + eps), in place
    r *= lambda_
    G += r
    return value, G


# 3. topographic, w.r.t. s ------------------------------------------------------------

def topo_value(V, s, eps):
    T = V @ np.square(s)
    T += eps
    np.sqrt(T, out=T)
    return float(T.sum())


def topo_hand(V, s, eps):
    T = V @ np.square(s)
    T += eps
    np.sqrt(T, out=T)                     # one sqrt, shared by value and gradient
    value = float(T.sum())
    np.reciprocal(T, out=T)
    G = V.T @ T
    G *= s
    return value, G


# 4. ICA reconstruction, w.r.t. W ------------------------------------------------------

def ica_value(W, x):
    R = (W.T @ W) @ x                     # 64x64 first: cheaper than W' (W x)
    R -= x
    return _sq(R)


def ica_hand(W, x):
    R = (W.T @ W) @ x
    R -= x
    value = _sq(R)
    M = R @ x.T                           # one 64x10000 @ 10000x64 product ...
    M += M.T                              # ... serves both uses of W
    G = (2.0 * W) @ M
    return value, G


# 5. softmax regression, w.r.t. Theta --------------------------------------------------

def softmax_value(Y, Theta, X, m, lambda_):
    Z = Theta @ X
    Z -= Z.max(axis=0)
    lse = np.log(np.exp(Z).sum(axis=0))
    # sum(Y .* (Z - lse)) = vdot(Y, Z) - vdot(colsum(Y), lse)
    return (-_dot(Y, Z) + float(Y.sum(axis=0) @ lse)) / m + 0.5 * lambda_ * _sq(Theta)


def _dot(a, b):
    return float(np.dot(a.ravel(), b.ravel()))


def softmax_hand(Y, Theta, X, m, lambda_):
    Z = Theta @ X                         # 10x784 @ 784x5000
    Z -= Z.max(axis=0)
    E = np.exp(Z)                         # one exp, shared by value and gradient
    S = E.sum(axis=0)
    c = Y.sum(axis=0)                     # column sums of Y (1 for one-hot labels)
    value = (-_dot(Y, Z) + float(c @ np.log(S))) / m + 0.5 * lambda_ * _sq(Theta)
    E *= c / S                            # colsum(Y) .* softmax(Theta X)
    E -= Y
    G = E @ X.T                           # 10x5000 @ 5000x784
    G /= m
    G += lambda_ * Theta
    return value, G


# 6. logistic regression, w.r.t. w -----------------------------------------------------

def logistic_value(y, X, w):
    t = X @ w
    t *= -y
    return float(np.logaddexp(0.0, t).sum())


def logistic_hand(y, X, w):
    t = X @ w
    t *= -y                               # t = -y .* (X w)
    e = np.exp(-np.abs(t))                # one exp for softplus and sigmoid
    value = float((np.maximum(t, 0.0) + np.log1p(e)).sum())
    sig = np.where(t >= 0, 1.0, e) / (1.0 + e)   # sigmoid(t), stable
    sig *= y
    g = sig @ X                           # X' (sigmoid(t) .* y) without forming -X'
    np.negative(g, out=g)
    return value, g


def make_cases(rng: np.random.Generator, scale: float = 1.0) -> list[Case]:
    k = max(int(10000 * scale), 50)
    k5 = max(int(5000 * scale), 50)
    n_log = max(int(100000 * scale), 200)
    cases = []

    # 1 & 2: sparse coding
    A = rng.standard_normal((64, 121)) / 11
    s = rng.standard_normal((121, k))
    x = rng.standard_normal((64, k))
    gamma, lam, eps = 0.1, 0.05, 1e-2
    sc_shapes = {"A": (64, 121), "s": (121, k), "x": (64, k), "gamma": ()}

    if jnp is not None:
        def j_sc(A, s, x, gamma):
            R = A @ s - x
            return jnp.sum(R * R) + gamma * jnp.sum(A * A)

        def j_sc_s(A, s, x, gamma, lambda_, eps):
            R = A @ s - x
            return jnp.sum(R * R) + gamma * jnp.sum(A * A) + lambda_ * jnp.sum(jnp.sqrt(s * s + eps))
    else:
        j_sc = j_sc_s = None

    if torch is not None:
        def t_sc(A, s, x, gamma):
            R = A @ s - x
            return (R * R).sum() + gamma * (A * A).sum()

        def t_sc_s(A, s, x, gamma, lambda_, eps):
            R = A @ s - x
            return (R * R).sum() + gamma * (A * A).sum() + lambda_ * torch.sqrt(s * s + eps).sum()
    else:
        t_sc = t_sc_s = None

    if anp is not None:
        def a_sc(A, s, x, gamma):
            R = anp.dot(A, s) - x
            return anp.sum(R * R) + gamma * anp.sum(A * A)

        def a_sc_s(A, s, x, gamma, lambda_, eps):
            R = anp.dot(A, s) - x
            return anp.sum(R * R) + gamma * anp.sum(A * A) + lambda_ * anp.sum(anp.sqrt(s * s + eps))
    else:
        a_sc = a_sc_s = None

    cases.append(Case(
        key="sparse coding / A",
        formula="norm(A*s - x,'fro')^2 + gamma*norm(A,'fro')^2", wrt="A",
        shapes=sc_shapes, data={"A": A, "s": s, "x": x, "gamma": gamma},
        order=["A", "s", "x", "gamma"],
        hand_value=sc_A_value, hand=sc_A_hand, jax_f=j_sc, torch_f=t_sc, ag_f=a_sc))
    cases.append(Case(
        key="sparse coding + L1 / s",
        formula="norm(A*s - x,'fro')^2 + gamma*norm(A,'fro')^2 + lambda*sum(sqrt(s.^2 + eps))",
        wrt="s", shapes={**sc_shapes, "lambda": (), "eps": ()},
        data={"A": A, "s": s, "x": x, "gamma": gamma, "lambda": lam, "eps": eps},
        order=["A", "s", "x", "gamma", "lambda", "eps"],
        hand_value=sc_s_value, hand=sc_s_hand, jax_f=j_sc_s, torch_f=t_sc_s, ag_f=a_sc_s))

    # 3: topographic
    V = np.abs(rng.standard_normal((121, 121))) / 121
    s3 = rng.standard_normal((121, k))
    cases.append(Case(
        key="topographic / s", formula="sum(sqrt(V*(s.^2) + eps))", wrt="s",
        shapes={"V": (121, 121), "s": (121, k), "eps": ()},
        data={"V": V, "s": s3, "eps": eps}, order=["V", "s", "eps"],
        hand_value=topo_value, hand=topo_hand,
        jax_f=(lambda V, s, eps: jnp.sum(jnp.sqrt(V @ (s * s) + eps))) if jnp else None,
        torch_f=(lambda V, s, eps: torch.sqrt(V @ (s * s) + eps).sum()) if torch else None,
        ag_f=(lambda V, s, eps: anp.sum(anp.sqrt(anp.dot(V, s * s) + eps))) if anp else None))

    # 4: ICA
    W = rng.standard_normal((50, 64)) / 8
    x4 = rng.standard_normal((64, k))

    def _ica(mod_dot):
        def f(W, x):
            R = mod_dot(mod_dot(W.T, W), x) - x
            return (R * R).sum()
        return f
    cases.append(Case(
        key="ICA / W", formula="norm(W'*W*x - x,'fro')^2", wrt="W",
        shapes={"W": (50, 64), "x": (64, k)}, data={"W": W, "x": x4}, order=["W", "x"],
        hand_value=ica_value, hand=ica_hand,
        jax_f=_ica(jnp.matmul) if jnp else None,
        torch_f=_ica(torch.matmul) if torch else None,
        ag_f=_ica(anp.dot) if anp else None))

    # 5: softmax regression
    Theta = 0.01 * rng.standard_normal((10, 784))
    X = rng.random((784, k5))
    labels = rng.integers(0, 10, k5)
    Y = np.zeros((10, k5))
    Y[labels, np.arange(k5)] = 1.0
    m = float(k5)
    cases.append(Case(
        key="softmax regression / Theta",
        formula="-sum(sum(Y .* log(softmax(Theta*X))))/m + lambda/2*norm(Theta,'fro')^2",
        wrt="Theta", shapes={"Theta": (10, 784), "X": (784, k5), "Y": (10, k5), "m": (), "lambda": ()},
        data={"Y": Y, "Theta": Theta, "X": X, "m": m, "lambda": 1e-4},
        order=["Y", "Theta", "X", "m", "lambda"],
        hand_value=softmax_value, hand=softmax_hand,
        jax_f=(lambda Y, T, X, m, lam: -jnp.sum(Y * jax.nn.log_softmax(T @ X, axis=0)) / m
               + lam / 2 * jnp.sum(T * T)) if jnp else None,
        torch_f=(lambda Y, T, X, m, lam: -(Y * torch.log_softmax(T @ X, dim=0)).sum() / m
                 + lam / 2 * (T * T).sum()) if torch else None,
        ag_f=(lambda Y, T, X, m, lam: -anp.sum(Y * (anp.dot(T, X) - alogsumexp(anp.dot(T, X), axis=0,
                                                                             keepdims=True))) / m
              + lam / 2 * anp.sum(T * T)) if anp else None))

    # 6: logistic regression
    X6 = rng.standard_normal((n_log, 100))
    w6 = 0.1 * rng.standard_normal(100)
    y6 = np.where(rng.random(n_log) < 0.5, -1.0, 1.0)
    cases.append(Case(
        key="logistic regression / w", formula="sum(softplus(-y .* (X*w)))", wrt="w",
        shapes={"X": (n_log, 100), "w": (100,), "y": (n_log,)},
        data={"y": y6, "X": X6, "w": w6}, order=["y", "X", "w"],
        hand_value=logistic_value, hand=logistic_hand,
        jax_f=(lambda y, X, w: jnp.sum(jax.nn.softplus(-y * (X @ w)))) if jnp else None,
        torch_f=(lambda y, X, w: torch.nn.functional.softplus(-y * (X @ w)).sum()) if torch else None,
        ag_f=(lambda y, X, w: anp.sum(anp.logaddexp(0.0, -y * anp.dot(X, w)))) if anp else None))
    return cases


# --------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------


def arg_value(name: str, data: dict):
    """A snippet's parameter name -> the data (derive writes lambda as lambda_)."""
    if name in data:
        return data[name]
    if name.endswith("_") and name[:-1] in data:
        return data[name[:-1]]
    raise KeyError(name)


def _kw(data: dict) -> dict:
    """The data as keyword arguments of the hand-written functions."""
    return {("lambda_" if k == "lambda" else k): v for k, v in data.items()}


def derive_candidate(case: Case):
    """derive's emitted value_and_grad, bound to the case's data; plus the Derivation."""
    d = derive.gradient(case.formula, case.wrt, shapes=case.shapes)
    ns: dict = {}
    exec(compile(d.numpy, f"<derive: {case.key}>", "exec"), ns)
    vg = ns["value_and_grad"]
    args = [arg_value(n, case.data) for n in inspect.signature(vg).parameters]
    return (lambda: vg(*args)), d


def hoisted_candidate(case: Case, d):
    """derive's hoisted snippet, if the Derivation has one: prepare(...) once, time the rest.

    Returns (callable or None, note).  The snippet is a string (or an object with a
    ``numpy`` string) defining ``prepare`` and ``value_and_grad``.  ``prepare``'s
    parameters are bound by name to the data; ``value_and_grad``'s parameters that are
    not data names take what ``prepare`` returned (by key if it is a dict, in order if
    it is a tuple and several are missing, else the object itself).
    """
    h = getattr(d, "hoisted", None)
    if h is None:
        return None, "no hoisted snippet"
    src = h if isinstance(h, str) else getattr(h, "numpy", None)
    if not isinstance(src, str):
        return None, f"hoisted is a {type(h).__name__}, not a snippet"
    ns: dict = {}
    exec(compile(src, f"<derive hoisted: {case.key}>", "exec"), ns)
    vg = ns.get("value_and_grad")
    if vg is None:
        return None, "hoisted snippet has no value_and_grad"
    prepared = None
    t_prep = 0.0
    prepare = ns.get("prepare")
    if prepare is not None:
        pargs = [arg_value(n, case.data) for n in inspect.signature(prepare).parameters]
        t0 = time.perf_counter()
        prepared = prepare(*pargs)
        t_prep = time.perf_counter() - t0
    names = list(inspect.signature(vg).parameters)
    missing = [n for n in names if _safe_has(n, case.data) is False]
    fill: dict = {}
    if missing:
        if isinstance(prepared, dict):
            fill = {n: prepared[n] for n in missing}
        elif isinstance(prepared, tuple) and len(missing) > 1:
            fill = dict(zip(missing, prepared))
        else:
            fill = {missing[0]: prepared}
    args = [fill[n] if n in fill else arg_value(n, case.data) for n in names]
    return (lambda: vg(*args)), f"prepare {t_prep * 1e3:.1f} ms once"


def _safe_has(name, data):
    try:
        arg_value(name, data)
        return True
    except KeyError:
        return False


def hand_candidate(case: Case):
    kw = _kw(case.data)
    return lambda: case.hand(**kw)


def objective_candidate(case: Case):
    kw = _kw(case.data)
    return lambda: case.hand_value(**kw)


def jax_candidate(case: Case):
    if jax is None or case.jax_f is None:
        return None
    i = case.order.index(case.wrt)
    vg = jax.jit(jax.value_and_grad(case.jax_f, argnums=i))
    args = [jnp.asarray(case.data[n]) if isinstance(case.data[n], np.ndarray) else case.data[n]
            for n in case.order]
    return lambda: jax.block_until_ready(vg(*args))


def torch_candidate(case: Case):
    if torch is None or case.torch_f is None:
        return None
    i = case.order.index(case.wrt)
    base = [torch.from_numpy(case.data[n]) if isinstance(case.data[n], np.ndarray) else case.data[n]
            for n in case.order]

    def run():
        args = list(base)
        p = base[i].detach().requires_grad_(True)
        args[i] = p
        v = case.torch_f(*args)
        (g,) = torch.autograd.grad(v, p)
        return v.detach(), g
    return run


def autograd_candidate(case: Case):
    if autograd is None or case.ag_f is None:
        return None
    i = case.order.index(case.wrt)
    vg = autograd.value_and_grad(case.ag_f, argnum=i)
    args = [case.data[n] for n in case.order]
    return lambda: vg(*args)


def _to_numpy(a):
    if torch is not None and isinstance(a, torch.Tensor):
        return a.detach().numpy()
    return np.asarray(a)


def agrees(result, reference) -> tuple[bool, str]:
    v, g = result
    rv, rg = reference
    v = float(_to_numpy(v))
    g = _to_numpy(g)
    if g.shape != rg.shape:
        return False, f"gradient shape {g.shape}, expected {rg.shape}"
    gerr = float(np.max(np.abs(g - rg)) / max(np.max(np.abs(rg)), 1e-300))
    verr = abs(v - rv) / max(abs(rv), 1e-300)
    ok = np.allclose(g, rg, rtol=1e-6, atol=1e-9 * np.max(np.abs(rg))) and verr < 1e-8
    return ok, f"value rel err {verr:.1e}, grad max rel err {gerr:.1e}"


def fd_check(case: Case, rng) -> str:
    """The hand-written gradient against a central difference along a random direction."""
    kw = _kw(case.data)
    _, g = case.hand(**kw)
    base = case.data[case.wrt]
    d = rng.standard_normal(base.shape)
    h = 1e-5 * (np.linalg.norm(base) / max(np.linalg.norm(d), 1e-300) + 1e-3)
    kp = dict(kw)
    kp[case.wrt] = base + h * d
    km = dict(kw)
    km[case.wrt] = base - h * d
    fd = (case.hand_value(**kp) - case.hand_value(**km)) / (2 * h)
    an = float(np.vdot(g, d))
    err = abs(fd - an) / max(abs(an), 1e-300)
    if err > 1e-5:
        raise SystemExit(f"hand-written gradient of {case.key!r} fails the finite-difference "
                         f"check: {an} vs {fd} (rel err {err:.1e})")
    return f"{err:.1e}"


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------

NAMES = ["objective", "hand", "derive", "hoisted", "jax", "torch", "autograd"]


def time_interleaved(cands: dict, repeat: int, warmup: int) -> tuple[dict, dict, dict]:
    """(median, minimum, samples) seconds per candidate; each round calls every
    candidate once, in a rotating order, so samples[k][r] are paired across k."""
    for f in cands.values():
        for _ in range(warmup):
            f()
    samples = {k: [] for k in cands}
    keys = list(cands)
    for r in range(repeat):
        rot = keys[r % len(keys):] + keys[:r % len(keys)]
        for k in rot:
            f = cands[k]
            t0 = time.perf_counter()
            f()
            samples[k].append(time.perf_counter() - t0)
    return ({k: statistics.median(v) for k, v in samples.items()},
            {k: min(v) for k, v in samples.items()}, samples)


def fmt_ms(t):
    if t is None:
        return "n/a"
    if isinstance(t, str):
        return t
    return f"{t * 1e3:.2f}"


def fmt_ratio(a, b):
    if not isinstance(a, float) or not isinstance(b, float):
        return "n/a"
    return f"{a / b:.2f}x"


def _git_state() -> str:
    import subprocess
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=10, cwd=os.path.dirname(derive.__file__))
        return "git " + out.stdout.strip() if out.returncode == 0 else "not a git checkout"
    except (OSError, subprocess.SubprocessError):
        return "git unknown"


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def environment_lines() -> list[str]:
    lines = [f"python {sys.version.split()[0]}, numpy {np.__version__}, derive "
             f"{getattr(derive, '__version__', '?')}, cores {NCPU}"]
    peers = []
    peers.append(f"jax {jax.__version__}" if jax else "jax n/a")
    peers.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else "torch n/a")
    peers.append(f"autograd {getattr(autograd, '__version__', 'installed')}" if autograd else "autograd n/a")
    lines.append("peers: " + ", ".join(peers))
    lines.append(f"threads: {THREADS} for BLAS/OpenMP (threadpoolctl), torch.set_num_threads({THREADS}), "
                 f"jax: {JAX_THREAD_NOTE}")
    lines.append(f"derive from {os.path.dirname(derive.__file__)} ({_git_state()}); "
                 f"load average before the run: {_loadavg()}")
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    lines.append("OPENBLAS overrides: " + (str(env) if env else "unset"))
    if threadpool_info is not None:
        for i in threadpool_info():
            lines.append(f"  {i.get('user_api')}: {i.get('internal_api')} {i.get('version')} "
                         f"arch={i.get('architecture', '-')} threads={i.get('num_threads')} "
                         f"({os.path.basename(i.get('filepath', ''))})")
    return lines


def paired_ratios(samples: dict, minima: dict) -> dict:
    """Median over rounds of a/b measured in the same round: robust to load drifting.
    The best peer is the one with the lowest minimum (the least load-dependent pick)."""
    def ratio(a, b):
        if a not in samples or b not in samples:
            return "n/a"
        return f"{statistics.median(x / y for x, y in zip(samples[a], samples[b])):.2f}x"
    peers = [k for k in ("jax", "torch", "autograd") if k in minima]
    best = min(peers, key=minima.get) if peers else None
    return {"derive/hand": ratio("derive", "hand"),
            "derive/best peer": ratio("derive", best) + (f" ({best})" if best else "") if best else "n/a",
            "derive/HIPS": ratio("derive", "autograd"),
            "hoisted/hand": ratio("hoisted", "hand")}


def print_table(rows) -> None:
    header = ["cost", "objective", "hand", "derive", "hoisted", "jax", "torch", "autograd",
              "derive/hand", "derive/best peer", "derive/HIPS"]
    table = []
    for case, row in rows:
        peers = [row[k] for k in ("jax", "torch", "autograd") if isinstance(row[k], float)]
        best = min(peers) if peers else None
        table.append([case.key] + [fmt_ms(row[k]) for k in NAMES]
                     + [fmt_ratio(row["derive"], row["hand"]), fmt_ratio(row["derive"], best),
                        fmt_ratio(row["derive"], row["autograd"])])
    widths = [max(len(str(r[i])) for r in [header] + table) for i in range(len(header))]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    for r in table:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


def main(args) -> int:
    rng = np.random.default_rng(args.seed)
    cases = make_cases(rng, args.scale)
    if args.only:
        cases = [c for c in cases if any(o.lower() in c.key.lower() for o in args.only)]
    for line in environment_lines():
        print(line)
    print(f"timing: {args.repeat} interleaved rounds after {args.warmup} warm-up calls each\n")

    rows = []
    min_rows = []
    paired_rows = []
    slow_code = []
    for case in cases:
        cands = {"objective": objective_candidate(case), "hand": hand_candidate(case)}
        t0 = time.perf_counter()
        derive_f, derivation = derive_candidate(case)
        t_derive = time.perf_counter() - t0
        cands["derive"] = derive_f
        hoisted_f, hoisted_note = hoisted_candidate(case, derivation)
        cands["hoisted"] = hoisted_f
        cands["jax"] = jax_candidate(case)
        cands["torch"] = torch_candidate(case)
        cands["autograd"] = autograd_candidate(case)

        fd = fd_check(case, rng)
        reference = cands["hand"]()
        status = {}
        for name in ("derive", "hoisted", "jax", "torch", "autograd"):
            f = cands[name]
            if f is None:
                status[name] = "n/a"
                continue
            ok, msg = agrees(f(), reference)
            status[name] = ("ok: " if ok else "BAD: ") + msg
            if not ok:
                cands[name] = None
        print(f"{case.key}: {case.formula}  (w.r.t. {case.wrt}; derived in {t_derive * 1e3:.0f} ms; "
              f"hand vs finite difference {fd}; hoisted: {hoisted_note})")
        for name, st in status.items():
            print(f"    {name:9s} {st}")

        live = {k: f for k, f in cands.items() if f is not None}
        medians, minima, samples = time_interleaved(live, args.repeat, args.warmup)

        def _row(times):
            return {k: (times.get(k) if cands[k] is not None
                        else ("BAD" if status.get(k, "").startswith("BAD") else None)) for k in NAMES}
        row = _row(medians)
        rows.append((case, row))
        min_rows.append((case, _row(minima)))
        paired_rows.append((case, paired_ratios(samples, minima)))
        if (args.show_slow is not None and "derive" in samples
                and statistics.median(d / h for d, h in zip(samples["derive"], samples["hand"]))
                > args.show_slow):
            slow_code.append((case, derivation))

    print(f"\nmedian ms of {args.repeat} rounds (threads: {THREADS})")
    print_table(rows)
    print(f"\nminimum ms of {args.repeat} rounds (less sensitive to other load on the machine)")
    print_table(min_rows)
    print(f"\npaired ratios: median over the {args.repeat} rounds of the ratio within a round "
          "(best peer = the peer with the lowest minimum)")
    header = ["cost", "derive/hand", "derive/best peer", "derive/HIPS", "hoisted/hand"]
    table = [[case.key] + [r.get(k, "n/a") for k in header[1:]] for case, r in paired_rows]
    widths = [max(len(str(r[i])) for r in [header] + table) for i in range(len(header))]
    for r in [header] + table:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))

    for case, d in slow_code:
        print(f"\n# derive's emitted code for {case.key} (paired derive/hand > {args.show_slow}):")
        src = d.numpy
        start = src.find("def value_and_grad")
        end = src.find("\ndef ", start + 1)
        helpers = src[:start]
        print(helpers.rstrip() + "\n\n" + (src[start:end] if end > 0 else src[start:]).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
