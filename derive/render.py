"""Whole outputs of the command line: the gradient with its notes, and the derivation steps.

The result objects of ``api`` call these (``d.show(fmt)``, ``d.layers``); nothing here
imports them back, so the data flows one way: derivation, then its printed forms.
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from .errors import DeriveError
from .printing import document
from .printing.document import Equation
from .printing.width import latex_width, text_width
from .printing.naming import choose_names, used_names
from .printing.source import source_latex
from .printing.steps import derivation_steps
from .expr.nodes import Expr
from .diff.layers import Layer, Network
from .printing.latex import LatexPrinter, latex_name, to_latex
from .program import kind
from .printing.text import FormulaTextPrinter, TextPrinter, to_text

if TYPE_CHECKING:
    from .api import Derivation, SecondOrder
    from .jacobians import Jacobian

# The formats of whole outputs; any other is a code target, the derivation's code.
DOCUMENT_FORMATS = ("text", "latex", "json")


def _dimension_names(d: Derivation) -> dict[str, str]:
    """A dimension named like a scalar of the formula (the scalar m and the number of
    columns m) is written as the code names it, m_dim, so the two stay apart."""
    scalars = {s.name for s in d.formula.symbols if kind(s) == "scalar"}
    return {name: f"{name}_dim" for name in scalars}


def _shape_text(symbol, renamed: dict[str, str] | None = None) -> str:
    rows, cols = (renamed.get(str(x), str(x)) if renamed else str(x) for x in symbol.shape)
    k = kind(symbol)
    return "scalar" if k == "scalar" else f"{rows}" if k == "col" else f"{rows}×{cols}"


def _renamed_note(d: Derivation, renamed: dict[str, str]) -> str:
    used = sorted({renamed[str(x)] for s in d.formula.symbols for x in s.shape
                   if str(x) in renamed and kind(s) != "scalar"})
    return "".join(f" ({name}: the dimension {name[:-4]}, not the scalar {name[:-4]})"
                   for name in used)


MAX_KINDS_SHOWN = 12
_KIND_WHY = {
    "scalar": "Greek name; --shape {name}=n for a vector",
    "vector": "lower-case name; --shape {name}= for a scalar",
    "matrix": "upper-case name",
}


def kinds_text(d: Derivation) -> str:
    """The kinds that defaults decided or the formula forced, name by name, with why (and
    the --shape to change a default): the first lines of every text output, so that no name
    silently decides a shape."""
    defaults = d.formula.defaults
    forced = d.formula.forced
    listed = [s.name for s in d.formula.symbols if s.name in defaults or s.name in forced]
    # Read from LaTeX (docs/latex-input.md): the formula as derive read it, in its own language.
    read = f"read as: {d.formula.source}\n" if d.formula.latex_input is not None else ""
    if not listed:
        return read
    renamed = _dimension_names(d)
    lines = [read + "kinds from the names (--shape changes them):"]
    for name in listed[:MAX_KINDS_SHOWN]:
        symbol = d.formula.symbol(name)
        k = kind(symbol)
        what = {"scalar": "scalar", "col": f"vector of length {_shape_text(symbol, renamed)}"}.get(
            k, f"{_shape_text(symbol, renamed)} matrix")
        why = forced[name] if name in forced else _KIND_WHY[defaults[name]].format(name=name)
        lines.append(f"  {name}: {what} ({why})")
    if len(listed) > MAX_KINDS_SHOWN:
        lines.append(f"  and {len(listed) - MAX_KINDS_SHOWN:,} more, by the same rules")
    return "\n".join(lines) + "\n"


def render(d: Derivation, fmt: str, steps: bool = False, standalone: bool = False) -> str:
    """The whole output of ``derive grad``: the gradients with the kinds, steps and notes."""
    if not _is_document(fmt, standalone):
        return d.code(fmt)
    if fmt == "json":
        return json.dumps(as_json(d), indent=2) + "\n"
    if fmt == "latex":
        steps_parts = [_steps_latex(d), "\\noindent\\textbf{Result.}\n"] if steps else []
        return _latex_document(d, steps_parts, d.latex, standalone)
    parts = [kinds_text(d)] + ([_steps_text(d)] if steps else [])
    return _text_document(d, parts)


def render_jacobian(d: Jacobian, fmt: str, steps: bool = False, standalone: bool = False) -> str:
    """The whole output of ``derive jac``: as a gradient's, with its own JSON and steps (the
    chain of layer Jacobians)."""
    if fmt == "json":
        _is_document(fmt, standalone)
        return jacobian_json_text(d)
    if steps and fmt in ("text", "latex"):
        return jacobian_steps(d, fmt, standalone)
    return render(d, fmt, steps, standalone)


def render_second_order(d: SecondOrder, fmt: str, steps: bool = False,
                        standalone: bool = False) -> str:
    """The whole output of ``derive hvp`` / ``derive hess``; the steps are the layer tables
    and the tangents of each layer's input and delta."""
    if not _is_document(fmt, standalone):
        return d.code(fmt)
    if fmt == "json":
        return json.dumps(second_order_json(d), indent=2) + "\n"
    if fmt == "latex":
        if steps:
            return _latex_document(d, *_second_order_steps_latex(d), standalone)
        # The Hessians or products in one align*, broken to fit as gradients are.
        return _latex_document(d, [], document.align(d.equations, {}), standalone)
    parts = [render_layers(d, fmt), tangents_table(d)] if steps else [kinds_text(d)]
    return _text_document(d, parts)


