"""Kinds and shapes of the formula's names: defaults, declarations, and unification.

A shape is (rows, cols) of SymPy dimensions. A dimension is an integer, a
symbol the user declared (``--shape s=n,k``), or a fresh unknown that
unification binds; unknowns left at the end get readable names.
"""
from __future__ import annotations

import itertools
import re

import sympy

from ..errors import DeriveError
from ..expr.nodes import ONE, SCALAR, Shape

GREEK = frozenset("""alpha beta gamma delta epsilon eps zeta eta theta iota kappa lambda mu nu xi
    omicron pi rho sigma tau upsilon phi chi psi omega""".split())

_READABLE = ("m", "n", "k", "p", "q", "r", "d", "h", "t", "u", "v", "w")


def default_kind(name: str) -> str:
    """'matrix', 'scalar' or 'vector', by the rule on the name's spelling (docs/language.md)."""
    if name[0].isupper():
        return "matrix"
    if name in GREEK:
        return "scalar"
    return "vector"


def parse_declaration(text: str) -> tuple[str, tuple[sympy.Expr, ...]]:
    """``--shape`` value ``NAME=DIMS``: ``s=n,k`` (matrix), ``b=m`` (vector), ``gamma=`` (scalar)."""
    match = re.fullmatch(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*?)\s*", text)
    if not match:
        raise DeriveError(f"--shape {text!r}: expected NAME=DIMS, like s=n,k or b=m or gamma=")
    name, dims_text = match.groups()
    dims: list[sympy.Expr] = []
    if dims_text:
        for part in dims_text.split(","):
            part = part.strip()
            if re.fullmatch(r"[0-9]+", part):
                if len(part) > 9:
                    raise DeriveError(f"--shape {text[:60]!r}: dimension {part[:20]} is too "
                                      "large (at most 999,999,999)")
                if int(part) <= 0:
                    raise DeriveError(f"--shape {text!r}: dimension {part} must be a positive integer")
                dims.append(sympy.Integer(int(part)))
            elif re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", part):
                dims.append(sympy.Symbol(part, positive=True, integer=True))
            else:
                raise DeriveError(f"--shape {text!r}: dimension {part!r} is neither a positive "
                                  "integer nor a name")
    if len(dims) > 2:
        raise DeriveError(f"--shape {text!r}: at most two dimensions (rows, columns)")
    return name, tuple(dims)


# What --assume may declare, and how the output names it.
PROPERTIES = {
    "symmetric": "is symmetric",
    "spd": "is symmetric positive definite",
    "onehot": "holds one-hot labels (entries in [0, 1], every column sums to 1)",
}


def parse_assumption(text: str) -> tuple[str, str]:
    """``--assume`` value ``NAME=PROPERTY``: ``Sigma=spd``, ``Y=onehot``."""
    match = re.fullmatch(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2) not in PROPERTIES:
        raise DeriveError(f"--assume {text[:60]!r}: expected NAME=PROPERTY with PROPERTY one of "
                          f"{', '.join(PROPERTIES)}, like Sigma=spd or Y=onehot")
    return match.group(1), match.group(2)


def declared_shape(dims: tuple[sympy.Expr, ...]) -> Shape:
    if len(dims) == 0:
        return SCALAR
    if len(dims) == 1:
        return (dims[0], ONE)
    return (dims[0], dims[1])


class Dimensions:
    """Union-find over dimensions; integers and declared symbols are fixed, fresh ones bind."""

    def __init__(self) -> None:
        self._parent: dict[sympy.Expr, sympy.Expr] = {}
        self._fresh: set[sympy.Expr] = set()
        # Names given only in eye(n)/ones(m, n): they keep their name unless something fixed
        # (an integer, a declared dimension) says what they equal.
        self._soft: set[sympy.Expr] = set()
        self._counter = itertools.count(1)

    def fresh(self) -> sympy.Symbol:
        d = sympy.Symbol(f"_d{next(self._counter)}", positive=True, integer=True)
        self._fresh.add(d)
        return d

    def find(self, d: sympy.Expr) -> sympy.Expr:
        root = d
        while root in self._parent:
            root = self._parent[root]
        while d in self._parent and self._parent[d] != root:
            self._parent[d], d = root, self._parent[d]
        return root

    def resolve(self, shape: Shape) -> Shape:
        return (self.find(shape[0]), self.find(shape[1]))

    def is_fresh(self, d: sympy.Expr) -> bool:
        return self.find(d) in self._fresh

    def soften(self, d: sympy.Expr) -> None:
        """Let the name d, not declared anywhere, bind to what it must equal."""
        if isinstance(d, sympy.Symbol) and d not in self._parent:
            self._soft.add(d)

    def unify(self, a: sympy.Expr, b: sympy.Expr) -> bool:
        """Make a and b equal if they can be; False if they are different fixed dimensions."""
        a, b = self.find(a), self.find(b)
        if a == b:
            return True
        if a == 1 and b in self._fresh or b == 1 and a in self._fresh:
            # Binding an unknown to 1 would make a vector of a matrix, a scalar of a vector,
            # silently; that is not what anyone who leaves a dimension unknown means.
            return False
        for pool in (self._fresh, self._soft):   # an unknown binds first, then a soft name
            if a in pool:
                self._parent[a] = b
                return True
            if b in pool:
                self._parent[b] = a
                return True
        return False

    def readable_names(self, shapes: list[Shape], taken: set[str]) -> dict[sympy.Expr, sympy.Expr]:
        """Names for the unknowns still free, in order of first appearance."""
        names = (n for n in itertools.chain(_READABLE, (f"d{i}" for i in itertools.count(1)))
                 if n not in taken)
        mapping: dict[sympy.Expr, sympy.Expr] = {}
        for shape in shapes:
            for d in shape:
                root = self.find(d)
                if root in self._fresh and root not in mapping:
                    mapping[root] = sympy.Symbol(next(names), positive=True, integer=True)
        return mapping


def format_shape(shape: Shape, dims: Dimensions | None = None) -> str:
    if dims is not None:
        shape = dims.resolve(shape)
    parts = ["?" if dims is not None and dims.is_fresh(d) else str(d) for d in shape]
    return "scalar" if shape == SCALAR else "×".join(parts)
