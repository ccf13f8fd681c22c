"""A request of ``POST /api/derive``: its fields checked, and the derivation it asks for.

The request is JSON ``{"formula", "wrt", "shapes", "assume", "what"}`` (docs/serve.md),
plus ``"steps"`` and ``"check"`` (booleans) that the page sets to get the derivation's
steps and the numerical check beside it. The answer is what ``derive ... --format json``
prints, with those two additions when asked for. Nothing here evaluates user text: the
formula goes to derive's own reader, every other field is checked for type and size.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import DeriveError, InternalError

WHAT = ("grad", "hvp", "hess", "jac")
FIELDS = ("formula", "wrt", "shapes", "assume", "what", "steps", "check")
MAX_NAMES = 64          # variables, shapes or assumptions in one request
MAX_FIELD = 200         # characters of a name, a shape or an assumption


class BadRequest(Exception):
    """A request the API refuses before deriving anything: an HTTP status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict:
        return {"error": self.message}


@dataclass(frozen=True)
class Request:
    formula: str
    wrt: tuple[str, ...]
    shapes: tuple[str, ...]     # as --shape values: "s=n,k"
    assume: tuple[str, ...]     # as --assume values: "Sigma=spd"
    what: str = "grad"
    steps: bool = False
    check: bool = False

    def key(self) -> str:
        """The request, canonical: equal requests derive equal answers."""
        return json.dumps([self.formula, self.wrt, self.shapes, self.assume, self.what,
                           self.steps, self.check])


def _names(value, field: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest(400, f'"{field}" must be a name or a list of names')
    if len(values) > MAX_NAMES or any(len(v) > MAX_FIELD for v in values):
        raise BadRequest(400, f'"{field}" is too long')
    return tuple(values)


def _dims(value) -> str:
    """A shape of "shapes": "n,k", ["n", "k"], "m", 3 or "" / [] for a scalar."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(d, (str, int)) and not isinstance(d, bool)
                                       for d in value):
        return ",".join(str(d) for d in value)
    raise BadRequest(400, '"shapes" gives each name its dimensions: "n,k", ["n", "k"], "m", '
                          'or "" for a scalar')


def _declarations(value, field: str, text) -> tuple[str, ...]:
    """``{"s": "n,k"}`` or ``["s=n,k"]`` as NAME=VALUE strings, as the command line takes them."""
    if value is None:
        return ()
    if isinstance(value, dict):
        texts = [f"{name}={text(v)}" for name, v in value.items()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        texts = value
    else:
        raise BadRequest(400, f'"{field}" must be an object {{"name": ...}} or a list of '
                              f'"name=..." strings')
    if len(texts) > MAX_NAMES or any(len(t) > MAX_FIELD for t in texts):
        raise BadRequest(400, f'"{field}" is too long')
    return tuple(texts)


def _property(value) -> str:
    if not isinstance(value, str):
        raise BadRequest(400, '"assume" gives each name a property: "symmetric", "spd" or '
                              '"onehot"')
    return value


def parse(body: bytes) -> Request:
    """The request in ``body``, checked; a BadRequest (400) says what is wrong."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest(400, "the body is not JSON (UTF-8)") from None
    if not isinstance(data, dict):
        raise BadRequest(400, 'the body must be a JSON object: {"formula": ..., "wrt": ...}')
    unknown = [str(k)[:40] for k in data if k not in FIELDS]
    if unknown:
        raise BadRequest(400, f"unknown field {unknown[0]!r}: the fields are "
                              f"{', '.join(FIELDS)}")
    formula = data.get("formula")
    if not isinstance(formula, str) or not formula.strip():
        raise BadRequest(400, '"formula" must be a non-empty string')
    if "wrt" not in data:
        raise BadRequest(400, '"wrt" names the variables to differentiate: "A" or ["A", "s"]')
    what = data.get("what", "grad")
    if what not in WHAT:
        raise BadRequest(400, f'"what" is one of {", ".join(WHAT)}')
    flags = {}
    for flag in ("steps", "check"):
        flags[flag] = data.get(flag, False)
        if not isinstance(flags[flag], bool):
            raise BadRequest(400, f'"{flag}" must be true or false')
    return Request(formula, _names(data["wrt"], "wrt"),
                   _declarations(data.get("shapes"), "shapes", _dims),
                   _declarations(data.get("assume"), "assume", _property), what, **flags)


def derivation(formula: str, wrt: list[str], shapes: list[str], assume: list[str],
               what: str):
    """The one place where the API reads a formula: the Derivation ``what`` asks for.

    A formula with a backslash is LaTeX (docs/latex-input.md), read as the command line
    reads it.
    """
    from ..api import gradient, hessian, hvp
    from ..frontend.latex import looks_like_latex
    from ..jacobians import jacobian
    derive = {"grad": gradient, "hvp": hvp, "hess": hessian, "jac": jacobian}[what]
    source = "latex" if looks_like_latex(formula) else "formula"
    return derive(**{source: formula}, wrt=list(wrt), shapes=list(shapes), assume=list(assume))


def _check(d, what: str) -> dict:
    """The numerical check, as the page shows it; a draw that fails is said, not raised."""
    from ..numcheck import check_derivation, check_second_order
    if what == "jac":
        return {"passed": None, "text": "derive check checks gradients, Hessian-vector "
                "products and Hessians; the Jacobian's code is checked by the test suite"}
    second_order = what != "grad"
    try:
        result = check_second_order(d) if second_order else check_derivation(d)
    except DeriveError as error:
        return {"passed": None, "text": f"the check could not run: {error}"}
    return {"passed": result.passed, "max_error": result.max_error,
            "tolerance": result.tolerance, "errors": result.errors, "text": str(result)}


def answer(request: Request) -> tuple[int, bytes]:
    """The HTTP status and JSON body for a checked request (run in a worker process)."""
    import warnings

    from ..errors import DeriveWarning
    from ..render import kinds_text
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeriveWarning)
            d = derivation(request.formula, list(request.wrt), list(request.shapes),
                           list(request.assume), request.what)
            out = json.loads(d.show("json"))
            if request.steps:
                out["kinds_text"] = kinds_text(d)
                out["steps_text"] = d.show("text", steps=True)
            if request.check:
                out["check"] = _check(d, request.what)
        return 200, json.dumps(out).encode()
    except DeriveError as error:
        return 422, _error(str(error), error)
    except (RecursionError, MemoryError):
        return 422, _error("the formula is too large or too deeply nested for derive")
    except InternalError as error:
        return 500, _error(str(error))
    except Exception as error:  # a gap in derive itself: said as such, never a traceback
        return 500, _error(str(InternalError(error, request.formula)))


def _error(text: str, error: DeriveError | None = None) -> bytes:
    """The JSON of a refusal: the message as the CLI prints it (place, line, caret), and its
    parts for a page to show."""
    body = {"error": text}
    if error is not None:
        body.update(message=error.message, line=error.line, column=error.column)
    return json.dumps(body).encode()