def _is_document(fmt: str, standalone: bool) -> bool:
    """Whether ``fmt`` is a whole output (text, latex, json) rather than a code target."""
    if standalone and fmt != "latex":
        raise DeriveError("--standalone makes a whole LaTeX document: use it with --format latex")
    return fmt in DOCUMENT_FORMATS


def _latex_document(d: Derivation, steps_parts: list[str], result: str,
                    standalone: bool) -> str:
    body = "".join([document.PREAMBLE + "\n", *steps_parts, result, document.notes(d.notes)])
    return document.standalone(body) if standalone else body


def _text_document(d: Derivation, parts: list[str]) -> str:
    return "".join(parts + [d.text + "\n"] + [f"note: {note}\n" for note in d.notes])


_HEADINGS = (
    ("The cost", "as written."),
    ("Forward pass", "z(l) is the input of layer l, a(l) = f(z(l)) its activation."),
    ("Backward pass", "from the last layer back, delta(l) = dF/dz(l), which is "
                      "(W(l)^T delta(l+1)) .* f'(z(l)) summed over every path."),
    ("Gradients", "delta(l+1) a(l)^T for a weight of layer l, summed over every use."),
)
_LATEX_HEADINGS = (
    "as written.",
    r"$z^{(l)}$ is the input of layer $l$, and $a^{(l)} = f^{(l)}(z^{(l)})$ its activation.",
    r"From the last layer back, $\delta^{(l)} = \partial F / \partial z^{(l)}$, which is "
    r"$({W^{(l)}}^{\top} \delta^{(l+1)}) \odot {f^{(l)}}'(z^{(l)})$ summed over every path.",
    r"$\delta^{(l+1)} {a^{(l)}}^{\top}$ for a weight of layer $l$, summed over every use.",
)


def _step_sections(d: Derivation):
    steps = derivation_steps(d.formula, d.result)
    return steps, (steps.forward, steps.backward, steps.gradients)


def _with_inputs(explanation: str, steps, latex: bool) -> str:
    """The forward pass's explanation, saying which variables the networks start from
    (z(1) = s), which keep their names."""
    if explanation not in (_HEADINGS[1][1], _LATEX_HEADINGS[1]) or not steps.inputs:
        return explanation
    if latex:
        said = ", ".join(rf"$z^{{({l})}} = {latex_name(name)}$" for name, l in steps.inputs)
    else:
        said = ", ".join(f"z({l}) = {name}" for name, l in steps.inputs)
    verb = "input is" if len(steps.inputs) == 1 else "inputs are"
    return explanation[:-1] + f"; the {verb} {said}."


def _steps_text(d: Derivation) -> str:
    steps, sections = _step_sections(d)
    source = re.sub(r"#[^\n]*", "", d.formula.source)
    out = [f"{_HEADINGS[0][0]}, {_HEADINGS[0][1]}"]
    parts = [" ".join(part.split()) for part in source.split(";") if part.strip()]
    out += [f"  {part}" for part in parts[:-1]] + [f"  F = {parts[-1]}"]
    for (title, explanation), equations in zip(_HEADINGS[1:], sections):
        out.append(f"{title}: {_with_inputs(explanation, steps, False)}")
        block = document.text_block(equations, steps.names, steps.forward_nodes) or "none"
        out += ["  " + line for line in block.split("\n")]
    out.append("Result:")
    return "\n".join(out) + "\n"


