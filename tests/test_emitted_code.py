"""The emitted NumPy code, run: each defect of the statement-program issue, as a user met it.

Every case gives the cost, a plain NumPy evaluation of it written here by hand,
and arguments. The emitted value must equal the plain one, and the emitted
gradient the central differences *of the plain evaluation* (never of the
emitted value: a wrong value and a wrong gradient can agree with each other),
for ``value_and_grad``, every ``grad_X`` and the ``--hoist`` pair.
"""
from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import derive
from derive.errors import DeriveError

rng = np.random.default_rng(2026)


def _emitted(code: str) -> dict:
    namespace: dict = {}
    exec(compile(code, "<emitted>", "exec"), namespace)
    return namespace


def _numeric_gradient(plain, args: dict, name: str, h: float = 1e-6) -> np.ndarray:
    x = np.array(args[name], dtype=float)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (plain(**{**args, name: up}) - plain(**{**args, name: down})) / (2 * h)
    return grad if x.shape else float(grad)


def check(formula: str, wrt: list[str], shapes: dict | None, plain, args: dict,
          hoist: bool = True) -> None:
    """Value and gradients of every emitted function against the plain evaluation."""
    d = derive.gradient(formula, wrt, shapes)
    order = [s.name for s in d.parameters]
    positional = [args[n] for n in order]
    expected_value = plain(**args)
    expected = [_numeric_gradient(plain, args, w) for w in d.wrt]
    results = {}
    code = _emitted(d.numpy)
    with np.errstate(all="raise", under="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        results["value_and_grad"] = code["value_and_grad"](*positional)
        for w in d.wrt:
            results[f"grad_{w}"] = (None, code[f"grad_{w}"](*positional))
        if hoist:
            hoisted = _emitted(d.hoisted)
            prepared = hoisted["prepare"](*[args[n] for n in order if n not in d.wrt])
            variables = [args[n] for n in order if n in d.wrt]   # in the formula's order
            results["hoisted"] = hoisted["value_and_grad"](*variables, prepared)
    for where, got in results.items():
        value, *grads = got
        if value is not None:
            assert np.isclose(value, expected_value, rtol=1e-7, atol=1e-9), (where, value,
                                                                             expected_value)
        pairs = zip(d.wrt, grads) if where != "grad_" else ()
        if where.startswith("grad_"):
            pairs = [(where[5:], grads[0])]
        for w, g in pairs:
            want = expected[d.wrt.index(w)]
            assert np.shape(g) == np.shape(want), (where, w, np.shape(g), np.shape(want))
            np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-7, err_msg=f"{where} {w}")


def vec(n):
    return rng.standard_normal(n)


def mat(m, n):
    return rng.standard_normal((m, n))


def _softmax_columns(Z):
    e = np.exp(Z - Z.max(axis=0))
    return e / e.sum(axis=0)


def _logsumexp_columns(Z):
    return np.log(np.exp(Z).sum(axis=0))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _softplus(z):
    return np.log1p(np.exp(z))


# ---------------------------------------------------------------- 1. softmax per column of a row

def test_softmax_of_a_row_is_one_per_column():
    # sum(softmax(x')) with x of length 3 is 3 (each column has one entry), its gradient 0
    check("sum(softmax(x'))", ["x"], {"x": (3,)},
          lambda x: _softmax_columns(x[None, :]).sum(), {"x": vec(3)})


def test_logsumexp_per_column_of_a_row_is_the_row():
    check("sum(logsumexp(x', 1))", ["x"], {"x": (3,)},
          lambda x: _logsumexp_columns(x[None, :]).sum(), {"x": vec(3)})


def test_logsumexp_and_softmax_per_column_of_a_1xk_matrix():
    # a 1xk matrix is a row: a 1-D array in the code
    check("sum(logsumexp(R, 1)) + sum(sum(softmax(R) .* C))", ["R"], {"R": (1, 4), "C": (1, 4)},
          lambda R, C: _logsumexp_columns(R[None, :]).sum()
          + (_softmax_columns(R[None, :]) * C).sum(), {"R": vec(4), "C": vec(4)})


