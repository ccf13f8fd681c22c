"""The SymPy front end: costs written with MatrixSymbols, as SymPy users write them.

Every case is checked three ways on random data: the cost derive built has the
value of the SymPy expression (an independent NumPy evaluation of the SymPy
tree, below), the emitted gradient agrees with central finite differences, and
``d.sympy`` evaluates to the emitted gradient. Where SymPy 1.14's own ``.diff``
is right, it agrees too. The cases are those of SymPy's
sympy/matrices/expressions/tests/test_derivatives.py (Matrix Cookbook numbers
in the comments) with a scalar cost.
"""
from __future__ import annotations


import functools
import operator
import random

import numpy as np
import pytest
import sympy
from sympy import (Abs, Determinant, Function, HadamardProduct, Identity, Inverse, Lambda,
                   MatrixSymbol, OneMatrix, Piecewise, Rational, S, Symbol, Trace, atan, cos,
                   exp, log, sin, sqrt, symbols, tan, tanh)
from sympy.matrices.expressions import hadamard_power
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf
from sympy.matrices.expressions.hadamard import hadamard_product
from sympy.matrices.expressions.matexpr import MatrixElement

import derive
from derive.numcheck import check_derivation, random_instance

k, j = symbols("k j")
X = MatrixSymbol("X", k, k)
x, y = MatrixSymbol("x", k, 1), MatrixSymbol("y", k, 1)
A, B, C, D = (MatrixSymbol(name, k, k) for name in "ABCD")
a, b, c, d = (MatrixSymbol(name, k, 1) for name in "abcd")
Z = MatrixSymbol("Z", k, j)
E, F = MatrixSymbol("E", 3, 3), MatrixSymbol("F", 3, 3)
N, m, beta = Symbol("N"), Symbol("m"), Symbol("beta")
xN, wN = MatrixSymbol("x", N, 1), MatrixSymbol("w", N, 1)
t = Symbol("t")


# ---------------------------------------------------------------- an independent evaluator

def evaluate(expr: sympy.Basic, values: dict, sizes: dict) -> np.ndarray:
    """A SymPy scalar or matrix expression on NumPy data: matrices 2-D, scalars 0-d."""
    def shape(e):
        return tuple(int(sympy.sympify(n).xreplace(sizes)) for n in e.shape)

    def scalar_function(function, argument):
        return np.vectorize(sympy.lambdify(t, function(t), "numpy"), otypes=[float])(argument)

    @functools.cache
    def ev(e):
        if isinstance(e, MatrixSymbol):
            return np.asarray(values[e.name], dtype=float).reshape(shape(e))
        if isinstance(e, Symbol):
            return np.asarray(float(sizes[e] if e in sizes else values[e.name]))
        if isinstance(e, sympy.Expr) and not getattr(e, "is_MatrixExpr", False) and e.is_number:
            return np.asarray(float(e))
        args = [ev(arg) for arg in e.args] if not isinstance(
            e, (ElementwiseApplyFunction, sympy.MatrixBase)) else []
        if isinstance(e, (sympy.Add, sympy.MatAdd)):
            return functools.reduce(operator.add, args)
        if isinstance(e, sympy.MatMul):   # before Mul, its base class
            return functools.reduce(lambda p, q: p * q if 0 in (p.ndim, q.ndim) else p @ q, args)
        if isinstance(e, (sympy.Mul, HadamardProduct)):
            return functools.reduce(operator.mul, args)
        if isinstance(e, sympy.MatPow) and shape(e) != (1, 1):
            return np.linalg.matrix_power(args[0], int(e.exp))
        if isinstance(e, (sympy.Pow, sympy.HadamardPower, sympy.MatPow)):
            return args[0] ** args[1]
        simple = {sympy.Transpose: np.transpose, Inverse: np.linalg.inv, Trace: np.trace,
                  Determinant: np.linalg.det, DiagMatrix: lambda v: np.diag(v.ravel()),
                  DiagonalOf: lambda m: np.diag(m)[:, None]}
        if type(e) in simple:
            return np.asarray(simple[type(e)](args[0]))
        if isinstance(e, Identity):
            return np.eye(shape(e)[0])
        if isinstance(e, (OneMatrix, sympy.ZeroMatrix)):
            return np.full(shape(e), 1.0 if isinstance(e, OneMatrix) else 0.0)
        if isinstance(e, MatrixElement):
            return args[0][int(e.i), int(e.j)]
        if isinstance(e, ElementwiseApplyFunction):
            return scalar_function(e.function, ev(e.expr))
        if isinstance(e, sympy.Function) and len(e.args) == 1:
            return scalar_function(e.func, args[0])
        raise NotImplementedError(type(e).__name__)

    return ev(expr)


