"""The Python API: ``derive.gradient`` and ``derive.check``."""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from importlib import import_module
from typing import TYPE_CHECKING, Callable, Iterable

import sympy

from .diff.backprop import Backprop, backprop
from .frontend.build import Formula, build
from .errors import DeriveError, DeriveWarning, internal
from .expr.nodes import TooLarge
from .frontend.shapes import PROPERTIES, parse_assumption, parse_declaration

if TYPE_CHECKING:
    from .objective import Objective


# The languages of the emitted code (SPEC section 4), each a module of derive.codegen.
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


def _assumptions(assume: dict | Iterable[str] | None) -> dict[str, str]:
    """Assumptions as ``{"Sigma": "spd"}`` or as ``--assume`` strings ``["Sigma=spd"]``."""
    if not assume:
        return {}
    texts = [f"{name}={prop}" for name, prop in assume.items()] if isinstance(assume, dict) \
        else list(assume)
    out: dict[str, str] = {}
    for text in texts:
        name, prop = parse_assumption(str(text))
        if out.get(name, prop) != prop:
            raise DeriveError(f"--assume {text!r} contradicts an earlier --assume for {name}")
        out[name] = prop
    return out


def parsed_options(shapes, assume) -> tuple[dict[str, tuple], dict[str, str]]:
    """(declared shapes, assumptions) from the ``shapes=`` and ``assume=`` of the API."""
    return _declarations(shapes), _assumptions(assume)


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


def _derived(method: Callable) -> cached_property:
    """A result computed on first use; a failure there is derive's, an InternalError."""
    @functools.wraps(method)
    def compute(self):
        with internal(self.formula.source):
            return method(self)
    return cached_property(compute)


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
    # Print everything expanded, no "where" names (set by gradient(inline=True) or --inline;
    # no __init__ argument, so that subclasses' positional fields stay where they are).
    inline: bool = field(default=False, init=False, compare=False)
    _objective: object = field(default=None, init=False, repr=False, compare=False)
    _code: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def gradients(self):
        return self.result.gradients

    @property
    def subgradients(self) -> list[str]:
        return self.result.subgradients

    @property
    def assumed(self) -> list[str]:
        """The --assume declarations the results use, one note each."""
        return [f"assumed: {name} {PROPERTIES[prop]} (--assume {name}={prop})"
                for name, prop in self.formula.assumptions.items()]

    @property
    def warnings(self) -> list[str]:
        """What a default kind may have got wrong (also issued as a DeriveWarning)."""
        return self.formula.warnings

    @property
    def notes(self) -> list[str]:
        """What the output says beside the result: assumptions used, then subgradients taken."""
        return self.assumed + self.subgradients

    @_derived
    def names(self) -> dict:
        """Named nodes (node -> Name(text, latex)) the gradients print, in dependency order:
        the formula's definitions, and generated names (t1, t2, ...) for large shared parts."""
        if self.inline:
            return {}
        from .printing.naming import choose_names
        return choose_names(list(self.gradients.values()), self.formula.definitions,
                            self.formula.taken_names())

    @_derived
    def equations(self) -> list:
        from .printing.document import Equation
        from .printing.latex import latex_name
        return [Equation(f"grad_{n}", rf"\nabla_{{{latex_name(n)}}} F", g)
                for n, g in self.gradients.items()]

    @_derived
    def text(self) -> str:
        from .printing.document import text_block
        return text_block(self.equations, self.names)

    @_derived
    def latex(self) -> str:
        """The gradients in one align* (amsmath), with their "where" definitions."""
        from .printing.document import align
        return align(self.equations, self.names)

    def __repr__(self) -> str:
        return f"<Derivation of {', '.join('grad_' + n for n in self.wrt)}: " \
               f"{self.formula.source.strip()[:60]!r}>"

    def _repr_latex_(self) -> str:
        """Jupyter shows the gradients rendered (MathJax reads align*)."""
        return self.latex

    @_derived
    def numpy(self) -> str:
        return self.code("numpy")

    @_derived
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
        if key in self._code:
            return self._code[key]
        printer = import_module(f"derive.codegen.{target}")
        with internal(self.formula.source):
            if hoist:
                from .program.hoist import hoisted_outputs
                variables = [s for s in self.formula.symbols if s.name in self.wrt]
                value, gradients, expanded = hoisted_outputs(self.formula.cost, variables)
                code = printer.hoisted_snippet(
                    self.formula.source, self.formula.symbols, self.wrt, value, gradients,
                    self.subgradients, expanded, self.formula.definitions)
            else:
                code = printer.snippet(
                    self.formula.source, self.formula.symbols, self.formula.cost,
                    self.gradients, self.subgradients, self.formula.definitions,
                    **self._more_code())
        self._code[key] = code
        return code

    def _more_code(self) -> dict:
        """What a kind of derivation adds to the emitted code (second order: the products)."""
        return {}

    @_derived
    def layers(self):
        from .diff.layers import layer_tables
        return layer_tables(self.formula.cost, self.result)

    def namespace(self) -> dict:
        """The snippet, executed: its functions by name (our generated code, not user text)."""
        namespace: dict = {}
        exec(compile(self.numpy, "<derive>", "exec"), namespace)
        return namespace

    @cached_property
    def sympy(self) -> sympy.Basic | dict[str, sympy.Basic]:
        """Each gradient as a SymPy matrix expression: one expression for one variable,
        else a dict {name: expression} in the order of ``wrt``."""
        from .printing.to_sympy import to_sympy
        out = to_sympy(self.gradients, getattr(self.formula, "originals", None))
        return next(iter(out.values())) if len(out) == 1 else out

    def objective(self, data: dict, sizes: dict | None = None) -> Objective:
        """``f(flat) -> (value, flat gradient)`` for ``scipy.optimize.minimize(f, x0, jac=True)``.

        The variables (``wrt``) are packed in order, each in C order; ``data`` gives
        the other names' values (keyed by name or SymPy symbol), ``sizes`` the
        dimensions the data does not fix ({"n": 10}).
        """
        from .objective import Objective
        self._objective = Objective(self, data, sizes)
        return self._objective

    def unpack(self, flat) -> dict:
        """The variables in ``flat`` as a dict {name: array}, laid out as by ``objective``."""
        if self._objective is None:
            raise DeriveError("unpack follows objective(data): the data fixes the variables' "
                              "sizes")
        return self._objective.unpack(flat)

    def function(self) -> Callable:
        """The compiled gradient: grad_X for one variable, else a function returning all."""
        namespace = self.namespace()
        if len(self.wrt) == 1:
            return namespace[f"grad_{self.wrt[0]}"]
        value_and_grad = namespace["value_and_grad"]
        return lambda *args: value_and_grad(*args)[1:]


