"""Run the code derive emits for each target on NumPy data, and bring the results back as NumPy.

The data is what the NumPy reference takes (``derive.numcheck.random_instance``): a
matrix a 2-D array, a vector a 1-D array, a scalar a float. Each runner returns, per
call, the outputs as NumPy arrays shaped as the NumPy snippet shapes them, so a test
compares them with the NumPy reference directly.

* JAX: the arrays as ``jnp`` arrays of their dtype (float64 needs ``jax_enable_x64``,
  which the tests set), called plainly and under ``jax.jit``.
* PyTorch: the arrays as CPU tensors, scalars as 0-d tensors.
* MATLAB: the file is run in GNU Octave (``octave-cli``); the data goes in as literal
  matrices with 17 significant digits, vectors as n×1 columns, rows as 1×k, and the
  results come back printed with 17 digits. Octave runs many cases in one process
  (``run_octave``), since it takes a fraction of a second to start.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

OCTAVE = "octave-cli"
# Octave 7 prints this on exit in some environments; it is not an error of the code run.
OCTAVE_NOISE = "error: ignoring const execution_exception& while preparing to exit"


@dataclass
class Call:
    function: str          # value_and_grad, grad_X, ...
    args: list             # NumPy data, as the NumPy snippet takes it
    outputs: int           # how many results it returns
    kinds: list[str] = field(default_factory=list)   # each argument's: scalar, col, row, matrix
    # hoisted code: prepare(*data) first, and the call gets what it returned last
    data: list | None = None
    data_kinds: list[str] = field(default_factory=list)


def call_python(functions: dict, call: Call, convert=lambda f: f):
    """Run a call of a Python snippet's functions (``convert`` wraps each, as jax.jit does)."""
    function = convert(functions[call.function])
    if call.data is None:
        return function(*call.args)
    return function(*call.args, functions["prepare"](*call.data))


def kinds(derivation) -> list[str]:
    from derive.program import kind
    return [kind(s) for s in derivation.parameters]


def as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):        # a torch tensor
        return x.detach().cpu().numpy()
    return np.asarray(x)


# ------------------------------------------------------------------ JAX and PyTorch
def namespace(code: str) -> dict:
    """The snippet, executed in a namespace of its own (our generated code)."""
    names: dict = {}
    exec(compile(code, "<derive>", "exec"), names)
    return names


def run_jax(code: str, call: Call, jit: bool = False) -> list[np.ndarray]:
    import jax
    import jax.numpy as jnp
    call = _converted(call, jnp.asarray)
    return _outputs(call_python(namespace(code), call, jax.jit if jit else lambda f: f),
                    call.outputs)


def _converted(call: Call, convert) -> Call:
    return Call(call.function, [convert(a) for a in call.args], call.outputs, call.kinds,
                None if call.data is None else [convert(a) for a in call.data])


def run_torch(code: str, call: Call, dtype=None) -> list[np.ndarray]:
    import torch
    call = _converted(call, lambda a: torch.tensor(np.asarray(a), dtype=dtype or torch.float64))
    with torch.enable_grad():   # the code must not need autograd, nor build a graph anyway
        results = call_python(namespace(code), call)
    for r in (results if isinstance(results, tuple) else (results,)):
        assert isinstance(r, torch.Tensor), f"{call.function} returned a {type(r).__name__}"
        assert not r.requires_grad and r.grad_fn is None
    return _outputs(results, call.outputs)


def _outputs(results, count: int) -> list[np.ndarray]:
    results = results if count > 1 else (results,)
    assert isinstance(results, tuple) and len(results) == count
    return [as_numpy(r) for r in results]


# ------------------------------------------------------------------ MATLAB in Octave
def octave_available() -> bool:
    return shutil.which(OCTAVE) is not None


def literal(x, kind: str) -> str:
    """A NumPy datum as a MATLAB literal: a vector becomes an n×1 column, a row 1×k."""
    a = np.asarray(x, dtype=float)
    if kind == "scalar":
        return repr(float(a))
    if kind == "col":
        a = a.reshape(-1, 1)
    elif kind == "row":
        a = a.reshape(1, -1)
    rows = ("; " if a.shape[1] > 1 else ";").join(
        ", ".join(repr(float(v)) for v in row) for row in a)
    return f"[{rows}]"


@dataclass
class OctaveCase:
    file: str              # the emitted file: value_and_grad.m, or prepare.m (hoisted code)
    calls: list[Call]


