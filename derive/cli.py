"""The command line: ``derive grad``, ``derive layers``, ``derive check``, ``derive recipe``."""
from __future__ import annotations

import os
import sys
from typing import Callable

import click

from .errors import DeriveError

EXAMPLES = """
\b
Examples:
  derive grad "norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2" --wrt A --shape s=n,k --shape x=m,k
  derive grad "sum(sqrt(V*(s.^2) + eps))" --wrt s --shape s=n,k --format latex --steps
  derive grad "norm(W'*W*x - x)^2" --wrt W --format numpy
  derive layers "sum(sqrt(V*(s.^2) + eps))" --wrt s --shape s=n,k
  derive check "norm(W'*W*x - x)^2" --wrt W
"""

FORMATS = ("text", "latex", "numpy", "jax", "torch", "matlab", "json")
CODE_FORMATS = ("numpy", "jax", "torch", "matlab")
# A formula may start with a minus ("-sum(y .* log(p))"): not an option.
FORMULA_SETTINGS = {"ignore_unknown_options": True}


def _read_formula(formula: str) -> str:
    # Read one character past the longest formula: enough to refuse a longer one (or an
    # endless /dev/zero) without reading it all.
    from .build import MAX_LENGTH
    if formula == "-":
        return sys.stdin.read(MAX_LENGTH + 1)
    if formula.startswith("@"):
        try:
            with open(formula[1:], encoding="utf-8") as handle:
                return handle.read(MAX_LENGTH + 1)
        except (OSError, ValueError) as error:   # UnicodeError is a ValueError, as is a NUL
            raise DeriveError(f"cannot read the formula from {formula[1:]!r:.80}: "
                              f"{error}") from None
    return formula


def _guarded(action: Callable[[], int | None]) -> None:
    """Run a command: bad input is a message and exit code 2, never a traceback."""
    try:
        code = action()
        sys.stdout.flush()
    except BrokenPipeError:
        # Whoever read the output stopped reading: nothing to say, and nothing went wrong here.
        sys.stderr.close()
        os._exit(1)
    except OSError as error:
        click.echo(f"error: cannot write the output: {error}", err=True)
        sys.exit(1)
    except DeriveError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except (RecursionError, MemoryError):
        click.echo("error: the formula is too large or too deeply nested for derive", err=True)
        sys.exit(2)
    except Exception as error:  # a gap in derive itself: refuse rather than guess
        click.echo(f"error: derive cannot handle this formula ({type(error).__name__}: {error}); "
                   "please report it", err=True)
        sys.exit(2)
    sys.exit(code or 0)


def _derive(formula: str, wrt: tuple[str, ...], shape: tuple[str, ...]):
    from .api import gradient
    return gradient(_read_formula(formula), list(wrt), list(shape))


wrt_option = click.option("--wrt", "wrt", multiple=True, required=True, metavar="X",
                          help="Variable to differentiate with respect to (repeatable).")
shape_option = click.option("--shape", "shape", multiple=True, metavar="NAME=DIMS",
                            help="Declare a shape: s=n,k (matrix), b=m (vector), gamma= (scalar).")
hoist_option = click.option(
    "--hoist", is_flag=True,
    help="Code split into prepare(data), run once, and value_and_grad(variables, prepared), "
         "run per call (with --format numpy, jax, torch or matlab).")
format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="text",
                             show_default=True, help="Output format.")


@click.group(epilog=EXAMPLES, context_settings={"help_option_names": ["--help"]})
@click.version_option(package_name="derive")
def main() -> None:
    """Closed-form gradients of matrix costs, derived by the backpropagation idea.

    FORMULA is the cost as text, @FILE to read it from a file, or - for standard input.
    """


@main.command(epilog=EXAMPLES, context_settings=FORMULA_SETTINGS)
@click.argument("formula")
@wrt_option
@shape_option
@format_option
@click.option("--steps", is_flag=True, help="Add the derivation: layer tables and deltas.")
@hoist_option
def grad(formula: str, wrt, shape, fmt: str, steps: bool, hoist: bool) -> None:
    """Print the gradient of FORMULA with respect to each --wrt variable."""
    _guarded(lambda: _print_derivation(_derive(formula, wrt, shape), fmt, steps, hoist))


def _print_derivation(derivation, fmt: str, steps: bool, hoist: bool) -> None:
    from .render import render
    if hoist and fmt not in CODE_FORMATS:
        raise DeriveError("--hoist changes the emitted code: use it with --format numpy, "
                          "jax, torch or matlab")
    click.echo(derivation.code(fmt, hoist=True) if hoist else render(derivation, fmt, steps),
               nl=False)


@main.command(epilog=EXAMPLES, context_settings=FORMULA_SETTINGS)
@click.argument("formula")
@wrt_option
@shape_option
@click.option("--format", "fmt", type=click.Choice(("text", "latex", "json")), default="text",
              show_default=True, help="Output format.")
def layers(formula: str, wrt, shape, fmt: str) -> None:
    """Print the layer table: each layer's weight, activation f, f' and delta."""
    def action() -> None:
        from .render import render_layers
        click.echo(render_layers(_derive(formula, wrt, shape), fmt), nl=False)
    _guarded(action)


@main.command(epilog=EXAMPLES, context_settings=FORMULA_SETTINGS)
@click.argument("formula")
@wrt_option
@shape_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random data.")
@click.option("--tolerance", type=float, default=1e-6, show_default=True,
              help="Largest relative error that passes.")
def check(formula: str, wrt, shape, seed: int, tolerance: float) -> None:
    """Compare the emitted NumPy gradient with central finite differences (exit 1 on failure)."""
    def action() -> int:
        from .numcheck import check_derivation
        result = check_derivation(_derive(formula, wrt, shape), seed=seed, tolerance=tolerance)
        click.echo(str(result))
        return 0 if result.passed else 1
    _guarded(action)


RECIPE_EXAMPLES = """
\b
Examples:
  derive recipe
  derive recipe softmax_regression --wrt Theta
  derive recipe sparse_autoencoder --format numpy
  derive recipe ica_reconstruction --steps
"""


@main.command(epilog=RECIPE_EXAMPLES)
@click.argument("name", required=False)
@click.option("--wrt", "wrt", multiple=True, metavar="X",
              help="Derive only this one of the recipe's variables (repeatable; default: all).")
@format_option
@click.option("--steps", is_flag=True, help="Add the derivation: layer tables and deltas.")
@hoist_option
def recipe(name: str | None, wrt, fmt: str, steps: bool, hoist: bool) -> None:
    """List the recipes (classic costs), or derive the recipe NAME.

    With NAME, the output is that of `derive grad` on the recipe's formula and
    shapes, with respect to all its variables unless --wrt names some.
    """
    def action() -> None:
        from .recipes import all_recipes, load
        if name is None:
            if wrt or steps or hoist or fmt in ("latex",) + CODE_FORMATS:
                raise DeriveError("--wrt, --steps, --hoist and --format latex/numpy/jax/torch/"
                                  "matlab need a recipe name: derive recipe NAME ...")
            recipes = all_recipes()
            if fmt == "json":
                import json
                click.echo(json.dumps([{"name": r.name, "variables": list(r.variables),
                                        "description": r.description, "reference": r.reference,
                                        "formula": r.formula,
                                        "shapes": {k: list(v) for k, v in r.shapes.items()}}
                                       for r in recipes], indent=2))
            else:
                from .recipes import listing
                click.echo(listing(recipes), nl=False)
            return
        _print_derivation(load(name).gradient(wrt), fmt, steps, hoist)
    _guarded(action)


if __name__ == "__main__":
    main()