def _steps_latex(d: Derivation) -> str:
    steps, sections = _step_sections(d)
    written = source_latex(d.formula.source)
    out = [rf"\noindent\textbf{{{_HEADINGS[0][0]},}} {_LATEX_HEADINGS[0]}" + "\n", written] \
        if written else []
    for (title, _), explanation, equations in zip(_HEADINGS[1:], _LATEX_HEADINGS[1:], sections):
        out.append(rf"\noindent\textbf{{{title}.}} {_with_inputs(explanation, steps, True)}" + "\n")
        out.append(document.align(equations, steps.names, steps.forward_nodes) or
                   "None here.\n\n")
    return "".join(out)


def _weight(layer: Layer, printer) -> str:
    if layer.weight is not None:
        return printer(layer.weight)
    return "I" if layer.is_identity_weight else "none"


def _derivative(layer: Layer, printer) -> str:
    return layer.derivative if isinstance(layer.derivative, str) else printer(layer.derivative)


def render_layers(d: Derivation, fmt: str, preamble: bool = True) -> str:
    networks = d.layers
    if fmt == "json":
        return json.dumps([_network_json(n) for n in networks], indent=2) + "\n"
    if fmt == "latex":
        tables = "\n".join(_network_latex(i, n) for i, n in enumerate(networks, 1))
        return document.PREAMBLE + "\n" + tables if preamble else tables
    renamed = _dimension_names(d)
    shapes = ", ".join(f"{s.name}: {_shape_text(s, renamed)}" for s in d.formula.symbols)
    out = [kinds_text(d) + f"shapes: {shapes}{_renamed_note(d, renamed)}", ""]
    for i, network in enumerate(networks, 1):
        out.append(_network_text(i, network))
    contributions = _contributions(d, to_text)
    if contributions:
        out.append(contributions)
    return "\n".join(out)


def _network_text(index: int, network: Network) -> str:
    readout = "J = sum of the last layer's outputs" if network.sums_output \
        else "J = the last layer's output"
    header = [f"network {index}: {to_text(network.term)}",
              f"  input z(1) = {to_text(network.input)}; {readout}"]
    rows = [("layer", "weight", "f(z)", "f'(z)", "delta = dJ/dz(l)")]
    for number, layer in enumerate(network.layers, 1):
        rows.append((str(number), _weight(layer, to_text), to_text(layer.activation),
                     _derivative(layer, to_text), to_text(layer.delta)))
    return "\n".join(header + _text_table(rows)) + "\n"


def _text_table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as indented lines, each column but the last (the long one) padded to its widest."""
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + "  " + r[-1]
            for r in rows]


def _network_latex(index: int, network: Network, names: dict | None = None,
                   defined: list | None = None) -> str:
    # The deltas, the long column, follow the table as rows of an align*, broken to fit a
    # page as every displayed equation is; so do the activations where the table with them
    # would be wider than the page.
    table = _layer_array(network, columns=("W", "f", "f'"))
    equations = _delta_equations(network)
    if _array_width(table) + _ARRAY_SPACE > text_width():
        table = _layer_array(network, columns=("W", "f'"))
        equations = [Equation(f"f{number}", rf"f^{{({number})}}(z)", layer.activation)
                     for number, layer in enumerate(network.layers, 1)] + equations
    lines = [rf"\noindent Network {index}, input $z^{{(1)}} = {to_latex(network.input)}$:",
             r"\[", table, r"\]", r"\noindent and its deltas:",
             document.align(equations, names or {}, defined or ())]
    return "\n".join(lines)


def _array_width(table: str) -> float:
    """An array is as wide as its widest cell of each column, added up: the widest f and the
    widest f' may stand in different rows."""
    rows = [row.removesuffix(r"\\").split("&") for row in table.split("\n") if "&" in row]
    columns = max(len(row) for row in rows)
    return sum(max((latex_width(row[c]) for row in rows if c < len(row)), default=0.0)
               for c in range(columns))


_ARRAY_SPACE = 60.0   # the array's column separations and rules, in points (an upper bound)


def _delta_equations(network: Network) -> list[Equation]:
    return [Equation(f"delta{number}", rf"\delta^{{({number})}}", layer.delta)
            for number, layer in enumerate(network.layers, 1)]


_COLUMNS = {"W": r"W^{(l)}", "f": r"f^{(l)}(z)", "f'": r"{f^{(l)}}'(z)", "delta": r"\delta^{(l)}"}


