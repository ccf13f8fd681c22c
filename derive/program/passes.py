"""Passes on the statement program: order by what is spelled, dead code, arrays reused in place.

``order_by_reads`` moves a statement after every statement that writes what its
spelling reads: a printer may spell a node through another bound one (``tr(P Q)``
as ``np.vdot(P^T, Q)`` with ``P^T`` bound later for another use).

``reuse_buffers`` lets ``y = f(x)`` write into x's array (``np.sqrt(t1, out=t1)``)
only when nothing reads that array afterwards: not x, not any view of x (a
transpose, a diagonal), not anything x is itself a view of, and not any value
that already took over the same array. A parameter, a prepared value and a
read-only view are never written.
"""
from __future__ import annotations

import bisect

from .statements import Program, Statement, Target, Var


def order_by_reads(program: Program) -> Program:
    """A stable order in which every value is written before any statement reads it."""
    writers: dict[Var, list[int]] = {}
    for i, s in enumerate(program.statements):
        for t in s.targets:
            writers.setdefault(t, []).append(i)

    def before(i: int) -> list[int]:
        """What statement i waits for: the last writer of what it reads before it (an
        update reads the value so far), else its writers, and the last earlier write of
        its own targets. Each write of a value waits for the one before it, so the last
        stands for all: a value written n times costs n steps, not n^2."""
        needs = []
        own = program.statements[i].targets
        for v in program.reads(program.statements[i]):
            if v in own:
                continue   # the spelling names its target: not a value it waits for
            written = writers.get(v, [])
            earlier = last_before(written, i)
            needs += earlier or [j for j in written if j != i]
        for t in own:
            needs += last_before(writers[t], i)
        return needs

    placed: list[int] = []
    done: set[int] = set()
    started: set[int] = set()   # on the current path: a cycle keeps the original order
    for first in range(len(program.statements)):
        stack = [(first, False)]
        while stack:   # depth first, with an explicit stack: programs may be long
            i, expanded = stack.pop()
            if expanded:
                done.add(i)
                placed.append(i)
                continue
            if i in done or i in started:
                continue
            started.add(i)
            stack.append((i, True))
            stack.extend((j, False) for j in reversed(before(i))
                         if j not in done and j not in started)
    program.statements = [program.statements[i] for i in placed]
    return program


def last_before(indices: list[int], i: int) -> list[int]:
    """The largest of the ascending ``indices`` below i, as a list (empty if none)."""
    k = bisect.bisect_left(indices, i)
    return [indices[k - 1]] if k else []


def drop_dead(program: Program) -> Program:
    """Remove statements whose results nothing reads or returns (checks always stay)."""
    live: set[Var] = set(program.returns)
    kept: list[Statement] = []
    for s in reversed(program.statements):
        if s.op == "check" or any(t in live for t in s.targets):
            kept.append(s)
            live.update(program.reads(s))
    program.statements = kept[::-1]
    return program


def reuse_buffers(program: Program, target: Target) -> Program:
    """Compute ``y = f(x)`` into x's array where the target can and x's array is dead."""
    reads = [program.reads(s) for s in program.statements]
    end = len(program.statements)
    last: dict[Var, int] = {}
    for i, vars_ in enumerate(reads):
        for v in vars_:
            last[v] = i
    for v in program.returns:
        last[v] = end
    # The last read of each array: the latest read of anything living in it.
    array_last: dict[Var, int] = {}
    for v, i in last.items():
        owner = v.array
        array_last[owner] = max(array_last.get(owner, -1), i)
    for i, s in enumerate(program.statements):
        y = s.target
        if s.op != "assign" or y.role != "temporary" or y.kind == "scalar" or y.base is not None:
            continue
        operand = target.in_place_operand(s.expr, program.bound)
        x = program.bound.get(operand) if operand is not None else None
        if x is None or not x.writable or x.shape != y.shape:
            continue
        owner = x.array
        if array_last.get(owner, -1) > i:
            continue   # x, a view of it, or its base is read later
        s.in_place = operand
        y.reuses = x
        array_last[owner] = max(array_last.get(owner, -1), array_last.pop(y, -1))
    return program
