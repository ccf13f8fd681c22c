"""The Python API: ``derive.gradient``, ``derive.check``, ``derive.hvp`` and ``derive.hessian``:
the result objects, each showing itself as text, LaTeX, code and the whole command output."""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Iterable

import sympy

from .codegen import TARGETS, Target
from .diff.backprop import Backprop, backprop
from .diff.second_order import (MAX_WRITTEN, NotReadable, direction_names,
                                 hessian_vector_products, kronecker_hessian, tangent, transposes,
                                 vector_hessian, written_size)
from .frontend.build import Formula, build
from .errors import DeriveError, DeriveWarning, internal, shortened
from .expr.nodes import Expr, Symbol, TooLarge
from .naming import Namer
from .frontend.shapes import PROPERTIES, parse_assumption, parse_declaration

if TYPE_CHECKING:
    from .objective import Objective


def declared_shapes(shapes: dict | Iterable[str] | None) -> dict[str, tuple]:
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


def declared_assumptions(assume: dict | Iterable[str] | None) -> dict[str, str]:
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
        return choose_names(list(self.readable.gradients.values()), self.readable.definitions,
                            self.formula.taken_names())

    @_derived
    def readable(self):
        """The gradients and definitions as printed for people: the identities a reader
        knows applied where they shorten them (expr/tidy.py); the code uses ``gradients``."""
        from .expr.tidy import readable, written_decimals
        if self.inline:
            return readable(self.gradients, {})
        return readable(self.gradients, self.formula.definitions,
                        written_decimals(self.formula.source))

    @_derived
    def equations(self) -> list:
        from .printing.document import Equation
        from .printing.latex import latex_name
        return [Equation(f"grad_{n}", rf"\nabla_{{{latex_name(n)}}} F", g)
                for n, g in self.readable.gradients.items()]

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

    def show(self, fmt: str = "text", steps: bool = False, standalone: bool = False) -> str:
        """The whole output of ``derive grad`` in a format: text, latex, json or a target."""
        from .render import render
        return render(self, fmt, steps, standalone)

    def codes(self) -> dict[str, str | None]:
        """Every target's code, None where that language refuses the formula (a MATLAB name
        over 63 characters): the other targets are still given."""
        out: dict[str, str | None] = {}
        for target in TARGETS:
            try:
                out[target] = self.code(target)
            except DeriveError:
                out[target] = None
        return out

    @_derived
    def numpy(self) -> str:
        return self.code("numpy")

    @_derived
    def hoisted(self) -> str:
        """The snippet split into prepare(data) and value_and_grad(variables, prepared)."""
        return self.code("numpy", hoist=True)

    def code(self, target: str = "numpy", hoist: bool = False) -> str:
        """The emitted code for a target of docs/targets.md: numpy, jax, torch or matlab.

        ``hoist``: split into prepare(data), run once, and value_and_grad(variables,
        prepared), run per call.
        """
        printer = target_named(target)
        key = (target, hoist)
        if key in self._code:
            return self._code[key]
        with internal(self.formula.source):
            if hoist:
                from .program.hoist import hoisted_outputs
                variables = [s for s in self.formula.symbols if s.name in self.wrt]
                value, gradients, expanded = hoisted_outputs(self.formula.cost, variables)
                code = printer.hoisted_snippet(
                    self.formula.source, self.parameters, self.wrt, value, gradients,
                    self.subgradients, expanded, self.formula.definitions)
            else:
                code = printer.snippet(
                    self.formula.source, self.parameters, self.formula.cost,
                    self.gradients, self.subgradients, self.formula.definitions,
                    **self._more_code())
        self._code[key] = code
        return code

    @property
    def parameters(self) -> list:
        """The parameters of the emitted functions, in order (docs/targets.md)."""
        from .program.assemble import parameter_order
        return parameter_order(self.formula.symbols, self.wrt)

    def _more_code(self) -> dict:
        """What a kind of derivation adds to the emitted code (second order: the products)."""
        return {}

    @_derived
    def layers(self):
        """The layer tables, one network per term of the cost: a list of ``Network`` that
        prints (and shows in a notebook) as ``derive layers`` does."""
        from .diff.layers import layer_tables
        from .render import LayerTables
        return LayerTables(layer_tables(self.formula.cost, self.result), self)

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


def target_named(target: str) -> Target:
    """The code target of that name (docs/targets.md); an unknown one is the user's error."""
    if not isinstance(target, str) or target not in TARGETS:
        raise DeriveError(f"unknown target {str(target)[:40]!r}: the targets are "
                          f"{', '.join(TARGETS)}")
    return TARGETS[target]