def _layer_array(network: Network, columns: tuple[str, ...] = ("W", "f", "f'", "delta")) -> str:
    """The layer table of a network as a LaTeX array (math mode): the layer number, then the
    columns asked for (weight, activation, its derivative, delta)."""
    lines = [r"\begin{array}{c|" + "|".join("c" * (len(columns) - 1) + "l") + "}",
             " & ".join(["l"] + [_COLUMNS[c] for c in columns]) + r" \\ \hline"]
    for number, layer in enumerate(network.layers, 1):
        derivative = _derivative(layer, to_latex)
        if isinstance(layer.derivative, str):
            derivative = r"\text{" + document.escape(derivative) + "}"
        weight = _weight(layer, to_latex)
        cells = {"W": r"\text{none}" if weight == "none" else weight,
                 "f": to_latex(layer.activation), "f'": derivative,
                 "delta": to_latex(layer.delta)}
        lines.append(" & ".join([str(number)] + [cells[c] for c in columns]) + r" \\")
    return "\n".join(lines + [r"\end{array}"])


class LayerTables(list):
    """``d.layers``: the networks of a derivation (a list of ``Network``), shown as
    ``derive layers`` prints them, and in a notebook as math."""

    def __init__(self, networks: list[Network], derivation: Derivation) -> None:
        super().__init__(networks)
        self.derivation = derivation

    def __str__(self) -> str:
        return render_layers(self.derivation, "text").rstrip("\n")

    __repr__ = __str__

    def _repr_latex_(self) -> str:
        """One display: each network's input, then its table (MathJax reads it)."""
        blocks = [rf"\text{{Network {i}, input }} z^{{(1)}} = {to_latex(n.input)} \\" + "\n"
                  + _layer_array(n) for i, n in enumerate(self, 1)]
        return "$$\n\\begin{array}{l}\n" + " \\\\[2ex]\n".join(blocks) + "\n\\end{array}\n$$"


def _contributions(d: Derivation, printer) -> str:
    out = []
    for name, shares in d.result.contributions.items():
        if len(shares) > 1:
            out.append(f"grad_{name} sums the contributions of every use of {name}:")
            out += [f"  through {printer(user)}: {printer(share)}" for user, share in shares]
    return "\n".join(out) + "\n" if out else ""


def _network_json(network: Network) -> dict:
    return {
        "term": to_text(network.term),
        "input": to_text(network.input),
        "sums_output": network.sums_output,
        "layers": [{
            "weight": _weight(layer, to_text),
            "f": to_text(layer.activation),
            "f_prime": _derivative(layer, to_text),
            "delta": to_text(layer.delta),
            "delta_latex": to_latex(layer.delta),
        } for layer in network.layers],
    }


def _expr_json(e: Expr, names: dict | None = None, definition: bool = False,
               language: bool = True) -> dict:
    """Text and LaTeX of e; the text in the formula language unless ``language`` is false
    (a Hessian in vec form, with its Kronecker products, is not)."""
    text = (FormulaTextPrinter if language else TextPrinter)(names)
    latex = LatexPrinter(names)
    if definition:
        return {"text": text.definition(e), "latex": latex.definition(e)}
    return {"text": text.print(e), "latex": latex.print(e)}


def _formula_json(d: Derivation) -> dict:
    """What every JSON output opens with: the formula, its variables, those derived for."""
    return {
        "formula": d.formula.source,
        "variables": [{"name": s.name, "kind": kind(s), "shape": [str(x) for x in s.shape]}
                      for s in d.formula.symbols],
        "wrt": d.wrt,
    }


def _notes_json(d: Derivation) -> dict:
    """What every JSON output closes with: the notes, the kinds assumed, the warnings."""
    return {"notes": d.notes, "assumed_kinds": d.formula.defaults, "warnings": d.warnings}


def _matrices_json(d: Derivation, matrices: dict[str, tuple[Expr, Expr]]) -> dict:
    """Hessians or Jacobians in vec form, each with what it acts on (vec(X) for a matrix)."""
    return {name: {**_expr_json(shown, language=False), "acts_on": (
        f"vec({name})" if d.directions[name].shape[1] != 1 else name)}
        for name, (shown, _) in matrices.items()}


def as_json(d: Derivation) -> dict:
    names = d.names
    return {
        **_formula_json(d),
        "cost": _expr_json(d.formula.cost),
        "cost_as_written_latex": source_latex(d.formula.source),
        "gradients": {name: {**_expr_json(g, names), "latex_equation":
                             rf"\nabla_{{{latex_name(name)}}} F = {LatexPrinter(names).print(g)}"}
                      for name, g in d.gradients.items()},
        # The named intermediates the gradients use, each after those its definition uses.
        "where": [{"name": name.text, "latex_name": name.latex,
                   **_expr_json(node, names, definition=True)} for node, name in names.items()],
        "latex": d.latex,
        **d.codes(),
        "layers": [_network_json(n) for n in d.layers],
        **_notes_json(d),
    }


# ---------------------------------------------------------------- second order


