"""The recipes: classic costs, one TOML file each, ready to derive and to check.

A recipe file ``recipes/NAME.toml`` holds::

    name = "sparse_coding"                  # the file's stem
    description = "one line"
    reference = "where the cost comes from"
    formula = '''norm(A*s - x, 'fro')^2'''  # the formula language, definitions allowed
    variables = ["A", "s"]                  # what to differentiate with respect to
    [shapes]                                # name -> dimensions, [] for a scalar
    s = ["n", "k"]
    [assume]                                # optional: name -> symmetric, spd or onehot

The folder is installed as the data package ``derive.recipe_files`` (see
pyproject.toml), so the recipes are found through ``importlib.resources`` in a
wheel and in an editable install alike. A source checkout whose editable
install predates the recipes falls back to the ``recipes/`` folder beside the
package.
"""
from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .errors import DeriveError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PACKAGE = "derive.recipe_files"
SUFFIX = ".toml"
KEYS = ("name", "description", "reference", "formula", "shapes", "variables")
OPTIONAL_KEYS = ("assume",)


@dataclass(frozen=True)
class Recipe:
    """One classic cost: its formula, the shapes of its names, and the variables to derive."""
    name: str
    description: str
    reference: str
    formula: str
    shapes: dict[str, tuple[str | int, ...]]
    variables: tuple[str, ...]
    assume: dict[str, str] = field(default_factory=dict)   # name -> symmetric, spd, onehot

    def shape_args(self) -> list[str]:
        """The shapes as ``--shape`` values: ``s=n,k``, ``b=m``, ``gamma=``."""
        return [f"{name}={','.join(str(d) for d in dims)}" for name, dims in self.shapes.items()]

    def choose(self, wrt: str | Iterable[str] | None = None) -> list[str]:
        """The variables to differentiate: all of the recipe's, or those named (all among them)."""
        names = [wrt] if isinstance(wrt, str) else list(wrt or ())
        if not names:
            return list(self.variables)
        for name in names:
            if name not in self.variables:
                raise DeriveError(f"--wrt {name}: recipe '{self.name}' differentiates with "
                                  f"respect to {', '.join(self.variables)} only")
        return list(dict.fromkeys(names))

    def declarations(self, shapes: Iterable[str] = (), assume: Iterable[str] = ()
                     ) -> tuple[list[str], list[str]]:
        """The recipe's --shape and --assume values, those given replacing its own by name."""
        def merged(own: list[str], given: Iterable[str]) -> list[str]:
            given = list(given)
            names = {text.split("=", 1)[0].strip() for text in given}
            return [t for t in own if t.split("=", 1)[0] not in names] + given
        return (merged(self.shape_args(), shapes),
                merged([f"{n}={p}" for n, p in self.assume.items()], assume))

    def gradient(self, wrt: str | Iterable[str] | None = None, shapes: Iterable[str] = (),
                 assume: Iterable[str] = ()):
        """``derive.gradient`` of the recipe: a Derivation. ``shapes`` and ``assume``
        (``--shape``/``--assume`` strings) add to or replace the recipe's own."""
        from .api import gradient
        return gradient(self.formula, self.choose(wrt), *self.declarations(shapes, assume))

    def check(self, wrt: str | Iterable[str] | None = None, seed: int = 0,
              tolerance: float = 1e-6):
        """``derive.check`` of the recipe: the finite-difference check of its gradient."""
        from .api import check
        shapes, assume = self.declarations()
        return check(self.formula, self.choose(wrt), shapes, seed=seed, tolerance=tolerance,
                     assume=assume)


def _folder():
    """The folder of recipe files, as an importlib.resources Traversable (or a Path)."""
    try:
        return resources.files(PACKAGE)
    except ModuleNotFoundError:
        source = Path(__file__).resolve().parent.parent / "recipes"
        if source.is_dir():
            return source
        raise DeriveError(f"the recipe files are not installed (no package {PACKAGE}); "
                          "reinstall derive") from None


def _files() -> dict[str, object]:
    return {entry.name[:-len(SUFFIX)]: entry for entry in _folder().iterdir()
            if entry.name.endswith(SUFFIX) and entry.is_file()}