def test_logsumexp_per_column_prints_its_axis():
    d = derive.gradient("sum(logsumexp(X, 1)) + logsumexp(X)", "X")
    assert derive.gradient(d.formula.source, "X") is not None
    from derive.printing.text import to_text
    assert to_text(d.formula.cost) == "sum(logsumexp(X, 1)) + logsumexp(X)"


# ---------------------------------------------------------------- 2. aliasing and in-place updates

def test_no_update_in_place_through_a_transposed_view():
    # sqrt(exp(x)') * r: the square root must not overwrite exp(x), still needed after
    check("sqrt(exp(x)')*r", ["x"], {"x": (3,), "r": (3,)},
          lambda x, r: float(np.sqrt(np.exp(x)) @ r), {"x": vec(3), "r": vec(3)})


def test_no_update_in_place_of_a_transposed_matrix_still_used():
    D = rng.uniform(0.2, 2.0, (3, 4))
    check("mean(sqrt(tanh(D')))", ["D"], None, lambda D: np.sqrt(np.tanh(D.T)).mean(), {"D": D})


def test_no_update_in_place_of_a_shared_transpose():
    check("norm(exp(A)'*F)^2 + sum(sum(sqrt(exp(A)')))", ["A"], None,
          lambda A, F: np.sum((np.exp(A).T @ F) ** 2) + np.sqrt(np.exp(A).T).sum(),
          {"A": mat(3, 2) * 0.3, "F": mat(3, 4)})


def test_logdet_of_tanh_of_an_inverse_diagonal():
    def plain(q):
        M = 0.1 * np.tanh(np.linalg.inv(np.diag(_softplus(q)))) + np.eye(3)
        return np.linalg.slogdet(M)[1]
    check("logdet(0.1*tanh(inv(diag(softplus(q)))) + eye(3))", ["q"], {"q": (3,)}, plain,
          {"q": vec(3)})


def test_no_update_in_place_of_the_read_only_diagonal_view():
    S = rng.uniform(0.5, 2.0, (4, 4))
    check("sum(sqrt(diag(S)))", ["S"], None, lambda S: np.sqrt(np.diag(S)).sum(), {"S": S})


# ---------------------------------------------------------------- 3. a negated divisor

def test_division_by_a_negated_product():
    check("sum(x ./ (-2*A*y))", ["x"], None, lambda x, A, y: np.sum(x / (-2 * (A @ y))),
          {"x": vec(3), "A": mat(3, 2), "y": vec(2)})


def test_scalar_division_by_a_negated_inner_product():
    check("sum(z)/(-2*x'*y)", ["z"], None, lambda z, x, y: z.sum() / (-2 * (x @ y)),
          {"z": vec(3), "x": vec(2), "y": vec(2)})


def test_matrix_product_with_a_negated_scaled_operand():
    R = rng.uniform(1.0, 2.0, (3, 3)) + 3 * np.eye(3)
    check("mean(sqrt(exp(tanh(abs(-diag(R^-1))))))", ["R"], None,
          lambda R: np.sqrt(np.exp(np.tanh(np.abs(-np.diag(np.linalg.inv(R)))))).mean(),
          {"R": R})


# ---------------------------------------------------------------- 4. replication keeps its shape

def test_negated_replication_keeps_its_broadcast():
    check("sum(sum(tanh(alpha - x*ones(1,4))))", ["alpha", "x"], {"x": (3,)},
          lambda alpha, x: np.tanh(alpha - np.outer(x, np.ones(4))).sum(),
          {"alpha": 0.3, "x": vec(3)})


def test_scaled_replication_keeps_its_broadcast():
    check("sum(sum(exp(3*x*ones(1,4)) .* C))", ["x"], {"x": (2,)},
          lambda x, C: (np.exp(3 * np.outer(x, np.ones(4))) * C).sum(),
          {"x": vec(2) * 0.3, "C": mat(2, 4)})


