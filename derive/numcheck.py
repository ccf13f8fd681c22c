"""The numerical check: the emitted gradient against central finite differences.

A random instance gets small dimensions and data drawn to suit the formula's
domain: plain Gaussian data first, then positive entries (for log, sqrt, ./),
then entries in (0, 1) (for log(1 - p)), then also well-conditioned symmetric
positive definite square matrices (for logdet, inv); the first draw on which
the cost is finite and raises no NumPy warning is used. A name declared with
``--assume`` always gets data that has the property: a symmetric matrix, a
symmetric positive definite one (B B^T / n + I), one-hot columns.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import sympy

from .errors import DeriveError
from .program import kind

MAX_ENTRIES = 10_000
STRATEGIES = ("gaussian", "positive", "in (0, 1)", "positive definite")


@dataclass
class CheckResult:
    errors: dict[str, float]        # relative error per variable
    tolerance: float
    dimensions: dict[str, int]
    strategy: str
    checked: str = "grad"           # what was checked, for each variable: grad, hvp or hess

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def passed(self) -> bool:
        return self.max_error <= self.tolerance

    def __str__(self) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in self.dimensions.items()) or "none"
        lines = [f"dimensions: {dims}; data: {self.strategy}"]
        lines += [f"{self.checked}_{name}: relative error {err:.2e}"
                  for name, err in self.errors.items()]
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(f"{verdict}: largest relative error {self.max_error:.2e} "
                     f"(tolerance {self.tolerance:.0e})")
        return "\n".join(lines)


def random_dimensions(symbols, rng: np.random.Generator) -> dict[sympy.Expr, int]:
    """A small random size (2 to 4) for every dimension of the symbols' shapes not fixed."""
    sizes: dict[sympy.Expr, int] = {}
    for s in symbols:
        for d in s.shape:
            if d.is_Integer:
                sizes[d] = int(d)
            elif d not in sizes:
                sizes[d] = int(rng.integers(2, 5))
    return sizes


def draw(symbol, sizes, strategy: str, rng: np.random.Generator) -> np.ndarray | float:
    """Random data of the symbol's shape by ``strategy`` (gaussian, in (0, 1), positive,
    positive definite), as its assumption (spd, symmetric, onehot) requires."""
    rows, cols = (sizes[d] for d in symbol.shape)
    k = kind(symbol)
    shape = {"scalar": (), "col": (rows,), "row": (cols,)}.get(k, (rows, cols))
    if strategy == "gaussian":
        data = rng.standard_normal(shape)
    elif strategy == "in (0, 1)":
        data = rng.uniform(0.1, 0.9, shape)   # probabilities, as in a KL divergence
    else:
        data = rng.uniform(0.5, 1.5, shape)
    if (strategy == "positive definite" or symbol.assumption == "spd") and k == "matrix" \
            and rows == cols:
        b = rng.standard_normal((rows, rows))
        data = b @ b.T / rows + np.eye(rows)
    elif symbol.assumption == "symmetric":
        data = (data + data.T) / 2
    elif symbol.assumption == "onehot":
        labels = np.zeros((rows, cols))
        labels[rng.integers(0, rows, cols), np.arange(cols)] = 1.0
        data = labels.reshape(shape)
    return float(data) if k == "scalar" else data


def random_instance(derivation, seed: int = 0):
    """(arguments, strategy, sizes): data on which the cost is finite, or DeriveError."""
    rng = np.random.default_rng(seed)
    symbols = derivation.formula.symbols
    sizes = random_dimensions(symbols, rng)
    for s in symbols:
        entries = sizes[s.shape[0]] * sizes[s.shape[1]]
        if entries > MAX_ENTRIES:
            raise DeriveError(f"the check differentiates numerically entry by entry, and "
                              f"{s.name[:40]} would have {entries:,} entries (at most "
                              f"{MAX_ENTRIES:,}): declare smaller integer dimensions, or leave "
                              "them as names, which the check sizes 2 to 4")
    value_and_grad = derivation.namespace()["value_and_grad"]
    # drawn in the formula's order, passed in the parameters' order
    position = {s.name: i for i, s in enumerate(symbols)}
    order = [position[p.name] for p in derivation.parameters]
    for strategy in STRATEGIES:
        drawn = [draw(s, sizes, strategy, rng) for s in symbols]
        args = [drawn[i] for i in order]
        try:
            with np.errstate(all="raise"), warnings.catch_warnings():
                warnings.simplefilter("error")
                value = value_and_grad(*args)[0]
        except (FloatingPointError, ArithmeticError, np.linalg.LinAlgError, RuntimeWarning):
            continue
        if np.isfinite(value):
            return args, strategy, sizes
    raise DeriveError("could not find data on which the cost is finite for the check")


