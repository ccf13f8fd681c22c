"""The expression nodes (derive/expr/nodes.py): immutable, compared by structure, shaped.

Backprop keeps one delta per node and the code shares every repeated subexpression,
both by dictionary look-up: two separately built copies of `A s - x` must be one key.
"""
from __future__ import annotations

import pytest
import sympy

from derive.expr.nodes import (Add, Broadcast, Const, Hadamard, Identity, MatMul, ONE,
                               Placeholder, Power, SCALAR, Sum, Symbol, TooLarge, Transpose,
                               broadcast_shape, depends_on, is_const, is_symmetric, is_zero,
                               postorder, split_coeff, split_power, symbols_in, zeros)

m, n, k = sympy.symbols("m n k")
A, s, x = Symbol("A", (m, n)), Symbol("s", (n, k)), Symbol("x", (m, k))


def residual(A: Symbol, s: Symbol, x: Symbol) -> Add:
    """A s - x, the residual of sparse coding, built node by node."""
    return Add((MatMul(ONE, (A, s), (m, k)), MatMul(-ONE, (x,), (m, k))), (m, k))


def test_two_copies_of_a_subexpression_are_one_key():
    first, second = residual(A, s, x), residual(Symbol("A", (m, n)), Symbol("s", (n, k)),
                                                Symbol("x", (m, k)))
    assert first is not second
    assert first == second and hash(first) == hash(second)
    deltas = {first: "the delta of A s - x"}
    assert deltas[second] == "the delta of A s - x"


def test_a_node_differs_by_name_shape_assumption_and_kind():
    assert Symbol("A", (m, n)) != Symbol("B", (m, n))
    assert Symbol("A", (m, n)) != Symbol("A", (n, m))
    assert Symbol("S", (n, n)) != Symbol("S", (n, n), "symmetric")
    # The input z of a layer prints as a name, but is never the formula's symbol of that name.
    assert Placeholder("A", (m, n)) != Symbol("A", (m, n))
    assert Sum(A, 0) != Sum(A, 1) != Sum(A, None)


def test_shapes():
    assert Transpose(A).shape == (n, m)
    assert Sum(A, None).shape == SCALAR            # all entries
    assert Sum(A, 0).shape == (ONE, n)             # column sums: a row
    assert Sum(A, 1).shape == (m, ONE)             # row sums: a column
    assert Power(A, Const(2)).shape == A.shape
    assert Identity(n).shape == (n, n)
    assert Broadcast(Const(3), (m, k)).shape == (m, k)
    assert Hadamard((A, A), (m, n)).shape == (m, n)
    assert Const(sympy.Rational(1, 2)).is_scalar and Symbol("gamma", SCALAR).is_scalar
    assert not Symbol("b", (m, ONE)).is_scalar


def test_numpy_broadcasting_of_shapes():
    assert broadcast_shape([(m, n), SCALAR]) == (m, n)
    assert broadcast_shape([(m, n), (m, ONE)]) == (m, n)     # a column to every column
    assert broadcast_shape([(m, n), (ONE, n)]) == (m, n)     # a row to every row
    assert broadcast_shape([(m, ONE), (ONE, n)]) == (m, n)
    assert broadcast_shape([(m, n), (n, m)]) is None


def test_constants_stay_within_floating_point():
    assert Const(sympy.Rational(3, 4)).value == sympy.Rational(3, 4)
    with pytest.raises(TooLarge, match="beyond the range"):
        Const(sympy.Integer(2) ** 2000)
    with pytest.raises(TooLarge, match="divides by zero"):
        Const(sympy.zoo)


def test_zeros_and_constants():
    assert zeros(SCALAR) == Const(0) and is_zero(zeros((m, n)))
    assert is_const(Broadcast(Const(1), (m, n)), 1) and not is_const(A)


def test_postorder_visits_a_shared_node_once_children_first():
    r = residual(A, s, x)
    cost = Sum(Hadamard((r, r), (m, k)), None)
    order = postorder(cost)
    assert order.count(r) == 1
    assert order.index(A) < order.index(r) < order.index(cost) == len(order) - 1


def test_what_an_expression_depends_on():
    r = residual(A, s, x)
    assert depends_on(r, frozenset({"A"})) and not depends_on(r, frozenset({"gamma"}))
    assert [sym.name for sym in symbols_in(r)] == ["A", "s", "x"]


def test_a_coefficient_and_an_exponent_split_off():
    assert split_coeff(MatMul(sympy.Integer(2), (A,), (m, n))) == (2, A)
    assert split_coeff(Const(5)) == (5, None)
    assert split_power(Power(A, Const(3))) == (A, 3)
    assert split_power(A) == (A, 1)


def test_symmetry_is_known_from_an_assumption_or_the_identity():
    assert is_symmetric(Symbol("Sigma", (n, n), "spd"))
    assert is_symmetric(Identity(n))
    assert not is_symmetric(Symbol("S", (n, n)))
