"""Paired timing shared by the benchmark scripts: every round calls every candidate, in a
rotating order, so that load on the machine falls on all of them alike."""
from __future__ import annotations

import time
from typing import Callable


def paired_times(candidates: dict[str, Callable], repeat: int) -> dict[str, list[float]]:
    """Per-call seconds of each candidate in each round (each round calls all, rotating)."""
    calls = {}
    for name, run in candidates.items():   # warm up (and compile); calls per round >= 20 ms
        run()
        start = time.perf_counter()
        run()
        calls[name] = max(1, int(0.02 / max(time.perf_counter() - start, 1e-6)))
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    names = list(candidates)
    for r in range(repeat):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            for _ in range(calls[name]):
                candidates[name]()
            samples[name].append((time.perf_counter() - start) / calls[name])
    return samples
