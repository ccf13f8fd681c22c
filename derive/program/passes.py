"""Passes on the statement program: dead code, and arrays reused in place.

``reuse_buffers`` lets ``y = f(x)`` write into x's array (``np.sqrt(t1, out=t1)``)
only when nothing reads that array afterwards: not x, not any view of x (a
transpose, a diagonal), not anything x is itself a view of, and not any value
that already took over the same array. A parameter, a prepared value and a
read-only view are never written.
"""
from __future__ import annotations

from .statements import Program, Statement, Target, Var


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
