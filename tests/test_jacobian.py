"""derive jac: the Jacobian of a formula of any shape, its JVP and its VJP (docs/jacobians.md).

The UFLDL note's delta of a layer is the transposed Jacobian of that layer applied to
the delta above, (W^T delta) .* f'(z): the Jacobian of sigmoid(W x + b) is
diag(f'(z)) W. Every result here is checked against JAX's jacobian, jvp and vjp of
the test oracle's own interpreter (tests/oracle.py), which shares nothing with
derive: the Jacobian in numerator layout, vec stacking columns (Fortran order).
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import run
from support.oracle import Domain, Interpreter, case_from_shapes
from test_targets import needs_jax
from test_text_readback import to_formula

import derive
from derive.program import kind

DIMS = {"m": 3, "n": 4, "k": 2}
RTOL = 1e-7


# ---------------------------------------------------------------- the oracle

def oracle_value(case, values: dict, xp=np):
    """F (2-D) for 2-D ``values``: the definitions, then the formula, by the interpreter."""
    interpreter = Interpreter(xp)
    interpreter.dims = case.dims
    env = dict(values)
    for name, body in case.formula.definitions:
        env[name] = interpreter.eval(body, env)
    return interpreter.eval(case.formula.cost, env)


def jax_reference(case, values: dict, name: str, direction, cotangent):
    """(J in numerator layout, J d as F's 2-D shape, the VJP as X's 2-D shape), by JAX."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def f(x):
        env = {n: jnp.asarray(v) for n, v in values.items()}
        env[name] = x
        return oracle_value(case, env, jnp)
    x = jnp.asarray(values[name])
    out = f(x)
    full = np.asarray(jax.jacobian(f)(x))          # (F rows, F cols, X rows, X cols)
    # vec stacks columns: the index of F[i, j] is j * rows + i, so columns go first
    matrix = full.transpose(1, 0, 3, 2).reshape(out.size, x.size)
    _, tangent = jax.jvp(f, (x,), (jnp.asarray(direction),))
    _, pull = jax.vjp(f, x)
    return matrix, np.asarray(tangent), np.asarray(pull(jnp.asarray(cotangent))[0])


# ---------------------------------------------------------------- derive's side

def argument(value: np.ndarray, k: str):
    """A 2-D value as the emitted code takes it (docs/targets.md)."""
    return float(value.reshape(-1)[0]) if k == "scalar" else \
        value.reshape(-1).copy() if k in ("col", "row") else value.copy()


