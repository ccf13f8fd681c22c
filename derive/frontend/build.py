"""From the syntax tree to the expression tree: names, shapes, and the functions users may call.

Two walks over the syntax tree. The first gives every node a shape, binding
unknown dimensions by unification and reporting any disagreement at its place
in the text. The second, with every shape known, builds the expression through
the simplifying constructors of ``simplify``. Both walks use an explicit stack, so a
chain of ten thousand terms costs no recursion.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import sympy

from . import parse as syntax
from ..errors import DeriveError
from ..expr.nodes import SCALAR, Const, Expr, Identity, ONE, Shape, Symbol, TooLarge
from ..expr.simplify import add, hadamard, mul, neg, ones, power, summation, transpose
from ..expr.ops import apply, kron
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
    if x.is_scalar:
        return x                      # a 1x1 is its own diagonal
    if x.shape[0] == 1:
        x = transpose(x)              # diag of a row is the diagonal matrix, as in MATLAB
    return apply("diag", x)


def _square(name: str) -> CallRule:
    # A 1x1 is a scalar wherever a scalar is expected: the Op's rewrite gives what the
    # function is of a scalar (tr and det: itself, logdet: its log, inv: 1 / it).
    return CallRule(("expr",), lambda x: apply(name, x), square=True)


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
    "tr": _square("tr"),
    "trace": _square("tr"),
    "det": _square("det"),
    "logdet": _square("logdet"),
    "inv": _square("inv"),
    "diag": CallRule(("expr",), _diag),
    "softmax": CallRule(("expr",), lambda x: apply("softmax", x)),
    "logsumexp": CallRule(("expr", "axis?"), _logsumexp),
    "eye": CallRule(("dim",), lambda n: Identity(n)),
    "ones": CallRule(("dim", "dim"), lambda m, n: ones((m, n))),
    # In results (Jacobians, Hessians): read back, as the text prints them.
    "kron": CallRule(("expr", "expr"), kron),
    "vec": CallRule(("expr",), lambda x: apply("vec", x)),
}


# ---------------------------------------------------------------- the result

@dataclass
class Formula:
    """A parsed, shaped and built formula."""
    source: str
    cost: Expr
    symbols: list[Symbol]                 # free names, in order of first appearance
    definitions: dict[str, Expr] = field(default_factory=dict)
    # Names whose kind a default decided, with the kind: {"beta": "scalar"}.
    defaults: dict[str, str] = field(default_factory=dict)
    # What a default kind may have got wrong (a product that fits only by scaling).
    warnings: list[str] = field(default_factory=list)
    assumptions: dict[str, str] = field(default_factory=dict)   # --assume NAME=PROPERTY

    def symbol(self, name: str) -> Symbol | None:
        return next((s for s in self.symbols if s.name == name), None)

    def taken_names(self) -> set[str]:
        """Every name the formula uses (variables, definitions, dimensions, functions): a
        generated name must be none of them."""
        dims = {str(d) for d in {d for s in self.symbols for dim in s.shape
                                 for d in dim.free_symbols}}
        return {s.name for s in self.symbols} | set(self.definitions) | dims | set(CALLS)


# Trying other kinds for the names costs a walk each: only for formulas typed by hand.
MAX_KIND_TRIALS = 24
MAX_TRIAL_LENGTH = 20_000


def build(source: str, declared: dict[str, tuple] | None = None,
          assume: dict[str, str] | None = None, any_shape: bool = False) -> Formula:
    """Parse ``source`` and build its cost; ``declared`` maps names to ``--shape`` dimensions,
    ``assume`` names to ``--assume`` properties. ``any_shape``: the formula may be a vector
    or a matrix (derive jac), not only a scalar cost."""
    if len(source) > MAX_LENGTH:
        raise DeriveError(f"the formula is {len(source):,} characters long; derive reads at "
                          f"most {MAX_LENGTH:,}", source=source, offset=MAX_LENGTH)
    program = syntax.parse(source)
    declared = declared or {}
    assume = assume or {}
    try:
        typer = _typed(program, declared, assume, any_shape=any_shape)
    except DeriveError as error:
        raise _blame_default_kind(program, declared, assume, error) from None
    renames = _renames(typer, declared)
    final = {name: tuple(_final_dim(typer, declared, d, renames) for d in shape)
             for name, shape in typer.shapes.items()}
    builder = _Builder(program, final, assume, lambda d: _final_dim(typer, declared, d, renames))
    cost = builder.run()
    order = sorted(typer.first_seen, key=typer.first_seen.get)
    symbols = [builder.symbols[n] for n in order]
    defaults = {n: k for n, k in typer.kinds.items() if typer.origin.get(n) == "default"}
    return Formula(source, cost, symbols, builder.definitions,
                   {n: defaults[n] for n in order if n in defaults},
                   _scaling_warnings(program, declared, assume, typer), dict(assume))


def _typed(program: syntax.Program, declared: dict[str, tuple], assume: dict[str, str],
           kinds: dict[str, str] | None = None, any_shape: bool = False) -> "_Typer":
    """The first walk, with the cost checked to be a scalar; ``kinds`` overrides defaults."""
    dims = Dimensions()
    typer = _Typer(program, {n: declared_shape(d) for n, d in declared.items()}, dims,
                   _declared_dim_symbols(declared), assume, kinds or {})
    cost_shape = typer.run()
    if cost_shape != SCALAR and not any_shape:
        what = {"col": "a column vector", "row": "a row vector"}.get(
            "col" if cost_shape[1] == 1 else "row" if cost_shape[0] == 1 else "", "a matrix")
        fact = f"the cost must be a scalar, but it is {what} ({format_shape(cost_shape, dims)})"
        raise DeriveError(f"{fact}: wrap it in sum(...) or norm(...)^2", fact=fact,
                          source=program.source, offset=_start(program.cost))
    return typer


def _renames(typer: "_Typer", declared: dict[str, tuple]) -> dict:
    taken = {s.name for s in _declared_dim_symbols(declared)} | set(typer.first_seen) \
        | typer.dimension_names
    return typer.dims.readable_names(list(typer.shapes.values()), taken)


def _final_dim(typer: "_Typer", declared: dict[str, tuple], d: sympy.Expr,
               renames: dict | None = None) -> sympy.Expr:
    root = typer.dims.find(d)
    return (renames if renames is not None else _renames(typer, declared)).get(root, root)


_OTHER_KINDS = {"scalar": ("vector",), "vector": ("scalar", "matrix"),
                "matrix": ("vector", "scalar")}
_LIKELY_SLIP = ("scalar", "vector", "matrix")
_A_KIND = {"scalar": "a scalar", "vector": "a column vector", "row": "a row vector",
           "matrix": "a matrix"}
_WHY = {"scalar": "a Greek", "vector": "a lower-case", "matrix": "an upper-case"}


def _another_kind(program, declared, assume, name: str, kind: str) -> "_Typer | None":
    """The typing with ``name`` of another kind, if the formula then fits."""
    try:
        return _typed(program, declared, assume, {name: kind})
    except DeriveError:
        return None


def _shape_option(name: str, kind: str, typer: "_Typer", declared) -> str:
    """The --shape that gives ``name`` the shape it has in ``typer``, as text."""
    if kind == "scalar":
        return f"--shape {name}="
    dims = [_final_dim(typer, declared, d) for d in typer.shapes[name]]
    dims = [str(d) if d.is_Integer or not typer.dims.is_fresh(d) else letter
            for d, letter in zip(dims, ("m", "n"))]
    return f"--shape {name}={','.join(dims[:1] if kind == 'vector' else dims)}"


def _blame_default_kind(program, declared, assume, error: DeriveError) -> DeriveError:
    """The error again, pointing at a name whose default kind caused it, with the fix.

    A name is to blame when giving it another kind (and nothing else) makes the formula fit.
    """
    if len(program.source) > MAX_TRIAL_LENGTH or error.fact is None:
        return error    # not a disagreement of shapes (those say what they are without advice)
    forced = _forced_scalars(program)
    names = [n for n in _free_names(program) if n not in declared and n not in forced
             and n not in assume][:MAX_KIND_TRIALS]
    # A Greek scalar that is a vector, or a lower-case vector that is a scalar, is the likely
    # slip; an upper-case name that is not a matrix the unlikely one.
    names.sort(key=lambda n: _LIKELY_SLIP.index(default_kind(n)))
    fixes: list[tuple[str, str, _Typer]] = []
    for name in names:
        for kind in _OTHER_KINDS[default_kind(name)]:
            typer = _another_kind(program, declared, assume, name, kind)
            if typer is not None:
                fixes.append((name, kind, typer))
                break
        if len(fixes) == 2:
            break
    if not fixes:
        return error
    name, _, first = fixes[0]
    default = default_kind(name)
    advice = "; or ".join(f"if {n} is {_A_KIND[k]}, declare it with "
                          f"{_shape_option(n, k, t, declared)}" for n, k, t in fixes)
    return DeriveError(f"{name} is taken as {_A_KIND[default]} (the default for "
                       f"{_WHY[default]} name), and then {error.fact}; {advice}",
                       source=program.source, offset=first.first_seen[name])


def _scaling_warnings(program, declared, assume, typer: "_Typer") -> list[str]:
    """A default scalar times a matrix, where a vector would fit as well: say so."""
    if len(program.source) > MAX_TRIAL_LENGTH:
        return []
    out = []
    for name, node in list(typer.scaled.items())[:4]:
        other = _another_kind(program, declared, assume, name, "vector")
        if other is not None:
            fix = _shape_option(name, "vector", other, declared)
            out.append(f"{name} is taken as a scalar (the default for a Greek name), so "
                       f"{_Quoted(node)} scales a matrix; if {name} is a vector and this a "
                       f"matrix-vector product, declare {fix}")
    return out


def _free_names(program: syntax.Program) -> list[str]:
    """The names that are not definitions nor functions, in order of first appearance."""
    defined = {d.name for d in program.definitions}
    found: dict[str, int] = {}
    stack = [d.expr for d in program.definitions] + [program.cost]
    while stack:
        node = stack.pop()
        if isinstance(node, syntax.Name) and node.name not in defined and node.name not in CALLS:
            found[node.name] = min(found.get(node.name, node.pos), node.pos)
        stack.extend(_children(node, lambda call: False))
    return sorted(found, key=found.get)


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


def _kind_of(shape: Shape) -> str:
    if shape == SCALAR:
        return "scalar"
    return "vector" if shape[1] == 1 else "row" if shape[0] == 1 else "matrix"


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

    def error(self, node, message: str, fact: str | None = None) -> DeriveError:
        return DeriveError(message, source=self.source, offset=node.pos, fact=fact)

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

    def dimension(self, d: sympy.Symbol) -> sympy.Expr:
        """A dimension named in eye(n) or ones(m, n)."""
        return d

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
        if rule is None and node.func in _NOT_FUNCTIONS:
            raise self.error(node, _NOT_FUNCTIONS[node.func])
        if rule is None and node.args and all(_literal_int(a) is not None for a in node.args):
            raise self.error(node, f"{unparse(node)} looks like indexing, which formulas do not "
                                   "have: they work with whole vectors and matrices (sum(x), "
                                   "x'*y, A*x)")
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
                    out.append(self.dimension(sympy.Symbol(arg.name, positive=True, integer=True)))
                elif _literal_int(arg) is not None and _literal_int(arg) > 0:
                    out.append(sympy.Integer(_literal_int(arg)))
                else:
                    raise self.error(arg, f"the arguments of {node.func} are dimensions: "
                                          "positive integers or names")
        return out


# Functions people reach for that the language spells otherwise.
_NOT_FUNCTIONS = {
    "max": "max is not in the formula language: max(0, z) is relu(z)",
    "maximum": "maximum is not in the formula language: maximum(z, 0) is relu(z)",
    "min": "min is not in the formula language: min(0, z) is -relu(-z)",
    "minimum": "minimum is not in the formula language: minimum(z, 0) is -relu(-z)",
    "transpose": "transpose(X) is written X' (or X.T)",
    "dot": "dot(x, y) is written x'*y",
    "length": "the formula language has no length: declare sizes with --shape, and write "
              "sum(x) or ones(n, 1) for sums and vectors of ones",
    "len": "the formula language has no len: declare sizes with --shape, and write "
           "sum(x) or ones(n, 1) for sums and vectors of ones",
    "pow": "pow(x, p) is written x.^p (elementwise) or c^p (a scalar)",
}


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
    """First walk: the shape of every node, unknown dimensions bound by unification.

    It records how each name got its kind (``origin``: declared, forced, default)
    and which default scalars scale a matrix (``scaled``), for what build tells the user.
    """

    def __init__(self, program: syntax.Program, declared: dict[str, Shape],
                 dims: Dimensions, fixed_dims: set[sympy.Symbol], assume: dict[str, str],
                 kinds: dict[str, str]) -> None:
        super().__init__(program)
        self.declared = declared
        self.dims = dims
        self.fixed_dims = fixed_dims
        self.assume = assume
        self.overrides = kinds
        self.shapes: dict[str, Shape] = {}
        self.kinds: dict[str, str] = {}
        self.origin: dict[str, str] = {}
        self.scaled: dict[str, syntax.Binary] = {}
        self.dimension_names: set[str] = set()     # named in eye(n), ones(m, n)
        self.first_seen: dict[str, int] = {}
        self.forced = _forced_scalars(program) - set(declared)

    def fmt(self, shape: Shape) -> str:
        return format_shape(shape, self.dims)

    def resolve(self, shape: Shape) -> Shape:
        return self.dims.resolve(shape)

    def number(self, node) -> Shape:
        return SCALAR

    def dimension(self, d: sympy.Symbol) -> sympy.Expr:
        self.dimension_names.add(d.name)
        if d not in self.fixed_dims:
            self.dims.soften(d)
        return d

    def free_name(self, node: syntax.Name) -> Shape:
        name = node.name
        if name in CALLS:
            raise self.error(node, f"'{name}' is a function: call it as {name}(...)")
        self.first_seen.setdefault(name, node.pos)
        if name not in self.shapes:
            if name in self.declared:
                shape, origin = self.declared[name], "declared"
            else:
                kind, origin = (self.overrides[name], "other") if name in self.overrides else \
                    ("scalar", "forced") if name in self.forced else (default_kind(name), "default")
                shape = SCALAR if kind == "scalar" else (self.dims.fresh(), ONE) \
                    if kind == "vector" else (self.dims.fresh(), self.dims.fresh())
            self.shapes[name] = shape
            self.kinds[name] = _kind_of(shape)
            self.origin[name] = origin
            if name in self.assume:
                self.check_assumption(node, self.assume[name])
        return self.resolve(self.shapes[name])

    def check_assumption(self, node: syntax.Name, prop: str) -> None:
        """An assumed symmetric matrix is square; onehot labels are a matrix or a vector."""
        name, kind = node.name, self.kinds[node.name]
        how = {"declared": "declared", "forced": "the formula divides by it or raises to it"}.get(
            self.origin[name], f"the default for {_WHY.get(kind, 'its')} name")
        if prop in ("symmetric", "spd"):
            rows, cols = self.shapes[name]
            if kind != "matrix" or not self.dims.unify(rows, cols):
                what = _A_KIND[kind] if kind in _A_KIND and kind != "matrix" else \
                    f"a {self.fmt(self.shapes[name])} matrix"
                raise self.error(node, f"--assume {name}={prop} needs a square matrix, but {name} "
                                       f"is {what} ({how}); declare --shape {name}=n,n")
        elif kind == "scalar":
            raise self.error(node, f"--assume {name}={prop} needs labels in a matrix or a "
                                   f"vector, but {name} is a scalar ({how})")

    def note_scaling(self, node: syntax.Binary, left: Shape, right: Shape) -> None:
        """A Greek name taken as a scalar by default, multiplying a matrix."""
        for operand, other in ((node.left, right), (node.right, left)):
            if isinstance(operand, syntax.Name) and self.origin.get(operand.name) == "default" \
                    and operand.name not in self.defined and self.kinds[operand.name] == "scalar" \
                    and other[0] != 1 and other[1] != 1:
                self.scaled.setdefault(operand.name, node)

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
                    fact = f"{self.fmt(left)} and {self.fmt(right)} cannot be {verb} in {what}"
                    raise self.error(node, f"shape mismatch in {what}: {self.fmt(left)} and "
                                           f"{self.fmt(right)} cannot be {verb} (the shapes must "
                                           "be equal, or one a scalar, a column vector with as "
                                           "many rows, or a row vector with as many columns)",
                                     fact)
            return self.resolve(tuple(out))
        if op in ("*", "@"):
            if left == SCALAR or right == SCALAR:
                self.note_scaling(node, left, right)
            if left == SCALAR:
                return right
            if right == SCALAR:
                return left
            if not self.dims.unify(left[1], right[0]):
                fact = f"the matrix product {what} of {self.fmt(left)} and {self.fmt(right)} " \
                    "does not fit (for the elementwise product use .*)"
                raise self.error(node, f"shape mismatch in {what}: the matrix product of "
                                       f"{self.fmt(left)} and {self.fmt(right)} needs the left "
                                       "operand's columns to equal the right operand's rows "
                                       "(for the elementwise product use .*)", fact)
            return self.resolve((left[0], right[1]))
        if op == "/":
            if right != SCALAR:
                raise self.error(node, f"in {what} the divisor is {self.fmt(right)}: '/' divides "
                                       "by a scalar (for elementwise division use ./)",
                                 f"in {what} the divisor is {self.fmt(right)}, not a scalar")
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
            # A vector is not square: never make it so by binding its length to 1.
            if (rows == 1) != (cols == 1) or not self.dims.unify(rows, cols):
                message = f"{node.func} needs a square matrix, got {self.fmt(shapes[0])}"
                raise self.error(node, message, message)
            shapes = [self.resolve(s) for s in shapes]
        if node.func == "diag" and shapes[0][0] != 1 and shapes[0][1] != 1 \
                and not self.dims.unify(*shapes[0]):
            raise self.error(node, f"diag needs a vector or a square matrix, got "
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

    def __init__(self, program: syntax.Program, shapes: dict[str, Shape],
                 assume: dict[str, str], dimension: Callable[[sympy.Expr], sympy.Expr]) -> None:
        super().__init__(program)
        self.symbols = {name: Symbol(name, shape, assume.get(name))
                        for name, shape in shapes.items()}
        self.dimension = dimension   # eye(n), ones(m, n): n as the typing bound it

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

