r"""Read a formula pasted from a paper, in LaTeX, into the text parser's syntax tree.

``\|As - x\|_F^2 + \gamma \|A\|_F^2`` becomes the tree of
``norm(A*s - x, 'fro')^2 + gamma*norm(A, 'fro')^2``, so that everything after
the parser (shapes, building, derivation, printing) is shared; :func:`read_latex`
gives that reading in derive's own language, for the user to see.

Reading rules (docs/latex-input.md):

* letters side by side multiply (``As`` is ``A*s``); ``\cdot``, ``\times`` and
  ``*`` are products, ``\odot`` and ``\circ`` the Hadamard product, ``\oslash``
  the elementwise division, ``\frac``/``\tfrac``/``\dfrac`` a division;
* a subscript of a name is part of the name (``W_1`` is ``W1``, ``b_{2}`` is
  ``b2``, ``x_{\text{train}}`` is ``x_train``; ``W^{(1)}`` is ``W1`` too), of ``I``
  or ``\mathbf{1}`` a size (``I_n`` is ``eye(n)``; without one derive infers it);
  accents make names (``\hat{\rho}`` is ``rho_hat``, ``\bar{x}`` is ``x_bar``);
  Greek letters are their names (``\epsilon`` and ``\varepsilon`` are ``eps``);
* ``^\top``, ``^T``, ``^{\mathsf{T}}``, ``'`` transpose; ``^{-1}`` inverts;
  ``^{\circ p}`` is the elementwise power; ``e^{x}`` is ``exp(x)``;
* ``\|x\|_2``, ``\|X\|_F``, ``\|x\|_1`` (also ``\lVert``, ``\Vert``, ``||``) are
  norms; ``\sum`` without limits sums every entry of the product that follows;
* functions (``\exp``, ``\log``, ``\log\det``, ``\operatorname{tr}``,
  ``\mathrm{softmax}``, ``\sqrt{}``) apply entrywise as in the text language;
* rows (``\\`` or ``;``, an ``align*`` of definitions ``H &= ...``): the row without
  a definition, or the row of ``F``, ``J``, ``L`` or ``\mathcal{L}``, is the cost.

What a paper leaves to its reader is refused with the readings to choose from:
``\sigma(z)`` (sigmoid only with ``--assume sigma=sigmoid``), ``|X|`` (determinant
or absolute value), an unsubscripted ``\|X\|`` of a matrix, index notation
(``X_{ij}``, ``\sum_i x_i``), ``y \odot X w`` (which product first?), a function
applied without parentheses to a product (``\log A B``).

User text is never evaluated. Nesting is limited to ``parse.MAX_DEPTH`` levels,
chains of operators are read with loops, and the reading is printed without
recursion, so hostile input cannot exhaust the stack.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from fractions import Fraction

from ..errors import DeriveError, shortened
from .latex_tokens import Token, tokenize
from .parse import (MAX_DEPTH, Binary, Call, Definition, Name, Number, Program, String,
                    Transpose, Unary)
from .shapes import GREEK

__all__ = ["Reading", "read_latex", "parse_latex", "looks_like_latex", "FUNCTION_ASSUMPTIONS"]

_GREEK = {name: name for name in """alpha beta gamma delta zeta eta theta iota kappa lambda mu
    nu xi pi rho sigma tau upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma
    Upsilon Phi Psi Omega""".split()}
_GREEK.update(epsilon="eps", varepsilon="eps", vartheta="theta", varrho="rho", varphi="phi",
              varsigma="sigma", varpi="pi")
_GREEK = {"\\" + command: name for command, name in _GREEK.items()}

# Function names a paper writes as commands, or inside \operatorname{} / \mathrm{} / \text{}.
_COMMAND_FUNCTIONS = {r"\exp": "exp", r"\log": "log", r"\ln": "log", r"\det": "det",
                      r"\sin": "sin", r"\cos": "cos", r"\tanh": "tanh", r"\tr": "tr",
                      r"\Tr": "tr", r"\trace": "tr", r"\diag": "diag"}
_NAMED_FUNCTIONS = {"tr": "tr", "Tr": "tr", "trace": "tr", "det": "det", "logdet": "logdet",
                    "diag": "diag", "sigmoid": "sigmoid", "softmax": "softmax",
                    "softplus": "softplus", "relu": "relu", "ReLU": "relu",
                    "logsumexp": "logsumexp", "sum": "sum", "mean": "mean", "sign": "sign",
                    "sgn": "sign", "exp": "exp", "log": "log", "tanh": "tanh", "abs": "abs",
                    "square": "square", "step": "step", "sqrt": "sqrt", "sin": "sin",
                    "cos": "cos", "norm": "norm"}
# Names that, applied to parentheses, may be a function the paper defines or a product:
# read as a function only when --assume NAME=FUNCTION says which.
_MAYBE_FUNCTIONS = frozenset({"sigma", "phi", "psi", "f", "g", "h"})
#: What ``--assume NAME=...`` may say of such a name (``sigma=sigmoid``).
FUNCTION_ASSUMPTIONS = ("sigmoid", "tanh", "relu", "softplus", "exp", "log")

_FONTS = frozenset(r"""\mathbf \boldsymbol \bm \mathit \mathrm \mathsf \textbf \textit \text
    \textrm \textsf \mathbb \vec \mathnormal \operatorname \operatorname* \mbox""".split())
_ACCENTS = {r"\hat": "hat", r"\widehat": "hat", r"\bar": "bar", r"\overline": "bar",
            r"\tilde": "tilde", r"\widetilde": "tilde"}
_FRACTIONS = frozenset({r"\frac", r"\tfrac", r"\dfrac", r"\cfrac"})
_TIMES = {r"\cdot": "*", "*": "*", r"\times": "*", r"\ast": "*", r"\odot": ".*",
          r"\circ": ".*", r"\oslash": "./", "/": "/", r"\div": "/"}
_NORM_OPEN = frozenset({r"\|", r"\lVert", r"\Vert"})
_NORM_CLOSE = frozenset({r"\|", r"\rVert", r"\Vert"})
_BARS = frozenset({"|", r"\lvert", r"\vert", r"\rvert"})
_TRANSPOSES = frozenset({r"\top", "T", r"\intercal", r"\mathsf{T}", r"\mathrm{T}",
                         r"\prime", r"\mathsf{\top}", r"\mathrm{\top}", r"\text{T}"})
_COST_NAMES = frozenset({"F", "J", "L", r"\mathcal{L}", r"\mathcal{J}", r"\mathcal{F}"})
_DEFINES = frozenset({"=", r"\coloneqq", r"\triangleq", r"\doteq", r"\equiv"})
_ROW_ENDS = frozenset({r"\\", ";", r"\end", "end"})
_GROUPS = {"(": ")", "[": "]", "{": "}", r"\{": r"\}", r"\lbrace": r"\rbrace",
           r"\lbrack": r"\rbrack", r"\lparen": r"\rparen"}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_WORD = re.compile(r"[A-Za-z]{3,}")
_TEXTS = frozenset({"where", "and", "with", "s.t.", "subject"})
_LATEX_INDEX_ADVICE = (r"index notation is not read (which entries? over what range?): write "
                       r"whole vectors and matrices (\sum x, \mathbf{1}^\top x, x^\top y, A x), "
                       r"and a label as W_1 or W_{\text{enc}}")


def looks_like_latex(formula: str) -> bool:
    """A formula with a backslash is LaTeX (docs/latex-input.md): the text language has none
    outside its comments."""
    return "\\" in _TEXT_COMMENT.sub("", formula)


_TEXT_COMMENT = re.compile(r"#[^\n]*")


@dataclass(frozen=True)
class Reading:
    """A LaTeX formula and how derive read it: the syntax tree (offsets into the LaTeX),
    its text in derive's language, and where each piece of that text came from."""
    latex: str
    program: Program
    text: str
    offsets: tuple[tuple[int, int], ...]      # (offset in text, offset in LaTeX), increasing
    norms: frozenset                          # text offsets of unsubscripted norms

    def locate(self, error: DeriveError) -> DeriveError:
        """``error``, raised about the text reading, pointed into the LaTeX instead."""
        if error.source != self.text or error.offset is None:
            return error
        at = bisect.bisect_right(self.offsets, (error.offset, len(self.latex) + 1)) - 1
        offset = self.offsets[at][1] if at >= 0 else 0
        message = error.message
        if "spectral norm" in message and error.offset in self.norms:
            message = (r"\|X\| without a subscript is a matrix norm here: write \|X\|_F for the "
                       r"Frobenius norm (or \|X\|_2 for the spectral norm, which derive does not "
                       r"differentiate)")
        return DeriveError(f"{message} (read as: {shortened(self.text, 120)})" if message == error.message
                           else message, source=self.latex, offset=offset, fact=error.fact)


