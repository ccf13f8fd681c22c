"""The rule records: one ``Op`` per operation, as HIPS autograd keeps one line per primitive.

``ACTIVATIONS`` are the elementwise functions of the layers (f, f', spellings).
``MATRIX_OPS`` are the functions that act on a whole matrix (shape rule, the
vector-Jacobian product that backprop applies, spellings). Adding a function
means adding a row here, with its spelling in every code target (``spellings``:
numpy, jax, torch, matlab; tests/test_targets.py checks that none is missing),
and, if users may type it, a line in ``build.CALLS``.

A ``Func`` node holds its ``Op``: backprop, the constructors (transpose,
rebuild) and the printers read the rules from the node, never by name. A
spelling receives the printed arguments and the operation's parameters, so
``logsumexp(X, 1)`` cannot lose its axis in any output; NumPy spellings may
name a helper from ``NUMPY_HELPERS`` (the other targets: the ``HELPERS`` of
their module in ``derive.codegen``), which the emitter defines once in the
snippet that uses it. The JAX spellings use jax.nn's stable forms (sigmoid,
softplus, softmax and logsumexp accurate in both tails, shifted by the
maximum), as torch.sigmoid is; a MATLAB name ending in _ is a local function
of the emitted file; MATLAB's norm of a vector is written by its printer. ``apply(name, arg, *params)`` builds a node by name,
through the rewrites (a simpler equal form: softmax of a row is 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy

from ..errors import DeriveError
from .nodes import Add, Broadcast, Const, Expr, Func, Identity, MatMul, ONE, SCALAR, Shape, Transpose, is_const, zeros
from .simplify import broadcast, hadamard, mul, neg, ones, power, sub, summation, transpose


Spelling = Callable[[list[str], tuple], str]   # (printed arguments, parameters) -> text


def spelled(template: str) -> Spelling:
    """A spelling that needs no parameter: a format string over the printed arguments."""
    return lambda args, params: template.format(*args)


@dataclass(frozen=True, eq=False)
class Op:
    """One operation: shape rule, derivative, and a spelling per printer.

    An elementwise function has ``derivative`` (f', applied as delta .* f'(z));
    a matrix operation has ``shape`` and ``matrix_vjp`` ((node, delta) -> one
    gradient per argument). A Func node holds its Op, so every later stage
    reads the rule from the node, never from a table by name.
    """
    name: str
    text: Spelling
    latex: Spelling
    code: dict[str, Spelling]   # the emitted code's spelling, by target (``spellings``)
    derivative: Callable[[Expr], Expr] | None = None
    shape: Callable[[Func], Shape] | None = None
    matrix_vjp: Callable[[Func, Expr], tuple[Expr, ...]] | None = None
    transpose: Callable[[Func], Expr] | None = None
    subgradient: str | None = None   # how the non-smooth points are treated, if any
    # The layer table shows f' of a matrix operation as the map it applies to the delta.
    derivative_text: str = ""
    rewrite: Callable[[Expr, tuple], Expr | None] | None = None   # a simpler equal form, if any
    # Zero only at its non-smooth point, where the subgradient taken makes 1/f count as 0.
    reciprocal_zero_at_zero: bool = False
    # The NumPy spelling may return a read-only view (np.diag of a matrix): never update it.
    numpy_view: bool = False
    # The text and LaTeX spellings are an operator between the arguments (A ⊗ B), which are
    # then parenthesised like the factors of a product.
    infix: bool = False
    # The LaTeX spelling is a superscript on the argument (X^{-1}): the argument is printed
    # as an atom, and the result binds like a power (its own power or transpose needs
    # parentheses).
    latex_superscript: bool = False
    # Symmetric whenever its argument is (the inverse of a symmetric matrix).
    keeps_symmetry: bool = False
    # An elementwise function as SymPy writes it, a function class or a Lambda of one
    # number: ``Derivation.sympy`` spells it so, and the SymPy front end reads it back.
    sympy_form: object = None

    @property
    def elementwise(self) -> bool:
        return self.derivative is not None

    def vjp(self, node: Func, delta: Expr) -> tuple[Expr, ...]:
        if self.derivative is not None:
            return (hadamard(delta, self.derivative(node.arg)),)
        return self.matrix_vjp(node, delta)

    def apply(self, arg: Expr, *params) -> Expr:
        return apply(self.name, arg, *params)

    def __repr__(self) -> str:
        return f"Op({self.name})"


def spellings(**by_target: str | Spelling) -> dict[str, Spelling]:
    """An operation's spelling in the code of each target (numpy, jax, torch, matlab): a
    format string over the printed arguments, or a Spelling that reads the parameters."""
    return {target: _as_spelling(s) for target, s in by_target.items()}


def _as_spelling(s: str | Spelling) -> Spelling:
    return spelled(s) if isinstance(s, str) else s


def elementwise_op(name: str, derivative, text: str, latex: str, code: dict[str, Spelling],
                   subgradient: str | None = None, sympy_form: object = None) -> Op:
    """An elementwise function f with its derivative f'."""
    return Op(name, spelled(text), spelled(latex), code, derivative=derivative,
              subgradient=subgradient, sympy_form=sympy_form)


