"""Random well-shaped formulas of derive's language, for the randomised gradient test.

``generate(seed)`` returns a :class:`Case`: a formula (a string, as a user
would type it), declarations for every variable (concrete small dimensions),
the variables to differentiate, and an independent NumPy evaluation of the
cost (``Case.reference``) to check the emitted value against.  The same seed
always gives the same case; nothing but ``random.Random(seed)`` is used.

Formulas are built bottom-up and typed: every subexpression is generated for a
wanted shape ``(rows, cols)`` (``(1, 1)`` a scalar, ``(n, 1)`` a column,
``(1, k)`` a row), so they are always well-shaped, and they draw on every
operator and function of docs/language.md (``FEATURES`` lists them; a case
records the ones it uses in ``Case.features``).

Domains are respected so that a finite-difference check is meaningful at
Gaussian data:

* ``log``, ``sqrt``, ``./``, ``/`` and negative or fractional powers are only
  applied to things that are positive and bounded away from zero by
  construction (``exp(...)``, ``sigmoid(...)``, ``softplus(...)``,
  ``softmax(...)``, ``x.^2 + 1``, sums and products of those);
* ``logdet``, ``inv`` and ``X^-1`` only of symmetric positive definite
  matrices built as ``S*S' + eye(n)``, ``S'*S + c*eye(n)`` or
  ``diag(positive) + S*S'`` (a compound ``S`` gets a definition ``R = ...;``);
* ``det`` of a square variable, or of a compound square matrix plus ``eye(n)``
  (a compound one may be singular by construction, like ``x*y'``, where
  derive's ``det(X) inv(X)'`` cannot be evaluated), all of moderate size;
* ``exp`` of arguments of moderate size; every node carries a rough magnitude
  (``Node.hi``), and anything that grows large is divided by a constant or
  squashed (``tanh``, ``sin``, ...);
* ``abs``, ``relu`` and ``sign`` are only applied where the argument depends
  on Gaussian data (never an exact 0 that moves under perturbation), so
  their kinks are hit with negligible probability.

Run ``cd tests && python -m support.formula_generator [SEED [COUNT]]`` to print some.
"""
from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass, field, replace

import numpy as np

SCALAR = (1, 1)

# Precedence of the formula language (derive/parse.py): lowest to highest.
SUM, PRODUCT, UNARY, POSTFIX, ATOM = 1, 2, 3, 4, 5

# Rough magnitude of a Gaussian variable's entries, and the largest magnitude
# a subexpression may have before it is divided down or squashed.
VARIABLE_SCALE = 1.5
LARGE = 12.0
EXP_ARGUMENT = 2.0          # exp only of things at most this large

MATRIX_NAMES = ("A", "B", "C", "D", "W", "X", "Y", "Z", "M", "P", "Q", "V", "U", "S", "F", "E")
COLUMN_NAMES = ("x", "y", "z", "u", "v", "w", "b", "c", "a", "d", "s", "t")
ROW_NAMES = ("r", "h", "g", "q", "k", "p")
SCALAR_NAMES = ("alpha", "beta", "gamma", "delta", "lambda", "mu", "sigma", "tau", "eps", "rho")
DEFINITION_NAMES = ("R", "H", "G", "K", "L", "N", "J", "O", "I1", "I2", "I3", "I4", "I5")
NUMBERS = ("2", "3", "0.5", "1.5", "0.1", ".25", "10", "1e-3", "4")
POSITIVE_NUMBERS = ("1", "2", "0.5")

#: Everything of docs/language.md a formula can use (tags recorded in Case.features).
FEATURES = frozenset({
    # operators
    "*", "@", ".*", "./", "/", "+", "-", "^", ".^", "'", ".T", "unary -", "number",
    "definition", "broadcast scalar", "broadcast column", "broadcast row", "1x1 as scalar",
    # elementwise functions
    "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "softplus", "relu", "sign",
    "square",
    # reductions
    "sum(X)", "sum(X,1)", "sum(X,2)", "mean(X)", "mean(X,1)", "mean(X,2)",
    # norms
    "norm(x)", "norm(X)", "norm(X,'fro')", "norm(x,1)", "norm(x,2)", "norm1", "norm2",
    # linear algebra
    "tr", "trace", "det", "logdet", "inv", "X^-1", "X^2", "X^3", "diag(vector)", "diag(matrix)",
    "eye", "ones",
    # softmax family
    "softmax", "logsumexp(X)", "logsumexp(X,1)",
})


# ---------------------------------------------------------------- reference evaluation

def _scalar(v) -> np.ndarray:
    return np.full((1, 1), float(v))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softplus(z):
    return np.logaddexp(0.0, z)


