"""Whole outputs of the command line: the gradient with its notes, and the derivation steps."""
from __future__ import annotations

import json

from .api import TARGETS as CODE_TARGETS, Derivation
from .errors import DeriveError
from .expr import Expr
from .layers import Layer, Network
from .printing.latex import latex_name, to_latex
from .printing.numpy import kind
from .printing.text import to_text
from .second_order import SecondOrder


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


def render(d: Derivation, fmt: str, steps: bool = False) -> str:
    second_order = isinstance(d, SecondOrder)
    if fmt in CODE_TARGETS:
        return d.code(fmt)
    if fmt == "json":
        return json.dumps(second_order_json(d) if second_order else as_json(d), indent=2) + "\n"
    if steps:
        parts = [render_layers(d, fmt)] + ([tangents_table(d, fmt)] if second_order else [])
    else:
        parts = []
    if fmt == "latex":
        parts.append("\\[\n" + d.latex.replace("\n", " \\\\\n") + "\n\\]\n")
        parts += [f"% note: {note}\n" for note in d.notes]
        return "\n".join(parts)
    if not steps:
        parts.append(kinds_text(d))
    parts.append(d.text + "\n")
    parts += [f"note: {note}\n" for note in d.notes]
    return "\n".join(parts) if steps else "".join(parts)


def _weight(layer: Layer, printer) -> str:
    if layer.weight is not None:
        return printer(layer.weight)
    return "I" if layer.is_identity_weight else "none"


def _derivative(layer: Layer, printer) -> str:
    return layer.derivative if isinstance(layer.derivative, str) else printer(layer.derivative)


def render_layers(d: Derivation, fmt: str) -> str:
    networks = d.layers
    if fmt == "json":
        return json.dumps([_network_json(n) for n in networks], indent=2) + "\n"
    if fmt == "latex":
        return "\n".join(_network_latex(i, n) for i, n in enumerate(networks, 1))
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
    lines = [f"% network {index}: input $z^{{(1)}} = {to_latex(network.input)}$",
             r"\[", r"\begin{array}{c|c|c|c|l}",
             r"l & W^{(l)} & f^{(l)}(z) & {f^{(l)}}'(z) & \delta^{(l)} \\ \hline"]
    for number, layer in enumerate(network.layers, 1):
        derivative = _derivative(layer, to_latex)
        if isinstance(layer.derivative, str):
            derivative = r"\text{" + derivative.replace("_", r"\_") + "}"
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


def _expr_json(e: Expr) -> dict:
    return {"text": to_text(e), "latex": to_latex(e)}


def _code(d: Derivation, target: str) -> str | None:
    """A target's code, or None where that language refuses the formula (a MATLAB name
    over 63 characters): the other targets are still given."""
    try:
        return d.code(target)
    except DeriveError:
        return None


def as_json(d: Derivation) -> dict:
    return {
        "formula": d.formula.source,
        "variables": [{"name": s.name, "kind": kind(s), "shape": [str(x) for x in s.shape]}
                      for s in d.formula.symbols],
        "wrt": d.wrt,
        "cost": _expr_json(d.formula.cost),
        "gradients": {name: {**_expr_json(g), "latex_equation":
                             rf"\nabla_{{{latex_name(name)}}} F = {to_latex(g)}"}
                      for name, g in d.gradients.items()},
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
            lines = [f"% network {index}, forward over reverse along ${along}$", r"\[",
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
        out["hessians"] = {name: {**_expr_json(shown), "acts_on": (
            f"vec({name})" if d.directions[name].shape[1] != 1 else name)}
            for name, (shown, _) in d.hessians.items()}
    return out
