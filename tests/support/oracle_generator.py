"""Random formulas where derive's own generator (formula_generator.py) never went.

``generate(seed)`` returns an :class:`oracle.Case`: a syntax tree of
``oracle.Node`` (so the oracle evaluates exactly what was generated), the
variables with their kinds and sizes, the ``--shape`` declarations, the
variables to differentiate, and data (Gaussian, drawn from the seed) at which
a strict run of the interpreter found the formula defined and smooth; where it
was not, the generator draws again (new data, then a new formula).

What it makes on purpose (``Case.features`` names what a case used):

* shapes 1×1, 1×k and k×1 everywhere: scalars, 1×1 matrices, vectors of
  length 1, k×1 and 1×k matrices, transposed vectors, as the operand of every
  function (``softmax(alpha)``, ``diag(x')``, ``logsumexp(r, 1)``, ``inv(beta)``,
  ``sum(x', 1)``, ``norm(x', 1)`` ...);
* transposed operands and results of elementwise functions (``sqrt(exp(x)')*r``);
* negated and scaled products as divisors (``x ./ (-2*A*y)``, ``z / (-2*x'*y)``);
* replications with ``ones`` (``alpha - x*ones(1, n)``) and ``eye``, with
  integer or symbolic dimensions, or a name that only the shapes around it fix;
* constant subexpressions (``abs(2).^2``, ``sqrt(4)``, ``tanh(2^0.5)``) and constant
  arrays (``sqrt(4)*ones(m, n)``, ``sigmoid(x - x)``);
* matrix variables times a vector (``W*a``) and a row times one (``r*W``), for Hessians in
  Kronecker form; one to three variables to differentiate (hvp of several at once);
* definitions, and names that collide with what an emitter may use: ``t1``,
  ``p1``, ``np``, ``value``, ``prepared``, ``grad_x``, ``float``, Python
  keywords (``lambda``, ``if``, ``None``) next to their escaped spelling
  (``lambda_``), as variables, definitions and symbolic dimensions;
* ``--shape`` declarations with integer and symbolic dimensions, and some
  variables left undeclared where the naming convention gives their kind.

Domains: log, sqrt and fractional powers of positive things, divisors away
from 0, inv/logdet of SPD matrices (``S*S' + eye(n)``, ``diag(p) + S*S'``, a
positive scalar), det of a moderate square matrix; the strict interpreter
run checks the rest at the drawn data.

Run ``cd tests && python -m support.oracle_generator [SEED [COUNT]]`` to print some.
"""
from __future__ import annotations

import random
import sys

from support.oracle import (MATRIX, SCALAR, VECTOR, Case, Domain, Formula, Node, call, mul, num,
                            strict_value, var)

ONE = (1, 1)

PLAIN_NAMES = {
    SCALAR: ("alpha", "beta", "gamma", "mu", "sigma", "rho"),
    VECTOR: ("x", "y", "z", "u", "v", "w", "b"),
    MATRIX: ("A", "B", "C", "D", "W", "X", "S"),
}
#: names an emitter may use itself: temporaries, helpers, parameters, builtins, keywords
HOSTILE_NAMES = ("t1", "t2", "t3", "t5", "p1", "p2", "np", "value", "prepared", "grad_x",
                 "grad_A", "lambda", "lambda_", "float", "len", "print", "out", "e", "pi",
                 "None", "True", "if", "in", "def", "return", "class", "x_", "value_", "np_",
                 "math", "int", "range", "max", "min", "shape", "self", "I", "T", "inf", "nan",
                 "result", "args", "grad", "p", "t")
DEFINITION_NAMES = ("H", "R", "G", "K", "t1", "t2", "t4", "value", "np", "p1", "grad_x",
                    "prepared", "lambda", "out", "Z1")
DIMENSION_NAMES = ("n", "m", "k", "d", "N", "K", "t3", "p2", "value", "np", "rows", "out")
GREEK = frozenset(("alpha", "beta", "gamma", "delta", "epsilon", "eps", "zeta", "eta", "theta",
                   "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma",
                   "tau", "upsilon", "phi", "chi", "psi", "omega"))