# ---------------------------------------------------------------- 5. the user's names

def test_a_variable_named_like_a_temporary():
    check("norm(W'*W*x - x)^2 + sum(t2)", ["W"], None,
          lambda W, x, t2: np.sum((W.T @ W @ x - x) ** 2) + t2.sum(),
          {"W": mat(3, 2), "x": vec(2), "t2": vec(4)})


def test_a_variable_named_t1():
    check("sum(exp(W*t1)) + norm(W*t1)^2", ["t1"], None,
          lambda W, t1: np.exp(W @ t1).sum() + np.sum((W @ t1) ** 2),
          {"W": mat(3, 2) * 0.5, "t1": vec(2)})


def test_names_of_numpy_the_value_keywords_and_builtins():
    def plain(A, np_, value, lambda_, float_, t1):   # the test's names, not the code's
        import numpy
        return numpy.sum((A @ np_ - value) ** 2) + lambda_ * numpy.sum(_sigmoid(float_)) \
            + numpy.sum(numpy.exp(t1)) ** 2
    formula = "norm(A*np - value)^2 + lambda*sum(sigmoid(float)) + sum(exp(t1))*sum(exp(t1))"
    d = derive.gradient(formula, ["np", "t1"])
    code = _emitted(d.numpy)
    A, x, v, f, t1 = mat(3, 2), vec(2), vec(3), vec(4), vec(3) * 0.3
    value, grad_np, grad_t1 = code["value_and_grad"](x, t1, A, f, 0.7, v)
    assert np.isclose(value, plain(A, x, v, 0.7, f, t1))
    want = _numeric_gradient(lambda np_: plain(A, np_, v, 0.7, f, t1), {"np_": x}, "np_")
    np.testing.assert_allclose(grad_np, want, rtol=1e-6)


def test_parameters_are_named_as_in_the_formula():
    # docs/targets.md: as in the formula, a keyword with a trailing underscore; NumPy and the
    # value make way (_np, value_), not the user's names
    d = derive.gradient("sum(np .* np_) + norm(value)^2 + lambda*float", ["np", "value"],
                        {"float": ()})
    assert "def value_and_grad(np, value, float, lambda_, np_):" in d.numpy
    check(d.formula.source, ["np", "value"], {"float": ()},
          lambda np, np_, value, float, **kw: np @ np_ + value @ value + kw["lambda"] * float,
          {"np": vec(3), "np_": vec(3), "value": vec(2), "lambda": 0.5, "float": 0.2})


def test_parameters_are_the_variables_then_the_other_names_alphabetically():
    # docs/targets.md: the --wrt variables in their order, then the other names ignoring
    # case, in every target and in the objective; rewriting the formula never reorders them
    for formula in ("lambda*norm(w)^2 + norm(y - X*w)^2", "norm(X*w - y)^2 + lambda*norm(w)^2"):
        d = derive.gradient(formula, "w")
        for target in ("numpy", "jax", "torch"):
            assert "def value_and_grad(w, lambda_, X, y):" in d.code(target)
        assert "= value_and_grad(w, lambda, X, y)" in d.code("matlab")
        objective = d.objective({"lambda": 0.1, "X": np.ones((3, 2)), "y": np.ones(3)})
        assert objective.order == ["w", "lambda", "X", "y"]


def test_hoisted_code_with_a_vector_named_p1():
    check("sum(x .* p1) + norm(p2 - A*x)^2", ["x"], None,
          lambda x, p1, p2, A: x @ p1 + np.sum((p2 - A @ x) ** 2),
          {"x": vec(3), "p1": vec(3), "p2": vec(4), "A": mat(4, 3)})


def test_hoisted_code_with_data_named_value():
    # the prepared datum value, passed on, is not overwritten by the value computed
    check("sum(x ./ exp((a*tanh(s'))*value))", ["s", "x"], {"s": (3,), "value": (3,)},
          lambda x, a, s, value: np.sum(x / np.exp(a * (np.tanh(s) @ value))),
          {"x": vec(2), "a": vec(2) * 0.3, "s": vec(3), "value": vec(3)})