class Checked:
    """One formula and variable: derive's Jacobian, JVP and VJP from the emitted NumPy
    code, on drawn data, next to JAX's."""

    def __init__(self, text: str, wrt: str, shapes: dict, seed: int = 0, data=None,
                 dims=DIMS) -> None:
        self.case = case_from_shapes(text, text, wrt, shapes, dims, seed=seed)
        self.d = derive.jacobian(text, wrt, shapes={n: tuple(s) for n, s in shapes.items()})
        self.name = wrt
        self.values = data or self.draw()
        rng = np.random.default_rng(seed + 1)
        value = oracle_value(self.case, self.values)
        self.direction = rng.standard_normal(self.values[wrt].shape)
        self.cotangent = rng.standard_normal(value.shape)
        self.value = value

    def draw(self) -> dict:
        for attempt in range(20):
            values = self.case.draw(attempt)
            try:
                with np.errstate(all="ignore"):
                    strict = Interpreter(strict=True)
                    strict.dims = self.case.dims
                    env = dict(values)
                    for name, body in self.case.formula.definitions:
                        env[name] = strict.eval(body, env)
                    strict.eval(self.case.formula.cost, env)
                return values
            except Domain:
                continue
        pytest.skip("no data where the formula is defined")

    def args(self) -> list:
        return [argument(self.values[s.name], kind(s)) for s in self.d.parameters]

    def derive_results(self, code: str | None = None):
        """(jacobian_X or None, jvp as F's 2-D shape, vjp as X's 2-D shape)."""
        names = {}
        exec(compile(code or self.d.numpy, "<derive>", "exec"), names)
        args = self.args()
        x = self.values[self.name]
        direction = argument(self.direction, kind(self.d.directions[self.name]))
        cotangent = argument(self.cotangent, kind(self.d.cotangent))
        matrix = names[f"jacobian_{self.name}"](*args) if self.name in self.d.jacobians \
            else None
        tangent = np.reshape(names["jvp"](*args, direction), self.value.shape)
        pulled = np.reshape(names["vjp"](*args, cotangent), x.shape)
        value, tangent_too = names["value_and_jvp"](*args, direction)
        value_too, pulled_too = names["value_and_vjp"](*args, cotangent)
        for got, want in ((value, self.value), (value_too, self.value),
                          (tangent_too, tangent), (pulled_too, pulled)):
            np.testing.assert_allclose(np.reshape(got, np.shape(want)), want, rtol=RTOL,
                                       atol=RTOL)
        return matrix, tangent, pulled

    def compare(self) -> None:
        matrix, tangent, pulled = jax_reference(self.case, self.values, self.name,
                                                self.direction, self.cotangent)
        got_matrix, got_tangent, got_pulled = self.derive_results()
        scale = max(1.0, float(np.abs(matrix).max(initial=0)))
        if got_matrix is not None:
            assert np.ndim(got_matrix) == 2 and np.shape(got_matrix) == matrix.shape
            np.testing.assert_allclose(got_matrix, matrix, rtol=RTOL, atol=RTOL * scale)
        np.testing.assert_allclose(got_tangent, tangent, rtol=RTOL, atol=RTOL * scale)
        np.testing.assert_allclose(got_pulled, pulled, rtol=RTOL, atol=RTOL * scale)