def matrix_op(name: str, shape, vjp, text, latex, code: dict[str, Spelling], **rest) -> Op:
    """A function of whole matrices: shape rule, vector-Jacobian product, spellings."""
    return Op(name, _as_spelling(text), _as_spelling(latex), code, shape=shape,
              matrix_vjp=vjp, **rest)


def apply(name: str, arg: Expr, *params) -> Expr:
    """Build ``name(arg)`` for a row of either table."""
    if isinstance(arg, Func) and (name, arg.name) in COMPOSITIONS:
        return COMPOSITIONS[name, arg.name](arg.arg)
    found = _one_plus(arg) if name == "log" else None
    if found and (found[0], found[1].name) in LOG_OF_ONE_PLUS:
        sign, inner = found
        return LOG_OF_ONE_PLUS[sign, inner.name](inner.arg)
    op = lookup(name)
    if op.elementwise:
        if isinstance(arg, Transpose):
            return transpose(Func(op, (arg.arg,), (), arg.arg.shape))
        return Func(op, (arg,), (), arg.shape)
    simpler = op.rewrite(arg, tuple(params)) if op.rewrite else None
    if simpler is not None:
        return simpler
    probe = Func(op, (arg,), tuple(params), SCALAR)
    return Func(op, (arg,), tuple(params), op.shape(probe))


def lookup(name: str) -> Op:
    return ACTIVATIONS.get(name) or MATRIX_OPS[name]


def _one_minus(e: Expr) -> Expr:
    return sub(ones(e.shape), e)


