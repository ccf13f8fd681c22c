"""From the syntax tree to the expression tree: names, shapes, and the functions users may call.

Two walks over the syntax tree. The first gives every node a shape, binding
unknown dimensions by unification and reporting any disagreement at its place
in the text. The second, with every shape known, builds the expression through
the simplifying constructors of ``expr``. Both walks use an explicit stack, so a
chain of ten thousand terms costs no recursion.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import sympy

from . import parse as syntax
from .errors import DeriveError
from .expr import (SCALAR, Const, Expr, Identity, ONE, Shape, Symbol, TooLarge, add, hadamard, mul, neg,
                   ones, power, summation, transpose)
from .functions import apply
from .shapes import Dimensions, declared_shape, default_kind, format_shape

MAX_MATRIX_POWER = 64
# Ten thousand terms fit; nobody types more by hand, and a longer text is refused at once.
MAX_LENGTH = 200_000


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
    return apply("diag", x)


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
    "tr": CallRule(("expr",), lambda x: apply("tr", x), square=True),
    "trace": CallRule(("expr",), lambda x: apply("tr", x), square=True),
    "det": CallRule(("expr",), lambda x: apply("det", x), square=True),
    "logdet": CallRule(("expr",), lambda x: apply("logdet", x), square=True),
    "inv": CallRule(("expr",), lambda x: apply("inv", x), square=True),
    "diag": CallRule(("expr",), _diag),
    "softmax": CallRule(("expr",), lambda x: apply("softmax", x)),
    "logsumexp": CallRule(("expr", "axis?"), _logsumexp),
    "eye": CallRule(("dim",), lambda n: Identity(n)),
    "ones": CallRule(("dim", "dim"), lambda m, n: ones((m, n))),
}


# ---------------------------------------------------------------- the result

@dataclass
class Formula:
    """A parsed, shaped and built formula."""
    source: str
    cost: Expr
    symbols: list[Symbol]                 # free names, in order of first appearance
    definitions: dict[str, Expr] = field(default_factory=dict)

    def symbol(self, name: str) -> Symbol | None:
        return next((s for s in self.symbols if s.name == name), None)

    def taken_names(self) -> set[str]:
        """Every name the formula uses (variables, definitions, dimensions, functions): a
        generated name must be none of them."""
        dims = {str(d) for d in {d for s in self.symbols for dim in s.shape
                                 for d in dim.free_symbols}}
        return {s.name for s in self.symbols} | set(self.definitions) | dims | set(CALLS)


def build(source: str, declared: dict[str, tuple] | None = None) -> Formula:
    """Parse ``source`` and build its cost; ``declared`` maps names to ``--shape`` dimensions."""
    if len(source) > MAX_LENGTH:
        raise DeriveError(f"the formula is {len(source):,} characters long; derive reads at "
                          f"most {MAX_LENGTH:,}", source=source, offset=MAX_LENGTH)
    program = syntax.parse(source)
    declared = declared or {}
    dims = Dimensions()
    typer = _Typer(program, {n: declared_shape(d) for n, d in declared.items()}, dims)
    cost_shape = typer.run()
    if cost_shape != SCALAR:
        what = {"col": "a column vector", "row": "a row vector"}.get(
            "col" if cost_shape[1] == 1 else "row" if cost_shape[0] == 1 else "", "a matrix")
        raise DeriveError(f"the cost must be a scalar, but it is {what} "
                          f"({format_shape(cost_shape, dims)}): wrap it in sum(...) or "
                          "norm(...)^2", source=source, offset=_start(program.cost))
    taken = {s.name for s in _declared_dim_symbols(declared)} | set(typer.first_seen)
    renames = dims.readable_names(list(typer.shapes.values()), taken)
    final = {name: tuple(renames.get(dims.find(d), dims.find(d)) for d in shape)
             for name, shape in typer.shapes.items()}
    builder = _Builder(program, final)
    cost = builder.run()
    order = sorted(typer.first_seen, key=typer.first_seen.get)
    symbols = [builder.symbols[n] for n in order]
    return Formula(source, cost, symbols, builder.definitions)


def _start(node) -> int:
    """Where a syntax node's text begins: its left-most token."""
    start, stack = node.pos, [node]
    while stack:
        current = stack.pop()
        start = min(start, current.pos)
        stack.extend(_children(current, lambda call: False))
        if isinstance(current, syntax.Call):
            stack.extend(current.args)
    return start