def _softmax(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _logsumexp(z, axis=None):
    top = z.max(axis=axis, keepdims=True)
    return top + np.log(np.exp(z - top).sum(axis=axis, keepdims=True))


def _mul(a, b):
    """``a*b`` of the language: scaling when a side is 1×1, else the matrix product."""
    return a * b if a.shape == SCALAR or b.shape == SCALAR else a @ b


def _pow(a, p):
    """``a^p``: the power of a 1×1 base, else an integer matrix power (negative: of the inverse)."""
    p = float(np.asarray(p).reshape(-1)[0])
    if a.shape == SCALAR:
        return a ** p
    if p < 0:
        return np.linalg.matrix_power(np.linalg.inv(a), int(-p))
    return np.linalg.matrix_power(a, int(p))


def _sum(a, axis=None, how=np.sum):
    if axis is None:
        return _scalar(how(a))
    return how(a, axis=axis - 1, keepdims=True)


def _norm(a, p=None):
    return _scalar(np.abs(a).sum() if p == 1 else np.linalg.norm(a))


def _diag(a):
    if a.shape[1] == 1:
        return np.diag(a[:, 0])
    if a.shape[0] == 1:
        return np.diag(a[0])
    return np.diag(a)[:, None]


REFERENCE_HELPERS = {"np": np, "_scalar": _scalar, "_sigmoid": _sigmoid,
                     "_softplus": _softplus, "_softmax": _softmax, "_logsumexp": _logsumexp,
                     "_mul": _mul, "_pow": _pow, "_sum": _sum, "_norm": _norm, "_diag": _diag}


# ---------------------------------------------------------------- nodes and cases

@dataclass(frozen=True)
class Node:
    """A generated subexpression: its text, a NumPy reference over 2-D arrays, its shape."""
    text: str
    ref: str
    shape: tuple[int, int]
    prec: int
    hi: float                 # rough magnitude of the entries
    lo: float = -math.inf     # a lower bound of the entries (-inf: unknown)
    variables: frozenset = frozenset()

    def at(self, prec: int) -> str:
        """The text, parenthesised unless it binds at least as tightly as ``prec``."""
        return self.text if self.prec >= prec else f"({self.text})"


@dataclass
class Case:
    seed: int
    formula: str
    shapes: dict[str, tuple]          # declarations, as derive.gradient takes them
    wrt: list[str]
    reference: str                    # NumPy expression of the cost over 2-D arrays v_NAME
    features: frozenset = field(default_factory=frozenset)

    def declared(self) -> dict[str, tuple[int, int]]:
        """Every variable's shape as (rows, cols)."""
        out = {}
        for name, dims in self.shapes.items():
            out[name] = SCALAR if not dims else (dims[0], 1) if len(dims) == 1 else tuple(dims)
        return out

    def reference_value(self, values: dict[str, object]) -> float:
        """The cost, evaluated straight from the generated structure (not by derive)."""
        env = dict(REFERENCE_HELPERS)
        for name, (rows, cols) in self.declared().items():
            env[f"v_{name}"] = np.reshape(np.asarray(values[name], dtype=float), (rows, cols))
        with np.errstate(all="ignore"):
            return float(np.asarray(eval(self.reference, env)).reshape(-1)[0])

    def command(self, seed: int | None = None) -> str:
        """The equivalent ``derive check`` command line (pasteable into a POSIX shell)."""
        parts = ["derive", "check", f'"{self.formula}"']
        parts += [f"--wrt {w}" for w in self.wrt]
        parts += [f"--shape {n}={','.join(map(str, d))}" for n, d in self.shapes.items()]
        if seed is not None:
            parts.append(f"--seed {seed}")
        return " ".join(parts)

    def __str__(self) -> str:
        shapes = ", ".join(f"{n}={d}" for n, d in self.shapes.items())
        return f"[{self.seed}] {self.formula}    wrt {', '.join(self.wrt)}; shapes {shapes}"


# ---------------------------------------------------------------- the generator

class FormulaGenerator:
    """One formula per instance; ``case()`` builds it."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.dims = [self.rng.choice((2, 3, 4)) for _ in range(3)]
        self.variables: dict[str, tuple[int, int]] = {}
        self.definitions: list[tuple[str, Node, Node]] = []     # (name, body, the name's node)
        self.features: set[str] = set()

    # -- helpers ------------------------------------------------------------

    def dim(self) -> int:
        return self.rng.choice(self.dims)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, seq):
        return self.rng.choice(seq)

    def tag(self, *names: str) -> None:
        self.features.update(names)

    @staticmethod
    def vars_of(*nodes: Node) -> frozenset:
        out: frozenset = frozenset()
        for n in nodes:
            out |= n.variables
        return out

    def any_shape(self) -> tuple[int, int]:
        kind = self.pick(("matrix", "matrix", "col", "col", "row"))
        if kind == "matrix":
            return (self.dim(), self.dim())
        if kind == "col":
            return (self.dim(), 1)
        return (1, self.dim())

    # -- leaves ---------------------------------------------------------------

    def number(self, positive: bool = False) -> Node:
        text = self.pick(POSITIVE_NUMBERS if positive else NUMBERS)
        value = float(text)
        self.tag("number")
        return Node(text, f"_scalar({value!r})", SCALAR, ATOM, max(value, 0.1), value)

    def variable(self, shape: tuple[int, int]) -> Node:
        existing = [n for n, s in self.variables.items() if s == shape]
        if existing and (self.chance(0.6) or len(self.variables) >= 6):
            name = self.pick(existing)
        else:
            rows, cols = shape
            pool = (SCALAR_NAMES if shape == SCALAR else COLUMN_NAMES if cols == 1
                    else ROW_NAMES if rows == 1 else MATRIX_NAMES)
            free = [n for n in pool if n not in self.variables]
            if not free:
                if existing:
                    return self.variable_named(self.pick(existing))
                free = [f"{pool[0]}{len(self.variables)}"]
            name = self.pick(free)
            self.variables[name] = shape
        return self.variable_named(name)

    def variable_named(self, name: str) -> Node:
        return Node(name, f"v_{name}", self.variables[name], ATOM, VARIABLE_SCALE, -math.inf,
                    frozenset({name}))

    def leaf(self, shape: tuple[int, int]) -> Node:
        if shape == SCALAR and self.chance(0.3):
            return self.number()
        return self.variable(shape)

    # -- the main entry point -------------------------------------------------

    def gen(self, shape: tuple[int, int], depth: int, leaf: bool = True) -> Node:
        """A random expression of the given shape (not a bare leaf if ``leaf`` is false)."""
        if depth <= 0 or (leaf and self.chance(0.12 + 0.1 / (depth + 1))):
            return self.leaf(shape)
        rows, cols = shape
        options = [
            (3, self.o_add), (3, self.o_hadamard), (1.5, self.o_ediv), (2, self.o_scale),
            (1, self.o_sdiv), (4, self.o_matmul), (1.5, self.o_neg), (5, self.o_func),
            (1.5, self.o_logsqrt), (2, self.o_epow), (1.5, self.o_definition),
        ]
        if shape != SCALAR:
            options += [(2, self.o_transpose), (1.5, self.o_broadcast_scalar), (0.4, self.o_ones)]
        if rows > 1 and cols > 1:
            options += [(2.5, self.o_broadcast)]
        if rows > 1:
            options += [(1, self.o_softmax)]
        if rows == cols and rows > 1:
            options += [(1.5, self.o_matrix_power), (1, self.o_inverse), (1, self.o_diag_vector),
                        (0.5, self.o_eye)]
        if rows == 1 and cols > 1:
            options += [(3, self.o_reduce_rows)]
        if cols == 1 and rows > 1:
            options += [(3, self.o_reduce_cols)]
        if shape == SCALAR:
            options += [(4, self.o_reduce_all), (4, self.o_norm), (1.5, self.o_trace),
                        (1, self.o_det), (1.5, self.o_logdet), (1, self.o_scalar_power)]
        total = sum(w for w, _ in options)
        while True:
            x = self.rng.random() * total
            for weight, make in options:
                x -= weight
                if x <= 0:
                    break
            node = make(shape, depth - 1)
            if node is not None:
                assert node.shape == shape, (make.__name__, node, shape)
                return self.tame(node)

    def tame(self, node: Node, limit: float = LARGE) -> Node:
        """Bring a large node back to a moderate size."""
        if node.hi <= limit:
            return node
        if node.hi <= 4 * limit and self.chance(0.5):
            return self.squash(node)
        c = 10 ** math.ceil(math.log10(node.hi / limit * 2)) if self.chance(0.5) else \
            math.ceil(node.hi / limit * 2)
        self.tag("/")
        return Node(f"{node.at(PRODUCT)} / {c}", f"({node.ref} / {float(c)!r})", node.shape,
                    PRODUCT, node.hi / c, node.lo / c, node.variables)

    def squash(self, node: Node) -> Node:
        name = self.pick(("tanh", "sin", "cos", "sigmoid"))
        return self.call(name, node)

    def bounded(self, shape, depth, limit) -> Node:
        node = self.gen(shape, depth)
        if node.hi <= limit:
            return node
        if self.chance(0.5):
            return self.squash(node)
        c = math.ceil(node.hi / limit)
        self.tag("/")
        return Node(f"{node.at(PRODUCT)} / {c}", f"({node.ref} / {float(c)!r})", node.shape,
                    PRODUCT, node.hi / c, node.lo / c, node.variables)

    # -- elementwise functions -------------------------------------------------

    def call(self, name: str, a: Node) -> Node:
        """f(a) for an elementwise function f (``a`` must suit its domain)."""
        self.tag(name)
        refs = {"exp": "np.exp", "log": "np.log", "sqrt": "np.sqrt", "abs": "np.abs",
                "sin": "np.sin", "cos": "np.cos", "tanh": "np.tanh", "sigmoid": "_sigmoid",
                "softplus": "_softplus", "sign": "np.sign"}
        if name == "relu":
            ref = f"np.maximum({a.ref}, 0.0)"
        elif name == "square":
            ref = f"({a.ref}) ** 2"
        else:
            ref = f"{refs[name]}({a.ref})"
        hi, lo = a.hi, -math.inf
        if name == "exp":
            hi, lo = math.exp(a.hi), math.exp(-a.hi)
        elif name == "log":
            hi = max(abs(math.log(max(a.lo, 1e-12))), math.log(max(a.hi, 1.0)), 1.0)
        elif name == "sqrt":
            hi, lo = math.sqrt(a.hi), math.sqrt(a.lo)
        elif name in ("sin", "cos", "tanh", "sign"):
            hi = 1.0 if name != "tanh" else min(a.hi, 1.0)
        elif name == "sigmoid":
            hi, lo = 1.0, 1.0 / (1.0 + math.exp(a.hi))
        elif name == "softplus":
            hi, lo = a.hi + 0.7, math.log1p(math.exp(-a.hi))
        elif name == "square":
            hi, lo = a.hi ** 2, a.lo ** 2 if a.lo > 0 else 0.0
        elif name in ("abs", "relu"):
            lo = max(a.lo, 0.0)
        return Node(f"{name}({a.text})", ref, a.shape, ATOM, hi, lo, a.variables)

    def o_func(self, shape, d) -> Node:
        name = self.pick(("exp", "sin", "cos", "tanh", "sigmoid", "softplus", "abs", "relu",
                          "sign", "square", "tanh", "sigmoid"))
        if name == "exp":
            return self.call("exp", self.bounded(shape, d, EXP_ARGUMENT))
        if name == "square":
            return self.call("square", self.bounded(shape, d, 4.0))
        a = self.gen(shape, d)
        if name in ("abs", "relu", "sign"):
            a = self.varying(a)
        return self.call(name, a)

    def varying(self, a: Node) -> Node:
        """``a``, plus a variable if it is a constant (a constant may sit exactly at a kink)."""
        return a if a.variables else self.plus(a, self.variable(a.shape))

    def o_logsqrt(self, shape, d) -> Node:
        return self.call(self.pick(("log", "sqrt")), self.positive(shape, d))

    # -- positive things -------------------------------------------------------

    def positive(self, shape, depth) -> Node:
        """An expression of the given shape whose entries are positive, away from 0."""
        node = self._positive(shape, depth)
        assert node.lo > 0 and node.shape == shape, node
        return node

    def _positive(self, shape, depth) -> Node:
        rows, cols = shape
        choices = ["exp", "sigmoid", "softplus", "square+c", "abs+c"]
        if depth > 0:
            choices += ["sum", "product", "quotient", "scaled", "sqrt", "power"]
            if rows > 1:
                choices.append("softmax")
            if shape == SCALAR:
                choices += ["norm^2+c", "sum of positive", "logdet+c", "number"]
            if rows == cols and rows > 1:
                choices.append("inv(spd)+c")
        how = self.pick(choices)
        d = max(depth - 1, 0)
        if how == "exp":
            return self.call("exp", self.bounded(shape, d, EXP_ARGUMENT))
        if how == "sigmoid":
            return self.call("sigmoid", self.bounded(shape, d, 3.0))
        if how == "softplus":
            return self.call("softplus", self.bounded(shape, d, 3.0))
        if how in ("square+c", "abs+c"):
            inner = self.bounded(shape, d, 4.0)
            if how == "abs+c":
                base = self.call("abs", self.varying(inner))
            elif self.chance(0.5):
                base = self.call("square", inner)
            else:
                self.tag(".^")
                base = Node(f"{inner.at(ATOM)}.^2", f"({inner.ref}) ** 2", shape, POSTFIX,
                            inner.hi ** 2, 0.0, inner.variables)
            c = self.number(positive=True)
            return self.plus(base, c) if self.chance(0.6) else self.plus(c, base)
        if how == "sum":
            return self.plus(self.positive(shape, d), self.positive(shape, d))
        if how == "product":
            a, b = self.positive(shape, d), self.positive(shape, d)
            if shape == SCALAR:
                return self.times(a, b, "*")
            return self.elementwise(a, b, ".*")
        if how == "quotient":
            a, b = self.positive(shape, d), self.positive(shape, d)
            return self.elementwise(a, b, "./" if shape != SCALAR or self.chance(0.3) else "/")
        if how == "scaled":
            c = self.number(positive=True) if self.chance(0.6) else self.positive(SCALAR, d)
            a = self.positive(shape, d)
            return self.times(c, a, "*") if self.chance(0.6) else self.divide(a, c)
        if how == "sqrt":
            return self.call("sqrt", self.positive(shape, d))
        if how == "power":
            return self.positive_power(self.positive(shape, d), d)
        if how == "softmax":
            return self.softmax(self.bounded(shape, d, 2.0))
        if how == "norm^2+c":
            a = self.norm(self.gen(self.any_shape(), d), "norm")
            self.tag("^")
            sq = Node(f"{a.at(ATOM)}^2", f"({a.ref}) ** 2", SCALAR, POSTFIX, a.hi ** 2, 0.0,
                      a.variables)
            return self.plus(sq, self.number(positive=True))
        if how == "sum of positive":
            t = self.any_shape()
            return self.reduce(self.positive(t, d), "sum", None)
        if how == "logdet+c":
            # logdet(S*S' + eye(n)) >= 0
            n = self.dim()
            spd, _low, high = self.spd(n, d, plus_eye=True)
            c = self.number(positive=True)
            return replace(self.plus(self.logdet(spd, high), c), lo=c.lo)
        if how == "number":
            return self.number(positive=True)
        if how == "inv(spd)+c":
            # every entry of inv(S*S' + eye(n)) is at most 1 in size
            inv = self.inverse(self.spd(rows, d, plus_eye=True)[0], 1.0)
            node = self.plus(inv, Node("1.5", "_scalar(1.5)", SCALAR, ATOM, 1.5, 1.5))
            return replace(node, lo=0.5)
        raise AssertionError(how)

    def positive_power(self, a: Node, d: int) -> Node:
        """a.^p (or a^p for a scalar) for a positive a and a non-integer or negative p."""
        op = "^" if a.shape == SCALAR else ".^"
        self.tag(op)
        if self.chance(0.25) and 0.2 <= a.lo and a.hi <= 6:
            # a variable exponent, kept small
            p = self.variable(SCALAR)
            if self.chance(0.5):
                p = self.call("tanh", p)
                bound = 1.0
            else:
                bound = VARIABLE_SCALE
            hi = max(a.hi, 1 / a.lo) ** bound
            return Node(f"{a.at(ATOM)}{op}{p.text}", f"({a.ref}) ** ({p.ref})", a.shape, POSTFIX,
                        hi, 1 / hi, self.vars_of(a, p))
        p = self.pick(("0.5", "-1", "-0.5", "1.5", "-2", "3"))
        value = float(p)
        hi = a.hi ** value if value > 0 else a.lo ** value
        lo = a.lo ** value if value > 0 else a.hi ** value
        node = Node(f"{a.at(ATOM)}{op}{p}", f"({a.ref}) ** {value!r}", a.shape, POSTFIX, hi, lo,
                    a.variables)
        return node

    # -- arithmetic --------------------------------------------------------------

    def plus(self, a: Node, b: Node, op: str = "+") -> Node:
        self.tag(op)
        right = b.at(PRODUCT) if not b.text.startswith("-") else f"({b.text})"
        shape = (max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1]))
        if a.shape != b.shape:
            small = b if shape == a.shape else a
            self.tag("broadcast scalar" if small.shape == SCALAR else
                     "broadcast column" if small.shape[1] == 1 else "broadcast row")
        lo = a.lo + b.lo if op == "+" else -math.inf
        return Node(f"{a.at(SUM)} {op} {right}", f"({a.ref} {op} {b.ref})", shape, SUM,
                    a.hi + b.hi, lo, self.vars_of(a, b))

    def o_add(self, shape, d) -> Node:
        return self.plus(self.gen(shape, d), self.gen(shape, d), self.pick("+-"))

    def o_broadcast(self, shape, d) -> Node:
        rows, cols = shape
        small = self.gen((rows, 1) if self.chance(0.5) else (1, cols), d)
        big = self.gen(shape, d)
        op = self.pick("+-")
        return self.plus(big, small, op) if self.chance(0.6) else self.plus(small, big, op)

    def o_broadcast_scalar(self, shape, d) -> Node:
        s = self.gen(SCALAR, d) if self.chance(0.5) else self.number()
        m = self.gen(shape, d)
        op = self.pick("+-")
        return self.plus(m, s, op) if self.chance(0.5) else self.plus(s, m, op)

    def elementwise(self, a: Node, b: Node, op: str) -> Node:
        """a .* b, a ./ b (b positive), or a / b for scalars."""
        self.tag(op)
        if op == ".*":
            hi, lo = a.hi * b.hi, a.lo * b.lo if a.lo >= 0 and b.lo >= 0 else -math.inf
        else:
            assert b.lo > 0, (a, b)
            hi, lo = a.hi / b.lo, a.lo / b.hi if a.lo >= 0 else -math.inf
        ref_op = "*" if op == ".*" else "/"
        spaced = f" {op} "
        return Node(f"{a.at(PRODUCT)}{spaced}{b.at(POSTFIX)}", f"({a.ref} {ref_op} {b.ref})",
                    a.shape, PRODUCT, hi, lo, self.vars_of(a, b))

    def o_hadamard(self, shape, d) -> Node:
        a = self.gen(shape, d)
        b = self.gen(shape, d)
        if shape == SCALAR and self.chance(0.5):
            return self.times(a, b, "*")
        return self.elementwise(a, b, ".*")

    def o_ediv(self, shape, d) -> Node:
        return self.elementwise(self.gen(shape, d), self.positive(shape, d), "./")

    def divide(self, a: Node, c: Node) -> Node:
        """a / c for a positive scalar c."""
        self.tag("/")
        assert c.lo > 0, (a, c)
        return Node(f"{a.at(PRODUCT)} / {c.at(POSTFIX)}", f"({a.ref} / {c.ref})", a.shape,
                    PRODUCT, a.hi / c.lo, a.lo / c.hi if a.lo >= 0 else -math.inf,
                    self.vars_of(a, c))

    def o_sdiv(self, shape, d) -> Node:
        return self.divide(self.gen(shape, d), self.positive(SCALAR, d))

    def times(self, a: Node, b: Node, op: str = "*") -> Node:
        """a*b: a matrix product, or a scaling when either side is a scalar."""
        self.tag(op)
        if a.shape == SCALAR or b.shape == SCALAR:
            shape = b.shape if a.shape == SCALAR else a.shape
            ref = f"({a.ref} * {b.ref})"
            hi = a.hi * b.hi
            lo = a.lo * b.lo if a.lo >= 0 and b.lo >= 0 else -math.inf
        else:
            assert a.shape[1] == b.shape[0], (a, b)
            shape = (a.shape[0], b.shape[1])
            ref = f"({a.ref} @ {b.ref})"
            hi = a.hi * b.hi * a.shape[1] ** 0.5
            lo = a.lo * b.lo * a.shape[1] if a.lo >= 0 and b.lo >= 0 else -math.inf
        text = f"{a.at(PRODUCT)}{op}{b.at(POSTFIX)}" if op == "*" else \
            f"{a.at(PRODUCT)} @ {b.at(POSTFIX)}"
        return Node(text, ref, shape, PRODUCT, hi, lo, self.vars_of(a, b))

    def o_scale(self, shape, d) -> Node:
        s = self.gen(SCALAR, d) if self.chance(0.6) else self.number()
        m = self.gen(shape, d)
        return self.times(s, m) if self.chance(0.7) else self.times(m, s)

    def o_matmul(self, shape, d) -> Node:
        rows, cols = shape
        inner = self.dim()
        if rows > 1 and cols > 1 and self.chance(0.15):
            inner = 1                        # an outer product u*v'
        a = self.gen((rows, inner), d)
        b = self.gen((inner, cols), d)
        if shape == SCALAR:
            self.tag("1x1 as scalar")
        return self.times(a, b, "*" if self.chance(0.8) else "@")

    def transpose(self, a: Node) -> Node:
        op = "'" if self.chance(0.7) else ".T"
        self.tag(op)
        return Node(f"{a.at(ATOM)}{op}", f"({a.ref}).T", (a.shape[1], a.shape[0]), ATOM, a.hi,
                    a.lo, a.variables)

    def o_transpose(self, shape, d) -> Node:
        return self.transpose(self.gen((shape[1], shape[0]), d))

    def o_neg(self, shape, d) -> Node:
        a = self.gen(shape, d)
        self.tag("unary -")
        return Node(f"-{a.at(POSTFIX)}", f"(-{a.ref})", shape, UNARY, a.hi, -math.inf,
                    a.variables)

    def o_epow(self, shape, d) -> Node:
        """Elementwise powers: integer of anything, the rest of positive things."""
        if self.chance(0.5):
            return self.positive_power(self.positive(shape, d), d)
        p = self.pick(("2", "2", "3"))
        a = self.bounded(shape, d, 3.0 if p == "2" else 2.0)
        op = "^" if shape == SCALAR else ".^"
        self.tag(op)
        lo = 0.0 if p == "2" else a.lo ** 3 if a.lo >= 0 else -math.inf
        return Node(f"{a.at(ATOM)}{op}{p}", f"({a.ref}) ** {p}", shape, POSTFIX, a.hi ** int(p),
                    lo, a.variables)

    def o_scalar_power(self, shape, d) -> Node:
        # c ^ p of a scalar: integer powers of anything
        a = self.bounded(SCALAR, d, 3.0)
        self.tag("^")
        return Node(f"{a.at(ATOM)}^2", f"({a.ref}) ** 2", SCALAR, POSTFIX, a.hi ** 2, 0.0,
                    a.variables)

    # -- definitions ----------------------------------------------------------------

    def o_definition(self, shape, d) -> Node:
        existing = [named for _, _, named in self.definitions if named.shape == shape]
        if existing and self.chance(0.5):
            return self.pick(existing)
        body = self.gen(shape, d)
        if body.prec == ATOM and body.text.isidentifier():
            return body                      # no definition of a bare name
        return self.define(body)

    def define(self, body: Node) -> Node:
        """``NAME = body;`` and the node standing for NAME."""
        used = {n for n, _, _ in self.definitions}
        name = next(n for n in DEFINITION_NAMES if n not in used)
        self.tag("definition")
        node = Node(name, f"({body.ref})", body.shape, ATOM, body.hi, body.lo, body.variables)
        self.definitions.append((name, body, node))
        return node

    def atomic(self, node: Node) -> Node:
        """The node itself if it is a name, else a definition of it (to use it twice)."""
        if node.prec == ATOM and node.text.isidentifier():
            return node
        return self.define(node)

    # -- matrix functions ----------------------------------------------------------

    def spd(self, n: int, d: int, plus_eye: bool = False) -> tuple[Node, float, float]:
        """A symmetric positive definite n×n matrix: (node, smallest eigenvalue, largest)."""
        form = "S*S'+I" if plus_eye else self.pick(("S*S'+I", "S'*S+cI", "diag+S*S'"))
        k = self.dim()
        if form == "S'*S+cI":
            s = self.atomic(self.bounded((k, n), d, 2.0))
            gram = self.times(self.transpose(s), s, self.pick(("*", "*", "@")))
            c = self.number(positive=True)
            eye = self.eye(n)
            ceye = self.times(c, eye)
            low = c.lo
        else:
            s = self.atomic(self.bounded((n, k), d, 2.0))
            gram = self.times(s, self.transpose(s), self.pick(("*", "*", "@")))
            if form == "diag+S*S'":
                v = self.positive((n, 1), d)
                ceye = self.diag_vector(v)
                low = v.lo
            else:
                ceye = self.eye(n)
                low = 1.0
        high = low + gram.hi * n
        node = self.plus(gram, ceye) if self.chance(0.6) else self.plus(ceye, gram)
        return node, low, high

    def eye(self, n: int) -> Node:
        self.tag("eye")
        return Node(f"eye({n})", f"np.eye({n})", (n, n), ATOM, 1.0, 0.0)

    def o_eye(self, shape, d) -> Node:
        return self.eye(shape[0])

    def o_ones(self, shape, d) -> Node:
        self.tag("ones")
        rows, cols = shape
        return Node(f"ones({rows}, {cols})", f"np.ones(({rows}, {cols}))", shape, ATOM, 1.0, 1.0)

    def inverse(self, spd: Node, scale: float) -> Node:
        if self.chance(0.5):
            self.tag("inv")
            return Node(f"inv({spd.text})", f"np.linalg.inv({spd.ref})", spd.shape, ATOM, scale,
                        -math.inf, spd.variables)
        self.tag("X^-1", "^")
        return Node(f"{spd.at(ATOM)}^-1", f"np.linalg.inv({spd.ref})", spd.shape, POSTFIX, scale,
                    -math.inf, spd.variables)

    def o_inverse(self, shape, d) -> Node:
        spd, low, _high = self.spd(shape[0], d)
        return self.inverse(spd, 1.0 / low)

    def o_matrix_power(self, shape, d) -> Node:
        p = self.pick((2, 2, 3))
        a = self.bounded(shape, d, 2.0 if p == 2 else 1.2)
        self.tag(f"X^{p}", "^")
        n = shape[0]
        return Node(f"{a.at(ATOM)}^{p}", f"np.linalg.matrix_power({a.ref}, {p})", shape, POSTFIX,
                    a.hi ** p * n ** ((p - 1) / 2), -math.inf, a.variables)

    def diag_vector(self, v: Node) -> Node:
        self.tag("diag(vector)")
        n = v.shape[0]
        return Node(f"diag({v.text})", f"np.diag(({v.ref})[:, 0])", (n, n), ATOM, v.hi,
                    min(v.lo, 0.0), v.variables)

    def o_diag_vector(self, shape, d) -> Node:
        return self.diag_vector(self.gen((shape[0], 1), d))

    def softmax(self, a: Node) -> Node:
        self.tag("softmax")
        rows = a.shape[0]
        lo = math.exp(-2 * a.hi) / rows
        return Node(f"softmax({a.text})", f"_softmax({a.ref})", a.shape, ATOM, 1.0, lo,
                    a.variables)

    def o_softmax(self, shape, d) -> Node:
        return self.softmax(self.bounded(shape, d, 3.0))

    def reduce(self, a: Node, how: str, axis: int | None) -> Node:
        rows, cols = a.shape
        if axis is None:
            shape, count = SCALAR, rows * cols
        elif axis == 1:
            shape, count = (1, cols), rows
        else:
            shape, count = (rows, 1), cols
        args = a.text if axis is None else f"{a.text}, {axis}"
        self.tag(f"{how}(X)" if axis is None else f"{how}(X,{axis})")
        if how == "logsumexp":
            ref = (f"_logsumexp({a.ref})" if axis is None else
                   f"_logsumexp({a.ref}, axis=0)")
            return Node(f"logsumexp({args})", ref, shape, ATOM, a.hi + math.log(count),
                        -math.inf, a.variables)
        np_axis = "" if axis is None else f"axis={axis - 1}, keepdims=True"
        if axis is None:
            ref = f"_scalar(np.{how}({a.ref}))"
        else:
            ref = f"np.{how}({a.ref}, {np_axis})"
        hi = a.hi * (count if how == "sum" else 1)
        return Node(f"{how}({args})", ref, shape, ATOM, hi, a.lo if how == "mean" else a.lo * count,
                    a.variables)

    def o_reduce_rows(self, shape, d) -> Node:
        k = self.dim()
        how = self.pick(("sum", "sum", "mean", "logsumexp"))
        a = self.bounded((k, shape[1]), d, 6.0) if how == "logsumexp" else self.gen((k, shape[1]), d)
        return self.reduce(a, how, 1)

    def o_reduce_cols(self, shape, d) -> Node:
        rows = shape[0]
        if self.chance(0.25):
            a = self.gen((rows, rows), d)
            self.tag("diag(matrix)")
            return Node(f"diag({a.text})", f"np.diag({a.ref})[:, None]", shape, ATOM, a.hi, a.lo,
                        a.variables)
        how = self.pick(("sum", "mean"))
        return self.reduce(self.gen((rows, self.dim()), d), how, 2)

    def o_reduce_all(self, shape, d) -> Node:
        how = self.pick(("sum", "sum", "mean", "logsumexp"))
        t = self.any_shape()
        a = self.bounded(t, d, 6.0) if how == "logsumexp" else self.gen(t, d)
        return self.reduce(a, how, None)

    def norm(self, a: Node, spelling: str) -> Node:
        rows, cols = a.shape
        count = rows * cols
        if spelling == "norm":
            self.tag("norm(x)" if 1 in a.shape else "norm(X)")
            text = f"norm({a.text})"
        elif spelling == "fro":
            self.tag("norm(X,'fro')")
            text = f"norm({a.text}, 'fro')"
        elif spelling in ("1", "norm1"):
            self.tag("norm(x,1)" if spelling == "1" else "norm1")
            text = f"norm({a.text}, 1)" if spelling == "1" else f"norm1({a.text})"
            return Node(text, f"_scalar(np.abs({a.ref}).sum())", SCALAR, ATOM, a.hi * count, 0.0,
                        a.variables)
        else:
            self.tag("norm(x,2)" if spelling == "2" else "norm2")
            text = f"norm({a.text}, 2)" if spelling == "2" else f"norm2({a.text})"
        return Node(text, f"_scalar(np.linalg.norm({a.ref}))", SCALAR, ATOM, a.hi * count ** 0.5,
                    0.0, a.variables)

    def o_norm(self, shape, d) -> Node:
        if self.chance(0.45):
            t = (self.dim(), self.dim())
            spelling = self.pick(("norm", "fro"))
        else:
            t = (self.dim(), 1) if self.chance(0.85) else (1, self.dim())
            spelling = self.pick(("norm", "fro", "1", "2", "norm1", "norm2"))
        return self.norm(self.varying(self.gen(t, d)), spelling)

    def o_trace(self, shape, d) -> Node:
        n = self.dim()
        a = self.gen((n, n), d)
        name = self.pick(("tr", "trace"))
        self.tag(name)
        return Node(f"{name}({a.text})", f"_scalar(np.trace({a.ref}))", SCALAR, ATOM, a.hi * n,
                    a.lo * n, a.variables)

    def o_det(self, shape, d) -> Node:
        n = self.pick([k for k in self.dims if k <= 3] or [2])
        a = self.bounded((n, n), d, 1.5)
        if not a.text.isidentifier():
            # a compound matrix may be singular by construction (an outer product, ones(n, n),
            # A - A, a broadcast scalar); adding the identity makes it generic
            a = self.plus(a, self.eye(n)) if self.chance(0.7) else self.plus(self.eye(n), a)
        self.tag("det")
        return Node(f"det({a.text})", f"_scalar(np.linalg.det({a.ref}))", SCALAR, ATOM,
                    a.hi ** n * math.sqrt(math.factorial(n)), -math.inf, a.variables)

    def logdet(self, spd: Node, high: float) -> Node:
        self.tag("logdet")
        n = spd.shape[0]
        return Node(f"logdet({spd.text})", f"_scalar(np.linalg.slogdet({spd.ref})[1])", SCALAR,
                    ATOM, n * max(math.log(max(high, 1.0)), 1.0), -math.inf, spd.variables)

    def o_logdet(self, shape, d) -> Node:
        n = self.dim()
        spd, low, high = self.spd(n, d)
        node = self.logdet(spd, high)
        return replace(node, hi=node.hi + n * abs(math.log(low)))

    # -- the whole formula ------------------------------------------------------------

    def case(self) -> Case:
        for _attempt in range(50):
            self.variables.clear()
            self.definitions.clear()
            self.features.clear()
            depth = self.pick((2, 3, 3, 4))
            terms = [self.gen(SCALAR, depth, leaf=False) for _ in range(self.pick((1, 1, 2, 3)))]
            cost = terms[0]
            for term in terms[1:]:
                if self.chance(0.3):
                    term = self.times(self.number(), term)
                cost = self.plus(cost, term, self.pick("+-"))
            if not cost.variables:
                continue
            names = sorted(cost.variables)
            wrt = self.rng.sample(names, min(len(names), self.pick((1, 1, 2, 2, 3))))
            text = "".join(f"{name} = {body.text}; " for name, body, _ in self.definitions)
            text += cost.text
            shapes = {}
            for name in names:
                rows, cols = self.variables[name]
                shapes[name] = (() if (rows, cols) == SCALAR else (rows,) if cols == 1
                                else (rows, cols))
            return Case(self.seed, text, shapes, wrt, cost.ref, frozenset(self.features))
        raise AssertionError(f"seed {self.seed}: no formula with a variable")


def generate(seed: int) -> Case:
    """The random case for ``seed`` (deterministic)."""
    return FormulaGenerator(seed).case()


# ---------------------------------------------------------------- formulas as text, shrinking
#
# For a failing case, ``shrink`` looks for a smaller formula that fails the
# same way: it parses the formula with derive's parser, tries replacing each
# subexpression by one of its operands (and inlining definitions, dropping
# optional arguments), and keeps a candidate when ``still_fails`` says so. A
# candidate's reference value comes from ``reference_of``, an evaluation of
# the syntax tree that does not use derive's shapes, expressions or printers.

_ELEMENTWISE_REF = {"exp": "np.exp", "log": "np.log", "sqrt": "np.sqrt", "abs": "np.abs",
                    "sin": "np.sin", "cos": "np.cos", "tanh": "np.tanh", "sigmoid": "_sigmoid",
                    "softplus": "_softplus", "sign": "np.sign", "softmax": "_softmax",
                    "inv": "np.linalg.inv", "diag": "_diag"}


def reference_of(formula: str) -> str:
    """A NumPy expression (over 2-D arrays ``v_NAME``) of a formula's cost, definitions inlined."""
    from derive.frontend import parse as syntax

    program = syntax.parse(formula)
    defined: dict[str, str] = {}

    def ref(node) -> str:
        if isinstance(node, syntax.Number):
            return f"_scalar({float(node.value)!r})"
        if isinstance(node, syntax.Name):
            return f"({defined[node.name]})" if node.name in defined else f"v_{node.name}"
        if isinstance(node, syntax.Unary):
            return f"(-{ref(node.operand)})" if node.op == "-" else ref(node.operand)
        if isinstance(node, syntax.Transpose):
            return f"({ref(node.operand)}).T"
        if isinstance(node, syntax.Binary):
            left, right = ref(node.left), ref(node.right)
            if node.op in ("*", "@"):
                return f"_mul({left}, {right})"
            if node.op == "^":
                return f"_pow({left}, {right})"
            op = {".*": "*", "./": "/", ".^": "**"}.get(node.op, node.op)
            return f"({left} {op} {right})"
        if isinstance(node, syntax.Call):
            f, args = node.func, node.args
            x = ref(args[0]) if args else ""
            extra = args[1] if len(args) > 1 else None
            if f in _ELEMENTWISE_REF:
                return f"{_ELEMENTWISE_REF[f]}({x})"
            if f == "relu":
                return f"np.maximum({x}, 0.0)"
            if f == "square":
                return f"(({x}) ** 2)"
            if f in ("sum", "mean"):
                axis = "" if extra is None else f", {int(extra.value)}"
                return f"_sum({x}{axis}, how=np.{f})"
            if f in ("norm", "norm1", "norm2"):
                p = {"norm1": 1, "norm2": 2}.get(f)
                if extra is not None:
                    p = extra.value if isinstance(extra, syntax.String) else int(extra.value)
                return f"_norm({x}, {p!r})"
            if f in ("tr", "trace"):
                return f"_scalar(np.trace({x}))"
            if f == "det":
                return f"_scalar(np.linalg.det({x}))"
            if f == "logdet":
                return f"_scalar(np.linalg.slogdet({x})[1])"
            if f == "logsumexp":
                return f"_logsumexp({x})" if extra is None else f"_logsumexp({x}, axis=0)"
            if f == "eye":
                return f"np.eye({int(args[0].value)})"
            if f == "ones":
                return f"np.ones(({int(args[0].value)}, {int(args[1].value)}))"
        raise ValueError(f"no reference for {node!r}")

    for definition in program.definitions:
        defined[definition.name] = ref(definition.expr)
    return ref(program.cost)


def _precedence(node) -> int:
    from derive.frontend import parse as syntax
    if isinstance(node, syntax.Binary):
        return {"+": SUM, "-": SUM, "^": POSTFIX, ".^": POSTFIX}.get(node.op, PRODUCT)
    if isinstance(node, syntax.Unary):
        return UNARY
    return ATOM                     # names, numbers, strings, calls, transposes


def to_text(node) -> str:
    """A syntax tree (or a Program) as formula text, with the parentheses it needs."""
    from derive.frontend import parse as syntax

    def at(child, prec: int) -> str:
        text = to_text(child)
        return text if _precedence(child) >= prec else f"({text})"

    if isinstance(node, syntax.Program):
        defs = "".join(f"{d.name} = {to_text(d.expr)}; " for d in node.definitions)
        return defs + to_text(node.cost)
    if isinstance(node, syntax.Number):
        return node.text
    if isinstance(node, syntax.Name):
        return node.name
    if isinstance(node, syntax.String):
        return f"'{node.value}'"
    if isinstance(node, syntax.Call):
        return f"{node.func}({', '.join(to_text(a) for a in node.args)})"
    if isinstance(node, syntax.Unary):
        return f"{node.op}{at(node.operand, POSTFIX)}"
    if isinstance(node, syntax.Transpose):
        return f"{at(node.operand, ATOM)}'"
    if isinstance(node, syntax.Binary):
        if node.op in ("+", "-"):
            right = to_text(node.right)
            right = right if _precedence(node.right) > SUM and not right.startswith("-") \
                else f"({right})"
            return f"{at(node.left, SUM)} {node.op} {right}"
        if node.op in ("^", ".^"):
            exponent = node.right
            if isinstance(exponent, syntax.Unary) and isinstance(exponent.operand, syntax.Number):
                power = to_text(exponent)
            else:
                power = at(exponent, ATOM)
            return f"{at(node.left, ATOM)}{node.op}{power}"
        right = to_text(node.right)
        right = right if _precedence(node.right) >= POSTFIX else f"({right})"
        op = "*" if node.op == "*" else f" {node.op} "
        return f"{at(node.left, PRODUCT)}{op}{right}"
    raise ValueError(f"cannot print {node!r}")


def _variants(node):
    """Smaller trees in place of ``node``: its operands, and variants of its operands."""
    from derive.frontend import parse as syntax
    out = []
    if isinstance(node, syntax.Binary):
        out += [node.left] + ([node.right] if node.op not in ("^", ".^") else [])
        out += [syntax.Binary(node.pos, node.op, v, node.right) for v in _variants(node.left)]
        out += [syntax.Binary(node.pos, node.op, node.left, v) for v in _variants(node.right)]
    elif isinstance(node, (syntax.Unary, syntax.Transpose)):
        out.append(node.operand)
        out += [type(node)(*([node.pos, node.op] if isinstance(node, syntax.Unary) else
                             [node.pos]), v) for v in _variants(node.operand)]
    elif isinstance(node, syntax.Call) and node.args and node.func not in ("eye", "ones"):
        first = node.args[0]
        out.append(first)
        if len(node.args) > 1:
            out.append(syntax.Call(node.pos, node.func, (first,)))
        out += [syntax.Call(node.pos, node.func, (v,) + node.args[1:]) for v in _variants(first)]
    return out


def _names(node, out: set) -> set:
    from derive.frontend import parse as syntax
    if isinstance(node, syntax.Name):
        out.add(node.name)
    for child in (getattr(node, "left", None), getattr(node, "right", None),
                  getattr(node, "operand", None), *getattr(node, "args", ())):
        if child is not None:
            _names(child, out)
    return out


def _inline(node, name: str, expr):
    """``node`` with the definition ``name`` replaced by its expression."""
    from derive.frontend import parse as syntax
    if isinstance(node, syntax.Name):
        return expr if node.name == name else node
    if isinstance(node, syntax.Binary):
        return syntax.Binary(node.pos, node.op, _inline(node.left, name, expr),
                             _inline(node.right, name, expr))
    if isinstance(node, syntax.Unary):
        return syntax.Unary(node.pos, node.op, _inline(node.operand, name, expr))
    if isinstance(node, syntax.Transpose):
        return syntax.Transpose(node.pos, _inline(node.operand, name, expr))
    if isinstance(node, syntax.Call):
        return syntax.Call(node.pos, node.func, tuple(_inline(a, name, expr) for a in node.args))
    return node


def _program_variants(program):
    from derive.frontend import parse as syntax
    defs = program.definitions
    for i, d in enumerate(defs):            # inline a definition
        rest = tuple(syntax.Definition(e.pos, e.name, _inline(e.expr, d.name, d.expr))
                     for e in defs[i + 1:])
        yield syntax.Program("", defs[:i] + rest, _inline(program.cost, d.name, d.expr))
    for i, d in enumerate(defs):
        for v in _variants(d.expr):
            yield syntax.Program("", defs[:i] + (syntax.Definition(d.pos, d.name, v),) +
                                 defs[i + 1:], program.cost)
    for v in _variants(program.cost):
        yield syntax.Program("", defs, v)


def case_of(formula: str, like: Case) -> Case | None:
    """A case for ``formula`` with ``like``'s seed, shapes and variables (those still used)."""
    from derive.frontend import parse as syntax
    program = syntax.parse(formula)
    used: set = set()
    for d in program.definitions:
        _names(d.expr, used)
    _names(program.cost, used)
    used -= {d.name for d in program.definitions}
    wrt = [w for w in like.wrt if w in used]
    if not wrt:
        return None
    shapes = {n: d for n, d in like.shapes.items() if n in used}
    return Case(like.seed, formula, shapes, wrt, reference_of(formula), like.features)


def shrink(case: Case, still_fails, seconds: float = 30.0) -> Case:
    """A smaller case for which ``still_fails(case)`` holds (greedy, within ``seconds``)."""
    import time

    from derive.frontend import parse as syntax
    deadline = time.monotonic() + seconds
    program, best = syntax.parse(case.formula), case
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        candidates = sorted({to_text(p): p for p in _program_variants(program)}.items(),
                            key=lambda item: len(item[0]))
        for text, candidate in candidates:
            if time.monotonic() > deadline or len(text) >= len(best.formula):
                break
            try:
                smaller = case_of(text, case)
            except (ValueError, KeyError, AttributeError):
                continue
            if smaller is not None and still_fails(smaller):
                program, best, improved = candidate, smaller, True
                break
    return best


if __name__ == "__main__":  # pragma: no cover - a look at the output
    start = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    for seed in range(start, start + count):
        case = generate(seed)
        print(case.command(seed))