# (formula, variable, shapes, the Jacobian's text or None where it has no closed form)
M, N, K = ("m",), ("n",), ("k",)
CASES = [
    # layers: diag(f'(z)) W, the UFLDL delta's transpose
    ("sigmoid(W*x + b)", "x", {"W": ("m", "n"), "x": N, "b": M},
     "jac_x = diag(sigmoid(W x + b) .* (1 - sigmoid(W x + b))) W"),
    ("sigmoid(W*x + b)", "W", {"W": ("m", "n"), "x": N, "b": M}, None),
    ("sigmoid(W*x + b)", "b", {"W": ("m", "n"), "x": N, "b": M}, None),
    ("tanh(W*x)", "W", {"W": ("m", "n"), "x": N}, None),
    ("W2*tanh(W1*x + b1) + b2", "x", {"W2": ("k", "m"), "W1": ("m", "n"), "x": N, "b1": M,
                                      "b2": K}, None),
    ("W2*tanh(W1*x + b1) + b2", "W1", {"W2": ("k", "m"), "W1": ("m", "n"), "x": N, "b1": M,
                                       "b2": K}, None),
    ("sigmoid(W1*X + b1)", "b1", {"W1": ("m", "n"), "X": ("n", "k"), "b1": M}, None),
    ("sigmoid(W1*X + b1)", "W1", {"W1": ("m", "n"), "X": ("n", "k"), "b1": M}, None),
    ("relu(W*x)", "x", {"W": ("m", "n"), "x": N}, None),
    # normalisations
    ("x / norm(x)", "x", {"x": N}, "jac_x = eye(n) / norm(x) - x x^T / norm(x)^3"),
    ("x - mean(x)", "x", {"x": N}, None),
    ("(x - mean(x)) / norm(x - mean(x))", "x", {"x": N}, None),
    ("X - ones(m, 1)*mean(X, 1)", "X", {"X": ("m", "n")}, None),
    ("X ./ (ones(m, 1)*sum(X, 1))", "X", {"X": ("m", "n")}, None),
    # softmax
    ("softmax(z)", "z", {"z": N}, "jac_z = diag(softmax(z)) - softmax(z) softmax(z)^T"),
    ("softmax(W*x)", "W", {"W": ("m", "n"), "x": N}, None),
    ("softmax(W*x)", "x", {"W": ("m", "n"), "x": N}, None),
    ("softmax(Z)", "Z", {"Z": ("m", "n")}, None),
    ("log(softmax(z))", "z", {"z": N}, None),
    # products
    ("A*X*B", "X", {"A": ("m", "n"), "X": ("n", "k"), "B": ("k", "m")}, "jac_X = kron(B^T, A)"),
    ("A*x", "A", {"A": ("m", "n"), "x": N}, "jac_A = kron(x^T, eye(m))"),
    ("X*b", "b", {"X": ("m", "n"), "b": N}, "jac_b = X"),
    ("x*y'", "x", {"x": M, "y": N}, None),
    ("x*y'", "y", {"x": M, "y": N}, None),
    ("X*X", "X", {"X": ("m", "m")}, None),
    ("X'*A", "X", {"X": ("m", "n"), "A": ("m", "k")}, None),   # a commutation matrix
    ("X'", "X", {"X": ("m", "n")}, None),
    # inverses
    ("inv(X)", "X", {"X": ("m", "m")}, "jac_X = -kron(inv(X)^T, inv(X))"),
    ("inv(A + X)*b", "X", {"A": ("m", "m"), "X": ("m", "m"), "b": M}, None),
    ("inv(A)*b", "b", {"A": ("m", "m"), "b": M}, "jac_b = inv(A)"),
    # elementwise maps
    ("exp(X)", "X", {"X": ("m", "n")}, "jac_X = diag(vec(exp(X)))"),
    ("X .* Y", "X", {"X": ("m", "n"), "Y": ("m", "n")}, "jac_X = diag(vec(Y))"),
    ("softplus(x)", "x", {"x": N}, "jac_x = diag(sigmoid(x))"),
    ("X.^3 + sin(X)", "X", {"X": ("m", "n")}, None),
    # 1x1, 1xk and kx1 edges, transposed shapes
    ("x'*y", "x", {"x": N, "y": N}, "jac_x = y^T"),
    ("alpha*x", "alpha", {"alpha": (), "x": N}, "jac_alpha = x"),
    ("alpha^2", "alpha", {"alpha": ()}, "jac_alpha = 2 alpha"),
    ("tr(X)", "X", {"X": ("m", "m")}, None),
    ("sum(X, 1)", "X", {"X": ("m", "n")}, None),
    ("sum(X, 2)", "X", {"X": ("m", "n")}, None),
    ("x'", "x", {"x": N}, "jac_x = eye(n)"),
    ("exp(x')", "x", {"x": N}, None),
    ("W*x", "x", {"W": (1, "n"), "x": N}, "jac_x = W"),
    ("x*alpha", "x", {"x": (1,), "alpha": ()}, None),
    ("X*w", "X", {"X": ("m", 1), "w": (1,)}, None),
    ("sigmoid(x'*W)", "W", {"x": M, "W": ("m", "n")}, None),
    # names that collide with Python, with the code's own names and with d_X and G
    ("lambda*x + np", "x", {"lambda": (), "x": N, "np": N}, None),
    ("G*x + d_x", "x", {"G": ("m", "n"), "x": N, "d_x": M}, None),
    ("exp(G) .* G_", "G", {"G": ("m", "n"), "G_": ("m", "n")}, None),
    ("sigmoid(jvp*x) + vjp", "x", {"jvp": ("m", "n"), "x": N, "vjp": M}, None),
    # constants: sqrt(2) a float PyTorch returned as is; sigmoid of the dimension m, an int
    # that jax.nn.sigmoid refused (the random formulas' seeds 8000022 and 8000177)
    ("grad_x = tr(t); sqrt(2)", "t", {"t": ("m", "m")}, None),
    ("sigmoid(sum(softmax(value)))*value", "value", {"value": (1, "m")}, None),
]
# The Jacobians without a closed form: the transpose of a matrix variable.
REFUSED = {("X'*A", "X"), ("X'", "X")}
IDS = [f"{i}-{f}-{v}" for i, (f, v, _, _) in enumerate(CASES)]


