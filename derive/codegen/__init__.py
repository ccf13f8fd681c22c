"""Emitted code: one printer per target (NumPy, JAX, PyTorch, MATLAB/Octave), each spelling
the statements of the same program (``derive.program``).

``TARGETS`` is the registry, by the name ``--format`` and ``Derivation.code`` take: a new
target is a module here with ``snippet``, ``hoisted_snippet`` and ``jacobian_snippet``, one line below, and its
spelling in every operation's record (``expr.ops``).
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


TARGETS: dict[str, Target] = {target.name: target for target in [
    Target("numpy", numpy.snippet, numpy.hoisted_snippet, numpy.jacobian_snippet),
    Target("jax", jax.snippet, jax.hoisted_snippet, jax.jacobian_snippet),
    Target("torch", torch.snippet, torch.hoisted_snippet, torch.jacobian_snippet),
    Target("matlab", matlab.snippet, matlab.hoisted_snippet, matlab.jacobian_snippet),
]}