def gradient(formula: str | sympy.Basic, wrt: str | Iterable | sympy.Basic, shapes=None,
             assume=None, inline: bool = False) -> Derivation:
    """Derive the gradient of ``formula`` with respect to ``wrt`` (a name or several).

    ``formula`` is the text of SPEC section 1, or a SymPy matrix expression (``wrt`` then
    its MatrixSymbols or Symbols, or their names). ``shapes`` declares shapes
    (``{"s": ("n", "k")}``), ``assume`` what the formula cannot show (``{"Sigma": "spd"}``).
    ``inline=True`` prints every result expanded, without "where" definitions.
    Bad input raises DeriveError; a failure of derive itself raises InternalError.
    """
    if not isinstance(formula, str):
        from .frontend.sympy_input import from_sympy, wrt_names
        if shapes or assume:
            raise DeriveError("the shapes of a SymPy expression are its MatrixSymbols' shapes; "
                              "shapes= and assume= are for text formulas")
        with internal(str(formula)):
            derivation = _derive(from_sympy(formula), wrt_names(wrt))
        derivation.inline = inline
        return derivation
    # The arguments are the caller's: a wrong type there is theirs, not a bug of derive.
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"wrt must be a name or a list of names, not {wrt!r:.60}")
    declared = _declarations(shapes)
    assumptions = _assumptions(assume)
    with internal(formula):
        derivation = _gradient(formula, names, declared, assumptions)
    derivation.inline = inline
    for message in derivation.warnings:
        warnings.warn(message, DeriveWarning, stacklevel=2)
    return derivation


def _gradient(formula: str, names: list[str], declared: dict[str, tuple],
              assumptions: dict[str, str]) -> Derivation:
    return _derive(built(formula, names, declared, assumptions), names)


def built(formula: str, names: list[str], declared: dict[str, tuple],
          assumptions: dict[str, str], any_shape: bool = False) -> Formula:
    """The formula built, its --shape and --assume names checked; ``any_shape``: it may be
    a vector or a matrix (derive jac), not only a scalar cost."""
    if not names:
        raise DeriveError("name at least one variable to differentiate with respect to")
    parsed = build(formula, declared, assumptions, any_shape)
    if not parsed.symbols:
        raise DeriveError("the cost is a constant: it has no variables to differentiate")
    for option, given in (("--shape", declared), ("--assume", assumptions)):
        for name in given:
            if parsed.symbol(name) is None:
                what = "a definition" if name in parsed.definitions else \
                    "not a name of the formula"
                raise DeriveError(f"{option} {name[:40]}: {name[:40]!r} is {what} (its "
                                  f"variables: {_names(parsed.symbols)})")
    return parsed


def _derive(parsed: Formula, names: list[str]) -> Derivation:
    """Backpropagation for the named variables of a built formula."""
    variables = variables_of(parsed, names)
    try:
        result = backprop(parsed.cost, variables)
    except TooLarge as error:
        raise DeriveError(f"the gradient is too large to derive: {error}") from None
    return Derivation(parsed, [v.name for v in variables], result)


def variables_of(parsed: Formula, names: list[str]) -> list:
    """The named free variables of a built formula, each once (a clear error for others)."""
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
    return variables


def check(formula: str, wrt: str | Iterable[str], shapes=None, seed: int = 0,
          tolerance: float = 1e-6, assume=None):
    """The finite-difference check of the emitted gradient (see ``derive.check``)."""
    from .numcheck import check_derivation
    derivation = gradient(formula, wrt, shapes, assume)
    with internal(formula):
        return check_derivation(derivation, seed=seed, tolerance=tolerance)
