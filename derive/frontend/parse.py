"""Parse a formula into a small, immutable syntax tree.

A formula is zero or more definitions followed by one expression, the cost::

    R = A*s - x;  norm(R, 'fro')^2 + gamma*norm(A, 'fro')^2

Grammar (statements are separated by ``;``, a trailing ``;`` is allowed,
newlines are ordinary whitespace and ``#`` starts a comment to end of line)::

    program    := (NAME '=' sum ';')* sum ';'?
    sum        := product (('+' | '-') product)*
    product    := unary (('*' | '@' | '.*' | './' | '/') unary)*
    unary      := ('-' | '+')* postfix
    postfix    := primary (TRANSPOSE | ('^' | '.^') exponent)*
    exponent   := ('-' | '+')? primary
    primary    := NUMBER | STRING | NAME | NAME '(' (sum (',' sum)*)? ')'
                | '(' sum ')'

so, lowest to highest: binary ``+ -``; ``* @ .* ./ /``; unary ``- +``;
transpose and power, applied left to right as in MATLAB (``a.^2'`` is
``(a.^2)'`` and ``2^3^2`` is ``(2^3)^2``).  All binary operators are
left-associative.

Tokens: names are ASCII letters, digits and ``_`` starting with a letter;
numbers are ``2``, ``0.5``, ``.5``, ``1e-3``, ``1.5E+3`` (a ``.`` belongs to a
number only when a digit follows it, so ``2.*x`` is ``2 .* x``); strings are
in single quotes.  A ``'`` is a transpose when the previous token is a name,
a number, ``)`` or another transpose (whitespace in between is allowed), and
opens a string anywhere else.  ``.T`` is a transpose unless a name character
follows the ``T``.  Anything else outside a comment is an error (strings
hold printable ASCII only).

User text is never evaluated.  Every problem is reported as a
:class:`~derive.errors.DeriveError` carrying the source and the offset of the
offending spot.  Nesting of parentheses, calls and unary operators is limited
to :data:`MAX_DEPTH` levels, and chains of binary operators are parsed with
loops, so hostile input cannot exhaust the Python stack; tokenizing and
parsing take linear time.

Code walking the tree should note that only that nesting is limited: a long
chain (``a+a+...``, ``x''''...``, ``2^2^...``) makes a tree as deep as the
chain is long, so walk it with an explicit stack rather than recursion.
"""
from __future__ import annotations

import functools
import gc
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator, NamedTuple, Union

from derive.errors import DeriveError

__all__ = [
    "MAX_DEPTH", "Token", "tokenize", "parse",
    "Number", "Name", "String", "Call", "Unary", "Binary", "Transpose",
    "Definition", "Program", "Expr",
]

#: Maximum nesting of parentheses, calls and unary operators.
MAX_DEPTH = 100
#: Longest accepted number literal (digits) and largest decimal exponent.
MAX_NUMBER_DIGITS = 1000
MAX_EXPONENT = 1000


# --------------------------------------------------------------------------
# Syntax tree
# --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Number:
    pos: int
    text: str
    value: Fraction


@dataclass(frozen=True, slots=True)
class Name:
    pos: int
    name: str


@dataclass(frozen=True, slots=True)
class String:
    pos: int
    value: str


@dataclass(frozen=True, slots=True)
class Call:
    pos: int
    func: str
    args: tuple


@dataclass(frozen=True, slots=True)
class Unary:
    pos: int
    op: str
    operand: object


@dataclass(frozen=True, slots=True)
class Binary:
    pos: int
    op: str
    left: object
    right: object


@dataclass(frozen=True, slots=True)
class Transpose:
    pos: int
    operand: object


@dataclass(frozen=True, slots=True)
class Definition:
    pos: int
    name: str
    expr: object


@dataclass(frozen=True, slots=True)
class Program:
    source: str
    definitions: tuple[Definition, ...]
    cost: object


Expr = Union[Number, Name, String, Call, Unary, Binary, Transpose]

# A long sum makes about one Name and one Binary per two tokens.  A frozen
# dataclass's __init__ sets each field through object.__setattr__; calling
# the slot descriptors directly builds the same object in about two thirds
# of the time.  The parser uses these two; everything else uses __init__.
_new = object.__new__
_set_name_pos, _set_name_name = (getattr(Name, f).__set__ for f in ("pos", "name"))
_set_binary_pos, _set_binary_op, _set_binary_left, _set_binary_right = (
    getattr(Binary, f).__set__ for f in ("pos", "op", "left", "right"))