def read_latex(latex: str, functions: dict[str, str] | None = None,
               scalars: dict[str, bool] | None = None) -> Reading:
    """Read LaTeX math into derive's syntax tree and text; ``functions`` says what an applied
    name means (``{"sigma": "sigmoid"}``, from ``--assume sigma=sigmoid``), ``scalars`` which
    names are declared scalars (True) or not (False), where that decides a reading.

    Raises DeriveError, pointing into the LaTeX, for what is not read or is ambiguous.
    """
    reader = _reader(latex, functions, scalars)
    program = reader.program()
    text, offsets, norms = _TextPrinter(program, reader.unsubscripted).run()
    return Reading(latex, program, text, offsets, norms)


def parse_latex(latex: str, functions: dict[str, str] | None = None,
                scalars: dict[str, bool] | None = None) -> Program:
    """The syntax tree of a LaTeX formula (the nodes of ``parse``, offsets into the LaTeX)."""
    return _reader(latex, functions, scalars).program()


def _reader(latex: str, functions: dict[str, str] | None,
            scalars: dict[str, bool] | None) -> "_Reader":
    if not isinstance(latex, str):
        raise TypeError(f"parse_latex() expects a str, not {type(latex).__name__}")
    from .build import MAX_LENGTH
    if len(latex) > MAX_LENGTH:
        raise DeriveError(f"the formula is {len(latex):,} characters long; derive reads at "
                          f"most {MAX_LENGTH:,}", source=latex, offset=MAX_LENGTH)
    return _Reader(latex, tokenize(latex), functions or {}, scalars or {})


def _is_scalar(node, scalars: dict[str, bool]) -> bool:
    """Is ``node`` surely a scalar: a number, a name declared a scalar or a Greek name not
    declared otherwise, a trace, ...? (A loop down the left of a chain: it may be long.)"""
    while True:
        if isinstance(node, Unary):
            node = node.operand
        elif isinstance(node, Binary) and node.op == "/":
            node = node.left
        elif isinstance(node, Binary):
            if node.op not in ("*", "^") or not _is_scalar(node.right, scalars):
                return False
            node = node.left
        elif isinstance(node, Number):
            return True
        elif isinstance(node, Name):
            return scalars.get(node.name, node.name in GREEK)
        elif isinstance(node, Call):
            return node.func in ("tr", "det", "logdet", "norm") or \
                node.func == "sum" and len(node.args) == 1
        else:
            return False


