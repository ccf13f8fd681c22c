"""The tokens of LaTeX math as papers write it, for the LaTeX reader (``latex.py``).

A token is a control sequence (``\\frac``, ``\\|``, ``\\\\``), one letter (in
math mode ``As`` is two names, ``A`` times ``s``), a number (``12``, ``0.5``),
or one symbol (``+ - * / = ^ _ ' ( ) [ ] { } | & , ; < > !``).  Whitespace,
``%`` comments, the math delimiters (``$``, ``\\[``, ``\\]``) and spacing commands
(``\\,``, ``\\;``, ``\\quad``, ``\\!``, ``\\displaystyle``) are dropped; sizing
commands (``\\left``, ``\\right``, ``\\big``, ``\\Bigl``, ...) are dropped too, since
the delimiter after them says all.  A few characters that a PDF gives when a
formula is copied from it (``−``, ``·``, ``⊙``, ``‖``, ``⊤``) are read as their
commands.  Every token keeps the offset of its first character, for messages with a
caret.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from ..errors import DeriveError

__all__ = ["Token", "tokenize"]

# Longest accepted number literal, as in the text language.
MAX_NUMBER_DIGITS = 1000


class Token(NamedTuple):
    """``kind`` is 'cs' (a control sequence, text with its backslash), 'letter', 'number',
    'symbol' or 'end'; ``pos`` the offset of its first character in the LaTeX."""
    kind: str
    text: str
    pos: int


# Commands that only space or size: they change nothing in the formula.
_IGNORED = frozenset(r"""
    \, \; \: \! \> \  \quad \qquad \enspace \thinspace \medspace \thickspace \negthinspace
    \displaystyle \textstyle \scriptstyle \limits \nolimits \left \right \middle
    \big \Big \bigg \Bigg \bigl \bigr \Bigl \Bigr \biggl \biggr \Biggl \Biggr
    \bigm \Bigm \biggm \Biggm \nonumber \notag \allowbreak \relax \[ \] \( \)
""".split()) | {"\\ ", "\\\n", "\\\t"}

# What a PDF gives for some symbols when a formula is copied from it.
_UNICODE = {"−": "-", "·": r"\cdot", "×": r"\times", "⊙": r"\odot", "∘": r"\circ",
            "‖": r"\|", "⊤": r"\top", "′": "'", "∑": r"\sum", "∥": r"\|"}

_TOKEN = re.compile(r"""
    (?:\s | %[^\n]* | \$)*
    (?: (?P<cs>\\(?:[A-Za-z]+|[^A-Za-z]))
      | (?P<letter>[A-Za-z])
      | (?P<number>(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
      | (?P<symbol>[-+*/=^_'()\[\]{}|&,;<>!:.])
      | (?P<end>\Z)
      | (?P<bad>[\s\S])
    )
""", re.VERBOSE)


def _bad(source: str, pos: int) -> DeriveError:
    ch = source[pos]
    shown = f"'{ch}'" if ch.isprintable() else f"U+{ord(ch):04X}"
    if ch == "\\":
        return DeriveError("a lone backslash at the end of the formula", source=source,
                           offset=pos)
    return DeriveError(f"unexpected character {shown} in the LaTeX formula", source=source,
                       offset=pos)


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source``, ending with one 'end' token; spacing and sizing dropped."""
    tokens: list[Token] = []
    for m in _TOKEN.finditer(source):
        kind = m.lastgroup
        text = m[kind]
        pos = m.start(kind)
        if kind == "end":
            tokens.append(Token("end", "", pos))
            return tokens
        if kind == "bad":
            if text in _UNICODE:
                spelled = _UNICODE[text]
                kind = "cs" if spelled.startswith("\\") else "symbol"
                text = spelled
            else:
                raise _bad(source, pos)
        if kind == "cs" and text in _IGNORED:
            continue
        if kind == "number" and len(text) > MAX_NUMBER_DIGITS:
            raise DeriveError(f"number is too long (more than {MAX_NUMBER_DIGITS} digits)",
                              source=source, offset=pos)
        tokens.append(Token(kind, text, pos))
    raise AssertionError("the tokenizer ran past the end")  # pragma: no cover