def tangents_table(d: SecondOrder) -> str:
    """For each layer, the tangent (derivative along the directions) of its input and delta."""
    printer = to_text
    along = ", ".join(printer(s) for s in d.directions.values())
    out = []
    for index, network in enumerate(d.layers, 1):
        rows = [("layer", "tangent of z(l)", "tangent of delta(l)")]
        rows += [(str(number), printer(d.tangents(layer.z)), printer(d.tangents(layer.delta)))
                 for number, layer in enumerate(network.layers, 1)]
        out.append("\n".join([f"network {index}, forward over reverse along {along}:"]
                              + _text_table(rows)) + "\n")
    return "\n".join(out)


def _second_order_steps_latex(d: SecondOrder) -> tuple[list[str], str]:
    """The layer tables, each layer's delta and tangents, then the result, as LaTeX: the
    rows of align*s broken to fit a page, large parts named once (where H = ..., t1 = ...)
    and used by name after."""
    along = ", ".join(to_latex(s) for s in d.directions.values())
    tangents = [[Equation(f"{kind}{number}", rf"\dot{{{symbol}}}^{{({number})}}",
                          d.tangents(getattr(layer, field)))
                 for number, layer in enumerate(network.layers, 1)
                 for kind, symbol, field in (("dz", "z", "z"), ("ddelta", r"\delta", "delta"))]
                for network in d.layers]
    roots = [eq.rhs for network in d.layers for eq in _delta_equations(network)]
    roots += [eq.rhs for rows in tangents for eq in rows] + [eq.rhs for eq in d.equations]
    names = choose_names(roots, d.formula.definitions, d.formula.taken_names())
    defined: list = []
    parts = []
    for index, network in enumerate(d.layers, 1):
        parts.append(_network_latex(index, network, names, defined) + "\n")
        defined += used_names([eq.rhs for eq in _delta_equations(network)], names)
    for index, rows in enumerate(tangents, 1):
        parts.append(rf"\noindent Network {index}, forward over reverse along ${along}$:"
                     + "\n" + document.align(rows, names, defined) + "\n")
        defined += used_names([eq.rhs for eq in rows], names)
    return parts, document.align(d.equations, names, defined)


def second_order_json(d: SecondOrder) -> dict:
    out = as_json(d)
    out["directions"] = {name: s.name for name, s in d.directions.items()}
    out["hvps"] = {name: {**_expr_json(h), "latex_equation": d.hvp_latex(name)}
                   for name, h in d.hvps.items()}
    if d.hessians:
        out["hessians"] = _matrices_json(d, d.hessians)
    return out


# ---------------------------------------------------------------- Jacobians (derive jac)


def jacobian_steps(d: Jacobian, fmt: str, standalone: bool = False) -> str:
    """The chain rule layer by layer: each stage of F from the variable up, with its
    Jacobian (a layer's is diag(f'(z)) W times the one below), then the result."""
    name = d.wrt[0]
    rows = []
    for stage, found in d.chain:
        shown = found[0] if isinstance(found, tuple) else None
        rows.append((stage, shown))
    if fmt == "latex":
        lines = [rf"\noindent The chain rule, stage by stage from ${latex_name(name)}$ up:"]
        equations = [document.Equation("", rf"\frac{{\partial}}{{\partial {latex_name(name)}}}"
                                           rf"\left({to_latex(stage)}\right)", shown)
                     for stage, shown in rows if shown is not None]
        steps_parts = ["\n".join(lines) + "\n", document.align(equations, {}),
                       "\n\\noindent\\textbf{Result.}\n"]
        return _latex_document(d, steps_parts, d.latex, standalone)
    lines = [f"chain of layer Jacobians, from {name} up (stage: its Jacobian with respect to "
             f"{name}):"]
    lines += [f"  {to_text(stage)}: " + (to_text(shown) if shown is not None else
                                         "no closed form (see jvp)") for stage, shown in rows]
    return _text_document(d, [kinds_text(d), "\n".join(lines) + "\n\n"])


def jacobian_json_text(d: Jacobian) -> str:
    names = d.names
    out = {
        **_formula_json(d),
        "value": _expr_json(d.value),
        "directions": {n: s.name for n, s in d.directions.items()},
        "cotangent": d.cotangent.name,
        "jacobians": _matrices_json(d, d.jacobians),
        "refused": sorted(d.refused),
        "jvp": _expr_json(d.jvp, names),
        "vjps": {n: _expr_json(g, names) for n, g in d.vjps.items()},
        "latex": d.latex,
        **d.codes(),
        **_notes_json(d),
    }
    return json.dumps(out, indent=2) + "\n"
