"""Fresh names: the one namer the printers, the derivations and the emitted code share.

A namer is seeded with every name already in use (the formula's variables,
definitions, dimensions and functions; for emitted code also the language's
reserved words and the snippet's own names). Each request gets its wish if free,
else the wish lengthened once (``d_X_``) and then numbered (``d_X_2``, ``grad_x_term2``),
or numbered from the start (``t1``, ``t2``, ...), past every taken name, so that a
generated name never shadows one the reader already knows. Numbers come from a counter
per stem: a name never grows by more than one suffix, and a thousand requests for one
stem cost a thousand steps, not a million.
"""
from __future__ import annotations

import builtins
import keyword
from dataclasses import dataclass
from typing import Callable, Iterable

# Names emitted Python must not rebind: its keywords and builtins.
PYTHON_NAMES = frozenset(keyword.kwlist) | frozenset(dir(builtins))


@dataclass(frozen=True)
class Name:
    """How a named node prints: in plain text (a name of the formula language) and in LaTeX."""
    text: str
    latex: str


class Namer:
    """Names that no taken name (nor a ``reserved`` word of the target language) uses."""

    def __init__(self, taken: Iterable[str], reserved: Iterable[str] = ()) -> None:
        self.taken = set(taken) | set(reserved)
        self.counters: dict[str, int] = {}

    def exact(self, name: str, suffix: str = "_") -> str:
        """``name`` if free, else with ``suffix`` appended if that is, else numbered after
        it from 2 (``H``, ``H_``, ``H_2``, ...; with no suffix ``term``, ``term2``, ...)."""
        for wish in (name, name + suffix):
            if wish not in self.taken:
                self.taken.add(wish)
                return wish
        return self.numbered(name + suffix, first=2)

    def numbered(self, prefix: str, first: int = 1) -> str:
        """prefix1, prefix2, ... (from ``first``): the next one free."""
        return f"{prefix}{self.number(prefix, first)}"

    def number(self, prefix: str, first: int = 1) -> int:
        """The next i (from ``first``) with prefix{i} free, which is then taken."""
        n = self.counters.get(prefix, first - 1)
        while True:
            n += 1
            if f"{prefix}{n}" not in self.taken:
                self.counters[prefix] = n
                self.taken.add(f"{prefix}{n}")
                return n

    def fresh(self, stem: str, latex: Callable[[int], str]) -> Callable[[], Name]:
        """A source of names stem1, stem2, ... (the LaTeX of number i given by ``latex``)."""
        def next_name() -> Name:
            i = self.number(stem)
            return Name(f"{stem}{i}", latex(i))
        return next_name


def python_namer(taken: Iterable[str]) -> Namer:
    """A namer for emitted code: Python's keywords and builtins are taken as well."""
    return Namer(taken, reserved=PYTHON_NAMES)


def python_name(name: str, reserved: set[str] | frozenset[str] = frozenset()) -> str:
    """A formula's name as a Python parameter: a keyword or a name the code needs
    (``np``, ``value``, a helper) gets a trailing underscore."""
    while keyword.iskeyword(name) or name in reserved:
        name += "_"
    return name
