"""The command line: ``derive grad``, ``derive layers``, ``derive check``, ``derive recipe``,
``derive hvp``, ``derive hess``, ``derive jac`` and ``derive serve``."""
from __future__ import annotations

import os
import re
import sys
import warnings
from typing import Callable

import click

from .codegen import TARGETS
from .errors import DeriveError, DeriveWarning, InternalError
from .printing.width import COLUMN_WIDTH, page_width, TEXT_WIDTH


def _examples(*lines: str) -> str:
    return "\n\b\nExamples:\n" + "".join(f"  {line}\n" for line in lines)


EXAMPLES = _examples(
    "derive grad \"norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2\" --wrt A --shape s=n,k "
    "--shape x=m,k",
    "derive layers \"sum(sqrt(V*(s.^2) + eps))\" --wrt s --shape s=n,k",
    "derive check \"norm(W'*W*x - x)^2\" --wrt W",
    "derive recipe softmax_regression",
)
GRAD_EXAMPLES = _examples(
    "derive grad \"norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2\" --wrt A --shape s=n,k "
    "--shape x=m,k",
    "derive grad \"sum(sqrt(V*(s.^2) + eps))\" --wrt s --shape s=n,k --format latex --steps",
    "derive grad \"norm(W'*W*x - x)^2\" --wrt W --format numpy",
    "derive grad \"norm(A*s - x, 'fro')^2\" --wrt s --shape s=n,k --shape x=m,k --hoist",
    "derive grad \"(x - mu)'*inv(Sigma)*(x - mu) + logdet(Sigma)\" --wrt Sigma --shape mu=n "
    "--assume Sigma=spd",
)
LAYERS_EXAMPLES = _examples(
    "derive layers \"sum(sqrt(V*(s.^2) + eps))\" --wrt s --shape s=n,k",
    "derive layers \"norm(W'*W*x - x)^2\" --wrt W --format latex",
)
CHECK_EXAMPLES = _examples(
    "derive check \"norm(W'*W*x - x)^2\" --wrt W",
    "derive check \"sum(log(sigmoid(X*w)))\" --wrt w --seed 3",
    "derive check \"logdet(Sigma) + tr(inv(Sigma)*S)\" --wrt Sigma --assume Sigma=spd "
    "--assume S=spd",
)
SECOND_ORDER_EXAMPLES = _examples(
    "derive hvp \"norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2\" --wrt A --shape s=n,k "
    "--shape x=m,k",
    "derive hvp \"sum(softplus(-y .* (X*w)))\" --wrt w --format numpy",
    "derive hess \"x'*A*x\" --wrt x",
    "derive hess \"sum(softplus(-y .* (X*w)))\" --wrt w --steps",
    "derive check \"sum(softplus(-y .* (X*w)))\" --wrt w --hess",
)

CODE_FORMATS = tuple(TARGETS)
FORMATS = ("text", "latex", *CODE_FORMATS, "json")
# A formula may start with a minus ("-sum(y .* log(p))"): not an option.
FORMULA_SETTINGS = {"ignore_unknown_options": True}


def _read_formula(formula: str) -> str:
    # Read one character past the longest formula: enough to refuse a longer one (or an
    # endless /dev/zero) without reading it all.
    from .frontend.build import MAX_LENGTH
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


def _guarded(action: Callable[[], int | None], formula: str | None = None) -> None:
    """Run a command: bad input is a message and exit code 2, a bug in derive exit code 3,
    never a traceback."""
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
    except InternalError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(3)
    except Exception as error:  # a gap in derive itself: said as such, never as bad input
        click.echo(f"error: {InternalError(error, formula)}", err=True)
        sys.exit(3)
    sys.exit(code or 0)


def _formula(formula: str, source: str | None) -> dict:
    """The formula argument read, as ``formula=`` (text) or ``latex=`` (``--from latex``, or a
    backslash in it: docs/latex-input.md)."""
    from .frontend.latex import looks_like_latex
    text = _read_formula(formula)
    latex = source == "latex" or source is None and looks_like_latex(text)
    return {"latex": text} if latex else {"formula": text}


