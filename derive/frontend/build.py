"""From the syntax tree to the expression tree: the built formula and how it is built.

Two walks over the syntax tree. The first (``shape_walk``) gives every node a shape,
binding unknown dimensions by unification and reporting any disagreement at its place
in the text; where it fails, ``blame`` looks for a default kind to blame. The second
(``expression_walk``), with every shape known, builds the expression through the
simplifying constructors of ``simplify``. Both walks (``walk``) use an explicit stack, so a
chain of ten thousand terms costs no recursion; the functions users may call are in
``language``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import parse as syntax
from ..errors import DeriveError
from ..expr.nodes import Expr, Symbol
from .blame import blame_default_kind, scaling_warnings
from .expression_walk import Builder
from .language import CALLS
from .shape_walk import dimension_renames, final_dim, typed

# Ten thousand terms fit; nobody types more by hand, and a longer text is refused at once.
MAX_LENGTH = 200_000


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
    # Names the formula makes scalars, with the reason: {"m": "the divisor in 'x/m'"}.
    forced: dict[str, str] = field(default_factory=dict)
    # What a default kind may have got wrong (a product that fits only by scaling).
    warnings: list[str] = field(default_factory=list)
    assumptions: dict[str, str] = field(default_factory=dict)   # --assume NAME=PROPERTY
    latex_input: str | None = None        # the LaTeX the formula was read from (docs/latex-input.md)

    def symbol(self, name: str) -> Symbol | None:
        return next((s for s in self.symbols if s.name == name), None)

    def taken_names(self) -> set[str]:
        """Every name the formula uses (variables, definitions, dimensions, functions): a
        generated name must be none of them."""
        dims = {str(d) for d in {d for s in self.symbols for dim in s.shape
                                 for d in dim.free_symbols}}
        return {s.name for s in self.symbols} | set(self.definitions) | dims | set(CALLS)


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
        typer = typed(program, declared, assume, any_shape=any_shape)
    except DeriveError as error:
        raise blame_default_kind(program, declared, assume, error) from None
    renames = dimension_renames(typer, declared)
    final = {name: tuple(final_dim(typer, declared, d, renames) for d in shape)
             for name, shape in typer.shapes.items()}
    builder = Builder(program, final, assume, lambda d: final_dim(typer, declared, d, renames))
    cost = builder.run()
    order = sorted(typer.first_seen, key=typer.first_seen.get)
    symbols = [builder.symbols[n] for n in order]
    defaults = {n: k for n, k in typer.kinds.items() if typer.origin.get(n) == "default"}
    return Formula(source, cost, symbols, builder.definitions,
                   {n: defaults[n] for n in order if n in defaults},
                   {n: typer.forced[n] for n in order if typer.origin.get(n) == "forced"},
                   scaling_warnings(program, declared, assume, typer), dict(assume))