def _activation_rows() -> dict[str, Op]:
    f = apply
    _t = sympy.Symbol("t")
    rows = [
        elementwise_op("exp", lambda z: f("exp", z), "exp({0})", r"\exp\left({0}\right)",
                       spellings(numpy="np.exp({0})", jax="jnp.exp({0})", torch="torch.exp({0})",
                                 matlab="exp({0})"),
                       sympy_form=sympy.exp),
        elementwise_op("log", lambda z: power(z, Const(-ONE)), "log({0})", r"\log\left({0}\right)",
                       spellings(numpy="np.log({0})", jax="jnp.log({0})", torch="torch.log({0})",
                                 matlab="log({0})"),
                       sympy_form=sympy.log),
        elementwise_op("sin", lambda z: f("cos", z), "sin({0})", r"\sin\left({0}\right)",
                       spellings(numpy="np.sin({0})", jax="jnp.sin({0})", torch="torch.sin({0})",
                                 matlab="sin({0})"),
                       sympy_form=sympy.sin),
        elementwise_op("cos", lambda z: neg(f("sin", z)), "cos({0})", r"\cos\left({0}\right)",
                       spellings(numpy="np.cos({0})", jax="jnp.cos({0})", torch="torch.cos({0})",
                                 matlab="cos({0})"),
                       sympy_form=sympy.cos),
        elementwise_op("tanh", lambda z: _one_minus(power(f("tanh", z), Const(2))), "tanh({0})",
                       r"\tanh\left({0}\right)",
                       spellings(numpy="np.tanh({0})", jax="jnp.tanh({0})",
                                 torch="torch.tanh({0})", matlab="tanh({0})"),
                       sympy_form=sympy.tanh),
        elementwise_op("sigmoid", lambda z: hadamard(f("sigmoid", z), _one_minus(f("sigmoid", z))),
                       # sigmoid, not a sigma that could be the user's
                       "sigmoid({0})", r"\operatorname{{sigmoid}}\left({0}\right)",
                       spellings(numpy="_sigmoid({0})", jax="jax.nn.sigmoid({0})",
                                 torch="torch.sigmoid({0})", matlab="sigmoid_({0})"),
                       sympy_form=sympy.Lambda(_t, 1 / (1 + sympy.exp(-_t)))),
        elementwise_op("softplus", lambda z: f("sigmoid", z), "softplus({0})",
                       r"\operatorname{{softplus}}\left({0}\right)",
                       spellings(numpy="_softplus({0})", jax="jax.nn.softplus({0})",
                                 torch="_softplus({0})", matlab="softplus_({0})"),
                       sympy_form=sympy.Lambda(_t, sympy.log(1 + sympy.exp(_t)))),
        elementwise_op("abs", lambda z: f("sign", z), "abs({0})", r"\left|{0}\right|",
                       spellings(numpy="np.abs({0})", jax="jnp.abs({0})", torch="torch.abs({0})",
                                 matlab="abs({0})"),
                       subgradient="abs'(0) is taken as 0 (the subgradient sign(x))",
                       sympy_form=sympy.Abs),
        elementwise_op("relu", lambda z: f("step", z), "relu({0})",
                       r"\operatorname{{relu}}\left({0}\right)",
                       spellings(numpy="np.maximum({0}, 0.0)", jax="jax.nn.relu({0})",
                                 torch="torch.relu({0})", matlab="max({0}, 0)"),
                       subgradient="relu'(0) is taken as 0 (a subgradient: a step at 0)",
                       sympy_form=sympy.Lambda(_t, sympy.Max(_t, 0))),
        elementwise_op("step", lambda z: zeros(z.shape), "step({0})",
                       r"\left[{0} > 0\right]",   # Iverson
                       spellings(numpy="np.heaviside({0}, 0.0)", jax="jnp.heaviside({0}, 0.0)",
                                 torch="_step({0})", matlab="double({0} > 0)"),
                       subgradient="step'(0) is taken as 0",
                       sympy_form=sympy.Lambda(_t, sympy.Heaviside(_t, 0))),
        elementwise_op("sign", lambda z: zeros(z.shape), "sign({0})",
                       r"\operatorname{{sign}}\left({0}\right)",
                       spellings(numpy="np.sign({0})", jax="jnp.sign({0})",
                                 torch="torch.sign({0})", matlab="sign({0})"),
                       subgradient="sign'(0) is taken as 0", sympy_form=sympy.sign),
    ]
    return {row.name: row for row in rows}


def _inverse_t(x: Expr) -> Expr:
    return transpose(apply("inv", x))


def _norm_vjp(node: Func, delta: Expr) -> tuple[Expr, ...]:
    return (mul(delta, power(node, Const(-ONE)), node.arg),)


def _softmax_vjp(node: Func, delta: Expr) -> tuple[Expr, ...]:
    axis = None if node.name == "softmax_all" else 0
    weighted = summation(hadamard(node, delta), axis)
    return (hadamard(node, sub(delta, broadcast(weighted, node.shape))),)


def _logsumexp_vjp(node: Func, delta: Expr) -> tuple[Expr, ...]:
    x = node.arg
    if node.params == (None,):
        return (mul(delta, apply("softmax_all", x)),)
    return (hadamard(broadcast(delta, x.shape), apply("softmax", x)),)


def _diag_shape(node: Func) -> Shape:
    rows, cols = node.arg.shape
    return (rows, rows) if cols == 1 else (rows, ONE)


def _diag_rewrite(x: Expr, params: tuple) -> Expr | None:
    n = x.shape[0]
    if x.is_scalar:
        return x   # a 1x1 is a scalar: its diagonal is itself
    if x.shape[1] == 1:
        return mul(x.arg, Identity(n)) if isinstance(x, Broadcast) else None
    if isinstance(x, Identity):
        return ones((n, ONE))
    if isinstance(x, Broadcast) and x.arg.is_scalar:
        return broadcast(x.arg, (n, ONE))
    if isinstance(x, Func) and x.name == "diag" and x.arg.shape[1] == 1:
        return x.arg
    if isinstance(x, MatMul) and len(x.chain) == 2 and x.chain[0].shape[1] == 1:
        # The diagonal of an outer product u w^T is u .* w.
        u, w_t = x.chain
        return mul(Const(x.coeff), *x.scalars, hadamard(u, transpose(w_t)))
    return None


