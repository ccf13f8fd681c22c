"""The formula as the user wrote it, in LaTeX: read from the syntax tree, not the built cost.

The built cost is simplified (a squared norm is a sum of squares, log(softmax(Z))
is Z - logsumexp(Z)); a paper states the cost as its author wrote it:
``\\lVert A s - x \\rVert_F^{2} + \\gamma \\lVert A \\rVert_F^{2}``.
"""
from __future__ import annotations

from ..frontend import parse as syntax
from ..expr.nodes import deep
from .latex import latex_name
from .document import align_rows

from .precedence import ADD, MUL, UNARY, POSTFIX, ATOM

_FUNCTIONS = {
    "exp": r"\exp", "log": r"\log", "sin": r"\sin", "cos": r"\cos", "tanh": r"\tanh",
    "det": r"\det", "logdet": r"\log\det", "tr": r"\operatorname{tr}",
    "trace": r"\operatorname{tr}",
}
_NORMS = {"fro": "_F", 1: "_1", 2: "_2"}
_PRODUCTS = frozenset({"*", "@", ".*", "./"})
_ELEMENTWISE = frozenset({".*", "./"})


class SourcePrinter:
    """One method per syntax node; returns (LaTeX, precedence)."""

    @deep
    def print(self, node) -> str:
        return self._print(node)[0]

    def _print(self, node) -> tuple[str, int]:
        return getattr(self, f"_print_{type(node).__name__}")(node)

    def wrap(self, node, level: int) -> str:
        text, prec = self._print(node)
        return rf"\left({text}\right)" if prec < level else text

    def _print_Number(self, node: syntax.Number) -> tuple[str, int]:
        return node.text, ATOM

    def _print_Name(self, node: syntax.Name) -> tuple[str, int]:
        return latex_name(node.name), ATOM

    def _print_String(self, node: syntax.String) -> tuple[str, int]:
        return rf"\text{{{node.value}}}", ATOM

    def _print_Unary(self, node: syntax.Unary) -> tuple[str, int]:
        return node.op + self.wrap(node.operand, UNARY), UNARY

    def _print_Transpose(self, node: syntax.Transpose) -> tuple[str, int]:
        count = 0
        while isinstance(node, syntax.Transpose):   # x'' is x
            node, count = node.operand, count + 1
        return (self.superscript(node, r"\top"), POSTFIX) if count % 2 else self._print(node)

    def superscript(self, base, exponent: str) -> str:
        # A base that carries a superscript already is parenthesised: no double superscript.
        text, prec = self._print(base)
        if prec < ATOM or isinstance(base, (syntax.Transpose, syntax.Binary)) or \
                isinstance(base, syntax.Call) and base.func == "inv":
            text = rf"\left({text}\right)"
        return f"{text}^{{{exponent}}}"

    def _print_Binary(self, node: syntax.Binary) -> tuple[str, int]:
        op = node.op
        if op in ("+", "-"):
            # A chain of ten thousand terms is a tree as deep: walk it with a loop.
            terms = self.signed_terms(node)
            return "".join((f" {sign} " if i else "-" if sign == "-" else "") + text
                           for i, (sign, text) in enumerate(terms)), ADD
        if op == "/":
            return rf"\frac{{{self.print(node.left)}}}{{{self.print(node.right)}}}", ATOM
        if op in ("^", ".^"):
            exponent = self.print(node.right)
            return self.superscript(node.left, exponent if op == "^" else rf"\circ {exponent}"), \
                POSTFIX
        # (a .* b) * c and (A*B) .* C keep their parentheses: which of a Hadamard and a matrix
        # product comes first is a convention papers differ on (the LaTeX reader refuses it).
        mixed = isinstance(node.left, syntax.Binary) and node.left.op in _PRODUCTS and \
            (node.left.op in _ELEMENTWISE) != (op in _ELEMENTWISE)
        left = self.wrap(node.left, MUL + 1 if mixed else MUL)
        right = self.wrap(node.right, MUL + 1)
        separator = {".*": r" \odot ", "./": r" \oslash "}.get(op, " ")
        if separator == " " and isinstance(node.right, syntax.Number):
            separator = r" \cdot "
        return left + separator + right, MUL

    def _print_Call(self, node: syntax.Call) -> tuple[str, int]:
        name, args = node.func, node.args
        inner = ", ".join(self.print(a) for a in args)
        if name in ("norm", "norm1", "norm2"):
            kind = {"norm1": 1, "norm2": 2}.get(name)
            if len(args) > 1:
                kind = args[1].value if isinstance(args[1], syntax.String) else \
                    int(args[1].text) if isinstance(args[1], syntax.Number) else None
            return rf"\left\lVert {self.print(args[0])} \right\rVert{_NORMS.get(kind, '')}", ATOM
        if name == "inv":
            return self.superscript(args[0], "-1"), POSTFIX
        if name == "sqrt":
            return rf"\sqrt{{{inner}}}", ATOM
        if name == "square":
            return self.superscript(args[0], r"\circ 2"), POSTFIX
        if name == "abs":
            return rf"\left|{inner}\right|", ATOM
        if name == "step":
            return rf"\left[{inner} > 0\right]", ATOM
        if name == "eye":
            return rf"I_{{{inner}}}", ATOM
        if name == "ones":
            return r"\mathbf{1}_{" + inner.replace(", ", r" \times ") + "}", ATOM
        spelled = _FUNCTIONS.get(name, rf"\operatorname{{{name}}}")
        return rf"{spelled}\left({inner}\right)", ATOM

    @deep
    def signed_terms(self, node) -> list[tuple[str, str]]:
        """The top-level terms of a chain of + and - (where a long line may break)."""
        terms: list[tuple[str, object]] = []
        while isinstance(node, syntax.Binary) and node.op in ("+", "-"):
            terms.append((node.op, node.right))
            node = node.left
        terms.append(("+", node))
        terms.reverse()
        return [(sign, self.print(t) if i == 0 else self.wrap(t, ADD + 1))
                for i, (sign, t) in enumerate(terms)]


def source_latex(source: str) -> str | None:
    """The formula's definitions and cost, as written, in one align*; None for a formula
    nested too deeply to print (2^2^2^... ten thousand times)."""
    program = syntax.parse(source)
    printer = SourcePrinter()
    try:
        rows = [(latex_name(d.name), printer.signed_terms(d.expr)) for d in program.definitions]
        rows.append(("F", printer.signed_terms(program.cost)))
    except RecursionError:
        return None
    return align_rows(rows)