def test_a_definition_keeps_its_name():
    d = derive.gradient("H = sigmoid(W1*X + b1); sum(sum(H .* H)) + sum(sum(H))", "W1")
    assert "    H = _sigmoid(" in d.numpy
    check(d.formula.source, ["W1"], None,
          lambda W1, X, b1: (lambda H: (H * H).sum() + H.sum())(_sigmoid(W1 @ X + b1[:, None])),
          {"W1": mat(3, 2), "X": mat(2, 4), "b1": vec(3)})


# ---------------------------------------------------------------- 6. integer dimensions

def test_integer_shape_is_checked_against_the_arguments():
    formula = "mean((X*w - y).^2) + lambda*norm(w)^2"
    d = derive.gradient(formula, "w", {"X": (1000, 20)})
    code = _emitted(d.numpy)
    X, y, w = mat(500, 20), vec(500), vec(20)
    with pytest.raises(ValueError, match=r"X.*1000"):
        code["value_and_grad"](w, 0.1, X, y)
    hoisted = _emitted(d.hoisted)
    with pytest.raises(ValueError, match=r"X.*1000"):
        hoisted["prepare"](0.1, X, y)


def test_symbolic_dimension_is_read_from_the_arguments():
    formula = "mean((X*w - y).^2) + lambda*norm(w)^2"
    for m in (7, 30):
        check(formula, ["w"], None,
              lambda X, w, y, lambda_=0.1, **rest: np.mean((X @ w - y) ** 2)
              + rest.get("lambda", 0.1) * (w @ w),
              {"X": mat(m, 3), "w": vec(3), "y": vec(m), "lambda": 0.1})


# ---------------------------------------------------------------- crashes of emitted code

@pytest.mark.parametrize("formula, plain", [
    ("softmax(alpha)", lambda alpha: 1.0),
    ("logsumexp(alpha)", lambda alpha: alpha),
    ("diag(alpha)", lambda alpha: alpha),
    ("sum(logsumexp(alpha, 1))", lambda alpha: alpha),
])
def test_functions_of_a_scalar(formula, plain):
    check(formula, ["alpha"], None, plain, {"alpha": 0.4})


def test_diag_of_a_1x1():
    # a 1x1 is a scalar: a float in the code
    check("diag(A) * sum(x)", ["A", "x"], {"A": (1, 1)}, lambda A, x: A * x.sum(),
          {"A": 0.6, "x": vec(3)})


def test_a_dimension_no_argument_fixes_is_refused():
    d = derive.gradient("sum(sum(x*ones(1,n)))", "x")
    with pytest.raises(DeriveError, match="dimension n"):
        d.numpy


def test_hoisted_dimension_known_only_from_the_variable():
    check("sum(sum(R',2) - softplus(xi))", ["R"], None,
          lambda R, xi: np.sum(R.T.sum(axis=1) - _softplus(xi)),
          {"R": mat(3, 4), "xi": 0.2})


def test_integer_constant_to_a_negative_power():
    check("sum(x ./ abs(2).^2)", ["x"], None, lambda x: np.sum(x / 4), {"x": vec(3)})


# ---------------------------------------------------------------- the sigmoid in both tails

def test_log_of_a_sum_of_sigmoids_far_in_the_lower_tail():
    x = -42 + vec(3)
    check("log(sum(sigmoid(x)))", ["x"], None,
          lambda x: np.log(np.sum(np.exp(x) / (1 + np.exp(x)))), {"x": x})


def test_log_sigmoid_is_minus_softplus():
    d = derive.gradient("sum(log(sigmoid(x)))", "x")
    assert d.text == "grad_x = sigmoid(-x)"
    check("sum(log(sigmoid(x)))", ["x"], None, lambda x: -np.sum(np.logaddexp(0, -x)),
          {"x": vec(4) * 30})


# ------------------------------------------------------------------ issue 18: every target
# Each result has the arguments' floating dtype and is a fresh array, never an argument.

