"""The passes on the statement program (derive/program/passes.py), on programs written by hand.

A program is a list of statements `target = expression`, where every node already
computed is read as its variable. The passes decide what the emitted code computes
(drop_dead), in what order (order_by_reads), and which temporary may be overwritten
(reuse_buffers). What a statement reads is what its printer spells; the printer here is
the smallest one: it spells every bound node of an expression by its variable, and may
write an elementwise function into the array of its argument.
"""
from __future__ import annotations

import sympy

from derive.expr.nodes import Expr, Func, Symbol, postorder
from derive.expr.ops import apply
from derive.expr.simplify import mul, transpose
from derive.program import Program, Statement, Var, drop_dead, order_by_reads, reuse_buffers

m, n = sympy.symbols("m n")
SHAPE = (m, n)


class SmallPrinter:
    """The Target protocol: what a printer tells the passes about its language."""

    accumulates = True

    def aliases(self, e: Expr, bound: dict) -> tuple[Var | None, bool]:
        return None, False

    def in_place_operand(self, e: Expr, bound: dict) -> Expr | None:
        return e.arg if isinstance(e, Func) and e.arg in bound else None

    def spelled_reads(self, s: Statement, program: Program) -> tuple[list[Var], set]:
        if s.expr is None:
            return [], set()
        reads = []
        for child in s.expr.children:
            for node in postorder(child, lambda nd: nd not in program.bound):
                if node in program.bound and program.bound[node] not in reads:
                    reads.append(program.bound[node])
        return reads, set()


class Builder:
    """Writes a program statement by statement, as lowering would."""

    def __init__(self) -> None:
        self.A = Symbol("A", SHAPE)
        self.a = Var(SHAPE, "parameter", "A", source=self.A)
        self.program = Program([self.a], [], {self.A: self.a}, {}, [], SmallPrinter())

    def assign(self, expr: Expr, hint: str, role: str = "temporary", base: Var | None = None
               ) -> Var:
        var = Var(expr.shape, role, hint, base=base)
        self.program.statements.append(Statement("assign", (var,), expr))
        self.program.bound[expr] = var
        return var

    def order(self) -> list[str]:
        return [s.target.hint for s in self.program.statements]


def test_a_statement_nothing_reads_is_dropped():
    b = Builder()
    b.assign(apply("exp", b.A), "unused")
    t1 = apply("sin", b.A)
    b.assign(t1, "t1")
    out = b.assign(apply("cos", t1), "out", role="output")
    b.program.returns = [out]
    drop_dead(b.program)
    assert b.order() == ["t1", "out"]


def test_a_check_of_the_arguments_always_stays():
    b = Builder()
    check = Var(SHAPE, "temporary", "check")
    b.program.statements.append(Statement("check", (check,), None))
    out = b.assign(apply("exp", b.A), "out", role="output")
    b.program.returns = [out]
    drop_dead(b.program)
    assert b.order() == ["check", "out"]


def test_a_statement_moves_after_what_it_reads():
    b = Builder()
    t1 = apply("exp", b.A)
    t2 = apply("sin", t1)
    # t2 is bound first but spelled through t1: it must wait for t1's statement.
    b.program.bound[t1] = Var(SHAPE, "temporary", "t1")
    out = b.assign(t2, "t2", role="output")
    b.program.statements.append(Statement("assign", (b.program.bound[t1],), t1))
    b.program.returns = [out]
    order_by_reads(b.program)
    assert b.order() == ["t1", "t2"]


def test_an_order_that_is_already_right_is_kept():
    b = Builder()
    t1 = apply("exp", b.A)
    b.assign(t1, "t1")
    b.assign(apply("sin", b.A), "t2")
    b.assign(apply("cos", t1), "t3")
    order_by_reads(b.program)
    assert b.order() == ["t1", "t2", "t3"]


def test_a_dead_temporary_s_array_is_reused():
    b = Builder()
    t1 = apply("exp", b.A)
    first = b.assign(t1, "t1")
    second = b.assign(apply("sin", t1), "t2")
    b.program.returns = [second]
    reuse_buffers(b.program, b.program.target)
    assert b.program.statements[1].in_place == t1      # np.sin(t1, out=t1)
    assert second.reuses is first and second.storage is first


def test_an_array_read_afterwards_is_not_overwritten():
    b = Builder()
    t1 = apply("exp", b.A)
    first = b.assign(t1, "t1", role="output")
    second = b.assign(apply("sin", t1), "t2", role="output")
    b.program.returns = [first, second]
    reuse_buffers(b.program, b.program.target)
    assert b.program.statements[1].in_place is None and second.reuses is None


def test_a_parameter_is_never_written():
    b = Builder()
    out = b.assign(apply("exp", b.A), "out", role="output")
    b.program.returns = [out]
    reuse_buffers(b.program, b.program.target)
    assert b.program.statements[0].in_place is None


def program_reading_t1_transposed_later(view: bool) -> Builder:
    """t1 = exp(A); t1T = t1^T (a view of t1, or a copy); t2 = sin(t1); t3 = t1T A."""
    b = Builder()
    t1 = apply("exp", b.A)
    first = b.assign(t1, "t1")
    b.assign(transpose(t1), "t1T", base=first if view else None)
    second = b.assign(apply("sin", t1), "t2")
    later = b.assign(mul(transpose(t1), b.A), "t3", role="output")
    b.program.returns = [second, later]
    reuse_buffers(b.program, b.program.target)
    return b


def test_an_array_seen_through_a_view_is_not_overwritten():
    # t1.T shares t1's memory and is read after sin(t1): sin(t1, out=t1) would change it.
    assert program_reading_t1_transposed_later(view=True).program.statements[2].in_place is None
    # A copy of t1 does not: then t1 itself is dead and its array free.
    assert program_reading_t1_transposed_later(view=False).program.statements[2].in_place \
        is not None