def checked(i: int, seed: int = 0) -> Checked:
    text, wrt, shapes, _ = CASES[i]
    data = None
    if "inv(" in text:          # well conditioned: a multiple of I plus noise
        rng = np.random.default_rng(seed)
        data = {n: rng.standard_normal((DIMS.get(s[0], s[0]) if s else 1,
                                        DIMS.get(s[1], s[1]) if len(s) > 1 else 1))
                for n, s in shapes.items()}
        for n in ("X", "A"):
            if n in data:
                data[n] += 4 * np.eye(len(data[n]))
    return Checked(text, wrt, shapes, seed=seed, data=data)


@needs_jax
@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_jacobian_jvp_and_vjp_agree_with_jax(i):
    text, wrt, _, expected = CASES[i]
    c = checked(i)
    c.d.inline = True          # the closed form itself, no names
    if (text, wrt) in REFUSED:
        assert wrt in c.d.refused and wrt not in c.d.jacobians
    else:
        assert wrt in c.d.jacobians, c.d.notes
    if expected is not None:
        assert c.d.text.startswith(expected), c.d.text
    c.compare()


def test_a_layer_is_diag_of_f_prime_times_w_as_ufldl_has_it():
    d = derive.jacobian("sigmoid(W*x + b)", "x")
    assert d.text == "jac_x = diag(t1) W\nwhere\n  t1 = sigmoid(W x + b) .* (1 - sigmoid(W x + b))"
    assert r"\operatorname{diag}" in d.latex
    # its transpose applied to a delta G is UFLDL's (W^T delta) .* f'(z), taken the other way
    from derive.printing.text import to_text
    assert to_text(d.vjps["x"]) == "W^T (G .* sigmoid(W x + b) .* (1 - sigmoid(W x + b)))"


def test_kronecker_and_vec_in_latex():
    assert r"\otimes" in derive.jacobian("A*X*B", "X").latex
    assert r"\operatorname{vec}" in derive.jacobian("exp(X)", "X").latex


@pytest.mark.parametrize("text, wrt, shapes", [
    ("A*X*B", "X", {"A": (3, 4), "X": (4, 2), "B": (2, 3)}),
    ("inv(X)", "X", {"X": (3, 3)}),
    ("exp(X)", "X", {"X": (3, 2)}),
    ("softmax(z)", "z", {"z": (4,)}),
])
def test_the_jacobian_text_reads_back_as_the_same_function(text, wrt, shapes):
    """kron, vec and diag of a vector are in the language: the printed Jacobian, read back
    by derive as a formula, computes what jacobian_X computes."""
    d = derive.jacobian(text, wrt, shapes=shapes, inline=True)
    # + zeta (0 here): differentiated with respect to zeta only, the Jacobian's own value
    rhs = to_formula(d.text.split(" = ", 1)[1]) + " + zeta"
    back = derive.jacobian(rhs, "zeta", shapes={**{n: s for n, s in shapes.items()
                                                   if n != wrt or n in rhs}, "zeta": ()})
    rng = np.random.default_rng(0)
    values = {s.name: rng.standard_normal(s.shape and tuple(int(x) for x in s.shape))
              + (3 * np.eye(int(s.shape[0])) if text == "inv(X)" else 0)
              for s in d.formula.symbols}
    args = [argument(values[s.name], kind(s)) for s in d.parameters]
    names, again = {}, {}
    exec(d.numpy, names)
    exec(back.numpy, again)
    zero = np.zeros(tuple(int(x) for x in back.cotangent.shape))
    cotangent = argument(zero, kind(back.cotangent))
    values["zeta"] = np.zeros((1, 1))
    back_args = [argument(values[s.name], kind(s)) for s in back.parameters]
    read = np.asarray(again["value_and_vjp"](*back_args, cotangent)[0])
    np.testing.assert_allclose(read, names[f"jacobian_{wrt}"](*args), rtol=1e-12, atol=1e-12)


