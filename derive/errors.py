"""The one exception users see, with the place in the formula it concerns."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


class DeriveError(ValueError):
    """Bad input: a message, and where it is (1-based line and column) when known.

    ``str(error)`` is the paragraph the command line prints: the place, the
    message, the offending source line and a caret under the spot.
    """

    def __init__(self, message: str, *, source: str | None = None,
                 offset: int | None = None, fact: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # For a disagreement of shapes: what went wrong, without advice on how to fix it
        # (a caller that knows the cause better gives its own).
        self.fact = fact
        self.source = source
        self.offset = offset
        self.line: int | None = None
        self.column: int | None = None
        if source is not None and offset is not None:
            offset = max(0, min(offset, len(source)))
            self.offset = offset
            self.line = source.count("\n", 0, offset) + 1
            self.column = offset - (source.rfind("\n", 0, offset) + 1) + 1

    def __str__(self) -> str:
        if self.line is None or self.source is None or self.offset is None:
            return self.message
        start = self.source.rfind("\n", 0, self.offset) + 1
        end = self.source.find("\n", self.offset)
        text = self.source[start:end if end >= 0 else len(self.source)]
        column = self.column or 1
        # Long lines are cut to a window around the spot so the caret stays readable.
        left = max(0, column - 1 - 60)
        shown = text[left:left + 120]
        caret = " " * (column - 1 - left) + "^"
        shown = "".join(ch if ch.isprintable() else "?" for ch in shown)
        return (f"line {self.line}, column {column}: {self.message}\n"
                f"  {shown}\n  {caret}")


class InternalError(Exception):
    """A failure of derive itself (an assertion, a missing rule), never the user's mistake.

    Not a DeriveError: a caller that catches bad input must not swallow a bug.
    """

    def __init__(self, cause: BaseException, formula: str | None = None) -> None:
        self.cause = cause
        self.formula = formula
        super().__init__(f"this is a bug in derive, please report it "
                         f"({type(cause).__name__}: {str(cause)[:300]})"
                         + (f"\n  formula: {formula[:500]}" if formula is not None else ""))


def shortened(text: str, most: int = 200) -> str:
    """``text`` for a message: cut to ``most`` characters, "..." saying where."""
    return text if len(text) <= most else text[:most - 3] + "..."


class DeriveWarning(UserWarning):
    """Something derive assumed that may not be what was meant (a default kind, say)."""


# Bad input that happens to exhaust the stack or memory is refused, not reported as a bug.
USER_FAILURES = (DeriveError, RecursionError, MemoryError)


@contextmanager
def internal(formula: str | None) -> Iterator[None]:
    """Within it, any failure that is not the user's (nor already an InternalError) becomes one."""
    try:
        yield
    except USER_FAILURES + (InternalError,):
        raise
    except Exception as error:  # a gap in derive itself, whatever its type
        raise InternalError(error, formula) from error