def verify(cost, wrt, sympy_right: bool = False, seed: int = 0) -> derive.Derivation:
    """Derive, and check the value, the gradient (finite differences), d.sympy and SymPy."""
    derivation = derive.gradient(cost, wrt)
    args, _, sizes = random_instance(derivation, seed)
    values = {s.name: v for s, v in zip(derivation.parameters, args)}
    value, *gradients = derivation.namespace()["value_and_grad"](*args)
    assert np.allclose(value, evaluate(cost, values, sizes), rtol=1e-9, atol=1e-12)
    result = check_derivation(derivation, seed=seed)
    assert result.passed, str(result)
    ours = derivation.sympy if len(derivation.wrt) > 1 else {derivation.wrt[0]: derivation.sympy}
    variables = wrt if isinstance(wrt, list) else [wrt]
    for variable, gradient in zip(variables, gradients):
        expected = np.ravel(gradient)
        assert np.allclose(np.ravel(evaluate(ours[variable.name], values, sizes)), expected)
        if sympy_right:
            theirs = evaluate(cost.diff(variable), values, sizes)
            assert np.allclose(np.ravel(theirs), expected)
    return derivation


# ---------------------------------------------------------------- SymPy's own cases

# (cost, variable, SymPy 1.14's .diff gives the right gradient)
SYMPY_CASES = [
    # determinants: Cookbook 49, 51, 52, 54, 55, 57, 58, 62 and SymPy issues 28708, 28838
    (Determinant(X), X, False), (Determinant(A*X*B), X, False), (Determinant(X.T*A*X), X, False),
    (Determinant(Z.T*A*Z), Z, False), (log(Determinant(X.T*X)), X, False),
    (log(Determinant(X)), X, False), (Determinant(X**5), X, False),
    (Determinant(X**-1), X, False), (k*Determinant(X), X, False),
    (1/Determinant(X), X, False), (k/Determinant(X), X, False),
    # inverses: Cookbook 61, 63, 64
    (a.T*Inverse(X)*b, X, True), (Trace(A*Inverse(X)*B), X, True),
    (Trace(Inverse(X + A)), X, True),
    # vectors and scalars: Cookbook 69-72, 77, 78, 81-83
    (x.T*a, x, True), (a.T*x, x, True), (a.T*X*b, X, True), (a.T*X.T*b, X, True),
    (a.T*X*a, X, True), (a.T*X.T*a, X, True), (b.T*X.T*X*c, X, True),
    ((B*x + b).T*C*(D*x + d), x, True), (x.T*B*x, x, True), (b.T*X.T*D*X*c, X, True),
    ((X*b + c).T*D*(X*b + c), X, True),
    # traces, first order: Cookbook 99-104
    (Trace(X), X, True), (Trace(X*A), X, True), (Trace(A*X*B), X, True),
    (Trace(A*X.T*B), X, True), (Trace(X.T*A), X, True), (Trace(A*X.T), X, True),
    # second order: Cookbook 106-119
    (Trace(X**2), X, True), (Trace(X**2*B), X, True), (Trace(X.T*B*X), X, True),
    (Trace(B*X*X.T), X, True), (Trace(X*X.T*B), X, True), (Trace(X*B*X.T), X, True),
    (Trace(B*X.T*X), X, True), (Trace(X.T*X*B), X, True), (Trace(A*X*B*X), X, True),
    (Trace(X.T*X), X, True), (Trace(X*X.T), X, True), (Trace(B.T*X.T*C*X*B), X, True),
    (Trace(X.T*B*X*C), X, True), (Trace(A*X*B*X.T*C), X, True),
    (Trace((A*X*B + C)*(A*X*B + C).T), X, True),
    # higher order and other: Cookbook 123-127
    (Trace(B.T*X.T*C*X*X.T*C*X*B), X, True), (Trace(A*X**(-1)*B), X, True),
    (Trace(Inverse(X.T*C*X)*A), X, True),
    (Trace((A + X.T*C*X).inv()*(X.T*B*X)), X, True),
    # traces of traces
    (3*Trace(A), A, True), (Trace(A)**2, A, True), (Trace(Trace(A)*A), A, True),
    (Trace(Trace(Trace(A)*A)*A), A, True),
    # norms and roots of 1x1 products
    (x.T*y, x, True), ((x.T*y)**S.Half, x, True), ((x.T*x)**S.Half, x, True),
    ((c.T*a*x.T*b)**S.Half, x, True), ((c.T*a*x.T*b)**Rational(1, 3), x, True),
    ((a.T*X*b)**S.Half, X, True), (d.T*x*(a.T*X*b)**S.Half*y.T*c, X, True),
    (sqrt(Trace(X.T*X)), X, False),
    # elementwise functions (applyfunc), including the two SymPy marks as wrong
    (x.T*A*x + k*y.applyfunc(sin).T*x, x, True), (x.applyfunc(sin).T*y, x, False),
    ((a.T*X*b).applyfunc(sin), X, True), (a.T*X.applyfunc(sin)*b, X, True),
    (a.T*(A*X*B).applyfunc(sin)*b, X, True), (a.T*A*X.applyfunc(sin)*B*b, X, True),
    (a.T*(A*X.applyfunc(sin)*B).applyfunc(log)*b, X, True),
    (a.T*(X.applyfunc(sin)).applyfunc(log)*b, X, True),
    # Hadamard products and powers
    (a.T*hadamard_product(A, X, B)*b, X, True), (hadamard_power(a.T*X*b, 2), X, True),
    (hadamard_power(a.T*X*b, S.Half), X, True),
    # SymPy issues 24021, 25118, 24725, 23492, 23931
    (Trace(E)**2 + Trace(E*E.T), E, False), (Trace(F) - 1, F, False),
    (Trace(F.T*F) - 3, F, False),
    (Trace((xN - m*OneMatrix(N, 1)).T @ (xN - m*OneMatrix(N, 1))), m, False),
    (Trace(xN.T @ wN) + beta, wN, False), (Trace(A) + Trace(A**2), A, False),
    (1/Trace(F), F, False),
]


