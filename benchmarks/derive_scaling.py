"""How deriving itself scales: time and output size of every format, and peak memory.

Families (each size in its own subprocess, so one blow-up or recursion error does
not take the others down, and memory peaks do not mix):

  sines     sum(sin(1*x)) + sum(sin(2*x)) + ... + sum(sin(n*x))  w.r.t. x  n = 500 ... 5000
            (issue 17: a long sum, whose code and text must grow linearly)
  distinct  sum(A1*x) + sum(A2*x) + ... + sum(An*x)       w.r.t. x    n = 10, 100, 1000
  repeated  sum(x.^2) + sum(x.^2) + ... (n times)          w.r.t. x    n = 10, 100, 1000
  chain     H1 = tanh(W1*x); H2 = tanh(W2*H1); ...; sum(Hn)
            w.r.t. W1 (chain-W1) and w.r.t. all W (chain-all) n = 10, 50, 100

For each format (text, latex, numpy, jax, torch, matlab: what ``derive grad --format F``
prints, ``d.show(F)``), the time is derive.gradient plus that output from scratch, the
median of --repeat runs (one run only when a run takes over 5 s); "x prev" is the growth
over the previous size, to read against the growth of n. With --peak, the tracemalloc
peak of derive.gradient + .numpy + .text is measured in a separate run (tracemalloc
slows Python down several times, so that run is not timed).

    python benchmarks/derive_scaling.py --family sines
    python benchmarks/derive_scaling.py --timeout 120 --family chain-all --format numpy

The figures of the last run are in benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import tracemalloc

SIZES = {
    "sines": [500, 1000, 2000, 4000, 5000],
    "distinct": [10, 100, 1000],
    "repeated": [10, 100, 1000],
    "chain-W1": [10, 50, 100],
    "chain-all": [10, 50, 100],
}


FORMATS = ["text", "latex", "numpy", "jax", "torch", "matlab"]


def formula(family: str, n: int) -> tuple[str, list[str]]:
    if family == "sines":
        return " + ".join(f"sum(sin({i}*x))" for i in range(1, n + 1)), ["x"]
    if family == "distinct":
        return " + ".join(f"sum(A{i}*x)" for i in range(1, n + 1)), ["x"]
    if family == "repeated":
        return " + ".join("sum(x.^2)" for _ in range(n)), ["x"]
    if family.startswith("chain"):
        lines = ["H1 = tanh(W1*x);"]
        lines += [f"H{i} = tanh(W{i}*H{i - 1});" for i in range(2, n + 1)]
        text = "\n".join(lines) + f"\nsum(H{n})"
        wrt = ["W1"] if family == "chain-W1" else [f"W{i}" for i in range(1, n + 1)]
        return text, wrt
    raise ValueError(family)


def derive_once(text: str, wrt: list[str], fmt: str) -> int:
    """derive.gradient and one format's whole output, from scratch: its characters."""
    import derive
    return len(derive.gradient(text, wrt).show(fmt))


def peak_run(text: str, wrt: list[str]) -> int:
    import derive
    tracemalloc.start()
    d = derive.gradient(text, wrt)
    d.numpy, d.text
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def one(family: str, n: int, repeat: int, formats: list[str], peak: bool) -> dict:
    """Runs in the child: each format's time and size, then the tracemalloc peak."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    text, wrt = formula(family, n)
    import derive  # noqa: F401  (import cost outside the measurement)
    out = {"family": family, "n": n, "formula_chars": len(text), "formats": {}}
    for fmt in formats:
        derive_once(*formula(family, 2), fmt)   # lazy imports and first calls, untimed
        times = []
        chars = 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            chars = derive_once(text, wrt, fmt)
            times.append(time.perf_counter() - t0)
            if times[-1] > 5.0:       # slow sizes: one run is enough to see the growth
                break
        out["formats"][fmt] = {"seconds": statistics.median(times), "runs": len(times),
                               "chars": chars}
    if peak:
        out["peak_bytes"] = peak_run(text, wrt)
    return out


def run_child(family: str, n: int, repeat: int, timeout: float, formats: list[str],
              peak: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", family, str(n), "--repeat", str(repeat)]
    cmd += [a for f in formats for a in ("--format", f)] + (["--peak"] if peak else [])
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"family": family, "n": n, "error": f"timeout > {timeout:.0f} s"}
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
        return {"family": family, "n": n, "error": last[:100]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def human_bytes(b: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if b < 1024 or unit == "GiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    return str(b)


def growth(now: float, before: float | None) -> str:
    return f"{now / before:.2f}x" if before else ""


def main() -> int:
    p = argparse.ArgumentParser(description="time, output size and peak memory of deriving "
                                            "large costs")
    p.add_argument("--family", action="append", choices=list(SIZES), default=[],
                   help="only these families (repeatable)")
    p.add_argument("--format", action="append", choices=FORMATS, default=[],
                   help="only these formats (repeatable; default all)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per size (median; default 3)")
    p.add_argument("--timeout", type=float, default=1800,
                   help="seconds per size (all its runs) before giving up; default 1800")
    p.add_argument("--peak", action="store_true",
                   help="also the tracemalloc peak of gradient + numpy + text")
    p.add_argument("--child", nargs=2, metavar=("FAMILY", "N"), help=argparse.SUPPRESS)
    args = p.parse_args()
    formats = args.format or FORMATS
    if args.child:
        print(json.dumps(one(args.child[0], int(args.child[1]), args.repeat, formats,
                             args.peak)))
        return 0

    import derive
    import os
    git = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                         cwd=os.path.dirname(derive.__file__))
    print(f"python {sys.version.split()[0]}; derive from {os.path.dirname(derive.__file__)} "
          f"(git {git.stdout.strip() or '?'}); load average {os.getloadavg()[0]:.2f}")
    print(f"derive.gradient + the format's output; time = median of {args.repeat} runs; "
          "x prev = growth over the previous size\n")
    header = ["family", "n", "format", "time (s)", "runs", "x prev", "chars", "x prev", "peak"]
    rows = []
    for family in (args.family or list(SIZES)):
        before: dict = {}
        prev_n = None
        for n in SIZES[family]:
            r = run_child(family, n, args.repeat, args.timeout, formats, args.peak)
            if "error" in r:
                rows.append([family, str(n), "", r["error"], "", "", "", "", ""])
                before = {}
                continue
            for fmt, m in r["formats"].items():
                was = before.get(fmt, {})
                step = f" ({n / prev_n:.2g}x n)" if was else ""
                rows.append([family, str(n), fmt, f"{m['seconds']:.3f}", str(m["runs"]),
                             growth(m["seconds"], was.get("seconds")) + step, str(m["chars"]),
                             growth(m["chars"], was.get("chars")),
                             human_bytes(r["peak_bytes"]) if "peak_bytes" in r else ""])
                print("  " + "  ".join(rows[-1]), file=sys.stderr, flush=True)
            before, prev_n = r["formats"], n
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(c.ljust(w) if i in (0, 2, 5) else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
