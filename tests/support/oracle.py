"""An oracle for derive's emitted code that shares nothing with derive.

Nothing here imports derive. A formula is held as its own syntax tree
(:class:`Node`, built by a generator or read by :func:`parse`, a parser of the
language of docs/language.md written from that page alone) and evaluated by
:class:`Interpreter`, a plain walk over the tree with 2-D arrays (every vector
n×1, every scalar 1×1), unoptimised: no shared subexpressions, no in-place
updates, no chain order, no names to collide.

Gradients are central differences *of the interpreter* (never of derive's
emitted value), with a Richardson-extrapolated second opinion, and, where
``jax`` is importable, JAX autodiff of the same interpreter run on
``jax.numpy`` (the interpreter is written against an array module ``xp``).

A strict run of the interpreter (``Interpreter(strict=True)``) also refuses
data where the formula is undefined or where finite differences cannot be
trusted: a log, a square root or a fractional power of a number near or below 0,
a division by a number near 0, abs/relu/sign/step/norm near their kink, an
ill-conditioned inv/det/logdet, a logdet of a matrix without positive
determinant, an exp of a large argument, or an intermediate result beyond
``LARGE``. It raises :class:`Domain`; a generator then draws again.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field

import numpy as np

# ---------------------------------------------------------------- the syntax tree

ELEMENTWISE = ("exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "softplus", "relu",
               "sign", "step", "square")
MATRIX_FUNCTIONS = ("det", "logdet", "inv", "diag", "softmax")
FUNCTIONS = frozenset(ELEMENTWISE + MATRIX_FUNCTIONS + (
    "sum", "mean", "norm", "norm1", "norm2", "tr", "trace", "logsumexp", "eye", "ones"))


@dataclass(frozen=True)
class Node:
    """One node: ``op`` with children ``args`` and a parameter ``value``.

    ops: ``var`` (value: the name), ``num`` (value: the number's text), ``neg``,
    ``T`` (value: ``'`` or ``.T``), ``add``, ``sub``, ``mul`` (value: ``*`` or ``@``),
    ``had`` (``.*``), ``ediv`` (``./``), ``div`` (``/``), ``pow`` (``^``), ``epow`` (``.^``),
    a call (op: the function's name as written; value: its second argument, ``None``
    if none: an axis, a norm's kind, ``eye``'s dimension, ``ones``' two dimensions).
    """
    op: str
    args: tuple = ()
    value: object = None


@dataclass(frozen=True)
class Formula:
    definitions: tuple          # ((name, Node), ...)
    cost: Node

    @property
    def text(self) -> str:
        return "".join(f"{name} = {to_text(body)}; " for name, body in self.definitions) + \
            to_text(self.cost)

    def names(self) -> list[str]:
        """The free names (variables) in order of first appearance in the text."""
        defined = {name for name, _ in self.definitions}
        seen: list[str] = []
        for node in [body for _, body in self.definitions] + [self.cost]:
            for name in _names_in(node):
                if name not in defined and name not in seen:
                    seen.append(name)
        return seen


def _names_in(node: Node):
    if node.op == "var":
        yield node.value
    for child in node.args:
        yield from _names_in(child)


def var(name: str) -> Node:
    return Node("var", (), name)


def num(text: str) -> Node:
    return Node("num", (), text)


def mul(a: Node, b: Node, symbol: str = "*") -> Node:
    return Node("mul", (a, b), symbol)


def call(name: str, *args: Node, value=None) -> Node:
    return Node(name, tuple(args), value)


# ---------------------------------------------------------------- printing the formula

SUM, PRODUCT, UNARY, POSTFIX, ATOM = 1, 2, 3, 4, 5
BINARY = {"add": "+", "sub": "-", "mul": "*", "had": ".*", "ediv": "./", "div": "/"}


def precedence(node: Node) -> int:
    if node.op in ("add", "sub"):
        return SUM
    if node.op in ("mul", "had", "ediv", "div"):
        return PRODUCT
    if node.op == "neg":
        return UNARY
    if node.op in ("T", "pow", "epow"):
        return POSTFIX
    return ATOM


def to_text(node: Node, at: int = SUM) -> str:
    """The text of ``node``, parenthesised unless it binds at least as tightly as ``at``."""
    text = _text(node)
    return text if precedence(node) >= at else f"({text})"


def _text(node: Node) -> str:
    op, args = node.op, node.args
    if op == "var":
        return node.value
    if op == "num":
        return node.value
    if op == "neg":
        return "-" + to_text(args[0], POSTFIX)
    if op == "T":
        return to_text(args[0], ATOM) + node.value
    if op in ("pow", "epow"):
        exponent = args[1]
        if exponent.op == "neg" and precedence(exponent.args[0]) == ATOM:
            power = "-" + _text(exponent.args[0])
        else:
            power = to_text(exponent, ATOM)
        return to_text(args[0], ATOM) + ("^" if op == "pow" else ".^") + power
    if op in ("add", "sub"):
        right = args[1]
        right_text = f"({_text(right)})" if right.op == "neg" else to_text(right, PRODUCT)
        return f"{to_text(args[0], SUM)} {BINARY[op]} {right_text}"
    if op in BINARY:
        symbol = node.value if op == "mul" else BINARY[op]
        spaced = f" {symbol} " if symbol in ("@", ".*", "./") else symbol
        return f"{to_text(args[0], PRODUCT)}{spaced}{to_text(args[1], POSTFIX)}"
    if op == "eye":
        return f"eye({node.value})"
    if op == "ones":
        return f"ones({node.value[0]}, {node.value[1]})"
    inner = ", ".join(to_text(a) for a in args)
    if node.value is not None:
        inner += f", {node.value}"
    return f"{op}({inner})"


# ---------------------------------------------------------------- reading a formula

class FormulaSyntaxError(ValueError):
    pass


_TOKEN = re.compile(r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<num>(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z][A-Za-z0-9_]*)
  | (?P<op>\.\*|\./|\.\^|\.T(?![A-Za-z0-9_])|[-+*/@^(),;=])
  | (?P<quote>')
""", re.VERBOSE)


def tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) pairs; ``'`` after a name, number, ``)`` or transpose is a transpose."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if not m:
            raise FormulaSyntaxError(f"cannot read {text[i:i + 10]!r}")
        kind = m.lastgroup
        if kind == "quote":
            if out and (out[-1][0] in ("num", "name") or out[-1][1] in (")", "'", ".T")):
                out.append(("op", "'"))
            else:
                end = text.index("'", i + 1)
                out.append(("str", text[i + 1:end]))
                i = end + 1
                continue
        elif kind != "space":
            out.append((kind, m.group()))
        i = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokens(text) + [("end", "")]
        self.i = 0

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        return self.toks[self.i + ahead]

    def take(self, expected: str | None = None) -> tuple[str, str]:
        tok = self.toks[self.i]
        if expected is not None and tok[1] != expected:
            raise FormulaSyntaxError(f"expected {expected!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def formula(self) -> Formula:
        definitions = []
        while self.peek()[0] == "name" and self.peek(1)[1] == "=":
            name = self.take()[1]
            self.take("=")
            definitions.append((name, self.sum()))
            self.take(";")
        cost = self.sum()
        if self.peek()[1] == ";":
            self.take()
        if self.peek()[0] != "end":
            raise FormulaSyntaxError(f"unexpected {self.peek()[1]!r}")
        return Formula(tuple(definitions), cost)

    def sum(self) -> Node:
        node = self.product()
        while self.peek()[1] in ("+", "-"):
            op = "add" if self.take()[1] == "+" else "sub"
            node = Node(op, (node, self.product()))
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.peek()[1] in ("*", "@", ".*", "./", "/"):
            symbol = self.take()[1]
            right = self.unary()
            if symbol in ("*", "@"):
                node = Node("mul", (node, right), symbol)
            else:
                node = Node({".*": "had", "./": "ediv", "/": "div"}[symbol], (node, right))
        return node

    def unary(self) -> Node:
        if self.peek()[1] == "-":
            self.take()
            return Node("neg", (self.unary(),))
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            symbol = self.peek()[1]
            if symbol in ("'", ".T"):
                self.take()
                node = Node("T", (node,), symbol)
            elif symbol in ("^", ".^"):
                self.take()
                if self.peek()[1] == "-":
                    self.take()
                    exponent = Node("neg", (self.primary(),))
                else:
                    exponent = self.primary()
                node = Node("pow" if symbol == "^" else "epow", (node, exponent))
            else:
                return node

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return num(text)
        if text == "(":
            node = self.sum()
            self.take(")")
            return node
        if kind != "name":
            raise FormulaSyntaxError(f"unexpected {text!r}")
        if self.peek()[1] != "(":
            return var(text)
        if text not in FUNCTIONS:
            raise FormulaSyntaxError(f"unknown function {text}")
        self.take("(")
        if text in ("eye", "ones"):
            dims = [self.dimension()]
            while self.peek()[1] == ",":
                self.take()
                dims.append(self.dimension())
            self.take(")")
            return Node(text, (), dims[0] if text == "eye" else tuple(dims))
        args = [self.sum()]
        value = None
        if self.peek()[1] == ",":
            self.take()
            kind, value = self.take()
            value = repr(value) if kind == "str" else value
        self.take(")")
        return Node(text, tuple(args), value)

    def dimension(self):
        kind, text = self.take()
        return int(text) if kind == "num" else text


def parse(text: str) -> Formula:
    return _Parser(text).formula()


# ---------------------------------------------------------------- evaluating it

class Domain(ValueError):
    """The formula is undefined at this data, or too close to a point where it is not smooth."""


LARGE = 1e6          # a strict run refuses intermediate results larger than this
MARGIN = 1e-2        # ... and log, sqrt, divisors and kinks closer than this to their edge
CONDITION = 1e7      # ... and inv, det, logdet of matrices worse conditioned than this
EXP_LIMIT = 30.0


class Interpreter:
    """Evaluate a :class:`Formula` on 2-D arrays with the array module ``xp``."""

    def __init__(self, xp=np, strict: bool = False) -> None:
        self.xp = xp
        self.strict = strict

    def value(self, formula: Formula, values: dict, dims: dict | None = None):
        """The cost (a 1×1 array) for ``values`` (name -> 2-D array) and ``dims`` (name -> int)."""
        env = dict(values)
        self.dims = dims or {}
        for name, body in formula.definitions:
            env[name] = self.eval(body, env)
        out = self.eval(formula.cost, env)
        if out.shape != (1, 1):
            raise ValueError(f"the cost is {out.shape}, not a scalar")
        return out

    def eval(self, node: Node, env: dict):
        out = getattr(self, "op_" + node.op, None)
        if out is None:
            raise ValueError(f"no rule for {node.op}")
        result = out(node, env)
        if self.strict:
            a = np.asarray(result)
            if not np.all(np.isfinite(a)) or (a.size and np.abs(a).max() > LARGE):
                what = "not finite" if not np.all(np.isfinite(a)) else "too large"
                raise Domain(f"{to_text(node)[:60]} is {what}")
        return result

    # -- helpers ---------------------------------------------------------------

    def check(self, ok: bool, why: str) -> None:
        if self.strict and not ok:
            raise Domain(why)

    def away(self, a, what: str, positive: bool = False) -> None:
        if self.strict:
            a = np.asarray(a)
            bad = a.min() <= MARGIN if positive else np.abs(a).min() <= MARGIN
            self.check(not bad, f"{what} of {a.min():.3g}")

    def conditioned(self, a, what: str) -> None:
        if self.strict:
            self.check(np.linalg.cond(np.asarray(a)) < CONDITION,
                       f"{what} of an ill-conditioned matrix")

    def scalar(self, a):
        if a.shape != (1, 1):
            raise ValueError(f"expected a scalar, got {a.shape}")
        return a

    def square(self, a, what: str):
        if a.shape[0] != a.shape[1]:
            raise ValueError(f"{what} of a {a.shape} matrix")
        return a

    # -- leaves and operators ------------------------------------------------------

    def op_var(self, node, env):
        return env[node.value]

    def op_num(self, node, env):
        return self.xp.full((1, 1), float(node.value))

    def op_neg(self, node, env):
        return -self.eval(node.args[0], env)

    def op_T(self, node, env):
        return self.eval(node.args[0], env).T

    def _two(self, node, env):
        return self.eval(node.args[0], env), self.eval(node.args[1], env)

    def op_add(self, node, env):
        a, b = self._two(node, env)
        return a + b

    def op_sub(self, node, env):
        a, b = self._two(node, env)
        return a - b

    def op_mul(self, node, env):
        a, b = self._two(node, env)
        if a.shape == (1, 1) or b.shape == (1, 1):
            return a * b
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"product of {a.shape} and {b.shape}")
        return a @ b

    def op_had(self, node, env):
        a, b = self._two(node, env)
        return a * b

    def op_ediv(self, node, env):
        a, b = self._two(node, env)
        self.away(b, "a divisor")
        return a / b

    def op_div(self, node, env):
        a, b = self._two(node, env)
        self.away(self.scalar(b), "a divisor")
        return a / b

    def _power_domain(self, a, p) -> None:
        p = np.asarray(p)
        if np.all(p == np.round(p)):
            if np.any(p < 0):
                self.away(a, "a negative power")
        else:
            self.away(a, "a fractional power", positive=True)

    def op_epow(self, node, env):
        a, p = self._two(node, env)
        self._power_domain(a, self.scalar(p))
        return a ** p

    def op_pow(self, node, env):
        a, p = self._two(node, env)
        self.scalar(p)
        if a.shape == (1, 1):
            self._power_domain(a, p)
            return a ** p
        self.square(a, "a matrix power")
        k = float(np.asarray(p)[0, 0])
        if k != round(k):
            raise ValueError("a matrix to a fractional power")
        k = int(k)
        if k < 0:
            self.conditioned(a, "an inverse")
            a, k = self.xp.linalg.inv(a), -k
        out = self.xp.eye(a.shape[0])
        for _ in range(k):
            out = out @ a
        return out

    # -- elementwise functions ---------------------------------------------------

    def _elementwise(self, node, env):
        a = self.eval(node.args[0], env)
        xp, name = self.xp, node.op
        if name == "exp":
            if self.strict:
                self.check(np.asarray(a).max() < EXP_LIMIT, "exp of a large argument")
            return xp.exp(a)
        if name in ("log", "sqrt"):
            self.away(a, name, positive=True)
            return xp.log(a) if name == "log" else xp.sqrt(a)
        if name in ("abs", "relu", "sign", "step"):
            self.away(a, f"{name} near its kink")
            return {"abs": lambda: xp.abs(a), "relu": lambda: xp.maximum(a, 0.0),
                    "sign": lambda: xp.sign(a), "step": lambda: (a > 0) * 1.0}[name]()
        if name == "sigmoid":
            return 1.0 / (1.0 + xp.exp(-a))
        if name == "softplus":
            return xp.logaddexp(0.0, a)
        if name == "square":
            return a * a
        return getattr(xp, name)(a)         # sin, cos, tanh

    # -- reductions, norms, the softmax family ------------------------------------

    def _reduce(self, node, env):
        a = self.eval(node.args[0], env)
        how = self.xp.sum if node.op == "sum" else self.xp.mean
        if node.value is None:
            return self.xp.reshape(how(a), (1, 1))
        axis = int(node.value)
        if axis not in (1, 2):
            raise ValueError(f"{node.op} along {axis}")
        return how(a, axis=axis - 1, keepdims=True)

    op_sum = op_mean = _reduce

    def op_norm(self, node, env):
        a = self.eval(node.args[0], env)
        kind = {"norm1": "1", "norm2": "2"}.get(node.op, node.value)
        vector = a.shape[0] == 1 or a.shape[1] == 1
        if kind == "1":
            self.away(a, "norm(., 1) near its kink")
            if vector:
                return self.xp.reshape(self.xp.sum(self.xp.abs(a)), (1, 1))
            return self.xp.reshape(self.xp.max(self.xp.sum(self.xp.abs(a), axis=0)), (1, 1))
        if kind == "2" and not vector:
            return self.xp.reshape(self.xp.linalg.norm(a, 2), (1, 1))
        if kind not in (None, "2", "'fro'"):
            raise ValueError(f"norm kind {kind}")
        out = self.xp.reshape(self.xp.sqrt(self.xp.sum(a * a)), (1, 1))
        self.away(out, "a norm near 0", positive=True)
        return out

    op_norm1 = op_norm2 = op_norm

    def op_softmax(self, node, env):
        a = self.eval(node.args[0], env)
        e = self.xp.exp(a - self.xp.max(a, axis=0, keepdims=True))
        return e / self.xp.sum(e, axis=0, keepdims=True)

    def op_logsumexp(self, node, env):
        a = self.eval(node.args[0], env)
        if node.value is None:
            top = self.xp.max(a)
            return self.xp.reshape(top + self.xp.log(self.xp.sum(self.xp.exp(a - top))), (1, 1))
        if int(node.value) != 1:
            raise ValueError(f"logsumexp along {node.value}")
        top = self.xp.max(a, axis=0, keepdims=True)
        return top + self.xp.log(self.xp.sum(self.xp.exp(a - top), axis=0, keepdims=True))

    # -- linear algebra -----------------------------------------------------------

    def op_tr(self, node, env):
        a = self.square(self.eval(node.args[0], env), "tr")
        return self.xp.reshape(self.xp.trace(a), (1, 1))

    op_trace = op_tr

    def op_det(self, node, env):
        a = self.square(self.eval(node.args[0], env), "det")
        self.conditioned(a, "det")   # derive's det(X) inv(X)' needs an invertible X
        return self.xp.reshape(self.xp.linalg.det(a), (1, 1))

    def op_logdet(self, node, env):
        a = self.square(self.eval(node.args[0], env), "logdet")
        self.conditioned(a, "logdet")
        sign, logabs = self.xp.linalg.slogdet(a)
        if self.strict:
            self.check(float(sign) > 0, "logdet of a matrix whose determinant is not positive")
        return self.xp.reshape(logabs, (1, 1))

    def op_inv(self, node, env):
        a = self.square(self.eval(node.args[0], env), "inv")
        self.conditioned(a, "inv")
        return self.xp.linalg.inv(a)

    def op_diag(self, node, env):
        a = self.eval(node.args[0], env)
        if a.shape == (1, 1):
            return a
        if a.shape[1] == 1:
            return self.xp.diag(a[:, 0])
        if a.shape[0] == 1:
            return self.xp.diag(a[0, :])
        self.square(a, "diag")
        return self.xp.reshape(self.xp.diag(a), (-1, 1))

    def dim(self, d) -> int:
        return d if isinstance(d, int) else self.dims[d]

    def op_eye(self, node, env):
        return self.xp.eye(self.dim(node.value))

    def op_ones(self, node, env):
        return self.xp.ones((self.dim(node.value[0]), self.dim(node.value[1])))


for _name in ELEMENTWISE:
    setattr(Interpreter, "op_" + _name, Interpreter._elementwise)


# ---------------------------------------------------------------- a case and its data

SCALAR, VECTOR, MATRIX = "scalar", "vector", "matrix"


@dataclass
class Case:
    """A formula with everything needed to derive it and to check the result.

    ``declared`` is what ``derive.gradient`` gets as ``shapes`` (dimensions as ints or
    names; a name left out is undeclared); ``kinds`` says how each variable is passed to
    the emitted code (a scalar a float, a vector 1-D, a matrix 2-D); ``sizes`` gives every
    variable's 2-D shape here and ``dims`` every symbolic dimension's size.
    """
    name: str
    formula: Formula
    wrt: list[str]
    kinds: dict[str, str]
    sizes: dict[str, tuple[int, int]]
    declared: dict[str, tuple] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)
    features: frozenset = frozenset()
    seed: int = 0
    data: dict | None = None          # fixed values (2-D arrays) instead of a random draw

    @property
    def text(self) -> str:
        return self.formula.text

    def command(self) -> str:
        parts = ["derive", "grad", repr(self.text)] + [f"--wrt {w}" for w in self.wrt]
        parts += [f"--shape {n}={','.join(map(str, d))}" for n, d in self.declared.items()]
        return " ".join(parts)

    def draw(self, attempt: int = 0) -> dict[str, np.ndarray]:
        """Gaussian data for every variable, 2-D, from the case's seed."""
        if self.data is not None:
            return {n: np.array(v, dtype=float).reshape(self.sizes[n])
                    for n, v in self.data.items()}
        rng = np.random.default_rng([self.seed, attempt])
        return {n: rng.standard_normal(self.sizes[n]) for n in self.formula.names()}

    def argument(self, name: str, value: np.ndarray, ndim: int | None = None):
        """A value as the emitted code takes it: a float, a 1-D or a 2-D array (docs/targets.md
        by the variable's kind, unless ``ndim`` says otherwise)."""
        if ndim is None:
            ndim = {SCALAR: 0, VECTOR: 1, MATRIX: 2}[self.kinds[name]]
        if ndim == 0:
            return float(value.reshape(-1)[0])
        return value.reshape(-1).copy() if ndim == 1 else value.copy()

    def allowed_ndims(self, name: str) -> set[int]:
        """How the emitted code may take a variable: docs/targets.md fixes scalars (floats),
        vectors (1-D) and matrices (2-D); it leaves open a matrix declared n×1, 1×k or 1×1,
        and a vector of length 1 (a 1×1 is a scalar wherever a scalar is expected)."""
        kind, (rows, cols) = self.kinds[name], self.sizes[name]
        if kind != MATRIX:
            return {0} if kind == SCALAR else {0, 1} if rows == 1 else {1}
        if rows > 1 and cols > 1:
            return {2}
        return {0, 1, 2} if rows == cols == 1 else {1, 2}

    def __str__(self) -> str:
        return f"[{self.name}] {self.command()}"


