"""What both walks over the syntax tree share: a post-order with an explicit stack (so a
chain of ten thousand terms costs no recursion), the names in scope, the checks of a call's
arguments, and errors at their place in the text."""
from __future__ import annotations

import difflib
from typing import Callable

import sympy

from . import parse as syntax
from ..errors import DeriveError
from .language import CALLS, NOT_FUNCTIONS
from .unparse import unparse


def walk(node, visit: Callable, skip_args: Callable[[syntax.Call], bool]):
    """Post-order over the syntax tree with an explicit stack; visit(node, child_values)."""
    stack: list = [(node, False)]
    values: list = []
    while stack:
        current, expanded = stack.pop()
        kids = children(current, skip_args)
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


def children(node, skip_args) -> tuple:
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


def literal_int(node) -> int | None:
    sign = 1
    if isinstance(node, syntax.Unary):
        sign, node = (-1 if node.op == "-" else 1), node.operand
    if isinstance(node, syntax.Number) and node.value.denominator == 1:
        return sign * node.value.numerator
    return None


def free_names(program: syntax.Program) -> list[str]:
    """The names that are not definitions nor functions, in order of first appearance."""
    defined = {d.name for d in program.definitions}
    found: dict[str, int] = {}
    stack = [d.expr for d in program.definitions] + [program.cost]
    while stack:
        node = stack.pop()
        if isinstance(node, syntax.Name) and node.name not in defined and node.name not in CALLS:
            found[node.name] = min(found.get(node.name, node.pos), node.pos)
        stack.extend(children(node, lambda call: False))
    return sorted(found, key=found.get)


def start(node) -> int:
    """Where a syntax node's text begins: its left-most token."""
    start, stack = node.pos, [node]
    while stack:
        current = stack.pop()
        start = min(start, current.pos)
        stack.extend(children(current, lambda call: False))
        if isinstance(current, syntax.Call):
            stack.extend(current.args)
    return start


class Walk:
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
        return walk(node, self.visit, self.skip_args)

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
        if rule is None and node.func in NOT_FUNCTIONS:
            raise self.error(node, NOT_FUNCTIONS[node.func])
        if rule is None and node.args and all(literal_int(a) is not None for a in node.args):
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
                value = literal_int(arg)
                if value not in (1, 2):
                    raise self.error(arg, f"the second argument of {node.func} must be 1 "
                                          "(down each column) or 2 (along each row)")
                out.append(value)
            elif kind == "norm":
                if isinstance(arg, syntax.String) and arg.value == "fro":
                    out.append("fro")
                elif literal_int(arg) in (1, 2):
                    out.append(literal_int(arg))
                else:
                    raise self.error(arg, "the second argument of norm must be 'fro', 1 or 2")
            elif kind == "dim":
                if isinstance(arg, syntax.Name):
                    out.append(self.dimension(sympy.Symbol(arg.name, positive=True, integer=True)))
                elif literal_int(arg) is not None and literal_int(arg) > 0:
                    out.append(sympy.Integer(literal_int(arg)))
                else:
                    raise self.error(arg, f"the arguments of {node.func} are dimensions: "
                                          "positive integers or names")
        return out
