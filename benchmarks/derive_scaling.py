"""How deriving itself scales: time and peak memory of derive.gradient + .numpy + .text.

Families (each size in its own subprocess, so one blow-up or recursion error does
not take the others down, and memory peaks do not mix):

  distinct  sum(A1*x) + sum(A2*x) + ... + sum(An*x)       w.r.t. x    n = 10, 100, 1000
  repeated  sum(x.^2) + sum(x.^2) + ... (n times)          w.r.t. x    n = 10, 100, 1000
  chain     H1 = tanh(W1*x); H2 = tanh(W2*H1); ...; sum(Hn)
            w.r.t. W1 (chain-W1) and w.r.t. all W (chain-all) n = 10, 50, 100

Time is the median of --repeat runs without tracemalloc (one run only when a run
takes over 5 s); the peak is measured in a separate run under tracemalloc (which
slows Python down several times, so it is not timed).
The output size (characters of .text and .numpy) shows how big the result grows.

    python benchmarks/derive_scaling.py
    python benchmarks/derive_scaling.py --timeout 120 --family chain-all
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
    "distinct": [10, 100, 1000],
    "repeated": [10, 100, 1000],
    "chain-W1": [10, 50, 100],
    "chain-all": [10, 50, 100],
}


def formula(family: str, n: int) -> tuple[str, list[str]]:
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


def derive_once(text: str, wrt: list[str]) -> tuple[int, int]:
    import derive
    d = derive.gradient(text, wrt)
    code = d.numpy
    out = d.text
    return len(out), len(code)


def one(family: str, n: int, repeat: int) -> dict:
    """Runs in the child: times, then the tracemalloc peak."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    text, wrt = formula(family, n)
    import derive  # noqa: F401  (import cost outside the measurement)
    times = []
    sizes = (0, 0)
    for _ in range(repeat):
        t0 = time.perf_counter()
        sizes = derive_once(text, wrt)
        times.append(time.perf_counter() - t0)
        if times[-1] > 5.0:       # slow sizes: one run is enough to see the growth
            break
    tracemalloc.start()
    derive_once(text, wrt)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"family": family, "n": n, "seconds": statistics.median(times), "runs": len(times),
            "peak_bytes": peak, "text_chars": sizes[0], "numpy_chars": sizes[1],
            "formula_chars": len(text)}


def run_child(family: str, n: int, repeat: int, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", family, str(n), "--repeat", str(repeat)]
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


def main() -> int:
    p = argparse.ArgumentParser(description="time and peak memory of deriving large costs")
    p.add_argument("--family", action="append", choices=list(SIZES), default=[],
                   help="only these families (repeatable)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per size (median; default 3)")
    p.add_argument("--timeout", type=float, default=1800,
                   help="seconds per size (all its runs) before giving up; default 1800")
    p.add_argument("--child", nargs=2, metavar=("FAMILY", "N"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(one(args.child[0], int(args.child[1]), args.repeat)))
        return 0

    import derive
    import os
    git = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                         cwd=os.path.dirname(derive.__file__))
    print(f"python {sys.version.split()[0]}; derive from {os.path.dirname(derive.__file__)} "
          f"(git {git.stdout.strip() or '?'}); load average {os.getloadavg()[0]:.2f}")
    print(f"derive.gradient + .numpy + .text; time = median of {args.repeat} runs, "
          "peak = tracemalloc peak of one more run\n")
    header = ["family", "n", "time (s)", "runs", "x prev", "peak", "text chars", "numpy chars"]
    rows = []
    for family in (args.family or list(SIZES)):
        prev = None
        prev_n = None
        for n in SIZES[family]:
            r = run_child(family, n, args.repeat, args.timeout)
            if "error" in r:
                rows.append([family, str(n), r["error"], "", "", "", "", ""])
                prev = None
                continue
            growth = ""
            if prev:
                growth = f"{r['seconds'] / prev:.1f}x for {n // prev_n}x n"
            rows.append([family, str(n), f"{r['seconds']:.3f}", str(r["runs"]), growth,
                         human_bytes(r["peak_bytes"]),
                         str(r["text_chars"]), str(r["numpy_chars"])])
            prev, prev_n = r["seconds"], n
            print("  " + "  ".join(rows[-1]), file=sys.stderr, flush=True)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
