"""Helpers shared by the tests: run the command line, and check a gradient numerically."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import derive
from derive.cli import main
from derive.numcheck import random_instance


CHILD_MEMORY = 4 << 30  # address space a forked test child may add to what it starts with


def limit_memory() -> None:
    """Keep a runaway forked child (reading @/dev/zero, say) from exhausting the machine."""
    try:
        import resource
        with open("/proc/self/status") as status:
            size = next(int(line.split()[1]) * 1024 for line in status
                        if line.startswith("VmSize:"))
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = size + CHILD_MEMORY
        if hard == resource.RLIM_INFINITY or limit < hard:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError, StopIteration):  # pragma: no cover - not Linux
        pass


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="run the long randomised tests in full")


@pytest.fixture
def slow(request) -> bool:
    return request.config.getoption("--slow")


def run(*args: str, input: str | None = None):
    """The command line in-process: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def without_kinds(out: str) -> str:
    """Text output without its first lines, the kinds that defaults decided (if any)."""
    lines = out.splitlines(keepends=True)
    if lines and lines[0].startswith("kinds from the names"):
        lines = lines[1:]
        while lines and lines[0].startswith("  "):
            lines = lines[1:]
    return "".join(lines)


def shape_args(shapes: dict | None) -> list[str]:
    out = []
    for name, dims in (shapes or {}).items():
        out += ["--shape", f"{name}={','.join(map(str, dims))}"]
    return out


def finite_difference_error(formula: str, wrt: list[str], shapes: dict | None = None,
                            seed: int = 0) -> float:
    """Largest relative error between the CLI's emitted NumPy gradient and central differences.

    The snippet is executed in a namespace holding nothing but what it imports itself.
    """
    code, snippet, err = run("grad", formula, *sum((["--wrt", w] for w in wrt), []),
                             *shape_args(shapes), "--format", "numpy")
    assert code == 0, err
    namespace: dict = {}
    exec(snippet, namespace)
    assert set(namespace) - {"__builtins__"} <= (
        {"np", "value_and_grad"} | {f"grad_{w}" for w in wrt} | {n for n in namespace
                                                                   if n.startswith("_")})
    derivation = derive.gradient(formula, wrt, shapes)
    args, _, _ = random_instance(derivation, seed)
    names = [s.name for s in derivation.parameters]
    value = lambda a: namespace["value_and_grad"](*a)[0]  # noqa: E731
    worst = 0.0
    for w in wrt:
        grad = np.asarray(namespace[f"grad_{w}"](*args), dtype=float)
        together = np.asarray(namespace["value_and_grad"](*args)[1 + wrt.index(w)], dtype=float)
        np.testing.assert_allclose(grad, together, rtol=1e-12, atol=1e-12)
        numeric = _central(value, args, names.index(w))
        assert grad.shape == numeric.shape, (w, grad.shape, numeric.shape)
        scale = max(np.linalg.norm(numeric), np.linalg.norm(grad), 1e-6)
        worst = max(worst, float(np.linalg.norm(grad - numeric) / scale))
    return worst


def _central(value, args: list, index: int) -> np.ndarray:
    x = np.array(args[index], dtype=float)
    out = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        h = 1e-6 * max(1.0, abs(float(x[i])))
        for sign in (1, -1):
            moved = x.copy()
            moved[i] += sign * h
            a = list(args)
            a[index] = float(moved) if moved.ndim == 0 else moved
            out[i] += sign * value(a) / (2 * h)
    return out


def documented_block(language: str, first_line: str) -> str:
    """The code block of the README or of a page of docs/ that starts with ``first_line``."""
    from pathlib import Path
    import re
    root = Path(__file__).resolve().parent.parent
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    blocks = [b for page in pages
              for b in re.findall(rf"```{language}\n(.*?)```", page.read_text(), flags=re.S)]
    block, = [b for b in blocks if b.startswith(first_line)]
    return block
