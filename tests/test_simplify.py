"""The simplifying constructors (derive/expr/simplify.py): the whole of derive's simplification.

The UFLDL note writes its deltas the way a person does: scalars in front, transposes on
the names, like terms collected, no identity or matrix of ones left standing. derive
never simplifies after the fact, so each constructor must leave its result in that form,
and the form must be the same function: every case is also evaluated on random numbers.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy

from derive.expr.nodes import Broadcast, Const, Identity, MatMul, SCALAR, Symbol, Transpose, is_zero
from derive.expr.ops import apply
from derive.expr.simplify import (add, hadamard, mul, neg, ones, power, sub, summation,
                                  transpose)
from test_backprop import evaluate, random_values

m, n, k = sympy.symbols("m n k")
A, B, E = Symbol("A", (m, n)), Symbol("B", (n, m)), Symbol("E", (m, n))
s, x = Symbol("s", (n, k)), Symbol("x", (m, k))
gamma = Symbol("gamma", SCALAR)
SIZES = {m: 4, n: 3, k: 2}


# --- like terms

def test_like_terms_are_collected():
    As = mul(A, s)
    assert add(As, As) == mul(Const(2), A, s)
    assert add(As, mul(Const(2), A, s)) == mul(Const(3), A, s)
    assert is_zero(sub(As, As))
    assert add(A, mul(Const(0), A)) == A


def test_a_repeated_sum_is_scaled_as_a_whole():
    R = sub(mul(A, s), x)
    four_R = add(mul(Const(2), R), mul(Const(2), R))
    assert isinstance(four_R, MatMul) and four_R.coeff == 4 and four_R.factors == (R,)


# --- transposes

def test_a_transpose_is_pushed_through_a_product_to_the_names():
    st_At = transpose(mul(A, s))
    assert st_At == mul(transpose(s), transpose(A))
    assert all(isinstance(f, Transpose) and isinstance(f.arg, Symbol) for f in st_At.factors)


def test_a_transpose_keeps_the_scalars_in_front():
    assert transpose(mul(Const(2), gamma, A, s)) == mul(Const(2), gamma, transpose(s),
                                                        transpose(A))


def test_a_transposed_sum_is_transposed_term_by_term():
    assert transpose(add(A, transpose(B))) == add(transpose(A), B)


def test_two_transposes_cancel_and_a_symmetric_matrix_is_its_own_transpose():
    assert transpose(transpose(A)) == A
    S = Symbol("S", (n, n), "symmetric")
    assert transpose(S) == S
    assert transpose(apply("inv", S)) == apply("inv", S)


# --- scalars in front

def test_scalars_go_in_front_of_the_matrices():
    product = mul(A, Const(3), gamma, s)
    assert isinstance(product, MatMul)
    assert product.coeff == 3 and product.factors == (gamma, A, s)


def test_numbers_multiply_out():
    assert mul(mul(A, Const(sympy.Rational(1, 2)), s), Const(2)) == mul(A, s)
    assert neg(neg(A)) == A


def test_a_scalar_factor_of_an_elementwise_product_comes_out_in_front():
    assert hadamard(A, mul(Const(2), gamma, E)) == mul(Const(2), gamma, hadamard(A, E))


def test_powers_of_the_same_base_combine():
    assert mul(gamma, gamma) == power(gamma, Const(2))
    assert mul(power(gamma, Const(2)), gamma) == power(gamma, Const(3))
    assert hadamard(A, A) == power(A, Const(2))
    assert power(power(A, Const(2)), Const(3)) == power(A, Const(6))
    # M .* (M .* E) is M.^2 .* E
    assert hadamard(A, hadamard(A, E)) == hadamard(power(A, Const(2)), E)


# --- no identity, no ones

def test_no_identity_is_left_in_a_product():
    assert mul(Identity(m), A) == A
    assert mul(A, Identity(n), s) == mul(A, s)
    assert power(A, Const(1)) == A


def test_ones_are_never_multiplied_out():
    # A times a matrix of ones is the row sums of A, repeated: no matrix of ones is built.
    spread = mul(A, ones((n, k)))
    assert isinstance(spread, Broadcast) and spread.arg == summation(A, 1)
    assert hadamard(ones((m, n)), A) == A
    assert mul(Const(1), A) == A


def test_a_function_and_its_inverse_cancel():
    assert apply("exp", apply("log", x)) == x


# --- every form is the same function

CASES = {
    "2 A s - 2 x": lambda: add(sub(mul(A, s), x), sub(mul(A, s), x)),
    "(A s)^T": lambda: transpose(mul(A, s)),
    "(2 gamma A s)^T": lambda: transpose(mul(Const(2), gamma, A, s)),
    "(A + B^T)^T": lambda: transpose(add(A, transpose(B))),
    "A .* (2 gamma E)": lambda: hadamard(A, mul(Const(2), gamma, E)),
    "A .* (A .* E)": lambda: hadamard(A, hadamard(A, E)),
    "A ones(n, k)": lambda: mul(A, ones((n, k))),
    "sum(A^T, 1)": lambda: summation(transpose(A), 0),
    "(A.^2).^3": lambda: power(power(A, Const(2)), Const(3)),
}

NAIVE = {
    "2 A s - 2 x": lambda v: 2 * (v["A"] @ v["s"] - v["x"]),
    "(A s)^T": lambda v: (v["A"] @ v["s"]).T,
    "(2 gamma A s)^T": lambda v: (2 * v["gamma"] * v["A"] @ v["s"]).T,
    "(A + B^T)^T": lambda v: (v["A"] + v["B"].T).T,
    "A .* (2 gamma E)": lambda v: v["A"] * (2 * v["gamma"] * v["E"]),
    "A .* (A .* E)": lambda v: v["A"] * (v["A"] * v["E"]),
    "A ones(n, k)": lambda v: v["A"] @ np.ones((3, 2)),
    "sum(A^T, 1)": lambda v: v["A"].T.sum(axis=0, keepdims=True),
    "(A.^2).^3": lambda v: (v["A"] ** 2) ** 3,
}


@pytest.mark.parametrize("case", CASES)
def test_the_simplified_form_is_the_same_function(case):
    values = random_values([A, B, E, s, x, gamma], SIZES, seed=1)
    np.testing.assert_allclose(evaluate(CASES[case](), values, SIZES),
                               NAIVE[case]({v.name: a for v, a in values.items()}), rtol=1e-12)