class _Reader:
    """Recursive descent over the LaTeX tokens; ``self.i`` indexes the next token."""

    def __init__(self, source: str, tokens: list[Token], functions: dict[str, str],
                 scalars: dict[str, bool]) -> None:
        self.source = source
        self.scalars = scalars
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.functions = functions
        self.open_norms = 0          # \| ... \| being read: a \| then closes, never opens
        self.fresh = 0               # sizes derive infers (I, \mathbf{1} without a subscript)
        self.unsubscripted: set[int] = set()     # ids of the norms \|x\| written bare

    # -- helpers -----------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def error(self, message: str, offset: int) -> DeriveError:
        return DeriveError(message, source=self.source, offset=offset)

    def expect(self, text: str, what: str, opening: Token | None = None) -> Token:
        if self.token.text == text:
            return self.advance()
        if opening is not None and self.token.kind == "end":
            raise self.error(f"unbalanced '{opening.text}': it is never closed", opening.pos)
        raise self.error(f"expected {what}, found {self.describe(self.token)}", self.token.pos)

    @staticmethod
    def describe(token: Token) -> str:
        return "end of formula" if token.kind == "end" else f"'{token.text}'"

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested too deeply (more than {MAX_DEPTH} levels)", token.pos)

    def leave(self) -> None:
        self.depth -= 1

    def fresh_size(self, pos: int) -> Name:
        # No name the reader makes has '_' then digits (W_1 is W1), so these never clash.
        self.fresh += 1
        return Name(pos, f"n_{self.fresh}")

    # -- rows ----------------------------------------------------------------

    def program(self) -> Program:
        rows: list[tuple[Token, str | None, object]] = []   # (first token, name, expr)
        while True:
            self.skip_between_rows()
            if self.token.kind == "end" or self.token.text == r"\end":
                break
            continued = self.token.text == "&"
            while self.token.text == "&":
                self.advance()
            if continued and rows and self.token.text in ("+", "-"):
                start, name, expr = rows[-1]
                rows[-1] = (start, name, self.sum(expr))
            else:
                rows.append(self.row())
            self.row_end()
        if not rows:
            raise self.error("the formula is empty", self.token.pos)
        return self.choose_cost(rows)

    def skip_between_rows(self) -> None:
        """Row breaks, environments, labels and words between rows ("where")."""
        while True:
            text = self.token.text
            if text in (r"\\", ";", ","):
                self.advance()
            elif text in (r"\begin", r"\label", r"\intertext", r"\text", r"\mathrm",
                          r"\textrm") and self.peek().text == "{" and (
                    text in (r"\begin", r"\label", r"\intertext") or
                    self.word_at(self.i + 1) in _TEXTS):
                self.advance()
                self.braced_word()
                if text == r"\begin" and self.token.text == "{":   # \begin{array}{cc}
                    self.braced_word()
            else:
                return

    def word_at(self, i: int) -> str:
        out, j = [], i + 1
        while j < len(self.tokens) and self.tokens[j].text != "}" and self.tokens[j].kind != "end":
            out.append(self.tokens[j].text)
            j += 1
        return "".join(out)

    def braced_word(self) -> str:
        opening = self.expect("{", "'{'")
        out = []
        while self.token.text != "}":
            if self.token.kind == "end":
                raise self.error("unbalanced '{': it is never closed", opening.pos)
            out.append(self.advance().text)
        self.advance()
        return "".join(out)

    def row_end(self) -> None:
        if self.token.text in (",", ".") and (self.peek().kind == "end" or
                                              self.peek().text in _ROW_ENDS):
            self.advance()              # the punctuation of a displayed formula
        token = self.token
        if token.kind == "end" or token.text in (r"\\", ";", r"\end"):
            if token.text == r"\end":
                # The math ends here; what follows \end{...} is the paper's prose.
                self.i = len(self.tokens) - 1
            return
        if token.text in _DEFINES:
            raise self.error("one '=' to a row: a definition is 'name = expression', and the "
                             "cost is the row without one (or the row of F, J, L)", token.pos)
        if token.text in (")", "]", "}", r"\}", r"\rbrace") or token.text in _NORM_CLOSE:
            raise self.error(f"unbalanced '{token.text}': nothing opened it", token.pos)
        raise self.error(f"expected an operator or the end of the row, found "
                         f"{self.describe(token)}", token.pos)

    def defines(self) -> bool:
        """Does the current row have a top-level '=' (it is a definition)?"""
        level = 0
        for token in self.tokens[self.i:]:
            text = token.text
            if token.kind == "end" or text in _ROW_ENDS and level == 0:
                return False
            if text in ("{", "(", "[", r"\{"):
                level += 1
            elif text in ("}", ")", "]", r"\}"):
                level -= 1
            elif text in _DEFINES and level == 0:
                return True
            elif text == ":" and level == 0:
                continue
        return False

    def row(self) -> tuple[Token, str | None, object]:
        start = self.token
        if not self.defines():
            self.skip_minimum()
            return start, None, self.sum()
        name = self.left_side()
        while self.token.text in ("&", ":"):
            self.advance()
        self.advance()                  # '=', or another sign of definition (\coloneqq)
        while self.token.text == "&":
            self.advance()
        self.skip_minimum()
        return start, name, self.sum()

    def skip_minimum(self) -> None:
        r"""``\min_{W}`` before a cost says what is optimised, not what the cost is."""
        if self.token.text in (r"\min", r"\minimize", r"\argmin") or \
                self.token.text == r"\operatorname*" and self.word_at(self.i + 1) in (
                    "arg\\,min", "argmin", "minimize"):
            if self.token.text == r"\operatorname*":
                self.advance()
                self.braced_word()
            else:
                self.advance()
            if self.token.text == "_":
                self.advance()
                self.script_tokens()

    def left_side(self) -> str:
        r"""The name a row defines: ``H``, ``W_1``, ``\hat{\rho}``, ``\mathcal{L}(W)``,
        ``\nabla_{W} F`` (read as grad_W)."""
        token = self.token
        if token.text == r"\mathcal":
            self.advance()
            name = r"\mathcal{" + self.braced_word() + "}"
        elif token.text == r"\nabla":
            self.advance()
            self.expect("_", "'_' after \\nabla")
            inner = self.script_tokens()
            end = Token("end", "", inner[-1].pos + len(inner[-1].text)) if inner else self.token
            variable = _Reader(self.source, inner + [end], self.functions, self.scalars).primary()
            if not isinstance(variable, Name):
                raise self.error(r"expected a variable after \nabla_", token.pos)
            name = "grad_" + variable.name
            while self.token.text not in _DEFINES and self.token.text != "&" and \
                    self.token.kind != "end":
                self.advance()          # the F of \nabla_W F
        else:
            node = self.primary()
            if not isinstance(node, Name):
                raise self.error("the left side of '=' must be a name (H = ..., W_1 = ..., "
                                 r"\hat{\rho} = ...)", token.pos)
            name = node.name
        if self.token.text == "(":         # J(W, b) = ...: the arguments are the variables
            opening = self.advance()
            level = 1
            while level:
                if self.token.kind == "end":
                    raise self.error("unbalanced '(': it is never closed", opening.pos)
                level += {"(": 1, ")": -1}.get(self.advance().text, 0)
        return name

    def choose_cost(self, rows) -> Program:
        costs = [r for r in rows if r[1] is None or r[1] in _COST_NAMES]
        if len(rows) == 1:
            costs = rows
        if not costs:
            raise self.error("no row is the cost: give the cost a row without '=' or name it "
                             r"F, J, L or \mathcal{L}", rows[-1][0].pos)
        if len(costs) > 1:
            second = costs[1][0]
            raise self.error("two rows could be the cost: only one row may be without a "
                             r"definition or be the row of F, J, L or \mathcal{L}", second.pos)
        cost = costs[0]
        definitions = []
        for start, name, expr in rows:
            if expr is cost[2]:
                continue
            if not _NAME.fullmatch(name):
                raise self.error(f"'{name}' cannot name a definition", start.pos)
            definitions.append(Definition(start.pos, name, expr))
        return Program(self.source, tuple(definitions), cost[2])

    # -- expressions ---------------------------------------------------------

    def sum(self, left=None):
        if left is None:
            signs = []
            while self.token.text in ("+", "-"):
                self.enter(self.token)
                signs.append(self.advance())
            left = self.term()
            for sign in reversed(signs):
                left = Unary(sign.pos, sign.text, left)
                self.leave()
        while self.token.text in ("+", "-"):
            op = self.advance()
            left = Binary(op.pos, op.text, left, self.term())
        if self.token.text == r"\pm":
            raise self.error(r"'\pm' gives two formulas: write the one to derive", self.token.pos)
        return left

    def term(self):
        factors = [self.factor()]
        ops: list[tuple[Token, str]] = []
        while True:
            token = self.token
            if token.text in _TIMES:
                self.advance()
                ops.append((token, _TIMES[token.text]))
            elif token.text == r"\otimes":
                raise self.error(r"the Kronecker product '\otimes' is not in the formula language "
                                 "(derive writes it in Hessians, it does not read it)", token.pos)
            elif self.starts_factor(token):
                ops.append((token, "juxtaposed"))
            else:
                break
            factors.append(self.factor())
        self.check_mixed_products(factors, ops)
        node = factors[0]
        for (token, op), right in zip(ops, factors[1:]):
            node = Binary(token.pos, "*" if op == "juxtaposed" else op, node, right)
        return node

    def check_mixed_products(self, factors: list, ops: list) -> None:
        """``y \\odot X w``: (y ⊙ X) w or y ⊙ (X w)? Papers differ, so say which."""
        elementwise = [i for i, (_, op) in enumerate(ops) if op in (".*", "./")]
        if not elementwise:
            return
        for i, (token, op) in enumerate(ops):
            if op in ("*", "juxtaposed") and not (_is_scalar(factors[i], self.scalars) or
                                                  _is_scalar(factors[i + 1], self.scalars)):
                other = ops[elementwise[0]][0]
                raise self.error(f"'{other.text}' and a matrix product in one chain: which comes "
                                 "first is a convention papers differ on; write the parentheses "
                                 r"(y \odot (X w) or (y \odot X) w)", other.pos)

    def starts_factor(self, token: Token) -> bool:
        text, kind = token.text, token.kind
        if kind in ("letter", "number"):
            return True
        if text in _NORM_OPEN:
            return self.open_norms == 0 and text != r"\rVert"
        if kind == "cs":
            return text in _GREEK or text in _COMMAND_FUNCTIONS or text in _FONTS or \
                text in _ACCENTS or text in _FRACTIONS or text in (
                    r"\sqrt", r"\sum", r"\lvert", r"\vert", r"\{", r"\lbrace", r"\mathcal",
                    r"\nabla", r"\prod", r"\lparen", r"\lbrack") or \
                text not in _TIMES and text not in _KNOWN_NON_FACTORS
        return text in ("(", "[", "{", "|")

    def factor(self):
        token = self.token
        if token.text in ("+", "-"):          # a + -b, a \cdot -b: a sign after an operator
            self.enter(token)
            self.advance()
            node = Unary(token.pos, token.text, self.factor())
            self.leave()
            return node
        node = self.primary()
        return self.postfix(node)

    def postfix(self, node):
        superscripted = False
        while True:
            token = self.token
            if token.text == "'":
                self.advance()
                node = Transpose(token.pos, node)
            elif token.text == "^":
                if superscripted:
                    raise self.error("double superscript: write braces, as LaTeX needs",
                                     token.pos)
                superscripted = True
                self.advance()
                node = self.superscript(node, token)
            elif token.text == "_":
                raise self.error(_LATEX_INDEX_ADVICE, token.pos)
            elif token.text == "!":
                raise self.error("a factorial is not in the formula language", token.pos)
            else:
                return node

    def superscript(self, base, caret: Token):
        """What follows '^': a transpose, an inverse, an elementwise or an ordinary power."""
        self.enter(caret)
        script = self.short_script()
        spelled = "".join(t.text for t in script) if script is not None else ""
        if spelled.startswith("{"):
            spelled = spelled[1:-1]
        if spelled in _TRANSPOSES:
            node = Transpose(caret.pos, base)
        elif spelled in ("-" + t for t in _TRANSPOSES):
            minus_one = Unary(caret.pos, "-", Number(caret.pos, "1", Fraction(1)))
            node = Transpose(caret.pos, Binary(caret.pos, "^", base, minus_one))
        elif spelled in (r"\dagger", "+", "*", "H", r"\ast"):
            raise self.error(f"'^{spelled}' (a pseudo-inverse or conjugate transpose) is not in "
                             "the formula language", caret.pos)
        else:                           # a power, read in place
            elementwise = self.token.text == "{" and self.peek().text == r"\circ"
            if elementwise:
                opening = self.advance()
                self.advance()
                exponent = self.sum()
                self.expect("}", "'}'", opening)
            else:
                exponent = self.script_value(caret)
            node = Binary(caret.pos, ".^" if elementwise else "^", base, exponent)
            self.leave()
            return node
        self.i += len(script)
        self.leave()
        return node

    def short_script(self) -> list[Token] | None:
        """The tokens of the script ahead when it is short (a transpose, ^{-1}, ...), without
        consuming them; None for a longer one, which is read in place."""
        tokens = self.tokens[self.i:self.i + 10]
        if not tokens or tokens[0].kind == "end":
            raise self.error("expected a script after '^' or '_', found end of formula",
                             self.token.pos)
        first = 1 if tokens[0].text in _FONTS else 0
        if len(tokens) <= first or tokens[first].text != "{":
            return tokens[:first + 1]
        level = 0
        for j, token in enumerate(tokens[first:], first):
            level += {"{": 1, "}": -1}.get(token.text, 0)
            if level == 0:
                return tokens[:j + 1]
        return None

    def script_value(self, caret: Token):
        """A superscript read as an expression: a braced group, or one token (one digit of a
        number: x^23 is x^2 3)."""
        token = self.token
        if token.text == "{":
            opening = self.advance()
            if self.token.text == "}":
                raise self.error("an empty superscript", caret.pos)
            self.enter(opening)
            node = self.sum()
            self.expect("}", "'}'", opening)
            self.leave()
            return node
        if token.kind == "number" and len(token.text) > 1:
            self.tokens[self.i] = Token("number", token.text[1:], token.pos + 1)
            return Number(token.pos, token.text[0], Fraction(token.text[0]))
        if token.kind == "end":
            raise self.error("expected a script after '^', found end of formula", token.pos)
        return self.primary()

    def script_tokens(self) -> list[Token]:
        """The tokens of a subscript: a braced group, one token (one digit of a number: x_23
        is x_2 3), or a command with its braced argument (_\\text{enc})."""
        token = self.token
        if token.kind == "end":
            raise self.error("expected a script after '^' or '_', found end of formula",
                             token.pos)
        if token.text == "{":
            opening = self.advance()
            start, level = self.i, 1
            while True:
                if self.token.kind == "end":
                    raise self.error("unbalanced '{': it is never closed", opening.pos)
                text = self.advance().text
                level += {"{": 1, "}": -1}.get(text, 0)
                if level == 0:
                    return self.tokens[start:self.i - 1]
        if token.kind == "number" and len(token.text) > 1:
            self.tokens[self.i] = Token("number", token.text[1:], token.pos + 1)
            return [Token("number", token.text[0], token.pos)]
        self.advance()
        if token.text in _FONTS and self.token.text == "{":
            start = self.i
            self.braced_word()
            return [token] + self.tokens[start:self.i]
        return [token]

    # -- primaries -----------------------------------------------------------

    def primary(self):
        token = self.token
        text, kind = token.text, token.kind
        if kind == "number":
            self.advance()
            return Number(token.pos, text, Fraction(text))
        if kind == "letter":
            return self.letter()
        if text in _GREEK:
            return self.named(self.greek())
        if text in _FONTS:
            return self.font()
        if text in _ACCENTS:
            return self.named(self.accented())
        if text in _COMMAND_FUNCTIONS:
            self.advance()
            func = _COMMAND_FUNCTIONS[text]
            if func == "log" and self.token.text == r"\det":
                self.advance()
                func = "logdet"
            return self.application(token, func)
        if text in _FRACTIONS:
            return self.fraction()
        if text == r"\sqrt":
            self.advance()
            if self.token.text == "[":
                raise self.error("only the square root is in the formula language: write a "
                                 "power for other roots", self.token.pos)
            return Call(token.pos, "sqrt", (self.argument(token),))
        if text == r"\sum":
            return self.summation()
        if text in _NORM_OPEN:
            return self.norm()
        if text == "|" and self.peek().text == "|" and self.peek().pos == token.pos + 1:
            return self.norm()
        if text in _BARS:
            raise self.error(r"|X| may be the determinant or the absolute value: write \det(X) "
                             r"(or \log\det X) for the determinant, \operatorname{abs}(x) for the "
                             r"absolute value of each entry, \|x\|_1 for their sum", token.pos)
        if text in _GROUPS:
            return self.group()
        if text == r"\prod":
            raise self.error(r"'\prod' is not in the formula language", token.pos)
        if text in (r"\mathcal", r"\nabla"):
            raise self.error(f"'{text}' names the cost on the left of '=', not a part of it",
                             token.pos)
        if kind == "cs":
            raise self.error(f"unknown control sequence '{text}'{_suggestion(text)}", token.pos)
        if kind == "end":
            raise self.error("expected an operand, found end of formula", token.pos)
        if text in (")", "]", "}"):
            raise self.error(f"unbalanced '{text}': nothing opened it, or an operand is "
                             "missing before it", token.pos)
        raise self.error(f"expected an operand, found '{text}'", token.pos)

    def letter(self):
        token = self.advance()
        text = token.text
        if text == "e" and self.token.text == "^":
            caret = self.advance()
            self.enter(caret)
            exponent = self.script_value(caret)
            self.leave()
            return Call(token.pos, "exp", (exponent,))
        if text == "I":
            return Call(token.pos, "eye", (self.size(token),))
        return self.named(Name(token.pos, text))

    def size(self, token: Token, ones: bool = False):
        r"""The size in ``I_n`` or ``\mathbf{1}_{m \times n}``; a fresh name for derive to infer."""
        if self.token.text != "_":
            return (self.fresh_size(token.pos), Number(token.pos, "1", Fraction(1))) if ones \
                else self.fresh_size(token.pos)
        underscore = self.advance()
        script = self.script_tokens()
        parts: list[list[Token]] = [[]]
        for t in script:
            if t.text in (r"\times", ","):
                parts.append([])
            else:
                parts[-1].append(t)
        dims = []
        for part in parts:
            spelled = "".join(t.text for t in part)
            if not (spelled.isdigit() or _NAME.fullmatch(spelled)) or spelled == "0":
                raise self.error("a size is a name or a positive integer (I_n, "
                                 r"\mathbf{1}_{m \times n})", underscore.pos)
            dims.append(Number(part[0].pos, spelled, Fraction(spelled)) if spelled.isdigit()
                        else Name(part[0].pos, spelled))
        if ones:
            if len(dims) > 2:
                raise self.error(r"\mathbf{1} has one or two sizes", underscore.pos)
            return dims[0], dims[1] if len(dims) == 2 else Number(token.pos, "1", Fraction(1))
        if len(dims) == 2 and dims[0] != dims[1] and \
                getattr(dims[0], "name", None) != getattr(dims[1], "name", None):
            raise self.error("an identity matrix is square", underscore.pos)
        return dims[0]

    def greek(self) -> Name:
        token = self.advance()
        return Name(token.pos, _GREEK[token.text])

    def accented(self) -> Name:
        token = self.advance()
        base = self.argument(token)
        if not isinstance(base, Name):
            raise self.error(f"'{token.text}' of an expression: only a name takes an accent "
                             r"(\hat{\rho} is rho_hat)", token.pos)
        return Name(token.pos, f"{base.name}_{_ACCENTS[token.text]}")

    def font(self):
        r"""``\mathbf{x}`` is the name x, ``\mathbf{1}`` a ones vector, ``\mathrm{tr}`` and
        ``\operatorname{sigmoid}`` functions, ``\mathbf{W}_1`` the name W1."""
        token = self.advance()
        if self.token.text != "{":
            return self.named(self.primary_name(token))
        inner_start = self.i
        word = self.braced_word()
        inner = self.tokens[inner_start + 1:self.i - 1]
        if word == "1":
            rows, cols = self.size(token, ones=True)
            return Call(token.pos, "ones", (rows, cols))
        if word in _NAMED_FUNCTIONS:
            spelled = Token("cs", f"{token.text}{{{word}}}", token.pos)
            return self.application(spelled, _NAMED_FUNCTIONS[word])
        if len(inner) == 1 and inner[0].text in _GREEK:
            return self.named(Name(token.pos, _GREEK[inner[0].text]))
        if not _NAME.fullmatch(word) or token.text in (r"\operatorname", r"\operatorname*"):
            raise self.error(f"'{token.text}{{{word}}}' is not a name or a function derive "
                             f"knows (its functions: {', '.join(sorted(set(_NAMED_FUNCTIONS)))})",
                             token.pos)
        return self.named(Name(token.pos, word))

    def primary_name(self, font: Token) -> Name:
        token = self.token
        if token.kind == "letter":
            self.advance()
            return Name(token.pos, token.text)
        if token.text in _GREEK:
            return self.greek()
        raise self.error(f"expected a name after '{font.text}'", token.pos)

    def named(self, name: Name):
        """A name's own subscripts (W_1 is W1) and layer superscripts (W^{(1)} is W1); an
        applied name is a function only when the user said which."""
        text = name.name
        while True:
            if self.token.text == "_":
                underscore = self.advance()
                text += self.name_subscript(underscore)
            elif self.token.text == "^" and self.peek().text == "{" and \
                    self.peek(2).text in ("(", "[") and self.peek(3).kind == "number" and \
                    self.peek(4).text in (")", "]") and self.peek(5).text == "}":
                text += self.peek(3).text
                self.i += 6
            else:
                break
        node = Name(name.pos, text)
        if text in _MAYBE_FUNCTIONS and self.token.text in ("(", "[", r"\{"):
            meaning = self.functions.get(text)
            if meaning is None:
                spelled = "\\" + text if "\\" + text in _GREEK else text
                raise self.error(
                    f"{spelled}(...) may be a function (the logistic sigmoid?) or {spelled} "
                    f"times (...): say which with --assume {text}=sigmoid (or another function: "
                    f"{', '.join(FUNCTION_ASSUMPTIONS)}), or write {spelled} \\cdot (...) for "
                    "the product", name.pos)
            return self.application(Token("cs", text, name.pos), meaning)
        return node

    def name_subscript(self, underscore: Token) -> str:
        script = self.script_tokens()
        if len(script) >= 1 and script[0].text in _FONTS and len(script) > 1:
            word = "".join(t.text for t in script[2:-1])
            if _WORD.fullmatch(word) or _NAME.fullmatch(word) and len(word) > 1:
                return "_" + word
        spelled = "".join(t.text for t in script)
        if spelled.isdigit():
            return spelled
        if _WORD.fullmatch(spelled):
            return "_" + spelled
        raise self.error(_LATEX_INDEX_ADVICE, underscore.pos)

    def application(self, token: Token, func: str):
        """A function and its argument: parenthesised (with more arguments after commas), or
        one factor (\\log x); \\log A B is refused as ambiguous."""
        if self.token.text in ("^", "_"):
            raise self.error(f"a {'power' if self.token.text == '^' else 'subscript'} of the "
                             f"function itself ('{token.text}{self.token.text}...') is not read: "
                             "write the power of its value, (\\log x)^2", self.token.pos)
        if self.token.text in ("(", "[", r"\{", r"\lbrace"):
            opening = self.advance()
            self.enter(opening)
            closing = _GROUPS[opening.text]
            args = [self.sum()]
            while self.token.text == ",":
                self.advance()
                args.append(self.call_argument())
            self.expect(closing, f"',' or '{closing}' after the arguments of "
                        f"'{token.text}'", opening)
            self.leave()
            return Call(token.pos, func, tuple(args))
        if self.token.text == "{":
            return Call(token.pos, func, (self.argument(token),))
        if self.token.kind == "end" or not self.starts_factor(self.token):
            raise self.error(f"expected the argument of '{token.text}', found "
                             f"{self.describe(self.token)}", self.token.pos)
        self.enter(token)
        argument = self.factor()
        self.leave()
        if self.starts_factor(self.token) and self.token.text != r"\sum":
            raise self.error(f"'{token.text}' without parentheses before a product: write "
                             f"{token.text}(A B) or ({token.text} A) B", self.token.pos)
        return Call(token.pos, func, (argument,))

    def call_argument(self):
        """A further argument: an axis, or a norm's kind ('fro', F)."""
        token = self.token
        if token.text in ("F", "fro") or token.text == r"\text" and \
                self.word_at(self.i + 1) == "fro":
            self.advance()
            if token.text == r"\text":
                self.braced_word()
            return String(token.pos, "fro")
        return self.sum()

    def argument(self, command: Token):
        """One argument of a command: a braced group or a single token."""
        if self.token.text == "{":
            opening = self.advance()
            self.enter(opening)
            node = self.sum()
            self.expect("}", "'}'", opening)
            self.leave()
            return node
        if self.token.kind == "number" and len(self.token.text) > 1:   # \frac12
            token = self.token
            self.tokens[self.i] = Token("number", token.text[1:], token.pos + 1)
            return Number(token.pos, token.text[0], Fraction(token.text[0]))
        if self.token.kind in ("letter", "number") or self.token.text in _GREEK:
            return self.primary()
        raise self.error(f"expected the argument of '{command.text}' in braces, found "
                         f"{self.describe(self.token)}", self.token.pos)

    def fraction(self):
        token = self.advance()
        self.enter(token)
        numerator = self.argument(token)
        denominator = self.argument(token)
        self.leave()
        return Binary(token.pos, "/", numerator, denominator)

    def summation(self):
        token = self.advance()
        if self.token.text in ("_", "^"):
            raise self.error(r"\sum with limits: " + _LATEX_INDEX_ADVICE, self.token.pos)
        self.enter(token)
        summand = self.term()
        self.leave()
        return Call(token.pos, "sum", (summand,))

    def norm(self):
        opening = self.advance()
        if opening.text == "|":
            self.advance()
        self.enter(opening)
        self.open_norms += 1
        inside = self.sum()
        self.open_norms -= 1
        closing = self.token
        if opening.text == "|":
            if not (closing.text == "|" and self.peek().text == "|"):
                raise self.error("unbalanced '||': expected '||' to close the norm",
                                 opening.pos)
            self.advance()
        elif closing.text not in _NORM_CLOSE:
            if closing.kind == "end":
                raise self.error(f"unbalanced '{opening.text}': the norm is never closed",
                                 opening.pos)
            raise self.error(f"expected '\\|' to close the norm, found {self.describe(closing)}",
                             closing.pos)
        self.advance()
        self.leave()
        kind, power = None, None
        for _ in range(2):
            if self.token.text == "_" and kind is None:
                underscore = self.advance()
                kind = self.norm_kind(underscore)
            elif self.token.text == "^" and power is None:
                power = self.advance()
        # Without a subscript: the 2-norm of a vector; of a matrix, refused (Reading.locate).
        node = Call(opening.pos, "norm",
                    (inside, kind if kind is not None else Number(opening.pos, "2", Fraction(2))))
        if kind is None:
            self.unsubscripted.add(id(node))
        if power is not None:
            node = self.superscript(node, power)
        return node

    def norm_kind(self, underscore: Token):
        script = self.script_tokens()
        spelled = "".join(t.text for t in script)
        for font in _FONTS:
            spelled = spelled.replace(font, "")
        spelled = spelled.strip("{}")
        if spelled in ("F", "Fro", "fro", "Frob", "\\mathrm{F}"):
            return String(underscore.pos, "fro")
        if spelled in ("1", "2"):
            return Number(underscore.pos, spelled, Fraction(spelled))
        raise self.error(f"the norm '_{spelled}' is not in the formula language: its norms are "
                         r"\|X\|_F (Frobenius), \|x\|_2 and \|x\|_1", underscore.pos)

    def group(self):
        opening = self.advance()
        closing = _GROUPS[opening.text]
        self.enter(opening)
        saved, self.open_norms = self.open_norms, 0
        node = self.sum()
        self.open_norms = saved
        if opening.text == "[" and self.token.text == ">":   # [x > 0], the Iverson bracket
            self.advance()
            zero = self.primary()
            if not (isinstance(zero, Number) and zero.value == 0):
                raise self.error("only [x > 0] (the step function) is read", opening.pos)
            node = Call(opening.pos, "step", (node,))
        self.expect(closing, f"an operator or '{closing}'", opening)
        self.leave()
        return node


