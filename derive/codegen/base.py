"""What every target's printer shares: its state, the dry run the passes ask for, and the
layout of a function body (argument checks, then dimensions read, then the statements)."""
from __future__ import annotations

from ..expr.nodes import Expr
from ..program import Program, Statement, Var


class StatementPrinter:
    """Spells a statement program; a subclass spells each statement (``statement``).

    By default a target updates nothing in place; a target that may (NumPy) overrides
    ``aliases`` and ``in_place_operand``, which the passes ask.
    """

    accumulates = False

    def __init__(self) -> None:
        self.helpers: set[str] = set()
        self.bound: dict[Expr, Var] = {}
        self.names: dict[Var, str] = {}
        self.dim_vars: dict = {}
        self.dims_used: set = set()       # the dimension symbols spelled
        self.root: Expr | None = None
        self.recorded: list[Var] | None = None   # a dry run: the variables named

    # ------------------------------------------------------------ what the passes ask
    def aliases(self, e: Expr, bound: dict[Expr, Var]) -> tuple[Var | None, bool]:
        """(the variable whose memory the code of ``e`` may share, whether read-only)."""
        return None, False

    def in_place_operand(self, e: Expr, bound: dict[Expr, Var]) -> Expr | None:
        """The bound operand of ``e`` whose array the code of e can be written into."""
        return None

    def spelled_reads(self, s: Statement, program: Program) -> tuple[list[Var], set]:
        """(the variables, the dimension symbols) the spelling of ``s`` names."""
        reader = type(self)()
        reader.bound, reader.recorded, reader.dims_used = program.bound, [], set()
        reader.statement(s)
        return reader.recorded, reader.dims_used

    # ------------------------------------------------------------ statements
    def statement(self, s: Statement) -> list[str]:
        raise NotImplementedError

    def name(self, var: Var) -> str:
        if self.recorded is not None:
            self.recorded.append(var)
            return "_"
        return self.names[var.storage]

    def spell(self, program: Program, names: dict[Var, str]) -> list[str]:
        """The lines of a function body (without the return)."""
        self.bound, self.names, self.dims_used = program.bound, names, set()
        self.dim_vars = program.dims
        self.enter_scope(set(names.values()))
        checks: list[str] = []
        body: list[str] = []
        for s in program.statements:
            if s.op != "dimension":
                (checks if s.op == "check" else body).extend(self.statement(s))
        # only the dimensions the statements spelled are read
        dims: list[str] = []
        for s in program.statements:
            if s.op == "dimension" and s.target.source in self.dims_used:
                dims += self.statement(s)
        return checks + dims + body

    def enter_scope(self, in_scope: set[str]) -> None:
        """Before spelling a body: the names its parameters and values take."""
