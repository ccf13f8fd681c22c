"""Whole outputs of the command line: the gradient with its notes, and the derivation steps."""
from __future__ import annotations

import json
import re

from .api import TARGETS as CODE_TARGETS, Derivation
from .errors import DeriveError
from .printing import document
from .printing.source import source_latex
from .diff.steps import derivation_steps
from .expr.nodes import Expr
from .diff.layers import Layer, Network
from .printing.latex import LatexPrinter, latex_name, to_latex
from .codegen.numpy import kind
from .printing.text import FormulaTextPrinter, TextPrinter, to_text
from .diff.second_order import SecondOrder
from .jacobians import Jacobian


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
    """The kinds that defaults decided, name by name, with why and the --shape to change
    them: the first lines of every text output, so that no name silently decides a shape."""
    defaults = d.formula.defaults
    if not defaults:
        return ""
    renamed = _dimension_names(d)
    lines = ["kinds from the names (--shape changes them):"]
    for name in list(defaults)[:MAX_KINDS_SHOWN]:
        symbol = d.formula.symbol(name)
        k = kind(symbol)
        what = {"scalar": "scalar", "col": f"vector of length {_shape_text(symbol, renamed)}"}.get(
            k, f"{_shape_text(symbol, renamed)} matrix")
        why = _KIND_WHY[defaults[name]].format(name=name)
        lines.append(f"  {name}: {what} ({why})")
    if len(defaults) > MAX_KINDS_SHOWN:
        lines.append(f"  and {len(defaults) - MAX_KINDS_SHOWN:,} more, by the same rule")
    return "\n".join(lines) + "\n"


def render(d: Derivation, fmt: str, steps: bool = False, standalone: bool = False) -> str:
    if standalone and fmt != "latex":
        raise DeriveError("--standalone makes a whole LaTeX document: use it with --format latex")
    second_order = isinstance(d, SecondOrder)
    if isinstance(d, Jacobian) and (fmt == "json" or steps and fmt in ("text", "latex")):
        return jacobian_json_text(d) if fmt == "json" else jacobian_steps(d, fmt, standalone)
    if fmt in CODE_TARGETS:
        return d.code(fmt)
    if fmt == "json":
        return json.dumps(second_order_json(d) if second_order else as_json(d), indent=2) + "\n"
    if fmt == "latex":
        parts = [document.PREAMBLE + "\n"]
        if steps and second_order:
            parts += [render_layers(d, fmt, preamble=False), tangents_table(d, fmt)]
        elif steps:
            parts += [_steps_latex(d), "\\noindent\\textbf{Result.}\n"]
        parts.append(_second_order_latex(d) if second_order else d.latex)
        parts.append(document.notes(d.notes))
        body = "".join(parts)
        return document.standalone(body) if standalone else body
    if steps and second_order:
        parts = [render_layers(d, fmt), tangents_table(d, fmt)]
    else:
        parts = [kinds_text(d)] + ([_steps_text(d)] if steps else [])
    parts.append(d.text + "\n")
    parts += [f"note: {note}\n" for note in d.notes]
    return "".join(parts)


def _second_order_latex(d: SecondOrder) -> str:
    """The Hessians or Hessian-vector products in one align*, broken to fit as gradients are."""
    if d.hessians:
        rows = {rf"\nabla^2_{{{latex_name(n)}}} F": shown for n, (shown, _) in d.hessians.items()}
    else:
        rows = {d.hvp_latex(n).split(" = ", 1)[0]: h for n, h in d.hvps.items()}
    return document.align([document.Equation("", lhs, e) for lhs, e in rows.items()], {})


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


def _steps_text(d: Derivation) -> str:
    steps, sections = _step_sections(d)
    source = re.sub(r"#[^\n]*", "", d.formula.source)
    out = [f"{_HEADINGS[0][0]}, {_HEADINGS[0][1]}"]
    parts = [" ".join(part.split()) for part in source.split(";") if part.strip()]
    out += [f"  {part}" for part in parts[:-1]] + [f"  F = {parts[-1]}"]
    for (title, explanation), equations in zip(_HEADINGS[1:], sections):
        out.append(f"{title}: {explanation}")
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
        out.append(rf"\noindent\textbf{{{title}.}} {explanation}" + "\n")
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
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    table = ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths)) + "  " + r[4]
             for r in rows]
    return "\n".join(header + table) + "\n"


def _network_latex(index: int, network: Network) -> str:
    lines = [rf"\noindent Network {index}, input $z^{{(1)}} = {to_latex(network.input)}$:",
             r"\[", r"\begin{array}{c|c|c|c|l}",
             r"l & W^{(l)} & f^{(l)}(z) & {f^{(l)}}'(z) & \delta^{(l)} \\ \hline"]
    for number, layer in enumerate(network.layers, 1):
        derivative = _derivative(layer, to_latex)
        if isinstance(layer.derivative, str):
            derivative = r"\text{" + document.escape(derivative) + "}"
        weight = _weight(layer, to_latex)
        weight = r"\text{none}" if weight == "none" else weight
        lines.append(f"{number} & {weight} & {to_latex(layer.activation)} & {derivative} & "
                     f"{to_latex(layer.delta)} \\\\")
    lines += [r"\end{array}", r"\]"]
    return "\n".join(lines) + "\n"


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


