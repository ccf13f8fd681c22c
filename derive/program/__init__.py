"""The statement program behind every emitted snippet.

The pipeline reads text -> syntax -> expression -> derivative -> program ->
printed forms. Here the expression trees of the value and the gradients become
a list of statements (``lower``); passes on the statements order them by what
is spelled, drop dead code and
reuse the arrays of dead temporaries in place, deciding by last use *and* by
aliasing (``passes``); the one namer (``derive.naming``) gives every value its name last.
A printer only spells statements: what it may update in place is a property
it declares (a ``Target``), so a printer for a pure target says "nothing".
"""
from .statements import Output, Program, Statement, Target, Var, kind, kind_of_shape
from .lower import lower
from .passes import drop_dead, order_by_reads, reuse_buffers

__all__ = ["Output", "Program", "Statement", "Target", "Var", "kind", "kind_of_shape", "lower",
           "drop_dead", "order_by_reads", "reuse_buffers"]
