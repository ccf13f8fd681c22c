"""The text of a syntax node, for messages."""
from __future__ import annotations

from . import parse as syntax


def unparse(node, depth: int = 0) -> str:
    """The text of a syntax node, for messages (deep nesting shown as ...)."""
    if depth > 12:
        return "..."
    d = depth + 1
    if isinstance(node, syntax.Number):
        return node.text
    if isinstance(node, syntax.Name):
        return node.name
    if isinstance(node, syntax.String):
        return f"'{node.value}'"
    if isinstance(node, syntax.Unary):
        return node.op + unparse(node.operand, d)
    if isinstance(node, syntax.Transpose):
        return unparse(node.operand, d) + "'"
    if isinstance(node, syntax.Call):
        return f"{node.func}({', '.join(unparse(a, d) for a in node.args)})"
    if isinstance(node, syntax.Binary):
        left, right = unparse(node.left, d), unparse(node.right, d)
        if isinstance(node.left, syntax.Binary):
            left = f"({left})"
        if isinstance(node.right, syntax.Binary):
            right = f"({right})"
        return f"{left}{node.op}{right}" if node.op in "*/^@" or node.op.startswith(".") \
            else f"{left} {node.op} {right}"
    return "?"


class Quoted:
    """The text of a node, quoted, made only if a message needs it (cut at ``most``)."""

    def __init__(self, node, most: int | None = None) -> None:
        self.node = node
        self.most = most

    def __str__(self) -> str:
        text = unparse(self.node)
        if self.most is not None and len(text) > self.most:
            text = text[:self.most - 3] + "..."
        return f"'{text}'"