@pytest.mark.parametrize("cost, variable, sympy_right", SYMPY_CASES,
                         ids=[str(case[0])[:50] for case in SYMPY_CASES])
def test_sympy_test_derivatives_case(cost, variable, sympy_right):
    verify(cost, variable, sympy_right)


def test_the_long_expression_of_sympys_tests():
    cost = a.T*(A*X*(X.T*B + X*A) + B.T*X.T*(a*b.T*(X*D*X.T + X*(X.T*B + A*X)*D*B - X.T*C.T*A)*B
                + B*(X*D.T + B*A*X*A.T - 3*X*D))*B + 42*X*B*X.T*A.T*(X + X.T))*b
    # the result SymPy's test expects (its own .diff takes seconds to get there)
    result = (B*(B*A*X*A.T - 3*X*D + X*D.T) + a*b.T*(X*(A*X + X.T*B)*D*B + X*D*X.T - X.T*C.T*A)
              * B)*B*b*a.T*B.T + B**2*b*a.T*B.T*X.T*a*b.T*X*D + 42*A*X*B.T*X.T*a*b.T \
        + B*D*B**3*b*a.T*B.T*X.T*a*b.T*X + B*b*a.T*A*X + a*b.T*(42*X + 42*X.T)*A*X*B.T \
        + b*a.T*X*B*a*b.T*B.T**2*X*D.T + b*a.T*X*B*a*b.T*B.T**3*D.T*(B.T*X + X.T*A.T) \
        + 42*b*a.T*X*B*X.T*A.T + A.T*(42*X + 42*X.T)*b*a.T*X*B \
        + A.T*B.T**2*X*B*a*b.T*B.T*A + A.T*a*b.T*(A.T*X.T + B.T*X) \
        + A.T*X.T*b*a.T*X*B*a*b.T*B.T**3*D.T + B.T*X*B*a*b.T*B.T*D - 3*B.T*X*B*a*b.T*B.T*D.T \
        - C.T*A*B**2*b*a.T*B.T*X.T*a*b.T + X.T*A.T*a*b.T*A.T
    derivation = verify(cost, X)
    args, _, sizes = random_instance(derivation)
    values = {s.name: v for s, v in zip(derivation.parameters, args)}
    assert np.allclose(evaluate(result, values, sizes), derivation.function()(*args))