def case_from_shapes(name: str, text: str, wrt, shapes: dict, dims: dict | None = None,
                     data: dict | None = None, seed: int = 0) -> Case:
    """A case from a formula's text and its --shape declarations, as a user writes them.

    ``shapes`` maps every variable to ``()``, ``(k,)`` or ``(m, n)``, dimensions ints or
    names; ``dims`` gives each named dimension's size.
    """
    dims = dict(dims or {})
    formula = parse(text)
    kinds, sizes = {}, {}
    for var_name, dimensions in shapes.items():
        values = [d if isinstance(d, int) else dims[d] for d in dimensions]
        kinds[var_name] = (SCALAR, VECTOR, MATRIX)[len(dimensions)]
        sizes[var_name] = (1, 1) if not values else (values[0], 1) if len(values) == 1 \
            else tuple(values)
    missing = set(formula.names()) - set(shapes)
    if missing:
        raise ValueError(f"declare {sorted(missing)}")
    return Case(name, formula, [wrt] if isinstance(wrt, str) else list(wrt), kinds, sizes,
                dict(shapes), dims, frozenset(), seed, data)


# ---------------------------------------------------------------- reference gradients

def python_name(name: str) -> str:
    """How docs/targets.md spells a formula's name as a parameter (a keyword gets ``_``)."""
    return name + "_" if keyword.iskeyword(name) or keyword.issoftkeyword(name) else name