# Commands that end a factor rather than start one (operators, relations, row ends).
_KNOWN_NON_FACTORS = frozenset({r"\\", r"\end", r"\begin", r"\pm", r"\otimes", r"\rVert",
                                r"\rvert", r"\}", r"\rbrace", r"\rbrack", r"\rparen", r"\top",
                                r"\coloneqq", r"\triangleq", r"\doteq", r"\equiv", r"\quad",
                                r"\text", r"\intertext", r"\label"}) | _NORM_CLOSE


def _suggestion(command: str) -> str:
    """What an unknown command may have meant."""
    import difflib
    known = list(_GREEK) + list(_COMMAND_FUNCTIONS) + list(_FONTS) + list(_ACCENTS) + \
        list(_FRACTIONS) + [r"\sqrt", r"\sum", r"\cdot", r"\odot", r"\circ", r"\top", r"\|",
                            r"\lVert", r"\rVert"]
    close = difflib.get_close_matches(command, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ": derive does not read it"


# ---------------------------------------------------------------- the reading, as text

SUM, PRODUCT, UNARY, POSTFIX, ATOM = 1, 2, 3, 4, 5
_SPELLED = {"+": " + ", "-": " - ", "*": "*", "@": "@", ".*": " .* ", "./": " ./ ", "/": "/",
            "^": "^", ".^": ".^"}


def _precedence(node) -> int:
    if isinstance(node, Binary):
        return SUM if node.op in ("+", "-") else POSTFIX if node.op in ("^", ".^") else PRODUCT
    if isinstance(node, Unary):
        return UNARY
    if isinstance(node, Transpose):
        return POSTFIX
    return ATOM


class _TextPrinter:
    """The program in derive's text language, with the LaTeX offset of each piece.

    Written with an explicit stack: a chain of ten thousand terms is a tree as deep."""

    def __init__(self, program: Program, unsubscripted: set[int]) -> None:
        self.program = program
        self.unsubscripted = unsubscripted
        self.out: list[str] = []
        self.length = 0
        self.offsets: list[tuple[int, int]] = []
        self.norms: set[int] = set()

    def run(self) -> tuple[str, tuple, frozenset]:
        for definition in self.program.definitions:
            self.mark(definition.pos)
            self.write(f"{definition.name} = ")
            self.print(definition.expr)
            self.write("; ")
        self.print(self.program.cost)
        return "".join(self.out), tuple(self.offsets), frozenset(self.norms)

    def write(self, text: str) -> None:
        self.out.append(text)
        self.length += len(text)

    def mark(self, latex_pos: int) -> None:
        self.offsets.append((self.length, latex_pos))

    def print(self, root) -> None:
        stack: list = [root]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                self.write(item)
            elif isinstance(item, tuple):          # ("mark", LaTeX offset)
                self.mark(item[1])
            else:
                stack.extend(reversed(self.pieces(item)))

    def pieces(self, node) -> list:
        mark = ("mark", node.pos)
        if isinstance(node, Number):
            return [mark, node.text]
        if isinstance(node, Name):
            return [mark, node.name]
        if isinstance(node, String):
            return [mark, f"'{node.value}'"]
        if isinstance(node, Call):
            if id(node) in self.unsubscripted:
                self.norms.add(self.length)
            out: list = [mark, f"{node.func}("]
            for i, arg in enumerate(node.args):
                out += ([", "] if i else []) + [arg]
            return out + [")"]
        if isinstance(node, Unary):
            return [mark, node.op] + _wrapped(node.operand, _precedence(node.operand) < UNARY)
        if isinstance(node, Transpose):
            return _wrapped(node.operand, _precedence(node.operand) < POSTFIX) + [mark, "'"]
        prec = _precedence(node)
        left_parens = _precedence(node.left) < prec
        if prec == POSTFIX:
            right = node.right
            simple = _precedence(right) == ATOM or isinstance(right, Unary) and \
                _precedence(right.operand) == ATOM
            right_parens = not simple
        else:
            right_parens = _precedence(node.right) <= prec
        return _wrapped(node.left, left_parens) + [mark, _SPELLED[node.op]] + \
            _wrapped(node.right, right_parens)


def _wrapped(node, parens: bool) -> list:
    return ["(", node, ")"] if parens else [node]
