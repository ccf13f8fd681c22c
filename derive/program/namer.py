"""Names, allocated last: no temporary can shadow a parameter, a helper, or a keyword.

The namer is seeded with every name the snippet uses for something else
(parameters, dimensions, helpers, ``np``, the function names, Python keywords
and builtins); each request gets its hint if free, else the hint with a
suffix. Temporaries ask for ``t`` and get t1, t2, ... skipping taken names.
"""
from __future__ import annotations

import builtins
import keyword


def python_name(name: str, reserved: set[str] | frozenset[str] = frozenset()) -> str:
    """A formula's name as a Python parameter: a keyword or a name the code needs
    (``np``, ``value``, a helper) gets a trailing underscore."""
    while keyword.iskeyword(name) or name in reserved:
        name += "_"
    return name


class Namer:
    def __init__(self, taken: set[str]) -> None:
        self.taken = set(taken) | set(keyword.kwlist) | set(dir(builtins))
        self.counters: dict[str, int] = {}

    def exact(self, name: str, suffix: str = "_") -> str:
        """``name`` if free, else with ``suffix`` appended until it is."""
        while name in self.taken:
            name += suffix
        self.taken.add(name)
        return name

    def numbered(self, prefix: str) -> str:
        """prefix1, prefix2, ...: the next one free."""
        n = self.counters.get(prefix, 0)
        while True:
            n += 1
            name = f"{prefix}{n}"
            if name not in self.taken:
                self.counters[prefix] = n
                self.taken.add(name)
                return name