def reference_value(case: Case, values: dict) -> float:
    with np.errstate(all="ignore"):
        return float(Interpreter().value(case.formula, values, case.dims)[0, 0])


def strict_value(case: Case, values: dict) -> float:
    """The value, raising :class:`Domain` where the data is no good for a numerical check."""
    with np.errstate(all="ignore"):
        return float(Interpreter(strict=True).value(case.formula, values, case.dims)[0, 0])


def central_differences(case: Case, values: dict, name: str, step: float = 1e-6) -> np.ndarray:
    """(F(x + h e_i) - F(x - h e_i)) / 2h of the interpreter, h = step * max(1, |x_i|)."""
    x = values[name]
    out = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        h = step * max(1.0, abs(float(x[i])))
        moved = dict(values)
        for sign in (1, -1):
            y = x.copy()
            y[i] += sign * h
            moved[name] = y
            out[i] += sign * reference_value(case, moved) / (2 * h)
    return out


RICHARDSON_STEP = 5e-4


def richardson_differences(case: Case, values: dict, name: str) -> np.ndarray:
    """Central differences at steps 2h and h, extrapolated: error O(h^4), little rounding."""
    coarse = central_differences(case, values, name, 2 * RICHARDSON_STEP)
    fine = central_differences(case, values, name, RICHARDSON_STEP)
    return fine + (fine - coarse) / 3


