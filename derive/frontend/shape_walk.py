"""The first walk: the shape of every node, unknown dimensions bound by unification, every
disagreement reported at its place in the text; and how each name got its kind."""
from __future__ import annotations

import sympy

from . import parse as syntax
from ..errors import DeriveError
from ..expr.nodes import SCALAR, ONE, Shape, Symbol
from .language import CALLS, MAX_MATRIX_POWER, Refusal
from .shapes import Dimensions, declared_shape, default_kind, format_shape
from .unparse import Quoted, unparse
from .walk import Walk, children, literal_int, start


def typed(program: syntax.Program, declared: dict[str, tuple], assume: dict[str, str],
          kinds: dict[str, str] | None = None, any_shape: bool = False) -> "Typer":
    """The first walk, with the cost checked to be a scalar (unless ``any_shape``: derive jac
    takes a vector or a matrix); ``kinds`` overrides defaults."""
    dims = Dimensions()
    typer = Typer(program, {n: declared_shape(d) for n, d in declared.items()}, dims,
                  declared_dim_symbols(declared), assume, kinds or {})
    cost_shape = typer.run()
    if cost_shape != SCALAR and not any_shape:
        what = {"col": "a column vector", "row": "a row vector"}.get(
            "col" if cost_shape[1] == 1 else "row" if cost_shape[0] == 1 else "", "a matrix")
        fact = f"the cost must be a scalar, but it is {what} ({format_shape(cost_shape, dims)})"
        raise DeriveError(f"{fact}: wrap it in sum(...) or norm(...)^2", fact=fact,
                          source=program.source, offset=start(program.cost))
    return typer


def dimension_renames(typer: "Typer", declared: dict[str, tuple]) -> dict:
    """Readable names for the dimensions the walk made up, past every name in use."""
    taken = {s.name for s in declared_dim_symbols(declared)} | set(typer.first_seen) \
        | typer.dimension_names
    return typer.dims.readable_names(list(typer.shapes.values()), taken)


def final_dim(typer: "Typer", declared: dict[str, tuple], d: sympy.Expr,
              renames: dict | None = None) -> sympy.Expr:
    """A dimension as the formula's shapes name it in the end."""
    root = typer.dims.find(d)
    renames = renames if renames is not None else dimension_renames(typer, declared)
    return renames.get(root, root)


# How messages name a kind, and the kind of name whose default it is.
A_KIND = {"scalar": "a scalar", "vector": "a column vector", "row": "a row vector",
          "matrix": "a matrix"}
WHY = {"scalar": "a Greek", "vector": "a lower-case", "matrix": "an upper-case"}


def _kind_of(shape: Shape) -> str:
    if shape == SCALAR:
        return "scalar"
    return "vector" if shape[1] == 1 else "row" if shape[0] == 1 else "matrix"


def declared_dim_symbols(declared: dict[str, tuple]) -> set[sympy.Symbol]:
    return {d for dims in declared.values() for d in dims if isinstance(d, sympy.Symbol)}


def forced_scalars(program: syntax.Program) -> dict[str, str]:
    """Names the formula itself makes scalars (divisors, exponents), each with the reason
    the kinds line gives. A base of '^' is not one: a vector by its name stays a vector."""
    forced: dict[str, str] = {}
    stack = [d.expr for d in program.definitions] + [program.cost]
    while stack:
        node = stack.pop()
        if isinstance(node, syntax.Binary) and isinstance(node.right, syntax.Name):
            role = {"/": "the divisor", "^": "the exponent", ".^": "the exponent"}.get(node.op)
            if role is not None and node.right.name not in forced:
                forced[node.right.name] = f"{role} in {Quoted(node, 40)}"
        stack.extend(children(node, lambda call: False))
    return forced


class Typer(Walk):
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
        self.forced = {n: why for n, why in forced_scalars(program).items() if n not in declared}

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
            self.origin[name], f"the default for {WHY.get(kind, 'its')} name")
        if prop in ("symmetric", "spd"):
            rows, cols = self.shapes[name]
            if kind != "matrix" or not self.dims.unify(rows, cols):
                what = A_KIND[kind] if kind in A_KIND and kind != "matrix" else \
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
        what = Quoted(node)
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
        # A vector by its name is never made a scalar by '^' (docs/language.md): say both fixes.
        base = node.left.name if isinstance(node.left, syntax.Name) else None
        if base is not None and self.origin.get(base) == "default" \
                and self.kinds[base] == "vector":
            power = unparse(node.right)
            raise self.error(node.left, f"in {what} the base {base} is a column vector (the "
                                        "default for a lower-case name), and '^' needs a scalar "
                                        "or a square matrix: for the elementwise power write "
                                        f"{base}.^{power}; if {base} is a scalar, declare "
                                        f"--shape {base}=")
        if left[0] == 1 or left[1] == 1:
            raise self.error(node, f"in {what} the base is {self.fmt(left)}: '^' needs a scalar or "
                                   "a square matrix (for the elementwise power use .^)")
        exponent = literal_int(node.right)
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