def _name(pos: int, name: str) -> Name:
    node = _new(Name)
    _set_name_pos(node, pos)
    _set_name_name(node, name)
    return node


def _binary(pos: int, op: str, left: Expr, right: Expr) -> Binary:
    node = _new(Binary)
    _set_binary_pos(node, pos)
    _set_binary_op(node, op)
    _set_binary_left(node, left)
    _set_binary_right(node, right)
    return node


# --------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------

class Token(NamedTuple):
    """One token.  ``kind`` is 'name', 'number', 'string', 'op',
    'transpose' or 'end'; ``text`` is the exact source text (a string keeps
    its quotes); ``pos`` is the 0-based offset of its first character.  The
    'end' token sits just after the last token (0 for an empty formula)."""
    kind: str
    text: str
    pos: int


# One token, after any whitespace and comments; 'end' matches only at the
# end of the text, and 'bad' is any character that cannot start a token.
_TOKEN = re.compile(r"""
    (?:[ \t\r\n] | \#[^\n]*(?=\n|\Z))*
    (?: (?P<name>[A-Za-z][A-Za-z0-9_]*)
      | (?P<python_power>\*\*)
      | (?P<op>\.\*|\./|\.\^|[*@/+\-^(),;=])
      | (?P<number>(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
      | (?P<dotT>\.T)
      | (?P<quote>')
      | (?P<end>\Z)
      | (?P<bad>[\s\S])
    )
""", re.VERBOSE)
_STRING = re.compile(r"'[^'\n]*'")
_BAD_IN_STRING = re.compile(r"[^ -~]")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_NUMBER_PARTS = re.compile(r"([0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?)([0-9]+))?")


def _show_char(ch: str) -> str:
    if " " <= ch <= "~":
        return "'" + ch + "'" if ch != "'" else '"\'"'
    return f"U+{ord(ch):04X}" + (f" '{ch}'" if ch.isprintable() else "")


# Habits from NumPy and MATLAB: what to write instead, by attribute or function name.
_LIBRARIES = {"np": "NumPy", "numpy": "NumPy", "jnp": "JAX", "jax": "JAX", "torch": "PyTorch",
              "math": "Python's math", "scipy": "SciPy", "sp": "SciPy", "tf": "TensorFlow"}
_INSTEAD = {
    "sum": "sum(...)", "mean": "mean(...)", "exp": "exp(...)", "log": "log(...)",
    "sqrt": "sqrt(...)", "abs": "abs(...)", "sin": "sin(...)", "cos": "cos(...)",
    "tanh": "tanh(...)", "square": "square(...)", "trace": "tr(...)", "diag": "diag(...)",
    "eye": "eye(n)", "ones": "ones(m, n)", "linalg": "norm(...), inv(...), det(...) or logdet(...)",
    "norm": "norm(...)", "inv": "inv(...)", "det": "det(...)", "slogdet": "logdet(...)",
    "dot": "a product: x'*y or A*x", "matmul": "A*B", "multiply": "A .* B",
    "divide": "A ./ B", "power": "A .^ p", "outer": "x*y'", "transpose": "A' (or A.T)",
    "maximum": "relu(z) for maximum(z, 0)", "max": "relu(z) for max(z, 0)",
    "T": "A' (or A.T)", "shape": "--shape NAME=DIMS to declare it",
}


def _attribute_habit(source: str, pos: int) -> str | None:
    """Why ``name.attr`` (pos at the dot) is not a formula, and what to write, if we know."""
    start = pos
    while start > 0 and source[start - 1] in _NAME_CHARS:
        start -= 1
    stop = pos + 1
    while stop < len(source) and source[stop] in _NAME_CHARS:
        stop += 1
    owner, attr = source[start:pos], source[pos + 1:stop]
    if not owner or not attr or not owner[0].isalpha():
        return None
    instead = _INSTEAD.get(attr)
    if owner in _LIBRARIES:
        what = f"'{owner}.{attr}' is {_LIBRARIES[owner]}; formulas have their own functions"
    else:
        what = f"'{owner}.{attr}' is a Python attribute or method; formulas have none " \
               "(the transpose is x' or x.T)"
    return f"{what}: write {instead}" if instead else \
        f"{what}: see the formula language, docs/language.md"