def check_derivation(derivation, seed: int = 0, tolerance: float = 1e-6) -> CheckResult:
    args, strategy, sizes = random_instance(derivation, seed)
    value_and_grad = derivation.namespace()["value_and_grad"]
    names = [s.name for s in derivation.parameters]
    emitted = value_and_grad(*args)[1:]
    errors = {}
    for name, grad in zip(derivation.wrt, emitted):
        index = names.index(name)
        numeric = _central_differences(lambda a: value_and_grad(*a)[0], args, index)
        grad = np.asarray(grad, dtype=float)
        if grad.shape != numeric.shape:
            raise AssertionError(f"grad_{name} has shape {grad.shape}, expected {numeric.shape}")
        scale = max(np.linalg.norm(grad), np.linalg.norm(numeric), 1e-6)
        errors[name] = float(np.linalg.norm(grad - numeric) / scale)
    dims = {str(d): v for d, v in sizes.items() if not d.is_Integer}
    return CheckResult(errors, tolerance, dims, strategy)


def _central_differences(value, args: list, index: int) -> np.ndarray:
    x = np.array(args[index], dtype=float)
    out = np.zeros_like(x)
    flat = x.reshape(-1)
    for i in range(flat.size):
        h = 1e-6 * max(1.0, abs(flat[i]))
        saved = flat[i]
        flat[i] = saved + h
        up = value(_replace(args, index, x))
        flat[i] = saved - h
        down = value(_replace(args, index, x))
        flat[i] = saved
        out.reshape(-1)[i] = (up - down) / (2 * h)
    return out


def _replace(args: list, index: int, x: np.ndarray) -> list:
    new = list(args)
    new[index] = float(x) if np.ndim(x) == 0 else x.copy()
    return new


# Central differences of the gradient: 1e-5 balances truncation (h^2) against rounding
# (eps |grad| / h) for data of order 1; where the product is small against the gradient,
# rounding dominates, and the larger steps are tried before the check fails.
GRADIENT_STEPS = (1e-5, 1e-4, 1e-3)


def check_second_order(derivation, seed: int = 0, tolerance: float = 1e-5) -> CheckResult:
    """The emitted hvp (or, for derive.hessian, hessian_X) against central differences of
    the emitted gradient, which ``check_derivation`` checks against the value."""
    for step in GRADIENT_STEPS:
        result = _check_second_order(derivation, seed, tolerance, step)
        if result.passed:
            break
    return result


def _check_second_order(derivation, seed: int, tolerance: float, step: float) -> CheckResult:
    args, strategy, sizes = random_instance(derivation, seed)
    namespace = derivation.namespace()
    names = [s.name for s in derivation.parameters]
    indices = [names.index(n) for n in derivation.wrt]
    gradients = lambda a: [np.asarray(g, dtype=float)   # noqa: E731
                           for g in namespace["value_and_grad"](*a)[1:]]
    if derivation.hessians:
        (name,) = derivation.wrt
        emitted = np.atleast_2d(np.asarray(namespace[f"hessian_{name}"](*args), dtype=float))
        x = np.asarray(args[indices[0]], dtype=float)
        columns = []
        for i in range(x.size):
            basis = np.zeros(x.size)
            basis[i] = 1.0
            unit = [basis.reshape(x.shape, order="F")]
            columns.append(_gradient_derivative(gradients, args, indices, unit, step)[0]
                           .reshape(-1, order="F"))
        errors = {name: _relative(emitted, np.array(columns).T)}
        checked = "hess"
    else:
        rng = np.random.default_rng(seed + 1)
        directions = [rng.standard_normal(np.shape(args[i])) for i in indices]
        directions = [float(d) if np.ndim(d) == 0 else d for d in directions]
        emitted = namespace["hvp"](*args, *directions)
        emitted = [emitted] if len(indices) == 1 else list(emitted)
        numeric = _gradient_derivative(gradients, args, indices, directions, step)
        errors = {n: _relative(np.asarray(e, dtype=float), g)
                  for n, e, g in zip(derivation.wrt, emitted, numeric)}
        checked = "hvp"
    dims = {str(d): v for d, v in sizes.items() if not d.is_Integer}
    return CheckResult(errors, tolerance, dims, strategy, checked)


def _gradient_derivative(gradients, args: list, indices: list[int], directions: list,
                         step: float) -> list:
    """(grad(x + h d) - grad(x - h d)) / 2h, every variable moved along its direction."""
    def moved(sign: float) -> list:
        new = list(args)
        for i, d in zip(indices, directions):
            new[i] = args[i] + sign * step * d
        return new
    return [(up - down) / (2 * step) for up, down in zip(gradients(moved(1.0)),
                                                         gradients(moved(-1.0)))]


def _relative(emitted: np.ndarray, numeric: np.ndarray) -> float:
    if emitted.shape != numeric.shape:
        raise AssertionError(f"shape {emitted.shape}, expected {numeric.shape}")
    scale = max(np.linalg.norm(emitted), np.linalg.norm(numeric), 1e-6)
    return float(np.linalg.norm(emitted - numeric) / scale)
