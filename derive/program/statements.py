"""Values and statements of the program.

A ``Var`` is a value the emitted code holds in a variable: a parameter, a
dimension read from a parameter's shape, a prepared value, a temporary, or an
output. It knows its shape and whether it is an array of its own or a view of
another (``base``): a view and its base are one buffer, which is what makes
updating one in place visible through the other. A statement assigns one
expression to its target(s); inside the expression every node bound to a Var
is read as that Var.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..expr.nodes import ONE, Broadcast, Const, Expr, Identity, MatMul, Shape


def kind_of_shape(shape: Shape) -> str:
    rows, cols = shape
    # SymPy's 1 is a singleton: identity is exact and much cheaper than ==.
    if rows is ONE or rows == 1:
        return "scalar" if cols is ONE or cols == 1 else "row"
    return "col" if cols is ONE or cols == 1 else "matrix"


def kind(e: Expr) -> str:
    """How a node is held as an array: scalar, col (a 1-D vector), row or matrix."""
    return kind_of_shape(e.shape)


@dataclass(eq=False)
class Var:
    shape: Shape
    role: str          # "parameter", "dimension", "prepared", "temporary" or "output"
    hint: str          # the name it asks the namer for
    base: Var | None = None      # the array this one is a view of, if any
    readonly: bool = False       # a read-only view (np.diag of a matrix) or a caller's array
    reuses: Var | None = None    # written into that dead array's memory: it shares its name
    source: object = None        # a parameter's Symbol, a dimension's SymPy symbol
    suffix: str = "_"            # what a taken hint gets before it is numbered: H_, H_2;
                                 # a generated hint none: grad_x_term, grad_x_term2

    @property
    def kind(self) -> str:
        return kind_of_shape(self.shape)

    @property
    def storage(self) -> Var:
        """The variable whose name this value is printed under."""
        v = self
        while v.reuses is not None:
            v = v.reuses
        return v

    @property
    def array(self) -> Var:
        """The buffer this value lives in: through views and reuse to the array's owner."""
        v = self
        while v.reuses is not None or v.base is not None:
            v = v.reuses if v.reuses is not None else v.base
        return v

    @property
    def writable(self) -> bool:
        return self.role in ("temporary", "output") and self.base is None and not self.readonly


@dataclass(eq=False)
class Statement:
    """``targets = expr`` (op "assign"), ``target <operator>= expr`` (op "update"), or one
    of the target's compound operations ("softmax_logsumexp", "dimension", "check",
    "unpack"), each spelled by the printer."""
    op: str
    targets: tuple[Var, ...]
    expr: Expr | None = None
    operator: str = ""                 # "+=", "-=", "*=", "/=" of an update
    in_place: Expr | None = None       # the bound operand whose array the result overwrites
    reads_vars: tuple[Var, ...] = ()   # variables read other than through ``expr``
    params: tuple = ()                 # the compound operation's parameters (an axis...),
    #                                    ("copy",) where an output must be a fresh array

    @property
    def target(self) -> Var:
        return self.targets[0]


@dataclass
class Output:
    name: str          # what it is returned as: value, grad_A, p1, ...
    expr: Expr


@dataclass
class Program:
    parameters: list[Var]
    statements: list[Statement]
    bound: dict[Expr, Var]            # every materialised node, and the parameters' symbols
    dims: dict[object, Var]           # dimension symbol -> its Var
    returns: list[Var] = field(default_factory=list)
    target: Target | None = None
    _reads: dict[int, list[Var]] = field(default_factory=dict, repr=False)

    def reads(self, s: Statement) -> list[Var]:
        """The variables statement ``s`` reads: what its spelling names, so that no
        printer's rewriting (x / r for x .* r^-1) can read a value behind the passes' back."""
        key = id(s)
        if key not in self._reads:
            names, dims = self.target.spelled_reads(s, self)
            self._reads[key] = list(s.reads_vars) + names + [self.dims[d] for d in dims
                                                            if d in self.dims]
        return self._reads[key]


def dimensions_of(node: Expr) -> set:
    """The symbolic dimensions the code of this node itself spells (a size, a count)."""
    if isinstance(node, Const):
        return set(node.value.free_symbols)
    if isinstance(node, MatMul):
        return set(node.coeff.free_symbols)
    if isinstance(node, (Identity, Broadcast)):
        return {d for d in node.shape if not d.is_Integer}
    return set()


class Target(Protocol):
    """What a printer declares about its language, for the passes."""

    accumulates: bool    # may update a fresh array in place (t = a; t += b)

    def aliases(self, e: Expr, bound: dict[Expr, Var]) -> tuple[Var | None, bool]:
        """(the variable whose memory the code of ``e`` may share, whether read-only)."""

    def in_place_operand(self, e: Expr, bound: dict[Expr, Var]) -> Expr | None:
        """A bound operand of ``e`` whose array the code of ``e`` could be written into."""

    def spelled_reads(self, s: Statement, program: Program) -> tuple[list[Var], set]:
        """(the variables, the dimension symbols) the spelling of ``s`` names."""

    def spell(self, program: Program, names: dict[Var, str]) -> list[str]:
        """The lines of a function body (without the return)."""