# ---------------------------------------------------------------- the Matrix Cookbook

@pytest.mark.parametrize("cost, variable, text, expected", [
    (Trace(A*X*B), X, "grad_X = A^T B^T", A.T*B.T),               # Cookbook (101)
    (log(Determinant(X)), X, "grad_X = inv(X)^T", X.inv().T),     # (57)
    (x.T*A*x, x, "grad_x = (A^T + A) x", (A.T + A)*x),            # (81)
    (a.T*X*b, X, "grad_X = a b^T", a*b.T),                        # (70)
    (Trace(X.T*X), X, "grad_X = 2 X", 2*X),                       # (115)
    (Determinant(X), X, "grad_X = det(X) inv(X)^T", Determinant(X)*X.inv().T),   # (49)
])
def test_matrix_cookbook_identity(cost, variable, text, expected):
    derivation = verify(cost, variable)
    assert derivation.text == text
    assert derivation.sympy == expected


def test_cookbook_126_is_constant_for_a_square_x():
    # SymPy simplifies inv(X^T C X) X^T B X to inv(X) inv(C) B X: its trace is tr(inv(C) B).
    derivation = derive.gradient(Trace((X.T*C*X).inv()*(X.T*B*X)), X)
    args, _, _ = random_instance(derivation)
    assert np.allclose(derivation.function()(*args), 0, atol=1e-9)


def test_a_sympy_cost_reads_as_the_text_formula_does():
    n = Symbol("n")
    A2, s, x2 = MatrixSymbol("A", k, n), MatrixSymbol("s", n, 1), MatrixSymbol("x", k, 1)
    gamma = Symbol("gamma")
    cost = Trace((A2*s - x2).T*(A2*s - x2)) + gamma*Trace(A2.T*A2)
    derivation = verify(cost, [A2, s])
    text = derive.gradient("(A*s - x)'*(A*s - x) + gamma*tr(A'*A)", wrt=["A", "s"]).text
    assert derivation.text == text == "grad_A = (2 A s - 2 x) s^T + 2 gamma A\n" \
                                      "grad_s = A^T (2 A s - 2 x)"
    assert derivation.formula.source == str(cost)
    assert set(derivation.sympy) == {"A", "s"}


def test_wrt_takes_names_and_symbols_alike():
    by_symbol = derive.gradient(a.T*X*b, X)
    by_name = derive.gradient(a.T*X*b, ["X"])
    assert by_symbol.text == by_name.text
    assert by_symbol.sympy == a*b.T


def test_a_scalar_symbol_and_a_dimension_used_as_a_number():
    derivation = verify(beta*Trace(X.T*X)/k, [X, beta])
    assert derivation.text == "grad_X = 2 beta X / k\ngrad_beta = tr(X^T X) / k"


@pytest.mark.parametrize("cost, wrt", [
    (Trace(MatrixSymbol("r", 1, k)*X*a), MatrixSymbol("r", 1, k)),      # a row vector
    (Trace(MatrixSymbol("s", 1, 1)*MatrixSymbol("s", 1, 1).T)*Trace(X),  # 1x1: a scalar
     [MatrixSymbol("s", 1, 1), X]),
    (Trace(X.T*X)*beta + beta**2, beta),
    (sqrt(Trace(X.T*X)) + log(Trace(X*X.T)) + exp(Trace(X)), X),
    (Trace(DiagMatrix(a)*X) + Trace(DiagonalOf(X).T*DiagonalOf(A)), [a, X]),
    (Trace(X*hadamard_power(X, -1)*A), X),
    (Trace(sympy.ZeroMatrix(k, k) + X + 2*Identity(k)) + Trace(OneMatrix(1, k)*X*a), X),
], ids=["row vector", "1x1", "scalar", "functions of traces", "diagonals",
        "hadamard inverse", "constant matrices"])