def _bad_character(source: str, pos: int) -> DeriveError:
    ch = source[pos]
    habit = _HABITS.get(ch)
    if ch == "." and pos + 1 < len(source) and source[pos + 1].isalpha():
        habit = _attribute_habit(source, pos)
    if habit:
        return DeriveError(f"unexpected character {_show_char(ch)}: {habit}",
                           source=source, offset=pos)
    if ch == "_":
        why = ": names must start with a letter"
    elif ch == '"':
        why = ": strings are written in single quotes"
    elif ch == ".":
        why = ": expected '.*', './', '.^', '.T' or a digit after '.'"
    elif not ch.isascii():
        why = " (only ASCII characters are allowed outside comments)"
    else:
        why = ""
    return DeriveError(f"unexpected character {_show_char(ch)}{why}",
                       source=source, offset=pos)


_HABITS = {
    ":": "ranges and slices (1:n, X(:, 1)) are not in the formula language: they work "
         "with whole vectors and matrices (ones(n, 1) is a vector of ones, sum(X, 1) the sum "
         "down each column)",
    "[": "indexing (x[2], X[:, 1]) is not in the formula language: it works with whole "
         "vectors and matrices (sum(x), x'*y, A*x)",
}


def _read_string(source: str, pos: int) -> str:
    """The text (quotes included) of the string literal opening at ``pos``."""
    m = _STRING.match(source, pos)
    if m is None:
        raise DeriveError("unterminated string: this ' is never closed on its line",
                          source=source, offset=pos)
    bad = _BAD_IN_STRING.search(source, pos + 1, m.end() - 1)
    if bad is not None:
        raise _bad_character(source, bad.start())
    return m.group()


def _check_number(source: str, text: str, pos: int, stop: int) -> None:
    """Reject a number glued to a name, or too large to make exact cheaply."""
    after = source[stop:stop + 1]
    if after in _NAME_CHARS:
        if after in ("e", "E"):
            raise DeriveError(f"malformed number: expected digits after the exponent '{after}'",
                              source=source, offset=stop)
        raise DeriveError(f"expected an operator after the number '{text}' "
                          "(write '2*x', not '2x')", source=source, offset=stop)
    if len(text) <= MAX_NUMBER_DIGITS and "e" not in text and "E" not in text:
        return
    whole, frac, _sign, exp = _NUMBER_PARTS.fullmatch(text).groups()
    if len(whole) + len(frac or "") > MAX_NUMBER_DIGITS:
        raise DeriveError(f"number is too long (more than {MAX_NUMBER_DIGITS} digits)",
                          source=source, offset=pos)
    if exp is not None:
        exp = exp.lstrip("0")
        if len(exp) > len(str(MAX_EXPONENT)) or (exp and int(exp) > MAX_EXPONENT):
            raise DeriveError(f"exponent of number is too large (more than {MAX_EXPONENT})",
                              source=source, offset=pos)


@functools.lru_cache(maxsize=256)
def _number_value(text: str) -> Fraction:
    """The exact value of a (checked) number literal."""
    if text.isdigit():
        return Fraction(int(text))
    whole, frac, sign, exp = _NUMBER_PARTS.fullmatch(text).groups()
    frac = frac or ""
    scale = (int(exp) if exp else 0) * (-1 if sign == "-" else 1) - len(frac)
    mantissa = int((whole or "0") + frac)
    if scale >= 0:
        return Fraction(mantissa * 10 ** scale)
    return Fraction(mantissa, 10 ** -scale)


def tokenize(source: str) -> Iterator[Token]:
    """Yield the tokens of ``source``, ending with one 'end' token.

    Raises DeriveError at the first character that cannot start a token.
    """
    make = tuple.__new__          # Token(kind, text, pos), minus a Python-level call
    transposable = False          # would a "'" here be a transpose?
    last = make(Token, ("end", "", 0))      # the last token yielded
    pos = 0
    while True:
        # finditer is restarted only after a string, which it cannot see
        # (whether "'" opens a string depends on the previous token).
        for m in _TOKEN.finditer(source, pos):
            kind = m.lastgroup
            text = m[kind]
            pos = m.start(kind)
            if kind == "name":
                transposable = True
            elif kind == "op":
                transposable = text == ")"
            elif kind == "number":
                _check_number(source, text, pos, pos + len(text))
                transposable = True
            elif kind == "quote" and transposable:
                kind = "transpose"
            elif kind == "quote":               # it opens a string
                text = _read_string(source, pos)
                transposable = False
                yield (last := make(Token, ("string", text, pos)))
                pos += len(text)
                break
            elif kind == "dotT":
                if source[pos + 2:pos + 3] in _NAME_CHARS:
                    raise DeriveError("'.T' (transpose) cannot be followed directly by a "
                                      "letter, digit or '_'", source=source, offset=pos)
                kind = "transpose"
                transposable = True
            elif kind == "python_power":
                raise DeriveError("'**' is Python's power: write ^ for the power of a scalar or "
                                  "a square matrix (c^2, X^-1), .^ for the elementwise power "
                                  "(x.^2)", source=source, offset=pos)
            elif kind == "end":                 # placed just after the last token
                yield make(Token, ("end", "", last.pos + len(last.text)))
                return
            else:
                raise _bad_character(source, pos)
            yield (last := make(Token, (kind, text, pos)))
        else:  # pragma: no cover - the 'end' alternative always matches last
            raise AssertionError("tokenizer ran past the end")


