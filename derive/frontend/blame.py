"""When the shapes disagree, which default kind is to blame, and the --shape that fixes it; and
the warning for a default scalar that only scales a matrix where a vector would fit."""
from __future__ import annotations

from ..errors import DeriveError
from .shapes import default_kind
from .shape_walk import A_KIND, WHY, Typer, final_dim, forced_scalars, typed
from .unparse import Quoted
from .walk import free_names

# Trying other kinds for the names costs a walk each: only for formulas typed by hand.
MAX_KIND_TRIALS = 24
MAX_TRIAL_LENGTH = 20_000


_OTHER_KINDS = {"scalar": ("vector",), "vector": ("scalar", "matrix"),
                "matrix": ("vector", "scalar")}
_LIKELY_SLIP = ("scalar", "vector", "matrix")


def _another_kind(program, declared, assume, name: str, kind: str) -> "Typer | None":
    """The typing with ``name`` of another kind, if the formula then fits."""
    try:
        return typed(program, declared, assume, {name: kind})
    except DeriveError:
        return None


def _shape_option(name: str, kind: str, typer: "Typer", declared) -> str:
    """The --shape that gives ``name`` the shape it has in ``typer``, as text."""
    if kind == "scalar":
        return f"--shape {name}="
    dims = [final_dim(typer, declared, d) for d in typer.shapes[name]]
    dims = [str(d) if d.is_Integer or not typer.dims.is_fresh(d) else letter
            for d, letter in zip(dims, ("m", "n"))]
    return f"--shape {name}={','.join(dims[:1] if kind == 'vector' else dims)}"


def blame_default_kind(program, declared, assume, error: DeriveError) -> DeriveError:
    """The error again, pointing at a name whose default kind caused it, with the fix.

    A name is to blame when giving it another kind (and nothing else) makes the formula fit.
    """
    if len(program.source) > MAX_TRIAL_LENGTH or error.fact is None:
        return error    # not a disagreement of shapes (those say what they are without advice)
    forced = forced_scalars(program)
    names = [n for n in free_names(program) if n not in declared and n not in forced
             and n not in assume][:MAX_KIND_TRIALS]
    # A Greek scalar that is a vector, or a lower-case vector that is a scalar, is the likely
    # slip; an upper-case name that is not a matrix the unlikely one.
    names.sort(key=lambda n: _LIKELY_SLIP.index(default_kind(n)))
    fixes: list[tuple[str, str, Typer]] = []
    for name in names:
        for kind in _OTHER_KINDS[default_kind(name)]:
            typer = _another_kind(program, declared, assume, name, kind)
            if typer is not None:
                fixes.append((name, kind, typer))
                break
        if len(fixes) == 2:
            break
    if not fixes:
        return error
    name, _, first = fixes[0]
    default = default_kind(name)
    advice = "; or ".join(f"if {n} is {A_KIND[k]}, declare it with "
                          f"{_shape_option(n, k, t, declared)}" for n, k, t in fixes)
    return DeriveError(f"{name} is taken as {A_KIND[default]} (the default for "
                       f"{WHY[default]} name), and then {error.fact}; {advice}",
                       source=program.source, offset=first.first_seen[name])


def scaling_warnings(program, declared, assume, typer: "Typer") -> list[str]:
    """A default scalar times a matrix, where a vector would fit as well: say so."""
    if len(program.source) > MAX_TRIAL_LENGTH:
        return []
    out = []
    for name, node in list(typer.scaled.items())[:4]:
        other = _another_kind(program, declared, assume, name, "vector")
        if other is not None:
            fix = _shape_option(name, "vector", other, declared)
            out.append(f"{name} is taken as a scalar (the default for a Greek name), so "
                       f"{Quoted(node)} scales a matrix; if {name} is a vector and this a "
                       f"matrix-vector product, declare {fix}")
    return out
