"""The cost as a SciPy objective: ``f(flat) -> (value, flat gradient)``.

``scipy.optimize.minimize(f, x0, jac=True)`` works on one flat vector. The
variables (``wrt``, in their order) are packed into it one after the other,
each in C order (row by row); the other names of the formula are data, fixed
when the objective is made. The function is the emitted ``value_and_grad``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import sympy

from .errors import DeriveError
from .program import kind


def _key(name) -> str:
    """Data may be keyed by name or by the SymPy symbol itself."""
    return name if isinstance(name, str) else str(getattr(name, "name", name))


class Objective:
    """``f(flat) -> (value, gradient)`` over the variables packed in order, each in C order.

    ``unpack(flat)`` gives the variables back as a dict {name: value} (matrices
    2-D, vectors 1-D, scalars floats); ``pack(values)`` is the inverse, for x0;
    ``size`` is the length of the flat vector.
    """

    def __init__(self, derivation, data: dict, sizes: dict | None = None) -> None:
        symbols = derivation.parameters
        self.order = [s.name for s in symbols]   # value_and_grad's parameters
        variables = [next(s for s in symbols if s.name == name) for name in derivation.wrt]
        given = {_key(k): v for k, v in (data or {}).items()}
        expected = [s for s in symbols if s.name not in derivation.wrt]
        for name in given:
            if name in derivation.wrt:
                raise DeriveError(f"{name} is a variable of the objective: its value comes from "
                                  "the flat vector, not from data")
            if name not in self.order:
                raise DeriveError(f"data names {name!r}, which is not a name of the cost "
                                  f"(its names: {', '.join(self.order)})")
        missing = [s.name for s in expected if s.name not in given]
        if missing:
            raise DeriveError(f"the objective needs data for {', '.join(missing)}")
        self.sizes: dict[sympy.Expr, int] = {}
        named = {str(k): v for k, v in (sizes or {}).items()}
        self.data = {s.name: self._datum(s, given[s.name]) for s in expected}
        self.layout: list[tuple[str, tuple[int, ...]]] = []
        for s in variables:
            self.layout.append((s.name, self._array_shape(s, named)))
        self.size = sum(int(np.prod(shape)) for _, shape in self.layout)
        self.value_and_grad: Callable = derivation.namespace()["value_and_grad"]

    def _datum(self, symbol, value):
        array = np.asarray(value, dtype=float)
        k = kind(symbol)
        if k == "scalar":
            if array.size != 1:
                raise DeriveError(f"{symbol.name} is a scalar; got an array of shape "
                                  f"{array.shape}")
            return float(array.reshape(()))
        if k in ("col", "row") and array.ndim == 2 and 1 in array.shape:
            array = array.reshape(-1)
        wanted = 2 if k == "matrix" else 1
        if array.ndim != wanted:
            raise DeriveError(f"{symbol.name} is a {'matrix' if wanted == 2 else 'vector'}; got "
                              f"an array of shape {array.shape}")
        dims = [d for d in symbol.shape if d != 1]
        for d, n in zip(dims, array.shape):
            self._bind(d, n, symbol.name)
        return array

    def _bind(self, d: sympy.Expr, n: int, name: str) -> None:
        known = int(d) if d.is_Integer else self.sizes.get(d)
        if known is not None and known != n:
            raise DeriveError(f"{name}: dimension {d} is {known} elsewhere, but {n} here")
        self.sizes[d] = n

    def _array_shape(self, symbol, named: dict[str, int]) -> tuple[int, ...]:
        shape = []
        for d in (d for d in symbol.shape if d != 1):
            if not d.is_Integer and d not in self.sizes:
                if str(d) not in named:
                    raise DeriveError(f"the size of dimension {d} of {symbol.name} is not fixed "
                                      f"by the data: pass sizes={{'{d}': ...}}")
                self._bind(d, int(named[str(d)]), symbol.name)
            shape.append(int(d) if d.is_Integer else self.sizes[d])
        return tuple(shape)

    def unpack(self, flat) -> dict[str, np.ndarray | float]:
        flat = np.asarray(flat, dtype=float).reshape(-1)
        if flat.size != self.size:
            raise DeriveError(f"the flat vector has {flat.size} entries; the variables have "
                              f"{self.size}")
        out: dict[str, np.ndarray | float] = {}
        start = 0
        for name, shape in self.layout:
            count = int(np.prod(shape))
            piece = flat[start:start + count]
            out[name] = float(piece[0]) if shape == () else piece.reshape(shape)
            start += count
        return out

    def pack(self, values: dict) -> np.ndarray:
        given = {_key(k): v for k, v in values.items()}
        parts = []
        for name, shape in self.layout:
            if name not in given:
                raise DeriveError(f"pack needs a value for {name}")
            part = np.asarray(given[name], dtype=float)
            if part.size != int(np.prod(shape)):
                raise DeriveError(f"{name} has shape {shape}; got {part.shape}")
            parts.append(part.reshape(-1))
        return np.concatenate(parts) if parts else np.zeros(0)

    def __call__(self, flat) -> tuple[float, np.ndarray]:
        variables = self.unpack(flat)
        args = [variables[n] if n in variables else self.data[n] for n in self.order]
        value, *gradients = self.value_and_grad(*args)
        return float(value), np.concatenate([np.ravel(g) for g in gradients])
