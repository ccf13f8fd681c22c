"""The functions users may call: each a rule of argument kinds and how to build it, and the
functions people reach for that the language spells otherwise."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy

from ..expr.nodes import Const, Expr, Identity
from ..expr.simplify import mul, ones, power, summation, transpose
from ..expr.ops import apply, kron

MAX_MATRIX_POWER = 64


class Refusal(Exception):
    """Raised by a call rule; the walk adds the call's place in the text."""


# ---------------------------------------------------------------- the calls users may write

@dataclass(frozen=True)
class CallRule:
    """A function of the formula language: argument kinds and how to build it.

    Kinds: ``expr`` an operand; ``axis`` a literal 1 or 2; ``norm`` a literal
    'fro', 1 or 2; ``dim`` a dimension (positive integer or name). A trailing
    ``?`` makes the argument optional.
    """
    args: tuple[str, ...]
    make: Callable[..., Expr]
    square: bool = False        # the operand must be a square matrix


def _elementwise(name: str) -> CallRule:
    return CallRule(("expr",), lambda x: apply(name, x))


def _sum(x: Expr, axis: int | None = None) -> Expr:
    return summation(x, None if axis is None else axis - 1)


def _mean(x: Expr, axis: int | None = None) -> Expr:
    rows, cols = x.shape
    count = rows * cols if axis is None else rows if axis == 1 else cols
    return mul(Const(1 / sympy.sympify(count)), _sum(x, axis))


def _norm(x: Expr, p: str | int = "fro") -> Expr:
    is_vector = x.shape[0] == 1 or x.shape[1] == 1
    if p == 1:
        if not is_vector:
            raise Refusal("norm(X, 1) of a matrix is the induced 1-norm, which derive does not "
                          "differentiate; for the sum of absolute values write sum(abs(X))")
        return summation(apply("abs", x), None)
    if p == 2 and not is_vector:
        raise Refusal("norm(X, 2) of a matrix is the spectral norm, which derive does not "
                      "differentiate; for the Frobenius norm write norm(X, 'fro')")
    return apply("norm", x)


def _logsumexp(x: Expr, axis: int | None = None) -> Expr:
    if axis == 2:
        raise Refusal("logsumexp(X, 2) is not in the language: logsumexp(X, 1) works per column; "
                      "write logsumexp(X', 1)' for rows")
    return apply("logsumexp", x, None if axis is None else 0)


def _diag(x: Expr) -> Expr:
    if x.is_scalar:
        return x                      # a 1x1 is its own diagonal
    if x.shape[0] == 1:
        x = transpose(x)              # diag of a row is the diagonal matrix, as in MATLAB
    return apply("diag", x)


def _square(name: str) -> CallRule:
    # A 1x1 is a scalar wherever a scalar is expected: the Op's rewrite gives what the
    # function is of a scalar (tr and det: itself, logdet: its log, inv: 1 / it).
    return CallRule(("expr",), lambda x: apply(name, x), square=True)


CALLS: dict[str, CallRule] = {
    **{name: _elementwise(name) for name in
       ("exp", "log", "sin", "cos", "tanh", "sigmoid", "softplus", "abs", "relu", "sign",
        "step")},
    "sqrt": CallRule(("expr",), lambda x: power(x, Const(sympy.Rational(1, 2)))),
    "square": CallRule(("expr",), lambda x: power(x, Const(sympy.Integer(2)))),
    "sum": CallRule(("expr", "axis?"), _sum),
    "mean": CallRule(("expr", "axis?"), _mean),
    "norm": CallRule(("expr", "norm?"), _norm),
    "norm1": CallRule(("expr",), lambda x: _norm(x, 1)),
    "norm2": CallRule(("expr",), lambda x: _norm(x, 2)),
    "tr": _square("tr"),
    "trace": _square("tr"),
    "det": _square("det"),
    "logdet": _square("logdet"),
    "inv": _square("inv"),
    "diag": CallRule(("expr",), _diag),
    "softmax": CallRule(("expr",), lambda x: apply("softmax", x)),
    "logsumexp": CallRule(("expr", "axis?"), _logsumexp),
    "eye": CallRule(("dim",), lambda n: Identity(n)),
    "ones": CallRule(("dim", "dim"), lambda m, n: ones((m, n))),
    # In results (Jacobians, Hessians): read back, as the text prints them.
    "kron": CallRule(("expr", "expr"), kron),
    "vec": CallRule(("expr",), lambda x: apply("vec", x)),
}


# Functions people reach for that the language spells otherwise.
NOT_FUNCTIONS = {
    "max": "max is not in the formula language: max(0, z) is relu(z)",
    "maximum": "maximum is not in the formula language: maximum(z, 0) is relu(z)",
    "min": "min is not in the formula language: min(0, z) is -relu(-z)",
    "minimum": "minimum is not in the formula language: minimum(z, 0) is -relu(-z)",
    "transpose": "transpose(X) is written X' (or X.T)",
    "dot": "dot(x, y) is written x'*y",
    "length": "the formula language has no length: declare sizes with --shape, and write "
              "sum(x) or ones(n, 1) for sums and vectors of ones",
    "len": "the formula language has no len: declare sizes with --shape, and write "
           "sum(x) or ones(n, 1) for sums and vectors of ones",
    "pow": "pow(x, p) is written x.^p (elementwise) or c^p (a scalar)",
}