def gradient(formula: str | sympy.Basic | None = None,
             wrt: str | Iterable | sympy.Basic | None = None, shapes=None, assume=None,
             inline: bool = False, latex: str | None = None) -> Derivation:
    """Derive the gradient of ``formula`` with respect to ``wrt`` (a name or several).

    ``formula`` is the text of docs/language.md, or a SymPy matrix expression (``wrt`` then
    its MatrixSymbols or Symbols, or their names); or, instead, ``latex`` is the formula as a
    paper writes it (docs/latex-input.md). ``shapes`` declares shapes (``{"s": ("n", "k")}``),
    ``assume`` what the formula cannot show (``{"Sigma": "spd"}``, and for LaTeX
    ``{"sigma": "sigmoid"}``).
    ``inline=True`` prints every result expanded, without "where" definitions.
    Bad input raises DeriveError; a failure of derive itself raises InternalError.
    """
    one_formula(formula, wrt, latex)
    if latex is not None:
        return from_latex(latex, lambda text, rest: gradient(text, wrt, shapes, rest, inline),
                           shapes, assume)
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
    return from_text(formula, names, shapes, assume, inline, _derive)


def one_formula(formula, wrt, latex) -> None:
    """One formula is given, as text (or SymPy) or as LaTeX, and the variables to derive."""
    if wrt is None:
        raise TypeError("name the variables to differentiate with respect to: wrt=...")
    if (formula is None) == (latex is None):
        raise TypeError("give the formula as text (or SymPy) or as latex=..., one of them")
    if latex is not None and not isinstance(latex, str):
        raise TypeError(f"latex must be a str, not {type(latex).__name__}")


def from_latex(latex: str, derive: Callable, shapes=None, assume=None):
    """``derive(text, assume)`` on the reading of ``latex``, its errors pointed into the LaTeX.

    ``assume`` may say what an applied name means (``sigma=sigmoid``): that is the reader's;
    the rest is passed on."""
    from .frontend.latex import FUNCTION_ASSUMPTIONS, read_latex
    texts = [f"{n}={p}" for n, p in assume.items()] if isinstance(assume, dict) \
        else list(assume or ())
    functions, rest = {}, []
    for text in texts:
        name, _, meaning = str(text).partition("=")
        if meaning.strip() in FUNCTION_ASSUMPTIONS:
            functions[name.strip()] = meaning.strip()
        else:
            rest.append(text)
    scalars = {name: not dims for name, dims in declared_shapes(shapes).items()}
    reading = read_latex(latex, functions, scalars)
    try:
        derivation = derive(reading.text, rest)
    except DeriveError as error:
        raise reading.locate(error) from None
    derivation.formula.latex_input = latex
    return derivation


def from_text(formula: str, names: list[str], shapes, assume, inline: bool,
              derive: Callable[[Formula, list[str]], Derivation], any_shape: bool = False
              ) -> Derivation:
    """``derive(built formula, names)`` for a text formula, its ``shapes=`` and ``assume=``
    read; printed expanded if ``inline``; what a default kind may have got wrong is warned
    of, at the caller of the API."""
    declared, assumptions = declared_shapes(shapes), declared_assumptions(assume)
    with internal(formula):
        derivation = derive(built(formula, names, declared, assumptions, any_shape), names)
    derivation.inline = inline
    for message in derivation.warnings:
        warnings.warn(message, DeriveWarning, stacklevel=3)
    return derivation


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


def check(formula: str | None = None, wrt: str | Iterable[str] | None = None, shapes=None,
          seed: int = 0, tolerance: float = 1e-6, assume=None, latex: str | None = None):
    """The finite-difference check of the emitted gradient (see ``derive.check``)."""
    from .numcheck import check_derivation
    derivation = gradient(formula, wrt, shapes, assume, latex=latex)
    with internal(derivation.formula.source):
        return check_derivation(derivation, seed=seed, tolerance=tolerance)


# ---------------------------------------------------------------- second order


def _formula_names(formula: Formula) -> set[str]:
    return {s.name for s in formula.symbols} | set(formula.definitions)