def test_shapes_and_constant_matrices(cost, wrt):
    verify(cost, wrt)


def test_integer_matrix_power_and_its_inverse():
    verify(Trace(X**3) + Trace(X**-2), X)
    verify(Trace(sympy.MatPow(x.T*x, Rational(3, 2))), x)


def test_d_sympy_of_a_text_formula():
    derivation = derive.gradient("sum(softmax(W*x) .* y) + logsumexp(W*x) + norm(W, 'fro')",
                                 wrt="W")
    args, _, sizes = random_instance(derivation)
    values = dict(zip((s.name for s in derivation.parameters), args))
    assert np.allclose(evaluate(derivation.sympy, values, sizes), derivation.function()(*args))


def test_d_sympy_evaluates_explicitly_on_small_integer_shapes():
    X2, a2, b2 = MatrixSymbol("X", 2, 2), MatrixSymbol("a", 2, 1), MatrixSymbol("b", 2, 1)
    derivation = derive.gradient(Trace(a2.T*X2.applyfunc(sin)*b2) + Trace(X2.T*X2), X2)
    entries = {X2: sympy.Matrix([[1, 2], [3, 4]]), a2: sympy.Matrix([1, -1]),
               b2: sympy.Matrix([2, 1])}
    explicit = derivation.sympy.xreplace(entries).as_explicit().doit()
    expected = sympy.Matrix([[2*cos(1) + 2, cos(2) + 4], [-2*cos(3) + 6, -cos(4) + 8]])
    assert sympy.simplify(explicit - expected) == sympy.zeros(2, 2)


# ---------------------------------------------------------------- elementwise functions

def test_a_sympy_network_reads_as_the_ufldl_note():
    n, m_ = symbols("n m")
    W1, b1, W2 = MatrixSymbol("W1", k, n), MatrixSymbol("b1", k, 1), MatrixSymbol("W2", n, k)
    X2 = MatrixSymbol("X", n, m_)
    hidden = (W1*X2 + b1*OneMatrix(1, m_)).applyfunc(Lambda(t, 1/(1 + exp(-t))))
    cost = Trace((W2*hidden - X2).T*(W2*hidden - X2))/2 + beta/2*Trace(W1.T*W1)
    derivation = verify(cost, [W1, b1, W2])
    inline = derive.gradient(cost, [W1, b1, W2], inline=True)
    assert inline.text.splitlines()[-1] == \
        "grad_W2 = (W2 sigmoid(W1 X + b1) - X) sigmoid(W1 X + b1)^T"
    # d.sympy spells sigmoid as SymPy's Lambda, which reads back as derive's sigmoid
    again = derive.gradient(Trace(derivation.sympy["W2"].T*derivation.sympy["W2"]), W2)
    assert "sigmoid(W1 X + b1)" in again.text


def test_functions_derive_has_keep_their_names():
    derivation = verify(OneMatrix(1, k)*X.applyfunc(Lambda(t, log(1 + exp(t))))*OneMatrix(k, 1), X)
    assert derivation.text == "grad_X = sigmoid(X)"
    assert verify(a.T*X.applyfunc(tanh)*b, X).text == "grad_X = (a b^T) .* (1 - tanh(X).^2)"
    assert verify(Trace(X.applyfunc(Abs)), X).subgradients
    assert verify(Trace(X.applyfunc(Lambda(t, sympy.Max(t, 0)))*A), X).text == \
        "grad_X = A^T .* step(X)"


@pytest.mark.parametrize("function", [tan, atan, Lambda(t, 1/(1 + exp(-t))),
                                      Lambda(t, Piecewise((t**2, t > 0), (0, True))),
                                      Lambda(t, sympy.Max(t, 0)), Lambda(t, t**3 + sin(t)/2)])
