"""``derive.jacobian``: the Jacobian, JVP and VJP of a formula of any shape (docs/jacobians.md).

The mathematics is ``diff.jacobian``; this module makes the result object, which
shows itself as a gradient's does (a short repr, ``_repr_latex_``, ``.text``,
``.latex``, ``.code(target)``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable

from .api import Derivation, from_latex, from_text, one_formula, target_named, variables_of
from .diff.jacobian import Refused, jacobian_matrix, jvp, vjps
from .diff.second_order import MAX_WRITTEN, direction_names, written_size
from .errors import DeriveError, internal, shortened
from .expr.nodes import Expr, Symbol, TooLarge, depends_on
from .frontend.build import Formula
from .naming import Namer


@dataclass
class Jacobian(Derivation):
    """The Jacobians of F (closed forms where derive reads one), its JVP and its VJPs."""
    directions: dict[str, Symbol] = field(default_factory=dict)
    cotangent: Symbol | None = None
    jvp: Expr | None = field(default=None, repr=False)
    # variable -> (the form to read, the form to compute), for each closed form
    jacobians: dict[str, tuple[Expr, Expr]] = field(default_factory=dict, repr=False)
    refused: dict[str, Refused] = field(default_factory=dict, repr=False)

    @property
    def value(self) -> Expr:
        return self.formula.cost

    @property
    def vjps(self) -> dict[str, Expr]:
        return self.result.gradients

    @property
    def notes(self) -> list[str]:
        from .printing.text import to_text
        out = list(super().notes)
        out += [f"jac_{n} acts on vec({n}), the columns of {n} stacked"
                for n in self.jacobians if self.directions[n].shape[1] != 1]
        if not self.value.is_scalar and self.value.shape[1] != 1 and self.jacobians:
            out.append("the rows of each Jacobian follow vec(F), the columns of F stacked")
        for n, why in self.refused.items():
            reason = ("vec of a transposed matrix is a commutation matrix times vec(" + n +
                      "), which derive does not write" if why.commutation else
                      f"derive reads no matrix off {shortened(to_text(why.unreadable))}")
            out.append(f"jac_{n} has no closed form in kron, vec and diag here ({reason}); "
                       f"jvp and vjp give its products: jvp = {shortened(to_text(why.jvp))}")
        return out

    @cached_property
    def equations(self) -> list:
        from .printing.document import Equation
        from .printing.latex import latex_name
        out = []
        for n, (shown, _) in self.jacobians.items():
            of = (r"\operatorname{vec} F", rf"\operatorname{{vec}} {latex_name(n)}")
            top, bottom = of if self.directions[n].shape[1] != 1 or \
                not self.value.is_scalar and self.value.shape[1] != 1 else ("F", latex_name(n))
            out.append(Equation(f"jac_{n}", rf"\frac{{\partial {top}}}{{\partial {bottom}}}",
                                shown))
        if self.refused:
            # Where no closed form is written, the products are the result.
            out.append(Equation("jvp", r"J\, d", self.jvp))
            out += [Equation(f"vjp_{n}", rf"\left(J^\top G\right)_{{{latex_name(n)}}}", g)
                    for n, g in self.vjps.items()]
        return out

    @cached_property
    def names(self) -> dict:
        if self.inline:
            return {}
        from .printing.naming import choose_names
        taken = self.formula.taken_names() | {s.name for s in self.directions.values()} | \
            {self.cotangent.name}
        return choose_names([eq.rhs for eq in self.equations], self.formula.definitions, taken)

    def __repr__(self) -> str:
        shown = [f"jac_{n}" for n in self.jacobians] + \
            [f"jvp/vjp_{n}" for n in self.refused]
        return f"<Jacobian {', '.join(shown)}: {self.formula.source.strip()[:60]!r}>"

    def code(self, target: str = "numpy", hoist: bool = False) -> str:
        """jacobian_X (each closed form), jvp, vjp, value_and_jvp, value_and_vjp."""
        if hoist:
            raise DeriveError("--hoist is for gradients; derive jac's code has no prepare step")
        printer = target_named(target)
        if target not in self._code:
            with internal(self.formula.source):
                self._code[target] = printer.jacobian_snippet(
                    self.formula.source, self.parameters, self.value,
                    {n: code for n, (_, code) in self.jacobians.items()}, self.jvp, self.vjps,
                    [self.directions[n] for n in self.wrt], self.cotangent, self.subgradients,
                    self.formula.definitions)
        return self._code[target]

    def show(self, fmt: str = "text", steps: bool = False, standalone: bool = False) -> str:
        """The whole output of ``derive jac`` in a format: text, latex, json or a target."""
        from .render import render_jacobian
        return render_jacobian(self, fmt, steps, standalone)

    def function(self) -> Callable:
        """jacobian_X for one variable with a closed form, else vjp(..., G)."""
        namespace = self.namespace()
        if len(self.wrt) == 1 and self.jacobians:
            return namespace[f"jacobian_{self.wrt[0]}"]
        return namespace["vjp"]

    @cached_property
    def chain(self) -> list[tuple[Expr, tuple[Expr, Expr] | Refused]]:
        """The chain rule of a single variable, layer by layer: each stage of F from the
        variable up (a layer's input z, its activation, ...) with its Jacobian."""
        variable = self.formula.symbol(self.wrt[0])
        names = frozenset((variable.name,))
        memo: dict = {}
        stages, node = [], self.value
        while node != variable:
            stages.append(node)
            inside = [c for c in node.children if depends_on(c, names, memo)]
            if len(inside) != 1:
                break
            node = inside[0]
        direction = self.directions[variable.name]
        return [(s, jacobian_matrix(s, variable, direction, self.cotangent.name))
                for s in reversed(stages)]


def jacobian(formula: str | None = None, wrt: str | Iterable[str] | None = None, shapes=None,
             assume=None, inline: bool = False, latex: str | None = None) -> Jacobian:
    """The Jacobians of ``formula`` (a scalar, vector or matrix) with respect to ``wrt``, in
    numerator layout, with its JVP along ``d_X`` and its VJP with a cotangent ``G``.

    Arguments as for ``derive.gradient`` (``latex=`` for a formula as a paper writes it). A
    Jacobian with no closed form is not an error: it is left out (a note says why) and
    ``jvp``/``vjp`` give its products.
    """
    one_formula(formula, wrt, latex)
    if latex is not None:
        return from_latex(latex, lambda text, rest: jacobian(text, wrt, shapes, rest, inline),
                          shapes, assume)
    names = [wrt] if isinstance(wrt, str) else list(wrt)
    if not isinstance(formula, str) or not all(isinstance(n, str) for n in names):
        raise TypeError("derive.jacobian takes a formula as text and variables by name")
    return from_text(formula, names, shapes, assume, inline, _jacobian, any_shape=True)


def _jacobian(parsed: Formula, names: list[str]) -> Jacobian:
    variables = variables_of(parsed, names)
    value = parsed.cost
    wrt = [v.name for v in variables]
    taken = parsed.taken_names()
    namer = Namer(taken)
    cotangent = Symbol(namer.exact("G"), value.shape)
    chosen = direction_names(namer.taken, wrt)
    directions = {v.name: Symbol(chosen[v.name], v.shape) for v in variables}
    spare = Namer(namer.taken | set(chosen.values())).exact("u")
    try:
        pulled = vjps(value, variables, cotangent)
        product = jvp(value, variables, directions, spare)
        closed, refused = {}, {}
        for v in variables:
            found = jacobian_matrix(value, v, directions[v.name], spare)
            if isinstance(found, Refused):
                refused[v.name] = found
            else:
                closed[v.name] = found
    except TooLarge as error:
        raise DeriveError(f"the Jacobian is too large to derive: {error}") from None
    size = written_size([product, *pulled.gradients.values(),
                         *(shown for shown, _ in closed.values())])
    if size > MAX_WRITTEN:
        raise DeriveError(f"the Jacobian of this formula, written out, has about {size:,} "
                          f"operations (derive writes at most {MAX_WRITTEN:,}): too large for "
                          "a closed form to be of use")
    return Jacobian(parsed, wrt, pulled, directions, cotangent, product, closed, refused)
