"""Whole results as a reader gets them: equations with their "where" definitions.

Text is one equation a line, then ``where`` and one definition a line, each in
the formula language's own notation (so it reads back as the same function).
LaTeX puts equations that belong together in one ``align*``, aligned on ``=``,
with a long right-hand side broken at its top-level ``+`` and ``-`` so that no
line is wider than an 11pt article's text width (``naming`` has named parts of
any term wider than a line; with --inline, such a term is split at the brackets
of its widest sum or elementwise product instead).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..expr.nodes import Add, Expr, Hadamard, postorder, split_power
from .base import ADD, CHAIN
from .latex import LatexPrinter
from ..naming import Name
from .naming import term_width, used_names
from .text import FormulaTextPrinter
from .width import latex_width, text_width

PREAMBLE = "% derive: needs \\usepackage{amsmath} and \\usepackage{amssymb}, nothing else"
_INDENT = r"\quad "
# How deep a term wider than a line is split at the brackets inside it (where names do not
# make it fit: --inline).
SPLIT_DEPTH = 3
LONG_DISPLAY = 16   # lines
PAGE = 40           # lines of a display on a page of an 11pt article, about


@dataclass
class Equation:
    """``lhs = rhs``: rhs printed expanded at its top (a definition) or as any node."""
    text_lhs: str
    latex_lhs: str
    rhs: Expr
    is_definition: bool = False


# ---------------------------------------------------------------- text

def _undefined(equations: list[Equation], names: dict[Expr, Name], defined) -> list[Expr]:
    """The named nodes the equations use that neither they nor ``defined`` define."""
    known = set(defined) | {eq.rhs for eq in equations if eq.is_definition}
    used = set(used_names([eq.rhs for eq in equations], names))
    return [n for n in names if n in used and n not in known]   # in the map's order


def text_block(equations: list[Equation], names: dict[Expr, Name], defined=()) -> str:
    """One equation a line, then the definitions the equations use after "where"."""
    printer = FormulaTextPrinter(names)
    lines = [f"{eq.text_lhs} = {_rhs(printer, eq)}" for eq in equations]
    used = _undefined(equations, names, defined)
    if used:
        lines.append("where")
        lines += [f"  {names[n].text} = {printer.definition(n)}" for n in used]
    return "\n".join(lines)


def _rhs(printer, eq: Equation) -> str:
    return printer.definition(eq.rhs) if eq.is_definition else printer.print(eq.rhs)


# ---------------------------------------------------------------- LaTeX

def align(equations: list[Equation], names: dict[Expr, Name], defined=()) -> str:
    """An ``align*`` of the equations, then "where" and the definitions they use (but not
    those in ``defined``, given earlier)."""
    if not equations:
        return ""
    used = _undefined(equations, names, defined)
    printer = LatexPrinter(names)
    rows = [(eq.latex_lhs, _pieces(printer, eq)) for eq in equations]
    rows += [(names[n].latex, _pieces(printer, Equation("", "", n, True))) for n in used]
    return align_rows(rows, where=len(equations) if used else None)


def align_rows(rows: list[tuple[str, list[tuple[str, str]]]], where: int | None = None) -> str:
    """``lhs &= rhs`` rows, each rhs given as its signed top-level terms and broken into
    lines where wider than the text width; "where" before row ``where``."""
    lhs_width = max(latex_width(lhs) for lhs, _ in rows) + latex_width("=")
    filled = [_fill(pieces, text_width() - lhs_width) for _, pieces in rows]
    # A display longer than a good part of a page may break between equations (amsmath
    # keeps an align* on one page otherwise, leaving the page before it empty); an
    # equation longer than a page between its own lines too (one taller than TeX's
    # largest dimension would not compile at all).
    long = sum(len(row) for row in filled) > LONG_DISPLAY
    breaking, plain = " \\displaybreak[0] \\\\", " \\\\"
    lines = []
    for i, ((lhs, _), row) in enumerate(zip(rows, filled)):
        if i == where:
            lines.append("\\intertext{where}\n")
        text = ((breaking if len(row) > PAGE else plain) + "\n  &").join(row)
        end = "" if i == len(rows) - 1 else breaking if long else plain
        lines.append(f"{lhs} &= {text}{end}\n")
    return "\\begin{align*}\n" + "".join(lines) + "\\end{align*}\n"


def _pieces(printer: LatexPrinter, eq: Equation) -> list[tuple[str, str]]:
    """The rhs as (sign, text) pieces to set in lines: its top-level terms if it prints as a
    sum, and a term wider than a line as the parts of its widest bracketed sum or product."""
    expanded = eq.is_definition or eq.rhs not in printer.names
    if not (isinstance(eq.rhs, Add) and expanded):
        if eq.is_definition:
            printer.defining = eq.rhs
        try:
            return _split("+", eq.rhs, printer, SPLIT_DEPTH)
        finally:
            printer.defining = None
    printer.defining = eq.rhs if eq.is_definition else None
    try:
        parts = printer.signed_parts(eq.rhs)
    finally:
        printer.defining = None
    return [piece for sign, term in parts for piece in _split(sign, term, printer, SPLIT_DEPTH)]


_MARK = r"\derivesplit"


def _split(sign: str, term: Expr, printer: LatexPrinter, depth: int, level: int = ADD + 1
           ) -> list[tuple[str, str]]:
    r"""One term as pieces: itself if it fits a line, else ``before \Bigl( part + part ...
    \Bigr) after`` around its widest bracketed sum (or elementwise product)."""
    text = printer.wrap(term, level) if term is not printer.defining else \
        printer.definition(term)
    width = latex_width(text)
    if width <= term_width() or depth == 0:
        return [(sign, text)]
    groups = [n for n in postorder(term, lambda n: n is term or n not in printer.names)
              if isinstance(n, (Add, Hadamard)) and (n is term or n not in printer.names)]
    groups.sort(key=lambda g: latex_width(printer.print(g)) if g is not term else width,
                reverse=True)
    # The widest part printed once in the term (tanh(G) tanh(G)^T cannot be opened at G).
    group, marked = None, ""
    for candidate in groups:
        if candidate is term:
            group = term
            break
        printer.names[candidate] = Name("", _MARK)
        try:
            marked = printer.wrap(term, level) if term is not printer.defining else \
                printer.definition(term)
        finally:
            del printer.names[candidate]
        # Opened outside any braces (not inside a \frac or an exponent).
        if marked.count(_MARK) == 1 and _balanced(marked.split(_MARK)[0]):
            group = candidate
            break
    if group is None:   # no part prints as itself once (x ./ y prints y)
        return [(sign, text)]
    if group is term:
        before, after = "", ""
    else:
        before, after = marked.split(_MARK, 1)
        if before.endswith(r"\left(") and after.startswith(r"\right)"):
            before, after = before[:-len(r"\left(")], after[len(r"\right)"):]
        # Brackets around the part now open on one line and close on another: \left and
        # \right cannot, \Bigl and \Bigr can.
        before, after = _unmatched(before, r"\left", r"\right", r"\Bigl"), \
            _unmatched(after[::-1], r"\right"[::-1], r"\left"[::-1], r"\Bigr"[::-1])[::-1]
        before, after = before + r"\Bigl(", r"\Bigr)" + after
    if isinstance(group, Add):
        inner = [p for s, t in printer.signed_parts(group)
                 for p in _split(s, t, printer, depth - 1)]
    else:
        inner = _factors(group, printer, depth - 1)
    first_sign, first = inner[0]
    inner[0] = (sign, before + ("-" if first_sign == "-" else "") + first)
    last_sign, last = inner[-1]
    if latex_width(last + after) <= term_width():
        inner[-1] = (last_sign, last + after)
    else:
        inner.append(("", after))    # the closing bracket and what follows, a line of its own
    return inner


def _balanced(text: str) -> bool:
    depth = 0
    for c in text.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(c, 0)
    return depth == 0


def _unmatched(text: str, opening: str, closing: str, replacement: str) -> str:
    """text with every ``opening`` that no ``closing`` matches within it replaced."""
    pieces = re.split(f"({re.escape(opening)}|{re.escape(closing)})", text)
    pending: list[int] = []
    for i, piece in enumerate(pieces):
        if piece == opening:
            pending.append(i)
        elif piece == closing and pending:
            pending.pop()
    for i in pending:
        pieces[i] = replacement
    return "".join(pieces)


def _factors(e: Hadamard, printer: LatexPrinter, depth: int) -> list[tuple[str, str]]:
    r"""An elementwise product as (operator, factor) pieces: x, \odot y, \oslash z."""
    out = []
    for i, f in enumerate(e.factors):
        base, exponent = split_power(f)
        if i and exponent == -1:
            out += _split(r"\oslash", base, printer, depth, CHAIN + 1)
        else:
            out += _split(r"\odot", f, printer, depth, CHAIN + 1)
    return out


def _fill(pieces: list[tuple[str, str]], room: float) -> list[str]:
    """Terms joined by their signs, as lines: a new one (indented) wherever the next term
    would not fit."""
    sign, text = pieces[0]
    lines = [("-" if sign == "-" else "") + text]
    indent = latex_width(_INDENT + "+")
    for sign, text in pieces[1:]:
        piece = f" {sign} {text}" if sign else f" {text}"
        limit = room - (indent if len(lines) > 1 else 0.0)
        if latex_width(lines[-1] + piece) <= limit:
            lines[-1] += piece
        else:
            lines.append(f"{_INDENT}{sign} {text}" if sign else f"{_INDENT}{text}")
    return lines


def escape(text: str) -> str:
    """Plain text for LaTeX's text mode."""
    out = []
    for ch in text:
        if ch in "&%$#_{}":
            out.append("\\" + ch)
        elif ch in "\\^~":
            out.append({"\\": r"\textbackslash{}", "^": r"\^{}", "~": r"\~{}"}[ch])
        else:
            out.append(ch)
    return "".join(out)


def notes(texts: list[str]) -> str:
    """Notes (subgradients, assumptions) as a paragraph of the document."""
    if not texts:
        return ""
    return "\\noindent Note: " + "; ".join(escape(prose(t)) for t in texts) + ".\n"


def prose(note: str) -> str:
    """A note as a paper says it, without the command line: "assuming M is symmetric"."""
    note = re.sub(r"\s*\(--[^()]*\)", "", note)
    return re.sub(r"^assumed: ", "assuming ", note)


def standalone(body: str) -> str:
    """A whole document pdflatex compiles as it is."""
    return (PREAMBLE + "\n\\documentclass[11pt]{article}\n\\usepackage{amsmath}\n"
            "\\usepackage{amssymb}\n\\begin{document}\n" + body.removeprefix(PREAMBLE + "\n")
            + "\\end{document}\n")
