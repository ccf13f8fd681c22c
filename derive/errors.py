"""The one exception users see, with the place in the formula it concerns."""
from __future__ import annotations


class DeriveError(ValueError):
    """Bad input: a message, and where it is (1-based line and column) when known.

    ``str(error)`` is the paragraph the command line prints: the place, the
    message, the offending source line and a caret under the spot.
    """

    def __init__(self, message: str, *, source: str | None = None,
                 offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
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