def names() -> list[str]:
    """The names of all recipes, sorted."""
    return sorted(_files())


def parse(text: str, stem: str) -> Recipe:
    """A recipe from the text of ``stem.toml``; DeriveError naming the file if it is malformed."""
    where = f"recipe file {stem}{SUFFIX}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DeriveError(f"{where}: not valid TOML: {error}") from None
    missing = [key for key in KEYS if key not in data]
    if missing:
        raise DeriveError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(data) - set(KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise DeriveError(f"{where}: unknown key {', '.join(unknown)} (keys: "
                          f"{', '.join(KEYS + OPTIONAL_KEYS)})")
    for key in ("name", "description", "reference", "formula"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise DeriveError(f"{where}: '{key}' must be a non-empty string")
    if data["name"] != stem:
        raise DeriveError(f"{where}: name '{data['name']}' differs from the file's name '{stem}'")
    if "\n" in data["description"].strip():
        raise DeriveError(f"{where}: 'description' must be one line")
    variables = data["variables"]
    if (not isinstance(variables, list) or not variables
            or not all(isinstance(v, str) and v for v in variables)):
        raise DeriveError(f"{where}: 'variables' must be a non-empty list of names")
    shapes = data["shapes"]
    if not isinstance(shapes, dict):
        raise DeriveError(f"{where}: 'shapes' must be a table: name = [dimensions]")
    for name, dims in shapes.items():
        if (not isinstance(dims, list) or len(dims) > 2
                or not all(isinstance(d, (str, int)) and not isinstance(d, bool) for d in dims)):
            raise DeriveError(f"{where}: shapes.{name} must be a list of at most two dimensions "
                              "(names or integers), [] for a scalar")
    assume = data.get("assume", {})
    if not isinstance(assume, dict) or not all(isinstance(p, str) for p in assume.values()):
        raise DeriveError(f"{where}: 'assume' must be a table: name = \"symmetric\", \"spd\" "
                          "or \"onehot\"")
    return Recipe(name=data["name"], description=data["description"].strip(),
                  reference=data["reference"].strip(), formula=data["formula"].strip() + "\n",
                  shapes={name: tuple(dims) for name, dims in shapes.items()},
                  variables=tuple(variables), assume=dict(assume))


def load(name: str) -> Recipe:
    """The recipe called ``name``; DeriveError with a did-you-mean if there is none."""
    files = _files()
    if name not in files:
        known = sorted(files)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        close += [k for k in known if name and name.lower() in k and k not in close][:2]
        if close:
            hint = f"did you mean {' or '.join(repr(c) for c in close)}?"
        else:
            hint = f"the recipes are {', '.join(known)}"
        raise DeriveError(f"no recipe named '{name}': {hint}")
    return parse(files[name].read_text(encoding="utf-8"), name)


def all_recipes() -> list[Recipe]:
    """Every recipe, sorted by name."""
    return [load(name) for name in names()]


def listing(recipes: list[Recipe]) -> str:
    """The table ``derive recipe`` prints: name, variables, description."""
    rows = [("recipe", "variables", "description")]
    rows += [(r.name, ", ".join(r.variables), r.description) for r in recipes]
    widths = [max(len(row[c]) for row in rows) for c in range(2)]
    return "".join(f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}\n"
                   for row in rows)


def markdown_table(recipes: list[Recipe]) -> str:
    """The table of docs/recipes.md: recipe, variables, cost, and the output of ``derive recipe NAME``.

    Regenerate it with
    ``python -c "from derive.recipes import *; print(markdown_table(all_recipes()))"``.
    """
    rows = ["| recipe | variables | cost | gradient (`derive recipe NAME`) |",
            "| --- | --- | --- | --- |"]
    for r in recipes:
        lines = [line.split("#", 1)[0].strip() for line in r.formula.splitlines()]
        cost = " ".join(line for line in lines if line)
        output = r.gradient().show("text").strip().splitlines()
        gradient = "<br>".join(f"`{line}`" for line in output)
        cells = [f"`{r.name}`", ", ".join(r.variables), f"`{cost}`", gradient]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"