def _driver(case: OctaveCase) -> list[str]:
    lines = []
    for number, call in enumerate(case.calls):
        args = [literal(a, k) for a, k in zip(call.args, call.kinds)]
        results = f"[{', '.join(f'r{i}' for i in range(call.outputs))}]"
        if call.data is not None:
            data = ", ".join(literal(a, k) for a, k in zip(call.data, call.data_kinds))
            lines += [f"[prepared, per_call] = prepare({data});",
                      f"{results} = per_call({', '.join(args + ['prepared'])});"]
        elif call.function == "value_and_grad":
            lines.append(f"{results} = value_and_grad({', '.join(args)});")
        else:
            # grad_X is a local function, reached through a copy of the file whose first
            # function passes a call on to it
            lines.append(f"{results} = call_local_({', '.join([repr(call.function)] + args)});")
        lines.append(f"fprintf('CALL {number}\\n');")
        for i in range(call.outputs):
            lines.append(f"fprintf('%d %d\\n', size(r{i})); fprintf('%.17g\\n', r{i});")
    return lines


def run_octave(cases: list[OctaveCase], timeout: float = 300) -> list[list[list[np.ndarray]] | str]:
    """Each case: its calls' outputs (shaped as NumPy shapes them), or the error it raised."""
    with tempfile.TemporaryDirectory(prefix="derive-octave-") as tmp:
        script = []
        for index, case in enumerate(cases):
            folder = Path(tmp) / f"case{index}"
            folder.mkdir()
            primary = case.file.split("(")[0].split("=")[-1].strip()   # the file's function
            (folder / f"{primary}.m").write_text(case.file)
            (folder / "call_local_.m").write_text(
                "function varargout = call_local_(name, varargin)\n"
                "  [varargout{1:nargout}] = feval(str2func(name), varargin{:});\n"
                "end\n\n" + case.file)
            (folder / "run_case.m").write_text("\n".join(_driver(case)) + "\n")
            script += [f"cd('{folder}'); clear functions;",
                       f"fprintf('CASE {index}\\n');",
                       "try, run_case; catch err, fprintf('ERROR %s\\n', "
                       "strrep(err.message, char(10), ' ')); end"]
        (Path(tmp) / "driver.m").write_text("\n".join(script) + "\n")
        done = subprocess.run([OCTAVE, "--quiet", "--no-gui", "--norc", "--eval",
                               f"run('{Path(tmp) / 'driver.m'}')"],
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "HOME": tmp})
        errors = "\n".join(line for line in done.stderr.splitlines()
                           if line.strip() and line.strip() != OCTAVE_NOISE)
        if done.returncode != 0 and "CASE" not in done.stdout:
            raise RuntimeError(f"octave-cli failed: {errors}")
    return _parse(done.stdout, cases)


def _parse(stdout: str, cases: list[OctaveCase]) -> list:
    out: list = []
    tokens = iter(stdout.split("\n"))
    current: list | str | None = None
    for line in tokens:
        if line.startswith("CASE "):
            current = []
            out.append(current)
        elif line.startswith("ERROR "):
            out[-1] = line[len("ERROR "):]
        elif line.startswith("CALL "):
            call = cases[len(out) - 1].calls[int(line.split()[1])]
            results = []
            for _ in range(call.outputs):
                rows, cols = (int(v) for v in next(tokens).split())
                values = [float(next(tokens)) for _ in range(rows * cols)]
                results.append(np.array(values).reshape((rows, cols), order="F"))
            out[-1].append(results)
    assert len(out) == len(cases), stdout[-2000:]
    return out


def like_numpy(result: np.ndarray, reference) -> np.ndarray:
    """An Octave result (always 2-D) in the NumPy reference's shape (a vector 1-D)."""
    reference = np.asarray(reference)
    assert result.size == reference.size, (result.shape, reference.shape)
    if reference.ndim < 2:
        assert 1 in result.shape, result.shape
    return result.reshape(reference.shape)


def assert_matches(result, reference, target: str, what: str, rtol: float) -> None:
    """One output of a target against the NumPy reference: same shape, same values (to
    ``rtol``, absolutely so near 0 on the reference's scale)."""
    result = np.asarray(result, dtype=float)
    if target == "matlab":
        result = like_numpy(result, reference)    # MATLAB's values are 2-D
    assert result.shape == reference.shape, (what, result.shape, reference.shape)
    scale = max(float(np.max(np.abs(reference), initial=0.0)), 1.0)
    np.testing.assert_allclose(result, reference, rtol=rtol, atol=rtol * scale, err_msg=what)


def octave_script(files: dict[str, str], script: str, timeout: float = 120) -> str:
    """Run a script in Octave in a folder holding ``files`` (name -> text); its output."""
    with tempfile.TemporaryDirectory(prefix="derive-octave-") as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text)
        (Path(tmp) / "script_.m").write_text(script)
        done = subprocess.run([OCTAVE, "--quiet", "--no-gui", "--norc", "--eval",
                               f"cd('{tmp}'); script_"], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, "HOME": tmp})
    errors = [line for line in done.stderr.splitlines() if line.strip() not in ("", OCTAVE_NOISE)]
    if done.returncode != 0 or errors:
        raise RuntimeError("Octave: " + "\n".join(errors))
    return done.stdout
