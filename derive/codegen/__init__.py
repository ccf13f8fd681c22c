"""Emitted code: one printer per target (NumPy, JAX, PyTorch, MATLAB/Octave), each spelling
the statements of the same program (``derive.program``).

``TARGETS`` is the registry, by the name ``--format`` and ``Derivation.code`` take: a new
target is a module here with ``snippet``, ``hoisted_snippet`` and ``jacobian_snippet`` (or,
for a Python library, only a printer on NumPy's: the functions are NumPy's, spelled by it),
one line below, and its spelling in every operation's record (``expr.ops``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import jax, matlab, numpy, torch


@dataclass(frozen=True)
class Target:
    """A language of the emitted code (docs/targets.md)."""
    name: str
    snippet: Callable[..., str]           # the functions of section 4 (and second order)
    hoisted_snippet: Callable[..., str]   # prepare(data) once, value_and_grad per call
    jacobian_snippet: Callable[..., str]  # jacobian_X, jvp, vjp (derive jac)


def python_target(name: str, printer: Callable[[], numpy.NumpyPrinter]) -> Target:
    """A Python library's target: NumPy's functions, a fresh ``printer`` spelling each call."""
    def spelled_by(function: Callable[..., str]) -> Callable[..., str]:
        return lambda *args, **kwargs: function(*args, **kwargs, printer=printer())
    return Target(name, spelled_by(numpy.snippet), spelled_by(numpy.hoisted_snippet),
                  spelled_by(numpy.jacobian_snippet))


TARGETS: dict[str, Target] = {target.name: target for target in [
    Target("numpy", numpy.snippet, numpy.hoisted_snippet, numpy.jacobian_snippet),
    python_target("jax", jax.JaxPrinter),
    python_target("torch", torch.TorchPrinter),
    Target("matlab", matlab.snippet, matlab.hoisted_snippet, matlab.jacobian_snippet),
]}