def test_any_scalar_function_sympy_can_differentiate(function):
    verify(Trace(a.T*(A*x).applyfunc(function)) + Trace(X.applyfunc(function)), [x, X])


def test_a_function_derive_lacks_gets_a_row_made_by_sympy():
    derivation = derive.gradient(a.T*x.applyfunc(tan), x)
    assert derivation.text == "grad_x = a .* (1 + tan(x).^2)"
    assert "np.tan(x)" in derivation.numpy
    assert r"\tan{\left(x \right)}" in derivation.latex


# ---------------------------------------------------------------- what is refused

@pytest.mark.parametrize("cost, wrt, message", [
    (Trace(sympy.KroneckerProduct(X, A)), X, "KroneckerProduct"),
    (X[0, 0] * Trace(A), X, "MatrixElement"),
    (Trace(sympy.Matrix([[1, 2], [3, 4]]) * E[:2, :2]), E, "cannot convert"),
    (exp(X), X, "applyfunc(exp)"),
    (Trace(X.applyfunc(Function("f"))), X, "derivative of f"),
    (Trace(X.applyfunc(sympy.erf)), X, "NumPy"),
    (Trace(sympy.MatPow(X, j)), X, "integer exponent"),
    (X*a, X, "must be a scalar"),
    (Trace(X[:1, :1]), X, "MatrixSlice"),
    (Trace(X), A, "no variable 'A'"),
    (Trace(X), 3, "wrt takes MatrixSymbols"),
    (Trace(MatrixSymbol("X Y", 2, 2)), "X Y", "cannot be a parameter"),
])
def test_what_cannot_be_converted_is_refused_by_name(cost, wrt, message):
    with pytest.raises(derive.DeriveError, match=message.replace("(", r"\(").replace(")", r"\)")):
        derive.gradient(cost, wrt)


def test_shapes_are_the_matrix_symbols_own():
    with pytest.raises(derive.DeriveError, match="MatrixSymbols' shapes"):
        derive.gradient(Trace(X), X, shapes={"X": ("n", "n")})


# ---------------------------------------------------------------- random costs

def random_matrix(rng, depth: int) -> sympy.Basic:
    """A random k x k SymPy matrix expression in X and constants, as SymPy users write them."""
    if depth == 0 or rng.random() < 0.25:
        return rng.choice([X, A, B, X.T, Identity(k), OneMatrix(k, k)])
    p, q = random_matrix(rng, depth - 1), random_matrix(rng, depth - 1)
    return rng.choice([
        lambda: p + q, lambda: p - q, lambda: p*q, lambda: p.T, lambda: hadamard_product(p, q),
        lambda: hadamard_power(p, 2), lambda: p.applyfunc(rng.choice([sin, cos, tanh, exp])),
        lambda: rng.choice([2, beta, Rational(1, 3), Trace(p)])*q,
        lambda: Inverse(X + 3*k*Identity(k)), lambda: a*(x.T*p),
        lambda: p.applyfunc(Lambda(t, rng.choice([t**3 - t, atan(t), 1/(1 + exp(-t)),
                                                  log(1 + exp(t))]))),
    ])()


@pytest.mark.parametrize("seed", range(40))
def test_random_sympy_cost(seed):
    rng = random.Random(seed)
    cost = S.Zero
    while not cost.has(X):
        matrix = random_matrix(rng, 3)
        cost = rng.choice([Trace(matrix), a.T*matrix*x, Trace(matrix.T*matrix)])
    verify(cost, [X, x] if cost.has(x) else X, seed=seed)


def test_random_case_that_finds_an_in_place_update_bug():
    # `t3 = t2` made t3 an alias, then np.tanh(t2, out=t2) overwrote it: the statement
    # program's in-place pass now sees the alias
    verify(Trace((a*x.T*Inverse(3*k*Identity(k) + X)).applyfunc(tanh).applyfunc(cos)), [X, x],
           seed=349)


def test_derive_check_takes_a_sympy_cost():
    assert derive.check(Trace(a.T*X.applyfunc(tan)*b) + log(Determinant(X.T*X)), X).passed
