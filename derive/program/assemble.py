"""Whole functions, for any target: a program lowered from the outputs, passed over,
named; the parameters' names; the documentation every emitted function carries.

A code target (``derive.codegen``) spells the body a ``Function`` holds and wraps it in
its language's function syntax; what the functions are, their parameters and their
names are decided here, once for every target.
"""
from __future__ import annotations

import textwrap
from typing import Callable

from ..errors import DeriveError
from ..expr.nodes import Expr, Symbol
from .chain import run_cost, share_products
from .lower import MissingDimension, lower
from ..naming import python_namer
from .passes import drop_dead, order_by_reads, reuse_buffers
from .statements import Output, Program, Target, Var


class Function:
    """One emitted function: its parameters, its program, and the names in it."""

    def __init__(self, printer: Target, parameters: list[Symbol], outputs: list[Output],
                 reserved: set[str], pnames: dict[str, str], inputs: dict[Expr, Var] | None = None,
                 hints: dict[Expr, str] | None = None, provided_dims: dict | None = None,
                 share: bool = True) -> None:
        self.params = [Var(p.shape, "parameter", p.name, readonly=True, source=p)
                       for p in parameters]
        if share:
            shared = share_products([o.expr for o in outputs], run_cost)
            outputs = [Output(o.name, e) for o, e in zip(outputs, shared)]
        try:
            program = lower(outputs, self.params, printer, inputs, hints, provided_dims)
        except MissingDimension as missing:
            raise DeriveError(f"the dimension {missing.dim} is fixed by no argument of the "
                              f"code: declare it with --shape (an integer), or use it in the "
                              f"shape of a variable") from None
        self.program = reuse_buffers(drop_dead(order_by_reads(program)), printer)
        self.names = allocate_names(self.program, reserved, pnames, inputs)
        self.printer = printer

    @property
    def signature(self) -> list[str]:
        return [self.names[p] for p in self.params]

    def body(self) -> list[str]:
        return self.printer.spell(self.program, self.names)

    @property
    def returns(self) -> list[str]:
        return [self.names[v.storage] for v in self.program.returns]

    @property
    def returned(self) -> str:
        return ", ".join(self.returns)


def allocate_names(program: Program, reserved: set[str], pnames: dict[str, str],
                   inputs: dict[Expr, Var] | None) -> dict[Var, str]:
    """Every name last: parameters as in the formula, then dimensions, outputs, prepared
    values, definitions, and temporaries t1, t2, ... none equal to another."""
    outputs = {v.hint for v in program.returns}
    namer = python_namer(set(reserved) - outputs)   # "value" is the output's, never a parameter's
    names: dict[Var, str] = {}
    for p in program.parameters:
        names[p] = pnames[p.hint]
        namer.taken.add(names[p])
    for v in list((inputs or {}).values()) + list(program.dims.values()):
        if v.role == "prepared":
            names[v] = v.hint   # allocated by the caller, who reserved them
            namer.taken.add(v.hint)
    for v in program.returns:
        if v.reuses is None:
            names[v] = namer.exact(v.hint)
    for v in program.dims.values():
        if v not in names:
            names[v] = namer.exact(v.hint, "_dim")
    for s in program.statements:
        for v in s.targets:
            if v.storage is v and v not in names:
                names[v] = namer.numbered("t") if v.hint == "t" else \
                    namer.exact(v.hint, v.suffix)
    return names


def parameter_order(symbols: list[Symbol], wrt: list[str]) -> list[Symbol]:
    """The parameters of every emitted function (docs/targets.md): the variables in the
    order of --wrt, then the formula's other names alphabetically, ignoring case. A rewrite
    of the formula never reorders them."""
    by_name = {s.name: s for s in symbols}
    others = sorted((s for s in symbols if s.name not in wrt),
                    key=lambda s: (s.name.lower(), s.name))
    return [by_name[name] for name in wrt] + others


def parameter_names(parameters: list[Symbol], renamed: Callable[[str], str]) -> dict[str, str]:
    """Each formula name as a parameter of the emitted functions: as in the formula; one
    the target reserves is ``renamed`` (a trailing underscore), again if the formula has
    that name too."""
    formula_names = {p.name for p in parameters}
    out: dict[str, str] = {}
    for p in parameters:
        name = renamed(p.name)
        while name != p.name and name in formula_names:
            name = renamed(name + "_")
        out[p.name] = name
    return out


def definition_hints(definitions: dict[str, Expr] | None) -> dict[Expr, str]:
    """The formula's definitions (H = ...) as the names their values take in the code."""
    return {e: name for name, e in (definitions or {}).items() if not isinstance(e, Symbol)}


FORMULA_WIDTH = 80   # characters of the formula on a line of the documentation


def documentation(summary: str, formula: str, arguments: list[str], returns: str,
                  notes: list[str], remarks: tuple[str, ...] = (), indent: str = "    "
                  ) -> list[str]:
    """The lines that document an emitted function: what it computes, the formula, every
    argument, what it returns, the non-smooth points and remarks."""
    # a long formula is wrapped: no line of the file grows with the formula
    wrapped = textwrap.wrap(formula, FORMULA_WIDTH, break_long_words=False,
                            break_on_hyphens=False) or [formula]
    lines = [summary, "", f"{indent}F = {wrapped[0]}"]
    lines += [f"{indent}    {line}" for line in wrapped[1:]] + ["", "Arguments:"]
    lines += [f"{indent}{argument}" for argument in arguments]
    lines += ["", f"Returns {returns}."]
    if notes:
        lines += ["", "Non-smooth points:"] + [f"{indent}{note}" for note in notes]
    if remarks:
        lines += [""] + list(remarks)
    return lines


def one_line(source: str) -> str:
    """The formula on one line, without its comments."""
    return " ".join(line.split("#")[0].strip() for line in source.splitlines()).strip()