NUMBERS = ("2", "3", "0.5", "1.5", "0.25", "4", "10")


def default_kind(name: str) -> str:
    """The kind docs/language.md gives an undeclared name."""
    if name[0].isupper():
        return MATRIX
    return SCALAR if name in GREEK else VECTOR


class Generator:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.pool = self.rng.sample([2, 3, 4], self.rng.choice((1, 2, 2)))
        if self.chance(0.6):
            self.pool.append(1)
        # how each size is declared: an int, or a dimension name
        names = list(DIMENSION_NAMES)
        self.rng.shuffle(names)
        self.spelling: dict[int, object] = {}
        for size in self.pool:
            # never a symbolic 1: derive rightly reads an n×k as a matrix, never a row
            self.spelling[size] = names.pop() if size > 1 and self.chance(0.55) else size
        self.fresh: dict[int, str] = {}          # sizes named only in eye/ones
        self.variables: dict[str, tuple[str, tuple[int, int]]] = {}
        self.definitions: list[tuple[str, Node]] = []
        self.defined_shapes: dict[str, tuple[int, int]] = {}
        self.features: set[str] = set()

    # -- helpers -----------------------------------------------------------------

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, seq):
        return self.rng.choice(list(seq))

    def tag(self, *names: str) -> None:
        self.features.update(names)

    @staticmethod
    def of(what: str, shape) -> str:
        """A feature's name, saying when it met a 1×1, a row or a column."""
        rows, cols = shape
        return what + (" of a 1x1" if shape == ONE else " of a row" if rows == 1 else
                       " of a column" if cols == 1 else "")

    def size(self) -> int:
        return self.pick(self.pool)

    def any_shape(self) -> tuple[int, int]:
        kind = self.pick(("1x1", "col", "col", "row", "row", "matrix", "matrix"))
        if kind == "1x1":
            return ONE
        if kind == "col":
            return (self.size(), 1)
        if kind == "row":
            return (1, self.size())
        return (self.size(), self.size())

    def dim_text(self, size: int):
        """A size as eye/ones write it: as declared, or now and then a fresh dimension name
        that only the shapes around it fix (``tr(X*eye(n))`` with X 3×3: n is 3)."""
        spelled = self.spelling.get(size, size)
        if isinstance(spelled, int) and size > 1 and self.chance(0.12):
            if size not in self.fresh:
                free = [n for n in DIMENSION_NAMES if n not in self.used_names()]
                if not free:
                    return spelled
                self.fresh[size] = self.pick(free)
            self.tag("fresh dimension in eye/ones")
            return self.fresh[size]
        return spelled

    def used_names(self) -> set:
        return set(self.variables) | set(self.defined_shapes) | set(self.fresh.values()) | \
            {s for s in self.spelling.values() if isinstance(s, str)}

    # -- leaves ----------------------------------------------------------------------

    def variable(self, shape: tuple[int, int]) -> Node:
        existing = [n for n, (_, s) in self.variables.items() if s == shape]
        if existing and (self.chance(0.5) or len(self.variables) >= 6):
            return var(self.pick(existing))
        rows, cols = shape
        if shape == ONE:
            kind = self.pick((SCALAR, SCALAR, SCALAR, MATRIX, VECTOR))
        elif cols == 1:
            kind = self.pick((VECTOR, VECTOR, VECTOR, MATRIX))
        else:
            kind = MATRIX
        hostile = self.chance(0.35)
        pool = HOSTILE_NAMES if hostile else PLAIN_NAMES[kind]
        free = [n for n in pool if n not in self.used_names()]
        if not free:
            free = [n for n in HOSTILE_NAMES + PLAIN_NAMES[kind] if n not in self.used_names()]
        name = self.pick(free)
        if name in HOSTILE_NAMES:
            self.tag("hostile name")
        if kind == MATRIX and (rows == 1 or cols == 1):
            self.tag("1xk or kx1 matrix" if shape != ONE else "1x1 matrix")
        if kind == VECTOR and rows == 1:
            self.tag("vector of length 1")
        self.variables[name] = (kind, shape)
        return var(name)

    def number(self) -> Node:
        return num(self.pick(NUMBERS))

    def constant(self) -> Node:
        """A constant subexpression of a scalar: abs(2).^2, sqrt(4), 2^-1 ..."""
        self.tag("constant expression")
        form = self.pick(("abs", "sqrt", "epow", "pow", "exp", "tanh", "sigmoid", "log"))
        if form in ("tanh", "sigmoid", "log"):
            # a number that is no simple one (tanh(2^0.5)): code computes it as a float
            self.tag("constant of a function")
            inner = Node("pow", (num("2"), num("0.5"))) if form == "tanh" else num("3")
            return call(form, inner)
        if form == "abs":
            return call("abs", num(self.pick(("2", "3", "0.5"))))
        if form == "sqrt":
            return call("sqrt", num(self.pick(("4", "2"))))
        if form == "exp":
            return call("exp", num(self.pick(("0.5", "1"))))
        base = call("abs", num("2")) if self.chance(0.5) else num("2")
        power = num("2") if self.chance(0.5) else Node("neg", (num(self.pick(("1", "2"))),))
        return Node("epow" if form == "epow" else "pow", (base, power))

    def leaf(self, shape) -> Node:
        if shape == ONE and self.chance(0.25):
            return self.number() if self.chance(0.7) else self.constant()
        if shape[0] == 1 and shape[1] > 1 and self.chance(0.4):
            self.tag("transposed vector")
            return Node("T", (self.variable((shape[1], 1)),), self.pick(("'", "'", ".T")))
        return self.variable(shape)

    # -- any expression of a shape ----------------------------------------------------

    def gen(self, shape, depth: int) -> Node:
        if depth <= 0 or self.chance(0.15):
            return self.leaf(shape)
        rows, cols = shape
        d = depth - 1
        options = [(3, self.o_add), (2, self.o_scale), (2, self.o_hadamard), (2, self.o_ediv),
                   (3, self.o_matmul), (1, self.o_neg), (5, self.o_elementwise),
                   (1.5, self.o_definition), (1, self.o_transpose), (1, self.o_softmax),
                   (1, self.o_power), (1, self.o_replicate)]
        options += [(0.7, self.o_constant_array), (1.5, self.o_matrix_variable)]
        if shape == ONE:
            options += [(12, self.o_reduce_all), (5, self.o_norm), (1.5, self.o_trace),
                        (1, self.o_det), (1.5, self.o_logdet), (1, self.o_diag),
                        (1, self.o_inv), (1.5, self.o_divide_by_product)]
        if rows == 1 and cols > 1:
            options += [(3, self.o_reduce_columns)]
        if cols == 1 and rows > 1:
            options += [(3, self.o_reduce_rows), (1, self.o_diag)]
        if rows == cols and rows > 1:
            options += [(1, self.o_diag), (1, self.o_inv), (0.7, self.o_eye)]
        total = sum(w for w, _ in options)
        x = self.rng.random() * total
        for weight, make in options:
            x -= weight
            if x <= 0:
                return make(shape, d)
        return options[-1][1](shape, d)

    def bounded(self, shape, d) -> Node:
        """An expression kept small (for exp): squashed or a leaf."""
        node = self.gen(shape, d)
        if node.op == "var" or node.op == "num" or self.chance(0.3):
            return node
        return call(self.pick(("tanh", "sin", "sigmoid", "cos")), node)

    # -- operators ------------------------------------------------------------------

    def o_add(self, shape, d) -> Node:
        op = self.pick(("add", "sub"))
        rows, cols = shape
        small = None
        if shape != ONE and self.chance(0.4):
            choices = [ONE]
            if rows > 1 and cols > 1:
                choices += [(rows, 1), (1, cols)]
            small = self.pick(choices)
            self.tag("broadcast scalar" if small == ONE else "broadcast vector")
        elif rows > 1 and cols > 1 and self.chance(0.1):
            self.tag("column + row")
            a, b = self.gen((rows, 1), d), self.gen((1, cols), d)
            return Node(op, (a, b) if self.chance(0.5) else (b, a))
        big = self.gen(shape, d)
        other = self.gen(small or shape, d)
        return Node(op, (big, other) if self.chance(0.5) else (other, big))

    def o_neg(self, shape, d) -> Node:
        self.tag("negation")
        return Node("neg", (self.gen(shape, d),))

    def o_scale(self, shape, d) -> Node:
        self.tag("scaling")
        c = self.number() if self.chance(0.5) else self.gen(ONE, d)
        m = self.gen(shape, d)
        if self.chance(0.2):
            return Node("div", (m, self.positive(ONE, d)))
        if self.chance(0.2):
            c = Node("neg", (c,))
        return mul(*((c, m) if self.chance(0.6) else (m, c)), self.pick("**@"))

    def o_hadamard(self, shape, d) -> Node:
        a = self.gen(shape, d)
        b = self.gen(ONE if shape != ONE and self.chance(0.2) else shape, d)
        return Node("had", (a, b) if self.chance(0.5) else (b, a))

    def divisor(self, shape, d) -> Node:
        """Something away from 0: positive, negated, scaled, or a negated scaled product."""
        form = self.pick(("positive", "negated", "scaled", "product", "product"))
        if form == "positive":
            return self.positive(shape, d)
        if form == "negated":
            self.tag("negated divisor")
            return Node("neg", (self.positive(shape, d),))
        if form == "scaled":
            self.tag("scaled divisor")
            return mul(Node("neg", (num(self.pick(("2", "0.5"))),)),
                                self.positive(shape, d))
        # -2*A*y: a product, scaled and negated (the strict run refuses entries near 0)
        self.tag("negated product divisor")
        inner = self.size()
        a = self.positive((shape[0], inner), d)
        b = self.positive((inner, shape[1]), d)
        scale = Node("neg", (num(self.pick(("2", "3"))),))
        product = mul(mul(scale, a), b)
        return product

    def o_ediv(self, shape, d) -> Node:
        a = self.gen(shape, d)
        divisor_shape = ONE if shape != ONE and self.chance(0.2) else shape
        return Node("ediv", (a, self.divisor(divisor_shape, d)))

    def o_divide_by_product(self, shape, d) -> Node:
        """z / (-2*x'*y): a scalar divided by a negated scaled 1×1 product."""
        self.tag("negated product divisor")
        k = self.size()
        x = self.positive((k, 1), d)
        y = self.positive((k, 1), d)
        scale = Node("neg", (num(self.pick(("2", "3"))),))
        divisor = mul(mul(scale, Node("T", (x,), "'")), y)
        return Node("div", (self.gen(ONE, d), divisor))

    def o_matmul(self, shape, d) -> Node:
        inner = self.size()
        if inner == 1:
            self.tag("outer product" if shape != ONE else "1x1 product")
        a = self.gen((shape[0], inner), d)
        b = self.gen((inner, shape[1]), d)
        return mul(a, b, self.pick("***@"))

    def o_transpose(self, shape, d) -> Node:
        return Node("T", (self.gen((shape[1], shape[0]), d),), self.pick(("'", "'", ".T")))

    def o_replicate(self, shape, d) -> Node:
        """x*ones(1, n), ones(m, 1)*r, ones(m, n), alpha - x*ones(1, n)."""
        rows, cols = shape
        self.tag("ones")
        if shape == ONE or self.chance(0.2):
            node = Node("ones", (), (self.dim_text(rows), self.dim_text(cols)))
            return node if self.chance(0.5) else mul(self.gen(ONE, d), node)
        if self.chance(0.5):
            left = self.gen((rows, 1), d)
            right = Node("ones", (), (1, self.dim_text(cols)))
        else:
            left = Node("ones", (), (self.dim_text(rows), 1))
            right = self.gen((1, cols), d)
        node = mul(left, right)
        if self.chance(0.5):
            self.tag("scaled or negated replication")
            form = self.pick(("sub", "neg", "scale"))
            if form == "sub":
                return Node("sub", (self.gen(ONE, d), node))
            if form == "neg":
                return Node("neg", (node,))
            return mul(Node("neg", (self.number(),)), node)
        return node

    def o_constant_array(self, shape, d) -> Node:
        """An array whose entries are one number: c*ones(m, n), sigmoid(x - x)."""
        rows, cols = shape
        self.tag("constant array")
        if self.chance(0.5):
            ones = Node("ones", (), (self.dim_text(rows), self.dim_text(cols)))
            return mul(self.constant(), ones)
        leaf = self.leaf(shape)
        return call(self.pick(("sigmoid", "exp", "cos", "tanh")), Node("sub", (leaf, leaf)))

    def o_matrix_variable(self, shape, d) -> Node:
        """A matrix variable times a vector (W*a), a row times one (r*W), or both (r*W*a)."""
        rows, cols = shape
        inner = self.pick([s for s in self.pool if s > 1] or [2])
        if cols == 1:
            self.tag("matrix variable times a vector")
            return mul(self.variable((rows, inner)), self.gen((inner, 1), d))
        if rows == 1:
            self.tag("row times a matrix variable")
            return mul(self.gen((1, inner), d), self.variable((inner, cols)))
        return mul(self.gen((rows, inner), d), self.variable((inner, cols)))

    def o_eye(self, shape, d) -> Node:
        self.tag("eye")
        eye = Node("eye", (), self.dim_text(shape[0]))
        if self.chance(0.5):
            return eye
        return mul(self.gen(shape, d), eye) if self.chance(0.5) else \
            Node("add", (self.gen(shape, d), eye))

    # -- functions -------------------------------------------------------------------

    def o_elementwise(self, shape, d) -> Node:
        name = self.pick(("exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid",
                          "softplus", "relu", "sign", "square", "tanh", "sigmoid", "exp"))
        self.tag(name)
        # the operand (or the result) transposed: sqrt(exp(x)')
        flip = shape[0] != shape[1] and self.chance(0.35)
        inner_shape = (shape[1], shape[0]) if flip else shape
        if name == "exp":
            a = self.bounded(inner_shape, d)
        elif name in ("log", "sqrt"):
            a = self.positive(inner_shape, d)
        elif name in ("abs", "relu", "sign"):
            a = self.varying(inner_shape, d)
        else:
            a = self.gen(inner_shape, d)
        if not flip:
            return call(name, a)
        self.tag("transposed elementwise")
        if self.chance(0.5):
            return Node("T", (call(name, a),), "'")
        return call(name, Node("T", (a,), "'"))

    def varying(self, shape, d) -> Node:
        """Something that moves with the data (never a constant sitting on a kink)."""
        node = self.gen(shape, d)
        return node if node.op not in ("num", "ones", "eye") else self.variable(shape)

    def o_softmax(self, shape, d) -> Node:
        self.tag(self.of("softmax", shape))
        return call("softmax", self.bounded(shape, d))

    def o_power(self, shape, d) -> Node:
        if shape[0] == shape[1] and shape != ONE and self.chance(0.4):
            if self.chance(0.5):
                self.tag("matrix power")
                return Node("pow", (self.bounded(shape, d), num("2")))
            self.tag("X^-1")
            return Node("pow", (self.spd(shape[0], d), Node("neg", (num("1"),))))
        op = "pow" if shape == ONE and self.chance(0.5) else "epow"
        self.tag(op)
        if self.chance(0.5):
            return Node(op, (self.bounded(shape, d), num(self.pick(("2", "3")))))
        p = self.pick(("0.5", "1.5", "-1", "-2", "-0.5"))
        exponent = Node("neg", (num(p[1:]),)) if p.startswith("-") else num(p)
        return Node(op, (self.positive(shape, d), exponent))

    def o_definition(self, shape, d) -> Node:
        existing = [n for n, s in self.defined_shapes.items() if s == shape]
        if existing and self.chance(0.4):
            return var(self.pick(existing))
        body = self.gen(shape, d)
        return self.define(body, shape)

    def define(self, body: Node, shape) -> Node:
        if body.op == "var":
            return body
        free = [n for n in DEFINITION_NAMES if n not in self.used_names()]
        if not free:
            return body
        name = self.pick(free)
        self.tag("definition")
        self.definitions.append((name, body))
        self.defined_shapes[name] = shape
        return var(name)

    # -- reductions and norms -----------------------------------------------------------

    def o_reduce_all(self, shape, d) -> Node:
        source = self.any_shape()
        how = self.pick(("sum", "sum", "mean", "logsumexp", "sum(,1)", "sum(,2)", "sumsum",
                         "logsumexp(,1)", "of a row"))
        if how == "of a row":              # sum(logsumexp(r, 1)), sum(softmax(r)) of a 1×k
            inner = self.bounded((1, source[1]), d)
            if self.chance(0.5):
                self.tag("logsumexp(,1) of a row")
                return call("sum", call("logsumexp", inner, value="1"))
            self.tag("softmax of a row")
            return call("sum", call("softmax", inner))
        if how == "sumsum":
            self.tag("sum(sum())")
            return call("sum", call("sum", self.gen(source, d)))
        if how == "sum(,1)":               # a 1×1 only from a column
            self.tag("sum(column, 1)")
            return call(self.pick(("sum", "mean")), self.gen((source[0], 1), d), value="1")
        if how == "sum(,2)":
            self.tag("sum(row, 2)")
            return call(self.pick(("sum", "mean")), self.gen((1, source[1]), d), value="2")
        if how == "logsumexp(,1)":
            self.tag("logsumexp(column, 1)")
            return call("logsumexp", self.bounded((source[0], 1), d), value="1")
        self.tag(self.of(how, source))
        if how == "logsumexp":
            return call("logsumexp", self.bounded(source, d))
        return call(how, self.gen(source, d))

    def o_reduce_columns(self, shape, d) -> Node:
        """A 1×k: sum(X, 1), mean(X, 1), logsumexp(X, 1), also of a 1×k (a no-op reduction)."""
        rows = 1 if self.chance(0.3) else self.size()
        how = self.pick(("sum", "mean", "logsumexp"))
        self.tag(self.of(f"{how}(,1)", (rows, shape[1])))
        make = self.bounded if how == "logsumexp" else self.gen
        a = make((rows, shape[1]), d)
        return call(how, a, value="1")

    def o_reduce_rows(self, shape, d) -> Node:
        cols = self.size()
        how = self.pick(("sum", "mean"))
        self.tag(self.of(f"{how}(,2)", (shape[0], cols)))
        return call(how, self.gen((shape[0], cols), d), value="2")

    def o_norm(self, shape, d) -> Node:
        source = self.any_shape()
        vector = source[0] == 1 or source[1] == 1
        if vector:
            form = self.pick(("norm", "norm2", "norm1", "norm(,1)", "norm(,2)", "fro"))
        else:
            form = self.pick(("norm", "fro"))
        self.tag(self.of(form, source))
        a = self.varying(source, d) if form in ("norm1", "norm(,1)") else self.gen(source, d)
        node = {"norm": lambda: call("norm", a), "norm2": lambda: call("norm2", a),
                "norm1": lambda: call("norm1", a), "norm(,1)": lambda: call("norm", a, value="1"),
                "norm(,2)": lambda: call("norm", a, value="2"),
                "fro": lambda: call("norm", a, value="'fro'")}[form]()
        return Node("pow", (node, num("2"))) if self.chance(0.4) else node

    # -- linear algebra ----------------------------------------------------------------

    def o_trace(self, shape, d) -> Node:
        n = self.size()
        self.tag("tr" + (" of a 1x1" if n == 1 else ""))
        if n == 1 and self.chance(0.5):
            k = self.size()
            x = self.gen((k, 1), d)
            a = self.gen((k, k), d)
            inner = mul(mul(Node("T", (x,), "'"), a), x)   # tr(x'*A*x)
        else:
            inner = self.gen((n, n), d)
        return call(self.pick(("tr", "trace")), inner)

    def o_det(self, shape, d) -> Node:
        n = self.pick([s for s in self.pool if s <= 3] or [1])
        self.tag("det" + (" of a 1x1" if n == 1 else ""))
        return call("det", self.bounded((n, n), d))

    def spd(self, n: int, d: int) -> Node:
        """A symmetric positive definite n×n matrix (a positive scalar when n is 1)."""
        if n == 1 and self.chance(0.6):
            return self.positive(ONE, d)
        k = self.size()
        s = self.bounded((n, k), d)
        if s.op != "var" and self.chance(0.5):
            s = self.define(s, (n, k))
        gram = mul(s, Node("T", (s,), "'"))
        form = self.pick(("eye", "diag", "scaled eye"))
        if form == "diag":
            shift = call("diag", self.positive((n, 1), d))
        else:
            shift = Node("eye", (), self.dim_text(n))
            if form == "scaled eye":
                shift = mul(num(self.pick(("0.5", "2"))), shift)
        return Node("add", (gram, shift) if self.chance(0.5) else (shift, gram))

    def o_logdet(self, shape, d) -> Node:
        n = self.size()
        self.tag("logdet" + (" of a 1x1" if n == 1 else ""))
        return call("logdet", self.spd(n, d))

    def o_inv(self, shape, d) -> Node:
        n = shape[0]
        self.tag("inv" + (" of a 1x1" if n == 1 else ""))
        inverse = call("inv", self.spd(n, d))
        if shape == ONE:
            return inverse
        return inverse if self.chance(0.5) else mul(inverse, self.gen(shape, d))

    def o_diag(self, shape, d) -> Node:
        rows, cols = shape
        if rows == cols and rows > 1:
            if self.chance(0.5):
                self.tag("diag(row)")
                return call("diag", self.gen((1, rows), d))
            self.tag("diag(vector)")
            return call("diag", self.gen((rows, 1), d))
        if shape == ONE:
            self.tag("diag of a 1x1")
            return call("diag", self.gen(ONE, d))
        self.tag("diag(matrix)")
        return call("diag", self.gen((rows, rows), d))

    # -- positive things ---------------------------------------------------------------

    def positive(self, shape, d) -> Node:
        """An expression whose entries are positive (the strict run checks: away from 0)."""
        forms = ["exp", "softplus", "sigmoid", "square+c", "abs+c"]
        if d > 0:
            forms += ["sum", "product", "scaled", "sqrt", "quotient"]
            if shape[0] > 1 or self.chance(0.3):
                forms.append("softmax")
            if shape == ONE:
                forms += ["number", "norm^2+c", "sum of positive", "x'x+c"]
            if shape != ONE and shape[0] != shape[1]:
                forms.append("transposed")
            if shape[1] > 1 and shape[0] >= 1:
                forms.append("replicated")
        form = self.pick(forms)
        d1 = max(d - 1, 0)
        if form in ("exp", "softplus", "sigmoid"):
            return call(form, self.bounded(shape, d1))
        if form in ("square+c", "abs+c"):
            inner = self.bounded(shape, d1)
            base = call("abs", inner) if form == "abs+c" else (
                call("square", inner) if self.chance(0.5) else Node("epow", (inner, num("2"))))
            c = num(self.pick(("1", "0.5", "2")))
            return Node("add", (base, c) if self.chance(0.6) else (c, base))
        if form == "sum":
            return Node("add", (self.positive(shape, d1), self.positive(shape, d1)))
        if form == "product":
            return Node("had", (self.positive(shape, d1), self.positive(shape, d1)))
        if form == "quotient":
            return Node("ediv", (self.positive(shape, d1), self.positive(shape, d1)))
        if form == "scaled":
            c = num(self.pick(("2", "0.5"))) if self.chance(0.6) else self.positive(ONE, d1)
            return mul(c, self.positive(shape, d1))
        if form == "sqrt":
            return call("sqrt", self.positive(shape, d1))
        if form == "softmax":
            self.tag(self.of("softmax", shape))
            return call("softmax", self.bounded(shape, d1))
        if form == "number":
            return num(self.pick(("2", "0.5", "3")))
        if form == "norm^2+c":
            return Node("add", (Node("pow", (call("norm", self.gen(self.any_shape(), d1)),
                                             num("2"))), num("1")))
        if form == "sum of positive":
            return call(self.pick(("sum", "mean")), self.positive(self.any_shape(), d1))
        if form == "x'x+c":
            k = self.size()
            x = self.define(self.gen((k, 1), d1), (k, 1))
            return Node("add", (mul(Node("T", (x,), "'"), x), num("1")))
        if form == "transposed":
            return Node("T", (self.positive((shape[1], shape[0]), d1),), "'")
        if form == "replicated":
            self.tag("ones")
            return mul(self.positive((shape[0], 1), d1),
                                Node("ones", (), (1, self.dim_text(shape[1]))))
        raise AssertionError(form)

    # -- the case ------------------------------------------------------------------

    def case(self, depth: int) -> Case:
        cost = self.gen(ONE, depth)
        for _ in range(self.pick((0, 0, 1, 2))):
            cost = Node(self.pick(("add", "add", "sub")), (cost, self.gen(ONE, depth)))
        formula = Formula(tuple(self.definitions), cost)
        names = formula.names()
        kinds = {n: self.variables[n][0] for n in names}
        sizes = {n: self.variables[n][1] for n in names}
        declared = {}
        for n in names:
            kind, (rows, cols) = kinds[n], sizes[n]
            dims = () if kind == SCALAR else (rows,) if kind == VECTOR else (rows, cols)
            spelled = tuple(self.spelling.get(s, s) for s in dims)
            if (kind == default_kind(n) and all(isinstance(s, str) for s in spelled)
                    and n not in ("lambda_",) and self.chance(0.3)):
                self.tag("undeclared")
                continue
            if any(isinstance(s, str) for s in spelled):
                self.tag("symbolic dimension")
            if any(isinstance(s, int) and s > 1 for s in spelled):
                self.tag("integer dimension")
            declared[n] = spelled
        dims = {s: size for size, s in self.spelling.items() if isinstance(s, str)}
        dims.update({s: size for size, s in self.fresh.items()})
        count = self.pick((1, 1, 2, 2, 3))
        wrt = self.rng.sample(names, min(count, len(names)))
        if self.chance(0.15):
            wrt = list(names)
        return Case(str(self.seed), formula, wrt, kinds, sizes, declared, dims,
                    frozenset(self.features), self.seed)


def generate(seed: int, depth: int | None = None) -> Case:
    """A case whose formula is defined and smooth at its data (redrawn until it is)."""
    for attempt in range(100):
        sub = seed * 1000 + attempt
        rng = random.Random(sub)
        generator = Generator(sub)
        try:
            case = generator.case(depth if depth is not None else rng.choice((2, 3, 3, 4, 4)))
        except RecursionError:      # pragma: no cover - depth is bounded
            continue
        if not case.formula.names():
            continue
        case.name, case.seed = str(seed), sub
        for draw in range(3):
            values = case.draw(draw)
            try:
                strict_value(case, values)
            except Domain:
                continue
            case.data = values
            return case
    raise RuntimeError(f"no well-defined formula for seed {seed}")


if __name__ == "__main__":  # pragma: no cover - for people
    first = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    for s in range(first, first + count):
        c = generate(s)
        print(c, "   ", sorted(c.features))