# --------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------

# Operator tokens are recognised by their text alone: no name, number,
# string (which keeps its quotes) or end token can have the same text.
_SUM_OPS = frozenset({"+", "-"})
_PRODUCT_OPS = frozenset({"*", "@", ".*", "./", "/"})
_POSTFIX_OPS = frozenset({"'", ".T", "^", ".^"})
# After a statement's first name: whitespace and comments, then '=' (the
# statement is a definition).
_DEFINES = re.compile(r"(?:[ \t\r\n]|\#[^\n]*(?=\n|\Z))*=")


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "end of formula"
    if token.kind in ("name", "number"):
        return f"{token.kind} '{token.text}'"
    if token.kind == "string":
        return f"string {token.text}"
    if token.text == "'":
        return "transpose \"'\""
    return f"'{token.text}'"


class _Parser:
    """Recursive descent over the token stream: ``token`` is the next token
    to consume, ``previous`` the last one consumed (for error messages)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.next_token = tokenize(source).__next__
        self.token = self.next_token()
        self.previous: Token | None = None
        self.depth = 0            # open parentheses, calls and unary operators
        self.open_parens = 0

    # -- helpers -----------------------------------------------------------

    def advance(self) -> Token:
        """Consume the current token (never the 'end' token) and return it."""
        token = self.previous = self.token
        self.token = self.next_token()
        return token

    def error(self, message: str, offset: int) -> DeriveError:
        return DeriveError(message, source=self.source, offset=offset)

    def enter(self, token: Token) -> None:
        """One more level of nesting, opened by ``token``."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested too deeply (more than {MAX_DEPTH} levels)", token.pos)

    def close(self, opening: Token, expected: str) -> None:
        """Consume the ')' matching ``opening``."""
        if self.token.text == ")":
            self.advance()
            return
        if self.token.kind == "end" or self.token.text == ";":
            raise self.error("unbalanced parenthesis: this '(' is never closed", opening.pos)
        raise self.error(f"expected {expected}, found {_describe(self.token)}",
                         self.token.pos)

    # -- statements ----------------------------------------------------------

    def program(self) -> Program:
        if self.token.kind == "end":
            raise self.error("the formula is empty", self.token.pos)
        definitions: list[Definition] = []
        while True:
            start = self.token
            if start.kind == "name" and _DEFINES.match(self.source,
                                                       start.pos + len(start.text)):
                self.advance()
                self.advance()                  # the '='
                definitions.append(Definition(start.pos, start.text, self.sum()))
                self.statement_end()
                if self.token.text == ";":
                    self.advance()
                if self.token.kind == "end":
                    raise self.error("expected the cost after the definitions", self.token.pos)
                continue
            if start.text == ";":
                raise self.error("expected a definition or the cost, found ';'", start.pos)
            cost = self.sum()
            self.statement_end()
            if self.token.text == ";":
                self.advance()
            if self.token.text == ";":
                raise self.error("expected end of formula after the cost, found ';'",
                                 self.token.pos)
            if self.token.kind != "end":
                raise self.error("expected a definition 'name = ...' here: only the last "
                                 "statement is the cost", start.pos)
            return Program(self.source, tuple(definitions), cost)

    def statement_end(self) -> None:
        """After a statement's expression only ';' or the end may follow."""
        token = self.token
        if token.kind == "end" or token.text == ";":
            return
        if token.text == ")":
            raise self.error("unbalanced parenthesis: this ')' has no matching '('", token.pos)
        hint = " (a definition is 'name = expression;')" if token.text == "=" else ""
        raise self.error(f"expected ';' or end of formula, found {_describe(token)}{hint}",
                         token.pos)

    # -- expressions, lowest precedence first ------------------------------

    def sum(self) -> Expr:
        left = self.product()
        while self.token.text in _SUM_OPS:
            op = self.advance()
            left = _binary(op.pos, op.text, left, self.product())
        return left

    def product(self) -> Expr:
        left = self.unary()
        while self.token.text in _PRODUCT_OPS:
            op = self.advance()
            left = _binary(op.pos, op.text, left, self.unary())
        return left

    def unary(self) -> Expr:
        if self.token.text in _SUM_OPS:
            return self.signed()
        node = self.primary()
        if self.token.text in _POSTFIX_OPS:
            node = self.postfix(node)
        return node

    def signed(self) -> Expr:
        """Unary signs (each a level of nesting), then a postfix expression."""
        signs = []
        while self.token.text in _SUM_OPS:
            self.enter(self.token)
            signs.append(self.advance())
        node = self.primary()
        if self.token.text in _POSTFIX_OPS:
            node = self.postfix(node)
        for sign in reversed(signs):
            node = Unary(sign.pos, sign.text, node)
        self.depth -= len(signs)
        return node

    def postfix(self, node: Expr) -> Expr:
        """Apply transposes and powers to ``node``, left to right."""
        while self.token.text in _POSTFIX_OPS:
            token = self.advance()
            if token.kind == "transpose":
                node = Transpose(token.pos, node)
            else:
                node = _binary(token.pos, token.text, node, self.exponent())
        return node

    def exponent(self) -> Expr:
        """The right operand of a power: an optional sign, then a primary."""
        if self.token.text not in _SUM_OPS:
            return self.primary()
        sign = self.token
        self.enter(sign)
        self.advance()
        node = Unary(sign.pos, sign.text, self.primary())
        self.depth -= 1
        return node

    def primary(self) -> Expr:
        token = self.token
        kind = token.kind
        if kind == "name":
            self.advance()
            if self.token.text == "(":
                return self.call(token)
            return _name(token.pos, token.text)
        if kind == "number":
            self.advance()
            return Number(token.pos, token.text, _number_value(token.text))
        if kind == "string":
            self.advance()
            return String(token.pos, token.text[1:-1])
        if token.text == "(":
            self.enter(token)
            self.open_parens += 1
            self.advance()
            node = self.sum()
            self.close(token, "an operator or ')'")
            self.open_parens -= 1
            self.depth -= 1
            return node
        raise self.missing_operand()

    def call(self, name: Token) -> Call:
        opening = self.token
        self.enter(opening)
        self.open_parens += 1
        self.advance()
        args = []
        if self.token.text != ")":
            args.append(self.sum())
            while self.token.text == ",":
                self.advance()
                args.append(self.sum())
        if self.token.text == "=" and isinstance(args[-1], Name):
            raise self.error(f"'{args[-1].name}=' is a Python keyword argument: formulas pass "
                             "arguments by position (sum(X, 1) sums down each column, sum(X, 2) "
                             "along each row)", args[-1].pos)
        self.close(opening, f"',' or ')' in the call to '{name.text}'")
        self.open_parens -= 1
        self.depth -= 1
        return Call(name.pos, name.text, tuple(args))

    def missing_operand(self) -> DeriveError:
        token, previous = self.token, self.previous
        if token.text == ")" and self.open_parens == 0:
            return self.error("unbalanced parenthesis: this ')' has no matching '('", token.pos)
        found = _describe(token)
        if previous is None or previous.text == ";":
            return self.error(f"expected a definition or the cost, found {found}", token.pos)
        after = f"'{previous.text}'" if previous.text != "'" else "\"'\""
        return self.error(f"expected an operand after {after}, found {found}", token.pos)


def parse(source: str) -> Program:
    """Parse a formula (definitions, then the cost) into a :class:`Program`.

    Raises DeriveError, with the source and the offset of the offending spot,
    for anything that is not a well-formed formula.
    """
    if not isinstance(source, str):
        raise TypeError(f"parse() expects a str, not {type(source).__name__}")
    # A long formula makes about a node per token; the cyclic garbage
    # collector would rescan that growing, cycle-free tree over and over
    # (more than half the time of a 1 MB formula), so pause it meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Parser(source).program()
    finally:
        if collecting:
            gc.enable()