def _targets(formula: str, wrt: list[str], shapes=None):
    """(target, the functions, to_array) for NumPy, JAX (float64) and PyTorch."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    torch = pytest.importorskip("torch")
    d = derive.gradient(formula, wrt, shapes)
    return [(target, _emitted(d.code(target)), convert) for target, convert in
            [("numpy", np.asarray), ("jax", jax.numpy.asarray),
             ("torch", lambda a: torch.tensor(np.asarray(a), dtype=torch.float64))]]


@pytest.mark.parametrize("formula, plain", [
    ("sum(x)*tanh(2^0.5)", lambda x: x.sum() * np.tanh(2 ** 0.5)),     # torch.tanh of a float
    ("sum(x)*sqrt(3)", lambda x: x.sum() * np.sqrt(3)),                # (3 ** (1 / 2)).expand
    ("sum(x)*exp(2) + sum(x)*sigmoid(3^0.5)",
     lambda x: x.sum() * (np.exp(2) + 1 / (1 + np.exp(-3 ** 0.5)))),
    ("sum(sigmoid(x - x) .* x)", lambda x: 0.5 * x.sum()),             # jnp.full(m, 0): int
    ("sum(x)", lambda x: x.sum()),                                     # an int64 gradient
    ("sum(x)/sqrt(sqrt(0.25.^2 + 0.5))", lambda x: x.sum() / (0.5625 ** 0.25)),  # sqrt(float)
])
def test_constants_have_the_arguments_dtype(formula, plain):
    x = rng.normal(size=3)
    for target, functions, convert in _targets(formula, ["x"]):
        value, grad = functions["value_and_grad"](convert(x))
        assert abs(float(value) - plain(x)) < 1e-12, target
        expected = _numeric_gradient(lambda x: plain(x), {"x": x}, "x")
        np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-6, err_msg=target)
        assert str(grad.dtype).endswith("float64"), (target, grad.dtype)


def test_a_constant_gradient_of_a_scalar_is_a_float():
    # grad of eta + eta was the integer 2 in NumPy
    for target, functions, convert in _targets("eta + eta", ["eta"], {"eta": ()}):
        grad = functions["grad_eta"](1.5)
        assert float(grad) == 2.0 and not isinstance(grad, int), (target, grad)


def test_no_gradient_is_an_argument():
    # grad_x = q returned the caller's q: updating the gradient in place changed their data
    formula = "x'*q + tr(A'*B) + z'*q"
    data = {"x": rng.normal(size=3), "q": rng.normal(size=3), "z": rng.normal(size=3),
            "A": rng.normal(size=(3, 2)), "B": rng.normal(size=(3, 2))}
    for target, functions, convert in _targets(formula, ["x", "A", "z"]):
        args = {k: convert(v) for k, v in data.items()}
        params = list(inspect.signature(functions["value_and_grad"]).parameters)
        out = functions["value_and_grad"](*[args[p] for p in params])
        if target == "jax":
            continue   # immutable arrays: sharing one is safe
        for grad in out[1:]:
            assert all(grad is not a for a in args.values()), target
        assert out[1] is not out[3] and not np.shares_memory(np.asarray(out[1]),
                                                             np.asarray(out[3])), target


def test_pytorch_value_is_not_the_argument():
    # value = alpha returned the caller's 0-d tensor
    torch = pytest.importorskip("torch")
    alpha = torch.tensor(0.5, dtype=torch.float64)
    d = derive.gradient("alpha", ["alpha"], {"alpha": ()})
    value, grad = _emitted(d.code("torch"))["value_and_grad"](alpha)
    assert value is not alpha and float(value) == 0.5 and float(grad) == 1.0


def test_pytorch_python_floats_are_doubles():
    # torch.as_tensor(1.5) is float32: the code worked in float32 when every argument was a float
    torch = pytest.importorskip("torch")
    d = derive.gradient("exp(a*b) + a/3", ["a"], {"a": (), "b": ()})
    value, grad = _emitted(d.code("torch"))["value_and_grad"](0.1, 0.7)
    assert value.dtype == torch.float64 and grad.dtype == torch.float64
    assert abs(float(grad) - (0.7 * np.exp(0.07) + 1 / 3)) < 1e-15


def test_matlab_diag_of_a_vector_broadcasts_in_octave():
    # Octave's diag(u) is a diagonal-matrix type: logsumexp's diag(u) - max(diag(u)) was
    # "nonconformant (2x2, 1x2)" (found by tests/test_oracle_targets.py, seed 7000174)
    from support.target_runner import Call, OctaveCase, assert_matches, kinds, run_octave
    from test_targets import require_octave
    require_octave()
    d = derive.gradient("logsumexp(diag(u), 1)*(W*z)", ["W"], {"u": (2,), "W": (2, 3), "z": (3,)})
    args = [mat(2, 3), vec(2), vec(3)]
    expected = _emitted(d.numpy)["value_and_grad"](*args)
    [got] = run_octave([OctaveCase(d.code("matlab"),
                                   [Call("value_and_grad", args, 2, kinds(d))])])
    assert not isinstance(got, str), got
    for result, reference in zip(got[0], expected):
        assert_matches(result, np.asarray(reference), "matlab", "value_and_grad", 1e-10)


def test_a_constant_that_is_a_sum_of_dimensions_keeps_its_sign():
    # sum(W - 1.5) + 1 is sum(W) - (3/2 K - 1); it printed as sum(W) - 3/2 K - 1, 2 off in
    # every target (found by tests/test_oracle_targets.py, seed 7101897)
    W = rng.normal(size=4)
    for target, functions, convert in _targets("sum(W)*(sum(W - 1.5) + 1)", ["W"],
                                               {"W": ("K",)}):
        value, grad = functions["value_and_grad"](convert(W))
        assert abs(float(value) - W.sum() * (W.sum() - 5)) < 1e-12, target
        np.testing.assert_allclose(np.asarray(grad), np.full(4, 2 * W.sum() - 5), rtol=1e-12,
                                   err_msg=target)
    d = derive.gradient("sum(W)*(sum(W - 1.5) + 1)", ["W"], {"W": ("K",)})
    assert "- (3 K/2 - 1)" in d.text and r"- \left(\frac{3 K}{2} - 1\right)" in d.latex


def test_a_function_of_a_dimension_is_of_a_float():
    # sum(x - x + 1) is the dimension n, an int: jax.nn.sigmoid(n) was refused ("logistic
    # does not accept dtype int64"; found by tests/support/jacobian_acceptance.py, seed 8000177)
    x = rng.normal(size=4)
    for target, functions, convert in _targets("sum(x)*sigmoid(sum(x - x + 1))", ["x"],
                                               {"x": ("n",)}):
        value, grad = functions["value_and_grad"](convert(x))
        assert abs(float(value) - x.sum() / (1 + np.exp(-4))) < 1e-12, target
        np.testing.assert_allclose(np.asarray(grad), np.full(4, 1 / (1 + np.exp(-4))),
                                   rtol=1e-12, err_msg=target)


@pytest.mark.parametrize("formula, wrt, shapes", [
    # value = 2 - (1 / 2) ** (1 / 2) was a Python float (found by the oracle, seed 7101387)
    ("sum(x - x) - sqrt(0.5) + 2", ["x"], {"x": (2,)}),
    ("alpha*sqrt(2)", ["alpha"], {"alpha": ()}),        # grad_alpha = 2 ** (1 / 2), a float
])
def test_pytorch_returns_a_number_computed_in_python_as_a_tensor(formula, wrt, shapes):
    torch = pytest.importorskip("torch")
    d = derive.gradient(formula, wrt, shapes)
    args = [torch.tensor(np.ones(s), dtype=torch.float64) for s in shapes.values()]
    for result in _emitted(d.code("torch"))["value_and_grad"](*args):
        assert isinstance(result, torch.Tensor) and result.dtype == torch.float64, result