@dataclass(repr=False)
class SecondOrder(Derivation):
    """A Derivation with the Hessian-vector products (and, for derive.hessian, the Hessian)."""
    directions: dict[str, Symbol] = field(default_factory=dict)
    second: Backprop | None = field(default=None, repr=False)
    # variable -> (the form to read, the form to compute); empty for derive.hvp
    hessians: dict[str, tuple[Expr, Expr]] = field(default_factory=dict)

    @property
    def hvps(self) -> dict[str, Expr]:
        return self.second.gradients

    @property
    def subgradients(self) -> list[str]:
        notes = list(self.result.subgradients)
        return notes + [n for n in self.second.subgradients if n not in notes]

    @property
    def notes(self) -> list[str]:
        # A matrix variable's Hessian acts on vec(X), as in the Matrix Cookbook.
        return super().notes + [f"hess_{n} acts on vec({n}), the columns of {n} stacked"
                                    for n in self.hessians if self.directions[n].shape[1] != 1]

    @cached_property
    def text(self) -> str:
        from .printing.text import to_text
        if self.hessians:
            return "\n".join(f"hess_{n} = {to_text(shown)}"
                             for n, (shown, _) in self.hessians.items())
        return "\n".join(f"hvp_{n} = {to_text(h)}" for n, h in self.hvps.items())

    @cached_property
    def latex(self) -> str:
        """The equations, one a line, without an environment (``_repr_latex_`` has one)."""
        from .printing.latex import to_latex
        return "\n".join(f"{eq.latex_lhs} = {to_latex(eq.rhs)}" for eq in self.equations)

    @_derived
    def equations(self) -> list:
        """One equation per Hessian (derive.hessian), else per product (derive.hvp)."""
        from .printing.document import Equation
        from .printing.latex import latex_name
        if self.hessians:
            return [Equation(f"hess_{n}", rf"\nabla^2_{{{latex_name(n)}}} F", shown)
                    for n, (shown, _) in self.hessians.items()]
        return [Equation(f"hvp_{n}", self.hvp_lhs(n), h) for n, h in self.hvps.items()]

    def hvp_lhs(self, name: str) -> str:
        """The LaTeX of one product's left-hand side: the whole Hessian's, restricted to it."""
        from .printing.latex import latex_name
        return rf"\left(\nabla^2 F\, d\right)_{{{latex_name(name)}}}"

    def hvp_latex(self, name: str) -> str:
        """The LaTeX equation of one product."""
        from .printing.latex import to_latex
        return f"{self.hvp_lhs(name)} = {to_latex(self.hvps[name])}"

    def __repr__(self) -> str:
        what = "hess" if self.hessians else "hvp"
        return f"<Derivation of {', '.join(f'{what}_{n}' for n in self.wrt)}: " \
               f"{self.formula.source.strip()[:60]!r}>"

    def _repr_latex_(self) -> str:
        """Jupyter shows the products (or Hessians) rendered, in one align* as in LaTeX."""
        from .printing.document import align
        return align(self.equations, {})

    def show(self, fmt: str = "text", steps: bool = False, standalone: bool = False) -> str:
        """The whole output of ``derive hvp`` / ``derive hess`` in a format."""
        from .render import render_second_order
        return render_second_order(self, fmt, steps, standalone)

    def _more_code(self) -> dict:
        # hvp(..., d_X), value_grad_hvp(...) and hessian_X(...) in the code of every target
        return {"directions": [self.directions[n] for n in self.wrt], "hvps": self.hvps,
                "hessians": {n: code for n, (_, code) in self.hessians.items()}}

    def function(self) -> Callable:
        """hessian_X(...) for derive.hessian, else hvp(..., d_X, ...)."""
        namespace = self.namespace()
        if self.hessians:
            return namespace[f"hessian_{self.wrt[0]}"]
        return namespace["hvp"]

    def tangents(self, e: Expr) -> Expr:
        """The derivative of e along the directions (for the forward-over-reverse steps)."""
        variables = [self.formula.symbol(n) for n in self.wrt]
        taken = _formula_names(self.formula) | {d.name for d in self.directions.values()}
        return tangent(e, variables, self.directions, Namer(taken).exact("u"))


def hvp(formula: str | None = None, wrt: str | Iterable[str] | None = None, shapes=None,
        assume=None, latex: str | None = None) -> SecondOrder:
    """The Hessian-vector products of ``formula`` (or ``latex``): one direction ``d_X`` per
    variable."""
    return _second_order(gradient(formula, wrt, shapes, assume, latex=latex))


def _second_order(first: Derivation) -> SecondOrder:
    names = direction_names(_formula_names(first.formula), first.wrt)
    directions = {n: Symbol(names[n], first.formula.symbol(n).shape) for n in first.wrt}
    try:
        second = hessian_vector_products(first.result, directions)
    except TooLarge as error:
        raise DeriveError(f"the Hessian-vector product is too large to derive: {error}") from None
    size = written_size(list(second.gradients.values()))
    if size > MAX_WRITTEN:
        raise DeriveError(f"the Hessian-vector product of this cost, written out, has about "
                          f"{size:,} operations (derive writes at most {MAX_WRITTEN:,}): too "
                          "large for a closed form to be of use")
    return SecondOrder(first.formula, first.wrt, first.result, directions, second)


def hessian(formula: str | None = None, wrt: str | Iterable[str] | None = None, shapes=None,
            assume=None, latex: str | None = None) -> SecondOrder:
    """The Hessian of ``formula`` (or ``latex``) with respect to one variable, as a matrix."""
    names = [wrt] if isinstance(wrt, str) else list(wrt or ())
    if len(names) != 1:
        raise DeriveError("derive hess takes one --wrt variable; for several, derive hvp gives "
                          "the product of the whole Hessian with one direction per variable")
    d = _second_order(gradient(formula, names, shapes, assume, latex=latex))
    name = d.wrt[0]
    direction = d.directions[name]
    product = d.hvps[name]
    try:
        if direction.shape[1] == 1:
            d.hessians[name] = vector_hessian(product, direction)
        else:
            d.hessians[name] = kronecker_hessian(product, direction)
    except NotReadable:
        from .printing.text import to_text
        kind = "matrix " if direction.shape[1] != 1 else ""
        short = shortened(to_text(product))
        why = (f"; its vec form needs the commutation matrix of {direction.name}^T, which is not "
               "in the language of results" if transposes(product, direction) else "")
        raise DeriveError(
            f"derive cannot write the Hessian of the {kind}variable {name} as a matrix in closed "
            f"form (its product with a direction is hvp_{name} = {short}{why}); use "
            f"derive hvp, which gives that product") from None
    return d