def _code(d: Derivation, target: str) -> str | None:
    """A target's code, or None where that language refuses the formula (a MATLAB name
    over 63 characters): the other targets are still given."""
    try:
        return d.code(target)
    except DeriveError:
        return None


def as_json(d: Derivation) -> dict:
    names = d.names
    return {
        "formula": d.formula.source,
        "variables": [{"name": s.name, "kind": kind(s), "shape": [str(x) for x in s.shape]}
                      for s in d.formula.symbols],
        "wrt": d.wrt,
        "cost": _expr_json(d.formula.cost),
        "cost_as_written_latex": source_latex(d.formula.source),
        "gradients": {name: {**_expr_json(g, names), "latex_equation":
                             rf"\nabla_{{{latex_name(name)}}} F = {LatexPrinter(names).print(g)}"}
                      for name, g in d.gradients.items()},
        # The named intermediates the gradients use, each after those its definition uses.
        "where": [{"name": name.text, "latex_name": name.latex,
                   **_expr_json(node, names, definition=True)} for node, name in names.items()],
        "latex": d.latex,
        **{target: _code(d, target) for target in CODE_TARGETS},
        "layers": [_network_json(n) for n in d.layers],
        "notes": d.notes,
        "assumed_kinds": d.formula.defaults,
        "warnings": d.warnings,
    }


# ---------------------------------------------------------------- second order


def tangents_table(d: SecondOrder, fmt: str) -> str:
    """For each layer, the tangent (derivative along the directions) of its input and delta."""
    printer = to_latex if fmt == "latex" else to_text
    along = ", ".join(printer(s) for s in d.directions.values())
    out = []
    for index, network in enumerate(d.layers, 1):
        rows = [("layer", "tangent of z(l)", "tangent of delta(l)")]
        rows += [(str(number), printer(d.tangents(layer.z)), printer(d.tangents(layer.delta)))
                 for number, layer in enumerate(network.layers, 1)]
        if fmt == "latex":
            lines = [rf"\noindent Network {index}, forward over reverse along ${along}$:", r"\[",
                     r"\begin{array}{c|l|l}",
                     r"l & \dot z^{(l)} & \dot\delta^{(l)} \\ \hline"]
            lines += [" & ".join(r) + r" \\" for r in rows[1:]]
            out.append("\n".join(lines + [r"\end{array}", r"\]"]) + "\n")
            continue
        widths = [max(len(r[c]) for r in rows) for c in range(2)]
        table = ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r[:2], widths)) + "  " + r[2]
                 for r in rows]
        out.append("\n".join([f"network {index}, forward over reverse along {along}:"] + table)
                   + "\n")
    return "\n".join(out)


def second_order_json(d: SecondOrder) -> dict:
    out = as_json(d)
    out["directions"] = {name: s.name for name, s in d.directions.items()}
    out["hvps"] = {name: {**_expr_json(h), "latex_equation": d.hvp_latex(name)}
                   for name, h in d.hvps.items()}
    if d.hessians:
        out["hessians"] = {name: {**_expr_json(shown, language=False), "acts_on": (
            f"vec({name})" if d.directions[name].shape[1] != 1 else name)}
            for name, (shown, _) in d.hessians.items()}
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
        body = "".join([document.PREAMBLE + "\n", "\n".join(lines) + "\n",
                        document.align(equations, {}), "\n\\noindent\\textbf{Result.}\n",
                        d.latex, document.notes(d.notes)])
        return document.standalone(body) if standalone else body
    lines = [f"chain of layer Jacobians, from {name} up (stage: its Jacobian with respect to "
             f"{name}):"]
    lines += [f"  {to_text(stage)}: " + (to_text(shown) if shown is not None else
                                         "no closed form (see jvp)") for stage, shown in rows]
    return "".join([kinds_text(d), "\n".join(lines) + "\n\n", d.text + "\n"] +
                   [f"note: {note}\n" for note in d.notes])


def jacobian_json_text(d: Jacobian) -> str:
    names = d.names
    out = {
        "formula": d.formula.source,
        "variables": [{"name": s.name, "kind": kind(s), "shape": [str(x) for x in s.shape]}
                      for s in d.formula.symbols],
        "wrt": d.wrt,
        "value": _expr_json(d.value),
        "directions": {n: s.name for n, s in d.directions.items()},
        "cotangent": d.cotangent.name,
        "jacobians": {n: {**_expr_json(shown, language=False), "acts_on": (
            f"vec({n})" if d.directions[n].shape[1] != 1 else n)}
            for n, (shown, _) in d.jacobians.items()},
        "refused": sorted(d.refused),
        "jvp": _expr_json(d.jvp, names),
        "vjps": {n: _expr_json(g, names) for n, g in d.vjps.items()},
        "latex": d.latex,
        **{target: _code(d, target) for target in CODE_TARGETS},
        "notes": d.notes,
        "assumed_kinds": d.formula.defaults,
        "warnings": d.warnings,
    }
    return json.dumps(out, indent=2) + "\n"