def _declared_dim_symbols(declared: dict[str, tuple]) -> set[sympy.Symbol]:
    return {d for dims in declared.values() for d in dims if isinstance(d, sympy.Symbol)}


# ---------------------------------------------------------------- the walks

def _walk(node, visit: Callable, skip_args: Callable[[syntax.Call], bool]):
    """Post-order over the syntax tree with an explicit stack; visit(node, child_values)."""
    stack: list = [(node, False)]
    values: list = []
    while stack:
        current, expanded = stack.pop()
        kids = _children(current, skip_args)
        if expanded or not kids:
            count = len(kids)
            args = values[len(values) - count:] if count else []
            if count:
                del values[len(values) - count:]
            values.append(visit(current, args))
        else:
            stack.append((current, True))
            stack.extend((kid, False) for kid in reversed(kids))
    return values[0]


def _children(node, skip_args) -> tuple:
    if isinstance(node, syntax.Binary):
        return (node.left, node.right)
    if isinstance(node, (syntax.Unary, syntax.Transpose)):
        return (node.operand,)
    if isinstance(node, syntax.Call):
        return () if skip_args(node) else tuple(
            a for a, kind in zip(node.args, _arg_kinds(node)) if kind == "expr")
    return ()


def _arg_kinds(call: syntax.Call) -> tuple[str, ...]:
    rule = CALLS.get(call.func)
    return tuple(k.rstrip("?") for k in rule.args) if rule else ()


def _literal_int(node) -> int | None:
    sign = 1
    if isinstance(node, syntax.Unary):
        sign, node = (-1 if node.op == "-" else 1), node.operand
    if isinstance(node, syntax.Number) and node.value.denominator == 1:
        return sign * node.value.numerator
    return None


def unparse(node, depth: int = 0) -> str:
    """The text of a syntax node, for messages (deep nesting shown as ...)."""
    if depth > 12:
        return "..."
    d = depth + 1
    if isinstance(node, syntax.Number):
        return node.text
    if isinstance(node, syntax.Name):
        return node.name
    if isinstance(node, syntax.String):
        return f"'{node.value}'"
    if isinstance(node, syntax.Unary):
        return node.op + unparse(node.operand, d)
    if isinstance(node, syntax.Transpose):
        return unparse(node.operand, d) + "'"
    if isinstance(node, syntax.Call):
        return f"{node.func}({', '.join(unparse(a, d) for a in node.args)})"
    if isinstance(node, syntax.Binary):
        left, right = unparse(node.left, d), unparse(node.right, d)
        if isinstance(node.left, syntax.Binary):
            left = f"({left})"
        if isinstance(node.right, syntax.Binary):
            right = f"({right})"
        return f"{left}{node.op}{right}" if node.op in "*/^@" or node.op.startswith(".") \
            else f"{left} {node.op} {right}"
    return "?"


class _Quoted:
    """The text of a node, quoted, made only if a message needs it."""

    def __init__(self, node) -> None:
        self.node = node

    def __str__(self) -> str:
        return f"'{unparse(self.node)}'"