def _softmax_rewrite(x: Expr, params: tuple) -> Expr | None:
    # Per column: a column of one entry (a row, a scalar) has softmax 1.
    return ones(x.shape) if x.shape[0] == 1 else None


def _softmax_all_rewrite(x: Expr, params: tuple) -> Expr | None:
    return Const(ONE) if x.is_scalar else None


def _logsumexp_rewrite(x: Expr, params: tuple) -> Expr | None:
    # Per column of a row (or over a scalar) each sum has one term: logsumexp is the entry.
    per_column = params != (None,)
    return x if x.is_scalar or per_column and x.shape[0] == 1 else None


def _of_scalar(rule: Callable[[Expr], Expr]) -> Callable[[Expr, tuple], Expr | None]:
    """A square-matrix function whose 1x1 case is an ordinary function of the number."""
    return lambda x, params: rule(x) if x.is_scalar else None


def _with_axis(template: str, per_column: str) -> Spelling:
    """A spelling that shows the axis parameter when there is one (per column)."""
    return lambda args, params: template.format(
        *args, axis="" if params == (None,) else per_column)


def _over_all(template: str, per_column: str) -> Spelling:
    """A spelling with one template over all entries (no axis) and one per column."""
    return lambda args, params: (template if params == (None,) else per_column).format(*args)


def _diag_vjp(node: Func, delta: Expr) -> tuple[Expr, ...]:
    return (apply("diag", delta),)


def _not_differentiated(node: Func, delta: Expr) -> tuple[Expr, ...]:
    # In the language so that results read back, not to be differentiated (yet).
    raise DeriveError(f"derive does not differentiate {node.name}(...): it writes results "
                      f"(Jacobians, Hessians) but is not a function of costs it derives")


def _vec_rewrite(x: Expr, params: tuple) -> Expr | None:
    # The columns of a column vector stacked are the vector; of a row, its transpose.
    if x.shape[1] == 1:
        return x
    return transpose(x) if x.shape[0] == 1 else None


def kron(a: Expr, b: Expr) -> Expr:
    """The Kronecker product a ⊗ b (I ⊗ I is one identity, 1 ⊗ B is B)."""
    if isinstance(a, Identity) and isinstance(b, Identity):
        return Identity(a.shape[0] * b.shape[0])
    if a.is_scalar or b.is_scalar:
        return mul(a, b)
    return Func(MATRIX_OPS["kron"], (a, b), (),
                (a.shape[0] * b.shape[0], a.shape[1] * b.shape[1]))


