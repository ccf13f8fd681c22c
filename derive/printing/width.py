"""How wide a line of LaTeX math sets, estimated in points (11pt Computer Modern).

The estimate reads the LaTeX our printer writes (no general TeX): glyphs at
their typical widths, binary operators and relations with their spacing,
sub- and superscripts at script size, a fraction as wide as its wider part.
It errs on the wide side; the compile tests check it against pdflatex's
Overfull \\hbox warnings.
"""
from __future__ import annotations

import contextvars
import re
from contextlib import contextmanager
from typing import Iterator

# An 11pt article's \textwidth is 345pt (letter) to 360pt (A4); lines are kept narrower still
# by the estimate's error (it reads up to a tenth short on lines heavy in capitals and brackets).
TEXT_WIDTH = 325.0
# One column of a two-column paper (\columnwidth: 241pt in a two-column article, 252pt in IEEE's
# class), kept narrower as above.
COLUMN_WIDTH = 230.0
_WIDTH: contextvars.ContextVar[float] = contextvars.ContextVar("text_width", default=TEXT_WIDTH)


def text_width() -> float:
    """The width LaTeX lines are broken to: TEXT_WIDTH unless ``page_width`` says otherwise."""
    return _WIDTH.get()


@contextmanager
def page_width(points: float) -> Iterator[None]:
    """Break LaTeX lines to ``points`` within the block (``--width``: a two-column paper)."""
    token = _WIDTH.set(points)
    try:
        yield
    finally:
        _WIDTH.reset(token)
SCRIPT = 0.72

_LOWER, _UPPER, _DIGIT, _ROMAN = 6.0, 9.4, 5.6, 5.6
_BINARY = 8.6 + 2 * 2.5          # + - \odot with medium spaces
_RELATION = 8.6 + 2 * 3.1        # = with thick spaces
_COMMANDS = {
    r"\left": 0.0, r"\right": 0.0, r"\top": 8.6, r"\circ": 5.5, r"\times": _BINARY,
    r"\odot": _BINARY, r"\oslash": _BINARY, r"\otimes": _BINARY, r"\cdot": _BINARY,
    r"\lVert": 5.0, r"\rVert": 5.0, r"\nabla": 9.2, r"\partial": 6.3, r"\quad": 11.0,
    r"\qquad": 22.0, r"\,": 1.9, r"\;": 3.1, r"\!": -1.9, r"\ ": 3.7, r"\log": 14.0,
    r"\exp": 16.5, r"\det": 16.0, r"\sin": 13.5, r"\cos": 15.0, r"\tanh": 22.5,
    r"\dots": 15.0, r"\ldots": 15.0, r"\cdots": 15.0, r"\infty": 11.0, r"\ge": _RELATION,
    r"\le": _RELATION, r"\to": _RELATION,
}
_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}^_]|\s+|.")


def latex_width(text: str) -> float:
    """The estimated width of ``text`` (math mode, display style) in points."""
    tokens = [t for t in _TOKEN.findall(text) if not t.isspace()]
    width, _ = _row(tokens, 0, 1.0)
    return width


def _row(tokens: list[str], i: int, scale: float) -> tuple[float, int]:
    """Width of tokens from i to the closing brace of this group (or the end)."""
    total = 0.0
    while i < len(tokens) and tokens[i] != "}":
        w, i = _item(tokens, i, scale)
        total += w
    return total, i + 1


def _group(tokens: list[str], i: int, scale: float) -> tuple[float, int]:
    """One argument: {...} or a single token."""
    if i < len(tokens) and tokens[i] == "{":
        return _row(tokens, i + 1, scale)
    return _item(tokens, i, scale)


def _item(tokens: list[str], i: int, scale: float) -> tuple[float, int]:
    if i >= len(tokens):       # a piece of a line cut inside a group: it ends here
        return 0.0, i
    t = tokens[i]
    if t == "{":
        return _row(tokens, i + 1, scale)
    if t in ("^", "_"):
        return _group(tokens, i + 1, scale * SCRIPT)
    if t == r"\frac":
        top, i = _group(tokens, i + 1, scale)
        bottom, i = _group(tokens, i, scale)
        return max(top, bottom) + 2.4 * scale, i
    if t == r"\sqrt":
        inner, i = _group(tokens, i + 1, scale)
        return inner + 9.0 * scale, i
    if t in (r"\operatorname", r"\text", r"\mathrm", r"\textrm"):
        inner, i = _group(tokens, i + 1, scale * _ROMAN / _LOWER)
        return inner + 1.7 * scale, i
    if t in (r"\mathbf", r"\mathbb", r"\boldsymbol"):
        inner, i = _group(tokens, i + 1, scale)
        return inner * 1.1, i
    if t in (r"\left", r"\right", r"\big", r"\Big", r"\bigl", r"\bigr"):
        return (0.0 if tokens[i + 1] == "." else 6.2 * scale), i + 2
    if t.startswith("\\"):
        return _COMMANDS.get(t, 7.0) * scale, i + 1
    if t in "+-":
        return (_BINARY if scale == 1.0 else 7.0 * scale), i + 1
    if t in "=<>":
        return (_RELATION if scale == 1.0 else 7.0 * scale), i + 1
    if t in "()[]|":
        return 4.6 * scale, i + 1
    if t in ",;":
        return 4.6 * scale, i + 1
    if t in "'&":
        return (3.0 if t == "'" else 0.0) * scale, i + 1
    if t.isdigit():
        return _DIGIT * scale, i + 1
    if t.isupper():
        return _UPPER * scale, i + 1
    return _LOWER * scale, i + 1
