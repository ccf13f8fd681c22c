"""The Python API: ``derive.gradient`` and ``derive.check``."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from importlib import import_module
from typing import Callable, Iterable

from .backprop import Backprop, backprop
from .build import Formula, build
from .errors import DeriveError
from .expr import TooLarge
from .shapes import parse_declaration


# The languages of the emitted code (SPEC section 4), each a module of derive.printing.
TARGETS = ("numpy", "jax", "torch", "matlab")


def _declarations(shapes: dict | Iterable[str] | None) -> dict[str, tuple]:
    """Shapes as ``{"s": ("n", "k")}`` or as ``--shape`` strings ``["s=n,k"]``."""
    if not shapes:
        return {}
    if isinstance(shapes, dict):
        texts = [f"{name}={_dims_text(name, dims)}" for name, dims in shapes.items()]
    else:
        texts = list(shapes)
    declared: dict[str, tuple] = {}
    for text in texts:
        name, dims = parse_declaration(text)
        if name in declared and declared[name] != dims:
            raise DeriveError(f"--shape {text!r} contradicts an earlier --shape for {name}")
        declared[name] = dims
    return declared


def _dims_text(name, dims) -> str:
    """A shape given in Python, as its --shape text: ("n", "k"), "n", 3, () ..."""
    if isinstance(dims, (str, int)) and not isinstance(dims, bool):
        return str(dims)
    if isinstance(dims, (tuple, list)) and all(
            isinstance(d, (str, int)) and not isinstance(d, bool) for d in dims):
        return ",".join(str(d) for d in dims)
    raise DeriveError(f"the shape of {str(name)[:40]!r} must be a tuple of dimensions (names or "
                      f"positive integers), like ('n', 'k'), ('m',) or () for a scalar; "
                      f"got {dims!r:.40}")


def _names(symbols, most: int = 12) -> str:
    """A list of names for a message, shortened: a formula may have thousands."""
    names = [s.name if len(s.name) <= 30 else s.name[:27] + "..." for s in symbols]
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return (", ".join(names[:most]) + more) or "none"


@dataclass
class Derivation:
    """A cost, the variables, and everything derived from them."""
    formula: Formula
    wrt: list[str]
    result: Backprop = field(repr=False)
    _code: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def gradients(self):
        return self.result.gradients

    @property
    def subgradients(self) -> list[str]:
        return self.result.subgradients

    @cached_property
    def text(self) -> str:
        from .printing.text import to_text
        return "\n".join(f"grad_{n} = {to_text(g)}" for n, g in self.gradients.items())

    @cached_property
    def latex(self) -> str:
        from .printing.latex import latex_name, to_latex
        return "\n".join(rf"\nabla_{{{latex_name(n)}}} F = {to_latex(g)}"
                         for n, g in self.gradients.items())

    @property
    def numpy(self) -> str:
        return self.code("numpy")

    @property
    def hoisted(self) -> str:
        """The snippet split into prepare(data) and value_and_grad(variables, prepared)."""
        return self.code("numpy", hoist=True)

    def code(self, target: str = "numpy", hoist: bool = False) -> str:
        """The emitted code for a target of SPEC section 4: numpy, jax, torch or matlab.

        ``hoist``: split into prepare(data), run once, and value_and_grad(variables,
        prepared), run per call.
        """
        if target not in TARGETS:
            raise DeriveError(f"unknown target {str(target)[:40]!r}: the targets are "
                              f"{', '.join(TARGETS)}")
        key = (target, hoist)
        if key not in self._code:
            printer = import_module(f"derive.printing.{target}")
            if hoist:
                from .hoist import hoisted_outputs
                variables = [s for s in self.formula.symbols if s.name in self.wrt]
                value, gradients, expanded = hoisted_outputs(self.formula.cost, variables)
                self._code[key] = printer.hoisted_snippet(
                    self.formula.source, self.formula.symbols, self.wrt, value, gradients,
                    self.subgradients, expanded, self.formula.definitions)
            else:
                self._code[key] = printer.snippet(
                    self.formula.source, self.formula.symbols, self.formula.cost,
                    self.gradients, self.subgradients, self.formula.definitions)
        return self._code[key]

    @cached_property
    def layers(self):
        from .layers import layer_tables
        return layer_tables(self.formula.cost, self.result)

    def namespace(self) -> dict:
        """The snippet, executed: its functions by name (our generated code, not user text)."""
        namespace: dict = {}
        exec(compile(self.numpy, "<derive>", "exec"), namespace)
        return namespace

    def function(self) -> Callable:
        """The compiled gradient: grad_X for one variable, else a function returning all."""
        namespace = self.namespace()
        if len(self.wrt) == 1:
            return namespace[f"grad_{self.wrt[0]}"]
        value_and_grad = namespace["value_and_grad"]
        return lambda *args: value_and_grad(*args)[1:]


def gradient(formula: str, wrt: str | Iterable[str], shapes=None) -> Derivation:
    """Derive the gradient of ``formula`` with respect to ``wrt`` (a name or several)."""
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    if not names:
        raise DeriveError("name at least one variable to differentiate with respect to")
    declared = _declarations(shapes)
    parsed = build(formula, declared)
    if not parsed.symbols:
        raise DeriveError("the cost is a constant: it has no variables to differentiate")
    for name in declared:
        if parsed.symbol(name) is None:
            what = "a definition" if name in parsed.definitions else "not a name of the formula"
            raise DeriveError(f"--shape {name[:40]}: {name[:40]!r} is {what} (its variables: "
                              f"{_names(parsed.symbols)})")
    variables = []
    for name in names:
        symbol = parsed.symbol(name)
        if symbol is None:
            if name in parsed.definitions:
                raise DeriveError(f"'{name[:40]}' is a definition, not a free variable of the "
                                  "formula: differentiate with respect to the variables it is "
                                  "made of")
            raise DeriveError(f"--wrt {name[:40]}: the formula has no variable {name[:40]!r} "
                              f"(its variables: {_names(parsed.symbols)})")
        if symbol not in variables:
            variables.append(symbol)
    try:
        result = backprop(parsed.cost, variables)
    except TooLarge as error:
        raise DeriveError(f"the gradient is too large to derive: {error}") from None
    return Derivation(parsed, [v.name for v in variables], result)


def check(formula: str, wrt: str | Iterable[str], shapes=None, seed: int = 0,
          tolerance: float = 1e-6):
    """The finite-difference check of the emitted gradient (see ``derive.check``)."""
    from .numcheck import check_derivation
    return check_derivation(gradient(formula, wrt, shapes), seed=seed, tolerance=tolerance)