def _matrix_op_rows() -> dict[str, Op]:
    rows = [
        matrix_op("norm", lambda n: SCALAR, _norm_vjp, "norm({0})", r"\left\lVert {0} \right\rVert",
                  spellings(numpy="np.linalg.norm({0})", jax="jnp.linalg.norm({0})",
                            torch="torch.linalg.norm({0})", matlab="norm({0}, 'fro')"),
                  subgradient="the gradient of a norm at 0 is taken as 0",
                  derivative_text="delta * z / norm(z)", reciprocal_zero_at_zero=True),
        matrix_op("tr", lambda n: SCALAR,
                  lambda n, d: (mul(d, Identity(n.arg.shape[0])),),
                  "tr({0})", r"\operatorname{{tr}}\left({0}\right)",
                  spellings(numpy="np.trace({0})", jax="jnp.trace({0})", torch="torch.trace({0})",
                            matlab="trace({0})"),
                  transpose=lambda n: n, derivative_text="delta * I",
                  rewrite=_of_scalar(lambda x: x)),
        matrix_op("det", lambda n: SCALAR,
                  lambda n, d: (mul(d, n, _inverse_t(n.arg)),),
                  "det({0})", r"\det\left({0}\right)",
                  spellings(numpy="np.linalg.det({0})", jax="jnp.linalg.det({0})",
                            torch="torch.linalg.det({0})", matlab="det({0})"),
                  derivative_text="delta * det(z) * inv(z)^T", rewrite=_of_scalar(lambda x: x)),
        matrix_op("logdet", lambda n: SCALAR,
                  lambda n, d: (mul(d, _inverse_t(n.arg)),),
                  "logdet({0})", r"\log\det\left({0}\right)",
                  spellings(numpy="np.linalg.slogdet({0})[1]", jax="jnp.linalg.slogdet({0})[1]",
                            torch="torch.linalg.slogdet({0})[1]", matlab="logabsdet_({0})"),
                  derivative_text="delta * inv(z)^T",
                  rewrite=_of_scalar(lambda x: apply("log", x))),
        matrix_op("inv", lambda n: n.arg.shape,
                  lambda n, d: (neg(mul(transpose(n), d, transpose(n))),),
                  "inv({0})", "{0}^{{-1}}",
                  spellings(numpy="np.linalg.inv({0})", jax="jnp.linalg.inv({0})",
                            torch="torch.linalg.inv({0})", matlab="inv({0})"),
                  derivative_text="-inv(z)^T delta inv(z)^T",
                  rewrite=_of_scalar(lambda x: power(x, Const(-ONE))),
                  latex_superscript=True, keeps_symmetry=True),
        matrix_op("diag", _diag_shape, _diag_vjp, "diag({0})",
                  r"\operatorname{{diag}}\left({0}\right)",
                  spellings(numpy="np.diag({0})", jax="jnp.diag({0})", torch="torch.diag({0})",
                            matlab="diag({0})"),
                  transpose=lambda n: n if n.arg.shape[1] == 1 else Transpose(n),
                  derivative_text="diag(delta)", rewrite=_diag_rewrite, numpy_view=True),
        matrix_op("softmax", lambda n: n.arg.shape, _softmax_vjp, "softmax({0})",
                  r"\operatorname{{softmax}}\left({0}\right)",
                  spellings(numpy="_softmax({0})", jax="jax.nn.softmax({0}, axis=0)",
                            torch="torch.softmax({0}, 0)", matlab="softmax_({0})"),
                  derivative_text="S .* (delta - 1 sum(S .* delta, 1))", rewrite=_softmax_rewrite),
        matrix_op("softmax_all", lambda n: n.arg.shape, _softmax_vjp,
                  "exp({0} - logsumexp({0}))",
                  r"\exp\left({0} - \operatorname{{logsumexp}}\left({0}\right)\right)",
                  spellings(numpy="_softmax({0}, axis=None)", jax="jax.nn.softmax({0}, axis=None)",
                            torch="_softmax_all({0})", matlab="softmax_all_({0})"),
                  derivative_text="S .* (delta - sum(S .* delta))",
                  rewrite=_softmax_all_rewrite),
        matrix_op("logsumexp",
                  lambda n: SCALAR if n.params == (None,) else (ONE, n.arg.shape[1]),
                  _logsumexp_vjp, _with_axis("logsumexp({0}{axis})", ", 1"),
                  _with_axis(r"\operatorname{{logsumexp}}\left({0}{axis}\right)", ", 1"),
                  spellings(
                      numpy=lambda args, params: f"_logsumexp({args[0]}, axis={params[0]})",
                      jax=lambda args, params: f"jax.nn.logsumexp({args[0]}, axis={params[0]})",
                      torch=_over_all("torch.logsumexp(torch.flatten({0}), 0)",
                                      "torch.logsumexp({0}, 0)"),
                      matlab=_over_all("logsumexp_({0})", "logsumexp_columns_({0})")),
                  derivative_text="delta .* softmax(z)", rewrite=_logsumexp_rewrite),
        # Only in Jacobians and Hessians (acting on vec(X)): never differentiated.
        matrix_op("kron", lambda n: (n.args[0].shape[0] * n.args[1].shape[0],
                                     n.args[0].shape[1] * n.args[1].shape[1]),
                  _not_differentiated, "kron({0}, {1})", r"\left({0} \otimes {1}\right)",
                  spellings(numpy="np.kron({0}, {1})", jax="jnp.kron({0}, {1})",
                            torch="_kron({0}, {1})", matlab="kron({0}, {1})"),
                  infix=True),
        # The columns of a matrix stacked: also only in a Hessian of a matrix variable.
        matrix_op("vec", lambda n: (n.arg.shape[0] * n.arg.shape[1], ONE), _not_differentiated,
                  "vec({0})", r"\operatorname{{vec}}\left({0}\right)",
                  spellings(numpy="np.ravel({0}, order='F')", jax="jnp.ravel({0}, order='F')",
                            torch="_vec({0})", matlab="reshape({0}, [], 1)"),
                  numpy_view=True, rewrite=_vec_rewrite),
    ]
    return {row.name: row for row in rows}