class _Walk:
    """What both walks share: the program, names in scope, errors at a place."""

    def __init__(self, program: syntax.Program) -> None:
        self.program = program
        self.source = program.source
        self.defined: dict[str, object] = {}
        self.definition_pos = {d.name: d.pos for d in program.definitions}
        self.current_definition: str | None = None

    def error(self, node, message: str) -> DeriveError:
        return DeriveError(message, source=self.source, offset=node.pos)

    def run(self):
        seen: dict[str, int] = {}
        for definition in self.program.definitions:
            if definition.name in seen:
                raise DeriveError(f"'{definition.name}' is defined twice (first in the definition "
                                  "before); give the second one another name",
                                  source=self.source, offset=definition.pos)
            seen[definition.name] = definition.pos
            if definition.name in CALLS:
                raise DeriveError(f"'{definition.name}' is a function and cannot be redefined",
                                  source=self.source, offset=definition.pos)
            self.current_definition = definition.name
            self.defined[definition.name] = self.evaluate(definition.expr)
        self.current_definition = None
        return self.evaluate(self.program.cost)

    def evaluate(self, node):
        return _walk(node, self.visit, self.skip_args)

    def skip_args(self, call: syntax.Call) -> bool:
        return False

    def lookup(self, node: syntax.Name):
        name = node.name
        if name in self.defined:
            return self.defined[name]
        if name == self.current_definition:
            raise self.error(node, f"the definition of '{name}' refers to itself")
        if name in self.definition_pos:
            raise self.error(node, f"'{name}' is used before it is defined; move its definition "
                                   "earlier")
        return None

    def visit(self, node, args):
        if isinstance(node, syntax.Number):
            return self.number(node)
        if isinstance(node, syntax.Name):
            found = self.lookup(node)
            return found if found is not None else self.free_name(node)
        if isinstance(node, syntax.String):
            raise self.error(node, "a string is only allowed as the second argument of norm, "
                                   "as in norm(X, 'fro')")
        if isinstance(node, syntax.Unary):
            return self.unary(node, args[0])
        if isinstance(node, syntax.Transpose):
            return self.transpose(node, args[0])
        if isinstance(node, syntax.Binary):
            return self.binary(node, args[0], args[1])
        if isinstance(node, syntax.Call):
            return self.call(node, args)
        raise self.error(node, "unexpected syntax")

    def literals(self, node: syntax.Call) -> list:
        """Check a call's arity and read its literal arguments (axis, norm type, dims)."""
        rule = CALLS.get(node.func)
        if rule is None:
            close = difflib.get_close_matches(node.func, list(CALLS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else \
                f"; known functions: {', '.join(sorted(CALLS))}"
            raise self.error(node, f"unknown function '{node.func}'{hint}")
        required = sum(1 for k in rule.args if not k.endswith("?"))
        if not required <= len(node.args) <= len(rule.args):
            count = str(required) if required == len(rule.args) else \
                f"{required} or {len(rule.args)}"
            raise self.error(node, f"{node.func} takes {count} argument"
                                   f"{'s' if count != '1' else ''}, got {len(node.args)}")
        out = []
        for arg, kind in zip(node.args, rule.args):
            kind = kind.rstrip("?")
            if kind == "axis":
                value = _literal_int(arg)
                if value not in (1, 2):
                    raise self.error(arg, f"the second argument of {node.func} must be 1 "
                                          "(down each column) or 2 (along each row)")
                out.append(value)
            elif kind == "norm":
                if isinstance(arg, syntax.String) and arg.value == "fro":
                    out.append("fro")
                elif _literal_int(arg) in (1, 2):
                    out.append(_literal_int(arg))
                else:
                    raise self.error(arg, "the second argument of norm must be 'fro', 1 or 2")
            elif kind == "dim":
                if isinstance(arg, syntax.Name):
                    out.append(sympy.Symbol(arg.name, positive=True, integer=True))
                elif _literal_int(arg) is not None and _literal_int(arg) > 0:
                    out.append(sympy.Integer(_literal_int(arg)))
                else:
                    raise self.error(arg, f"the arguments of {node.func} are dimensions: "
                                          "positive integers or names")
        return out


def _forced_scalars(program: syntax.Program) -> set[str]:
    """Names the formula itself makes scalars: divisors, exponents, bases of '^'."""
    forced: set[str] = set()
    stack = [d.expr for d in program.definitions] + [program.cost]
    while stack:
        node = stack.pop()
        if isinstance(node, syntax.Binary):
            if node.op == "/" and isinstance(node.right, syntax.Name):
                forced.add(node.right.name)
            if node.op in ("^", ".^") and isinstance(node.right, syntax.Name):
                forced.add(node.right.name)
            if node.op == "^" and isinstance(node.left, syntax.Name) \
                    and default_kind(node.left.name) == "vector":
                forced.add(node.left.name)
        stack.extend(_children(node, lambda call: False))
    return forced


class _Typer(_Walk):
    """First walk: the shape of every node, unknown dimensions bound by unification."""

    def __init__(self, program: syntax.Program, declared: dict[str, Shape],
                 dims: Dimensions) -> None:
        super().__init__(program)
        self.declared = declared
        self.dims = dims
        self.shapes: dict[str, Shape] = {}
        self.first_seen: dict[str, int] = {}
        self.forced = _forced_scalars(program) - set(declared)

    def fmt(self, shape: Shape) -> str:
        return format_shape(shape, self.dims)

    def resolve(self, shape: Shape) -> Shape:
        return self.dims.resolve(shape)

    def number(self, node) -> Shape:
        return SCALAR

    def free_name(self, node: syntax.Name) -> Shape:
        name = node.name
        if name in CALLS:
            raise self.error(node, f"'{name}' is a function: call it as {name}(...)")
        self.first_seen.setdefault(name, node.pos)
        if name not in self.shapes:
            kind = "scalar" if name in self.forced else default_kind(name)
            if name in self.declared:
                shape = self.declared[name]
            elif kind == "scalar":
                shape = SCALAR
            elif kind == "vector":
                shape = (self.dims.fresh(), ONE)
            else:
                shape = (self.dims.fresh(), self.dims.fresh())
            self.shapes[name] = shape
        return self.resolve(self.shapes[name])

    def unary(self, node, shape: Shape) -> Shape:
        return shape

    def transpose(self, node, shape: Shape) -> Shape:
        return (shape[1], shape[0])

    def binary(self, node: syntax.Binary, left: Shape, right: Shape) -> Shape:
        op = node.op
        left, right = self.resolve(left), self.resolve(right)
        what = _Quoted(node)
        if op in ("+", "-", ".*", "./"):
            out = []
            for a, b in zip(left, right):
                if a == 1 or b == 1:
                    out.append(b if a == 1 else a)
                elif self.dims.unify(a, b):
                    out.append(self.dims.find(a))
                else:
                    verb = {"+": "added", "-": "subtracted"}.get(op, "combined elementwise")
                    raise self.error(node, f"shape mismatch in {what}: {self.fmt(left)} and "
                                           f"{self.fmt(right)} cannot be {verb} (the shapes must "
                                           "be equal, or one a scalar, a column vector with as "
                                           "many rows, or a row vector with as many columns)")
            return self.resolve(tuple(out))
        if op in ("*", "@"):
            if left == SCALAR:
                return right
            if right == SCALAR:
                return left
            if not self.dims.unify(left[1], right[0]):
                raise self.error(node, f"shape mismatch in {what}: the matrix product of "
                                       f"{self.fmt(left)} and {self.fmt(right)} needs the left "
                                       "operand's columns to equal the right operand's rows "
                                       "(for the elementwise product use .*)")
            return self.resolve((left[0], right[1]))
        if op == "/":
            if right != SCALAR:
                raise self.error(node, f"in {what} the divisor is {self.fmt(right)}: '/' divides "
                                       "by a scalar (for elementwise division use ./)")
            return left
        if op == ".^":
            if right != SCALAR:
                raise self.error(node, f"in {what} the exponent is {self.fmt(right)}: it must be "
                                       "a scalar")
            return left
        # op == "^"
        if right != SCALAR:
            raise self.error(node, f"in {what} the exponent is {self.fmt(right)}: it must be a "
                                   "scalar")
        if left == SCALAR:
            return SCALAR
        if left[0] == 1 or left[1] == 1:
            raise self.error(node, f"in {what} the base is {self.fmt(left)}: '^' needs a scalar or "
                                   "a square matrix (for the elementwise power use .^)")
        exponent = _literal_int(node.right)
        if exponent is None or abs(exponent) > MAX_MATRIX_POWER:
            raise self.error(node.right, "a matrix power needs an integer constant exponent of at "
                                         f"most {MAX_MATRIX_POWER} in size (for the elementwise "
                                         "power use .^)")
        if not self.dims.unify(left[0], left[1]):
            raise self.error(node, f"in {what} the base is {self.fmt(left)}: a matrix power needs "
                                   "a square matrix (for the elementwise power use .^)")
        return self.resolve(left)

    def skip_args(self, call: syntax.Call) -> bool:
        return call.func not in CALLS

    def call(self, node: syntax.Call, shapes: list[Shape]) -> Shape:
        literals = self.literals(node)
        rule = CALLS[node.func]
        shapes = [self.resolve(s) for s in shapes]
        if rule.square:
            rows, cols = shapes[0]
            if rows == 1 and cols == 1 or not self.dims.unify(rows, cols):
                raise self.error(node, f"{node.func} needs a square matrix, got "
                                       f"{self.fmt(shapes[0])}")
            shapes = [self.resolve(s) for s in shapes]
        if node.func == "diag" and shapes[0][1] != 1 and not self.dims.unify(*shapes[0]):
            raise self.error(node, f"diag needs a column vector or a square matrix, got "
                                   f"{self.fmt(shapes[0])}")
        placeholders = [Symbol("_", self.resolve(s)) for s in shapes]
        try:
            return self.resolve(rule.make(*placeholders, *literals).shape)
        except Refusal as refusal:
            raise self.error(node, str(refusal)) from None


class _Terms(list):
    """The terms of a chain of + and - not yet summed: one add() for the whole chain."""


def _terms(value) -> list:
    return list(value) if isinstance(value, _Terms) else [value]


def _summed(value):
    return add(*value) if isinstance(value, _Terms) else value


class _Builder(_Walk):
    """Second walk: the expression, every shape now known."""

    def evaluate(self, node):
        try:
            return _summed(super().evaluate(node))
        except TooLarge as error:
            raise self.error(node, str(error)) from None

    def visit(self, node, args):
        try:
            if not (isinstance(node, syntax.Binary) and node.op in ("+", "-")):
                args = [_summed(a) for a in args]
            return super().visit(node, args)
        except TooLarge as error:
            raise self.error(node, str(error)) from None

    def __init__(self, program: syntax.Program, shapes: dict[str, Shape]) -> None:
        super().__init__(program)
        self.symbols = {name: Symbol(name, shape) for name, shape in shapes.items()}

    @property
    def definitions(self) -> dict[str, Expr]:
        return dict(self.defined)

    def number(self, node: syntax.Number) -> Expr:
        value: Fraction = node.value
        return Const(sympy.Rational(value.numerator, value.denominator))

    def free_name(self, node: syntax.Name) -> Expr:
        return self.symbols[node.name]

    def unary(self, node, operand: Expr) -> Expr:
        return neg(operand) if node.op == "-" else operand

    def transpose(self, node, operand: Expr) -> Expr:
        return transpose(operand)

    def binary(self, node: syntax.Binary, left: Expr, right: Expr) -> Expr:
        op = node.op
        if op in ("+", "-"):
            # The left operand's pending terms are used only here: extend them in place.
            terms = left if isinstance(left, _Terms) else _Terms([left])
            if op == "+":
                terms.extend(_terms(right))
            else:
                terms.append(neg(_summed(right)))
            return terms
        if op in ("*", "@"):
            return mul(left, right)
        if op == ".*":
            return hadamard(left, right)
        if op == "./":
            return hadamard(left, power(right, Const(-ONE)))
        if op == "/":
            return mul(left, power(right, Const(-ONE)))
        if op == ".^" or left.is_scalar:
            return power(left, right)
        exponent = _literal_int(node.right)
        if exponent == 0:
            return Identity(left.shape[0])
        base = left if exponent > 0 else apply("inv", left)
        return mul(*[base] * abs(exponent))

    def call(self, node: syntax.Call, args: list[Expr]) -> Expr:
        return CALLS[node.func].make(*args, *self.literals(node))

