"""JAX code: the NumPy program spelled with ``jax.numpy``, pure, for ``jax.jit`` and ``jax.vmap``.

The statement program is the NumPy one (same functions, parameters, returns and
array conventions: a vector is 1-D), printed by a sibling of the NumPy printer
that declares nothing may be updated in place, so every statement makes a new
array, as JAX's arrays are immutable. No Python branch depends on a value, so
the code traces; sizes come from shapes, which are static under ``jit``. The
value is a 0-d array. Constants take the arguments' dtype (a float32 argument
gives float32 results, with or without ``jax_enable_x64``).
"""
from __future__ import annotations

import re

from ..expr.nodes import Broadcast, Const, Expr, Func, Transpose
from ..printing.precedence import ATOM, MUL
from ..program import kind
from ..program.chain import chain_kind
from .numpy import NumpyPrinter, constants_like, expect_shape_helper

HELPERS: dict[str, str] = {
    "_inverse_or_zero": '''def _inverse_or_zero(n):
    # 1 / n, and 0 at n = 0 (the subgradient taken for a norm at 0), with no Python branch
    # on a traced value
    nonzero = n != 0
    return jnp.where(nonzero, 1.0 / jnp.where(nonzero, n, 1.0), 0.0)''',
    "_softmax_logsumexp": '''def _softmax_logsumexp(z, axis=None):
    # softmax and logsumexp of the same z with one pass of exp, shifted by the maximum
    top = z.max(axis=axis)
    e = jnp.exp(z - top)
    total = e.sum(axis=axis)
    return e / total, top + jnp.log(total)''',
    "_jnp": "_jnp = jnp  # a parameter is called jnp: the functions reach it as _jnp",
    "_jax": "_jax = jax  # a parameter is called jax: the functions reach it as _jax",
    "_expect_shape": expect_shape_helper("jnp.shape(array)"),
}


class JaxPrinter(NumpyPrinter):
    """The NumPy printer's program in ``jax.numpy``: nothing in place."""

    target, language = "jax", "JAX"
    accumulates = False
    in_place_ufuncs: dict[str, str] = {}
    module = "jnp"
    imports = "import jax\nimport jax.numpy as jnp"
    helper_sources = HELPERS
    like = None   # the argument whose dtype (and device) constants take; set by spell()
    jax = "jax"   # jax itself (for jax.nn), or its alias where a parameter is called jax

    def spell(self, program, names) -> list[str]:
        self.like = constants_like(program.parameters)
        self.jax = "_jax" if "jax" in names.values() else "jax"
        if self.jax != "jax":
            self.helpers.add("_jax")
        return super().spell(program, names)

    def constant_keywords(self) -> str:
        if self.like is None:
            return ""
        like = self.name(self.like)
        # a scalar argument may be a Python float, which has no dtype
        return f", dtype={like}.dtype" if self.like.kind != "scalar" \
            else f", dtype={self.np}.result_type({like})"

    def statement(self, s) -> list[str]:
        if s.op == "update":
            # t = t + b: a new array, as every JAX operation makes (no augmented assignment)
            return [self.spelled_update(s, s.operator[0])]
        if s.op == "assign" and isinstance(s.expr, Const):
            # a constant result (a gradient that is 0) is an array all the same
            number = self.number(s.expr.value)[0]
            return [f"{self.name(s.target)} = {self.np}.asarray({number}"
                    f"{self.constant_keywords()})"]
        if s.op == "assign" and s.target.role == "output" and s.target.hint != "value" \
                and s.target.kind == "scalar":
            # of a scalar argument that is a Python float, 2 * eta would be a float
            return [f"{self.name(s.target)} = {self.np}.asarray({self.code(s.expr)}"
                    f"{self.constant_keywords()})"]
        return super().statement(s)

    def in_place_operand(self, e: Expr, bound) -> Expr | None:
        return None   # JAX arrays are immutable

    def copied(self, e: Expr) -> str:
        return self.code(e)   # JAX arrays are immutable: sharing one is safe

    def value(self, code: str) -> str:
        return f"{self.np}.asarray({code})"   # a 0-d array, also where every argument is a float

    def spelling(self, e: Func, args: list[str]) -> str:
        spelling = super().spelling(e, args)
        return spelling if self.jax == "jax" else re.sub(r"\bjax\.", f"{self.jax}.", spelling)

    def subchain(self, chain, split, scaled, i: int, j: int) -> tuple[str, int]:
        # X.T @ v as v @ X, and r @ X.T as X @ r: XLA on a CPU copies a transposed operand
        # of a matrix-vector product first (five times slower on a tall X)
        if i < j:
            k = split[i][j]
            if k == i + 1 and self._plain_transpose(chain[i], i, scaled) \
                    and chain_kind(chain[k:j + 1]) == "col":
                vector, prec = super().subchain(chain, split, scaled, k, j)
                vector = vector if prec > MUL else f"({vector})"
                return f"{vector} @ {self.wrap(chain[i].arg, MUL + 1)}", MUL
            if k == j and self._plain_transpose(chain[j], j, scaled) \
                    and chain_kind(chain[i:k]) == "row":
                vector, _ = super().subchain(chain, split, scaled, i, k - 1)
                return f"{self.wrap(chain[j].arg, MUL)} @ ({vector})", MUL
        return super().subchain(chain, split, scaled, i, j)

    def _plain_transpose(self, e: Expr, index: int, scaled) -> bool:
        return isinstance(e, Transpose) and kind(e) == "matrix" and not self.is_bound(e) \
            and index not in scaled

    def _print_Broadcast(self, e: Broadcast) -> tuple[str, int]:
        shape = self._shape_code(*e.shape)
        if e.arg.is_scalar:
            # the arguments' dtype: a fill of 0 or 1 would make an integer array
            return f"{self.np}.full({shape}, {self.code(e.arg)}{self.constant_keywords()})", ATOM
        return f"{self.np}.broadcast_to({self.repeated(e)}, {shape})", ATOM