ACTIVATIONS: dict[str, Op] = _activation_rows()

# f(g(x)) where a closed form is simpler and numerically safer than the composition.
COMPOSITIONS: dict[tuple[str, str], Callable[[Expr], Expr]] = {
    ("log", "exp"): lambda x: x,
    ("exp", "log"): lambda x: x,
    ("log", "sigmoid"): lambda x: neg(apply("softplus", neg(x))),
    ("log", "softmax"): lambda x: sub(x, apply("logsumexp", x, 0)),
}
# log(1 + f(x)) and log(1 - f(x)), keyed by (sign, f).
LOG_OF_ONE_PLUS: dict[tuple[int, str], Callable[[Expr], Expr]] = {
    (1, "exp"): lambda x: apply("softplus", x),
    (-1, "sigmoid"): lambda x: neg(apply("softplus", x)),
}


def _one_plus(arg: Expr) -> tuple[int, Func] | None:
    """(sign, f(x)) when arg is 1 + f(x) or 1 - f(x)."""
    if not isinstance(arg, Add) or len(arg.terms) != 2:
        return None
    ones_ = [t for t in arg.terms if is_const(t, 1)]
    if not ones_:
        return None
    other = next(t for t in arg.terms if t is not ones_[0])
    if isinstance(other, MatMul) and other.coeff == -1 and len(other.factors) == 1:
        other, sign = other.factors[0], -1
    else:
        sign = 1
    return (sign, other) if isinstance(other, Func) else None


MATRIX_OPS: dict[str, Op] = _matrix_op_rows()


def register_activation(row: Op) -> Op:
    """Add a row made at run time (the SymPy front end's functions, ``sympy_input``).

    Rows are keyed by name; a name already in the table keeps its row, so the
    caller names rows by what they compute.
    """
    return ACTIVATIONS.setdefault(row.name, row)


# Stable forms: no overflow for large |z|, and as cheap as the naive ones.
NUMPY_HELPERS: dict[str, str] = {
    "_inverse_or_zero": '''def _inverse_or_zero(n):
    return 1.0 / n if n != 0 else 0.0''',
    "_sigmoid": '''def _sigmoid(z):
    # 1 / (1 + e^-z) is accurate to a few ulps in both tails; e^-z overflowing to inf
    # (z < -709) gives 0. Below z = -345 (1e-150) it is 0, so products of a few stay
    # normal numbers.
    with np.errstate(over="ignore", under="ignore"):
        e = np.exp(-z)
    e += 1.0
    s = 1.0 / e
    s *= e < 1e150
    return s''',
    "_softplus": '''def _softplus(z):
    with np.errstate(under="ignore"):  # exp(-|z|) may underflow to 0: harmless here
        return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))''',
    "_softmax": '''def _softmax(z, axis=0):
    with np.errstate(under="ignore"):  # exp(z - max) may underflow to 0: harmless here
        e = np.exp(z - z.max(axis=axis))
    return e / e.sum(axis=axis)''',
    "_softmax_logsumexp": '''def _softmax_logsumexp(z, axis=None):
    top = z.max(axis=axis)
    with np.errstate(under="ignore"):  # exp(z - max) may underflow to 0: harmless here
        e = np.exp(z - top)
    total = e.sum(axis=axis)
    return e / total, top + np.log(total)''',
    "_logsumexp": '''def _logsumexp(z, axis=None):
    top = z.max(axis=axis)
    shift = top if axis is None else np.expand_dims(top, axis)
    with np.errstate(under="ignore"):  # exp(z - max) may underflow to 0: harmless here
        return top + np.log(np.exp(z - shift).sum(axis=axis))''',
}