def test_no_closed_form_is_a_note_not_a_failure():
    code, out, err = run("jac", "X'*A", "--wrt", "X")
    assert code == 0, err
    assert "commutation matrix" in out and "jvp = " in out and "vjp_X = A G^T" in out
    code, out, err = run("jac", "X'*A", "--wrt", "X", "--format", "numpy")
    assert code == 0 and "commutation matrix" in err
    assert "def jvp(" in out and "def vjp(" in out and "def jacobian_X" not in out


def test_directions_and_cotangent_never_clash_with_the_formulas_names():
    d = derive.jacobian("G*x + d_x", "x")
    assert d.cotangent.name == "G_" and d.directions["x"].name == "d_x_"
    assert "def vjp(G, x, d_x, G_):" in d.numpy or "G_):" in d.numpy


def test_cli_formats():
    for fmt in ("text", "latex", "json", "numpy", "jax", "torch", "matlab"):
        code, out, err = run("jac", "sigmoid(W*x + b)", "--wrt", "x", "--format", fmt)
        assert code == 0, (fmt, err)
    code, out, err = run("jac", "sigmoid(W*x + b)", "--wrt", "x", "--steps")
    assert code == 0 and "chain of layer Jacobians" in out and "W x + b: W" in out
    code, out, err = run("jac", "sigmoid(W*x + b", "--wrt", "x")
    assert code == 2
    code, out, err = run("grad", "sigmoid(W*x + b)", "--wrt", "x")
    assert code == 2 and "must be a scalar" in err


def test_result_object_shows_itself_like_a_gradient():
    d = derive.jacobian("softmax(z)", "z")
    assert repr(d).startswith("<Jacobian jac_z")
    assert d._repr_latex_().startswith(r"\begin{align*}")
    assert "jacobian_z" in d.code("jax") and "jacobian_z" in d.code("torch")
    assert callable(d.function())


def test_hessian_of_a_bias_broadcast_over_columns_has_a_closed_form():
    """sum over the columns of diag(a_j) M diag(a_j) is M .* (A A^T)."""
    d = derive.hessian("sum(sigmoid(W1*X + b1))", "b1")
    assert d.text.startswith("hess_b1 = diag(sum(")
    d = derive.hessian("norm(W2*tanh(W1*X + b1) + b2 - Y, 'fro')^2", "b1")
    assert "(W2^T W2) .* (" in d.text
    for formula in ("sum(sigmoid(W1*X + b1))", "norm(W2*tanh(W1*X + b1) + b2 - Y, 'fro')^2",
                    "norm(W2*sigmoid(W1*X + b1) - Y, 'fro')^2",
                    "-sum(Y .* log(softmax(W*X + b1)))"):
        code, out, err = run("check", formula, "--wrt", "b1", "--hess")
        assert code == 0, out + err


# ---------------------------------------------------------------- random formulas

def random_jacobians(seeds):
    """(closed form and right, no closed form, derive refused the formula, total)."""
    from support.jacobian_acceptance import cases
    closed = refused = other = total = 0
    for seed, text, wrt, shapes, dims in cases(seeds):
        try:
            c = Checked(text, wrt, shapes, seed=seed, dims=dims)
            c.d.numpy
        except derive.DeriveError:
            other += 1
            continue
        except (Domain, ValueError, FloatingPointError):
            continue
        total += 1
        c.compare()          # jvp and vjp always; the Jacobian where closed
        if wrt in c.d.jacobians:
            closed += 1
        else:
            refused += 1
    return closed, refused, other, total


@needs_jax
def test_random_formulas_of_every_shape(slow):
    closed, refused, other, total = random_jacobians(range(120 if slow else 4))
    assert total > 5
    # nearly every Jacobian of these has a closed form, and every one that came out is right
    assert closed >= 0.8 * total, (closed, refused, other, total)