def jax_available() -> bool:
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


def jax_gradients(case: Case, values: dict) -> dict[str, np.ndarray]:
    """JAX autodiff of the interpreter run on jax.numpy (float64), for every wrt variable."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    interpreter = Interpreter(jnp)
    wrt = list(dict.fromkeys(case.wrt))

    def cost(chosen):
        env = {n: jnp.asarray(v) for n, v in values.items()}
        env.update(chosen)
        return interpreter.value(case.formula, env, case.dims)[0, 0]
    grads = jax.grad(cost)({n: jnp.asarray(values[n]) for n in wrt})
    return {n: np.asarray(g) for n, g in grads.items()}


def relative_error(grad: np.ndarray, reference: np.ndarray, noise: float = 0.0) -> float:
    """||g - ref|| / max(||g||, ||ref||, 1e-6), less an allowance for rounding noise."""
    scale = max(np.linalg.norm(grad), np.linalg.norm(reference), 1e-6)
    error = float(max(np.linalg.norm(grad - reference) - noise, 0.0) / scale)
    return error if np.isfinite(error) else float("inf")


SECOND_STEP = 2e-4


def _mixed(case: Case, values: dict, name: str, index, other: dict) -> float:
    """d/dt d/ds F(values + s e_index + t other) at 0, by the four-point central difference
    (steps scaled by the data), of the interpreter."""
    h = SECOND_STEP * max(1.0, abs(float(values[name][index])))
    size = max(float(np.max(np.abs(values[n]))) for n in other)
    length = max(float(np.max(np.abs(d))) for d in other.values())
    k = SECOND_STEP * max(1.0, size) / max(length, 1e-300)
    total = 0.0
    for si in (1, -1):
        for sk in (1, -1):
            moved = {n: values[n] + sk * k * d for n, d in other.items()}
            moved = {**values, **moved}
            x = moved[name].copy()
            x[index] += si * h
            moved[name] = x
            total += si * sk * reference_value(case, moved)
    return total / (4 * h * k)


def hvp_differences(case: Case, values: dict, directions: dict) -> dict[str, np.ndarray]:
    """The Hessian-vector product along directions (2-D each), by mixed central differences
    of the interpreter: the cheap first opinion (JAX's jvp of grad is the exact one)."""
    return {name: np.array([[_mixed(case, values, name, (i, j), directions)
                             for j in range(values[name].shape[1])]
                            for i in range(values[name].shape[0])])
            for name in directions}


def hessian_differences(case: Case, values: dict, name: str) -> np.ndarray:
    """The dense Hessian in vec(name) (columns stacked), by mixed central differences."""
    rows, cols = values[name].shape
    entries = [(i, j) for j in range(cols) for i in range(rows)]     # column-major
    out = np.zeros((len(entries), len(entries)))
    for b, (i, j) in enumerate(entries):
        unit = np.zeros((rows, cols))
        unit[i, j] = 1.0
        for a, index in enumerate(entries[:b + 1]):
            out[a, b] = out[b, a] = _mixed(case, values, name, index, {name: unit})
    return out


def _jax_cost(case: Case, values: dict):
    """The interpreter on jax.numpy (float64) as a function of {name: 2-D value} for some names."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    interpreter = Interpreter(jnp)
    fixed = {n: jnp.asarray(v) for n, v in values.items()}

    def cost(chosen):
        return interpreter.value(case.formula, {**fixed, **chosen}, case.dims)[0, 0]
    return cost


def jax_hvp(case: Case, values: dict, directions: dict) -> dict[str, np.ndarray]:
    """d/dt of the gradient at values + t directions (2-D each): JAX's jvp of its grad."""
    import jax
    cost = _jax_cost(case, values)
    names = list(directions)
    _, tangent = jax.jvp(jax.grad(cost), ({n: values[n] for n in names},),
                         ({n: directions[n] for n in names},))
    return {n: np.asarray(t) for n, t in tangent.items()}


def jax_hessian(case: Case, values: dict, name: str) -> np.ndarray:
    """The dense Hessian of the cost in vec(name), the columns stacked (JAX autodiff)."""
    import jax
    cost = _jax_cost(case, values)
    rows, cols = values[name].shape

    def of_vec(flat):
        return cost({name: flat.reshape(cols, rows).T})
    return np.asarray(jax.hessian(of_vec)(np.asarray(values[name]).T.reshape(-1)))