def _derive(formula: str, wrt: tuple[str, ...], shape: tuple[str, ...],
            assume: tuple[str, ...] = (), source: str | None = None,
            how: Callable | None = None):
    """The formula argument derived with the options by ``how`` (derive.gradient unless
    another is named: hvp, hessian, jacobian), its warnings said."""
    from .api import gradient
    derive = how or gradient
    return _warned(lambda: derive(**_formula(formula, source), wrt=list(wrt),
                                  shapes=list(shape), assume=list(assume)))


def _warned(derive: Callable):
    """``derive()``'s Derivation, its warnings said on standard error as the CLI says things."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeriveWarning)
        derivation = derive()
    for message in derivation.warnings:
        click.echo(f"warning: {message}", err=True)
    return derivation


wrt_option = click.option("--wrt", "wrt", multiple=True, required=True, metavar="X",
                          help="Variable to differentiate with respect to (repeatable).")
shape_option = click.option("--shape", "shape", multiple=True, metavar="NAME=DIMS",
                            help="Declare a shape: s=n,k (matrix), b=m (vector), gamma= (scalar).")
assume_option = click.option("--assume", "assume", multiple=True, metavar="NAME=PROPERTY",
                             help="Declare what the formula cannot show: Sigma=symmetric, "
                                  "Sigma=spd (symmetric positive definite), Y=onehot.")
format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                             help="Output format (default: text; numpy with --hoist).")
steps_option = click.option("--steps", is_flag=True,
                            help="Add the derivation: forward pass, deltas, gradients (text and "
                                 "latex).")
inline_option = click.option("--inline", is_flag=True,
                             help="Print everything expanded: no named intermediates (where ...).")
def formula_arguments(command: Callable) -> Callable:
    """FORMULA and the --wrt, --shape and --assume options every deriving command takes."""
    for decorate in (assume_option, shape_option, wrt_option, click.argument("formula")):
        command = decorate(command)
    return command


standalone_option = click.option("--standalone", is_flag=True,
                                 help="With --format latex: a whole document pdflatex compiles.")
from_option = click.option("--from", "source", type=click.Choice(("text", "latex")), default=None,
                           help="The formula's language: text, or LaTeX as papers write it "
                                "(default: LaTeX if it has a backslash).")
width_option = click.option("--width", default="page", metavar="page|column|POINTS",
                            help="With --format latex: break lines to an 11pt page (page), to one "
                                 "column of a two-column paper (column), or to POINTS (241pt).")
hoist_option = click.option("--hoist", is_flag=True,
                            help="Code split into prepare(data), run once, and "
                                 "value_and_grad(variables, prepared), run per call "
                                 "(--format numpy, jax, torch or matlab; numpy if none).")


def _output(derivation, fmt: str | None, steps: bool, hoist: bool, inline: bool = False,
            standalone: bool = False) -> str:
    """What grad and recipe print: the format chosen, --hoist implying numpy."""
    derivation.inline = inline
    if hoist:
        fmt = fmt or "numpy"
        if fmt not in CODE_FORMATS:
            raise DeriveError(f"--hoist changes the emitted code; it cannot be used with "
                              f"--format {fmt}")
    fmt = fmt or "text"
    if steps and fmt in CODE_FORMATS:
        click.echo(f"warning: --steps is ignored with --format {fmt} (the code's docstring "
                   "gives the formula and the shapes; --format text --steps shows the "
                   "derivation)", err=True)
    return derivation.code(fmt, hoist=True) if hoist else derivation.show(fmt, steps,
                                                                            standalone)


@click.group(epilog=EXAMPLES, context_settings={"help_option_names": ["--help"]})
@click.version_option(None, "-V", "--version", package_name="derive")
def main() -> None:
    """Closed-form gradients of matrix costs, derived by the backpropagation idea.

    FORMULA is the cost as text, @FILE to read it from a file, or - for standard input.
    """


@main.command(epilog=GRAD_EXAMPLES, context_settings=FORMULA_SETTINGS)
@formula_arguments
@format_option
@steps_option
@inline_option
@standalone_option
@hoist_option
@from_option
@width_option
def grad(formula: str, wrt, shape, assume, fmt: str | None, steps: bool, inline: bool,
         standalone: bool, hoist: bool, source: str | None, width: str) -> None:
    """Print the gradient of FORMULA with respect to each --wrt variable."""
    def action() -> None:
        with page_width(_points(width)):
            click.echo(_output(_derive(formula, wrt, shape, assume, source), fmt, steps, hoist,
                               inline, standalone), nl=False)
    _guarded(action, formula)


def _points(width: str) -> float:
    """--width as points: page, column, or a number of points (241 or 241pt)."""
    named = {"page": TEXT_WIDTH, "column": COLUMN_WIDTH}
    if width in named:
        return named[width]
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(?:pt)?\s*", width)
    if not match or not 100 <= float(match[1]) <= 2000:
        raise DeriveError(f"--width {width[:40]!r}: expected page, column or a width in points "
                          "between 100 and 2000, like 241pt")
    return float(match[1])


@main.command(epilog=LAYERS_EXAMPLES, context_settings=FORMULA_SETTINGS)
@formula_arguments
@click.option("--format", "fmt", type=click.Choice(("text", "latex", "json")), default="text",
              show_default=True, help="Output format.")
@from_option
def layers(formula: str, wrt, shape, assume, fmt: str, source: str | None) -> None:
    """Print the layer table: each layer's weight, activation f, f' and delta."""
    def action() -> None:
        from .render import render_layers
        click.echo(render_layers(_derive(formula, wrt, shape, assume, source), fmt), nl=False)
    _guarded(action, formula)


@main.command(epilog=CHECK_EXAMPLES, context_settings=FORMULA_SETTINGS)
@formula_arguments
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random data.")
@click.option("--tolerance", type=float, default=None,
              help="Largest relative error that passes.  [default: 1e-6; 1e-5 with --hvp/--hess]")
@click.option("--hvp", "second", flag_value="hvp",
              help="Check the emitted hvp against central differences of the gradient.")
@click.option("--hess", "second", flag_value="hess",
              help="Check the emitted hessian_X against central differences of the gradient.")
@from_option
def check(formula: str, wrt, shape, assume, seed: int, tolerance: float | None,
          second: str | None, source: str | None) -> None:
    """Compare the emitted NumPy gradient with central finite differences (exit 1 on failure)."""
    def action() -> int:
        from .numcheck import check_derivation, check_second_order
        from .render import kinds_text
        if second:
            from .api import hessian, hvp
            derivation = _derive(formula, wrt, shape, assume, source,
                                 hvp if second == "hvp" else hessian)
            result = check_second_order(derivation, seed=seed,
                                        tolerance=1e-5 if tolerance is None else tolerance)
        else:
            derivation = _derive(formula, wrt, shape, assume, source)
            result = check_derivation(derivation, seed=seed,
                                      tolerance=1e-6 if tolerance is None else tolerance)
        assumed = "".join(f"note: {note}\n" for note in derivation.assumed)
        click.echo(kinds_text(derivation) + assumed + str(result))
        return 0 if result.passed else 1
    _guarded(action, formula)


def _second_order_command(name: str, function_name: str, doc: str) -> None:
    """``derive hvp`` and ``derive hess``: the options of grad, a second-order result."""
    @main.command(name, epilog=SECOND_ORDER_EXAMPLES, context_settings=FORMULA_SETTINGS,
                  help=doc)
    @formula_arguments
    @format_option
    @click.option("--steps", is_flag=True,
                  help="Add the derivation: layer tables, and the tangent of each layer's "
                       "input and delta.")
    @standalone_option
    @from_option
    @width_option
    def command(formula: str, wrt, shape, assume, fmt: str | None, steps: bool,
                standalone: bool, source: str | None, width: str) -> None:
        def action() -> None:
            from . import api
            derivation = _derive(formula, wrt, shape, assume, source,
                                 getattr(api, function_name))
            with page_width(_points(width)):
                click.echo(derivation.show(fmt or "text", steps, standalone), nl=False)
        _guarded(action, formula)


_second_order_command("hvp", "hvp",
                      "Print the Hessian-vector product: the derivative of the gradient along d_X.")
_second_order_command("hess", "hessian",
                      "Print the Hessian with respect to X as a matrix (a Kronecker form for a "
                      "matrix X).")


JAC_EXAMPLES = _examples(
    "derive jac \"sigmoid(W*x + b)\" --wrt x",
    "derive jac \"A*X*B\" --wrt X --format latex",
    "derive jac \"softmax(z)\" --wrt z --format jax",
    "derive jac \"sigmoid(W*x + b)\" --wrt x --steps",
)


@main.command(epilog=JAC_EXAMPLES, context_settings=FORMULA_SETTINGS)
@formula_arguments
@format_option
@click.option("--steps", is_flag=True,
              help="Add the chain of layer Jacobians: each stage of the formula with its "
                   "Jacobian.")
@inline_option
@standalone_option
@from_option
def jac(formula: str, wrt, shape, assume, fmt: str | None, steps: bool, inline: bool,
        standalone: bool, source: str | None) -> None:
    """Print the Jacobian of FORMULA (a scalar, vector or matrix) with respect to X, in
    numerator layout; the code adds jvp and vjp."""
    def action() -> None:
        from .jacobians import jacobian
        d = _derive(formula, wrt, shape, assume, source, jacobian)
        if d.refused and (fmt or "text") in CODE_FORMATS:
            for note in d.notes:
                if note.startswith("jac_") and "no closed form" in note:
                    click.echo(f"note: {note}", err=True)
        click.echo(_output(d, fmt, steps, False, inline, standalone), nl=False)
    _guarded(action, formula)


RECIPE_EXAMPLES = _examples(
    "derive recipe",
    "derive recipe softmax_regression --wrt Theta",
    "derive recipe sparse_autoencoder --format numpy",
    "derive recipe ica_reconstruction --steps",
    "derive recipe sparse_coding --wrt A --hoist",
    "derive recipe sparse_coding --shape s=n --shape x=m",
)


@main.command(epilog=RECIPE_EXAMPLES)
@click.argument("name", required=False)
@click.option("--wrt", "wrt", multiple=True, metavar="X",
              help="Derive only this one of the recipe's variables (repeatable; default: all).")
@click.option("--shape", "shape", multiple=True, metavar="NAME=DIMS",
              help="Declare a shape, in place of the recipe's for that name.")
@assume_option
@format_option
@steps_option
@inline_option
@standalone_option
@hoist_option
@width_option
def recipe(name: str | None, wrt, shape, assume, fmt: str | None, steps: bool, inline: bool,
           standalone: bool, hoist: bool, width: str) -> None:
    """List the recipes (classic costs), or derive the recipe NAME.

    With NAME, the output is that of `derive grad` on the recipe's formula,
    shapes and assumptions, with respect to all its variables unless --wrt
    names some; --shape and --assume add to or replace the recipe's own.
    """
    def action() -> None:
        from .recipes import all_recipes, load
        if name is None:
            if wrt or steps or hoist or shape or assume or fmt in ("latex",) + CODE_FORMATS:
                raise DeriveError("--wrt, --shape, --assume, --steps, --hoist and --format "
                                  "latex/numpy/jax/torch/matlab need a recipe name: "
                                  "derive recipe NAME ...")
            recipes = all_recipes()
            if fmt == "json":
                import json
                click.echo(json.dumps([{"name": r.name, "variables": list(r.variables),
                                        "assume": r.assume,
                                        "description": r.description, "reference": r.reference,
                                        "formula": r.formula,
                                        "shapes": {k: list(v) for k, v in r.shapes.items()}}
                                       for r in recipes], indent=2))
            else:
                from .recipes import listing
                click.echo(listing(recipes), nl=False)
            return
        derivation = _warned(lambda: load(name).gradient(wrt, shape, assume))
        with page_width(_points(width)):
            click.echo(_output(derivation, fmt, steps, hoist, inline, standalone), nl=False)
    _guarded(action, name)


@main.command()
@click.option("--port", type=int, default=8000, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (and the one clients use); loopback unless said.")
@click.option("--no-browser", is_flag=True, help="Do not open the page in the browser.")
def serve(port: int, host: str, no_browser: bool) -> None:
    """Serve the page (formula in, gradient, steps, code and check out) and POST /api/derive."""
    from .serve.server import serve as run
    _guarded(lambda: run(host, port, open_browser=not no_browser))


if __name__ == "__main__":
    main()
