"""Tests for derive.frontend.parse: precedence, tokens, statements, errors, robustness."""
from __future__ import annotations

import time
from dataclasses import fields
from fractions import Fraction

import pytest

from derive.errors import DeriveError
from derive.frontend.parse import (
    MAX_DEPTH, Binary, Call, Definition, Name, Number, Program, String,
    Transpose, Unary, parse, tokenize,
)


def sx(node: object) -> str:
    """A fully parenthesised rendering of a tree, to compare shapes easily."""
    if isinstance(node, Number):
        return node.text
    if isinstance(node, Name):
        return node.name
    if isinstance(node, String):
        return repr(node.value)
    if isinstance(node, Call):
        return f"{node.func}(" + ", ".join(sx(a) for a in node.args) + ")"
    if isinstance(node, Unary):
        return f"({node.op}{sx(node.operand)})"
    if isinstance(node, Binary):
        return f"({sx(node.left)} {node.op} {sx(node.right)})"
    if isinstance(node, Transpose):
        return f"{sx(node.operand)}'"
    raise AssertionError(f"not a node: {node!r}")


def cost(source: str) -> str:
    return sx(parse(source).cost)


def error(source: str) -> DeriveError:
    with pytest.raises(DeriveError) as info:
        parse(source)
    err = info.value
    assert err.source == source and err.offset is not None
    return err


# -- precedence ----------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("a + b * c", "(a + (b * c))"),
    ("a * b + c", "((a * b) + c)"),
    ("a - b - c", "((a - b) - c)"),
    ("a / b * c", "((a / b) * c)"),
    ("a @ b .* c ./ d", "(((a @ b) .* c) ./ d)"),
    ("-x^2", "(-(x ^ 2))"),
    ("-x'", "(-x')"),
    ("a*-b", "(a * (-b))"),
    ("a - -b", "(a - (-b))"),
    ("+a", "(+a)"),
    ("- - a", "(-(-a))"),
    ("a.^2'", "(a .^ 2)'"),
    ("A*B'", "(A * B')"),
    ("2^3^2", "((2 ^ 3) ^ 2)"),
    ("X^-1", "(X ^ (-1))"),
    ("x^-1'", "(x ^ (-1))'"),
    ("2^-3^2", "((2 ^ (-3)) ^ 2)"),
    ("x.^+2", "(x .^ (+2))"),
    ("x^(a+b)", "(x ^ (a + b))"),
    ("x^f(y)", "(x ^ f(y))"),
    ("(a + b) * c", "((a + b) * c)"),
    ("norm(R, 'fro')^2 + gamma*norm(A, 'fro')^2",
     "((norm(R, 'fro') ^ 2) + (gamma * (norm(A, 'fro') ^ 2)))"),
])
def test_precedence(source: str, expected: str) -> None:
    assert cost(source) == expected


def test_positions_identify_the_token() -> None:
    tree = parse("f(a, b) + x'*2").cost
    assert isinstance(tree, Binary) and tree.op == "+" and tree.pos == 8
    call, product = tree.left, tree.right
    assert call == Call(0, "f", (Name(2, "a"), Name(5, "b")))
    assert product.pos == 12 and isinstance(product.left, Transpose)
    assert product.left.pos == 11 and product.left.operand == Name(10, "x")
    assert product.right == Number(13, "2", Fraction(2))


def test_node_fields() -> None:
    # The parser builds Name and Binary through their slots, in this order.
    assert [f.name for f in fields(Name)] == ["pos", "name"]
    assert [f.name for f in fields(Binary)] == ["pos", "op", "left", "right"]
    node = parse("a * b").cost
    assert type(node) is Binary and node == Binary(2, "*", Name(0, "a"), Name(4, "b"))
    assert repr(node.left) == "Name(pos=0, name='a')"


def test_nodes_are_frozen_and_hashable() -> None:
    node = parse("a + b").cost
    with pytest.raises(AttributeError):
        node.op = "-"  # type: ignore[misc]
    assert hash(node) == hash(parse("a + b").cost)


# -- transposes versus strings ---------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("norm(x, 'fro')", "norm(x, 'fro')"),
    ("A''", "A''"),
    ("A' '", "A''"),
    ("(A*B)'", "(A * B)'"),
    ("x'*A*x", "((x' * A) * x)"),
    ("A.T*B", "(A' * B)"),
    ("A.T.T", "A''"),
    ("A.T'", "A''"),
    ("(A).T", "A'"),
    ("2'", "2'"),
    ("x '", "x'"),
    ("f('a', 'b c')", "f('a', 'b c')"),
    ("f('')", "f('')"),
    ("f(x', 'fro')", "f(x', 'fro')"),
    ("T + A.T", "(T + A')"),
])
def test_transposes_and_strings(source: str, expected: str) -> None:
    assert cost(source) == expected


def test_tokens() -> None:
    tokens = list(tokenize("x'*f('a') # note\n+ .5"))
    assert [(t.kind, t.text, t.pos) for t in tokens] == [
        ("name", "x", 0), ("transpose", "'", 1), ("op", "*", 2), ("name", "f", 3),
        ("op", "(", 4), ("string", "'a'", 5), ("op", ")", 8), ("op", "+", 17),
        ("number", ".5", 19), ("end", "", 21),
    ]


def test_string_node_has_the_text_without_quotes() -> None:
    assert parse("f('fro')").cost.args == (String(2, "fro"),)


# -- numbers -----------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("2", Fraction(2)), ("0.5", Fraction(1, 2)), (".5", Fraction(1, 2)),
    ("1e-3", Fraction(1, 1000)), ("1.5E+3", Fraction(1500)), ("2.25e1", Fraction(45, 2)),
    ("0.1", Fraction(1, 10)), ("007", Fraction(7)),
])
def test_number_values_are_exact(text: str, value: Fraction) -> None:
    node = parse(text).cost
    assert node == Number(0, text, value)


@pytest.mark.parametrize("source, expected", [
    ("2.*x", "(2 .* x)"),
    ("2./x", "(2 ./ x)"),
    ("2.^x", "(2 .^ x)"),
    ("x.^.5", "(x .^ .5)"),
    ("1e-3*x", "(1e-3 * x)"),
    ("2.5.*x", "(2.5 .* x)"),
])
def test_dots_after_numbers(source: str, expected: str) -> None:
    assert cost(source) == expected


# -- statements, comments, lines ---------------------------------------------------------

def test_definitions_and_cost() -> None:
    source = "R = A*s - x;  norm(R, 'fro')^2 + gamma*norm(A, 'fro')^2"
    program = parse(source)
    assert isinstance(program, Program) and program.source == source
    assert len(program.definitions) == 1
    definition = program.definitions[0]
    assert isinstance(definition, Definition)
    assert (definition.pos, definition.name) == (0, "R")
    assert sx(definition.expr) == "((A * s) - x)"
    assert sx(program.cost) == \
        "((norm(R, 'fro') ^ 2) + (gamma * (norm(A, 'fro') ^ 2)))"


def test_several_definitions_trailing_semicolon_comments_and_lines() -> None:
    source = """# a least-squares fit
    R = A*s - x;     # residual
    P = R'*R;
    trace(P)
      + lambda2 * norm(s)^2   # the cost spans lines
    ;
    """
    program = parse(source)
    assert [d.name for d in program.definitions] == ["R", "P"]
    assert sx(program.definitions[1].expr) == "(R' * R)"
    assert sx(program.cost) == "(trace(P) + (lambda2 * (norm(s) ^ 2)))"
    assert program.cost.pos == source.index("+ lambda2")


def test_cost_only_and_calls() -> None:
    assert cost("f()") == "f()"
    assert cost("f (x, y+1, g(z))") == "f(x, (y + 1), g(z))"
    assert cost("x;") == "x"
    assert cost("\r\n\tx\r\n") == "x"


# -- errors ---------------------------------------------------------------------------

def test_syntax_error_position() -> None:
    err = error("R = A*s - x;\nnorm(R) + * 2")
    assert (err.line, err.column) == (2, 11)
    assert "expected an operand after '+'" in err.message


def test_missing_operand_at_end() -> None:
    err = error("a *")
    assert (err.line, err.column) == (1, 4)
    assert "expected an operand after '*'" in err.message


def test_missing_operator() -> None:
    err = error("a = 1;\nb c")
    assert (err.line, err.column) == (2, 3)
    assert "expected ';' or end of formula" in err.message


def test_unbalanced_open_parenthesis() -> None:
    err = error("x + (a *\n  (b + c)")
    assert (err.line, err.column) == (1, 5)
    assert err.message == "unbalanced parenthesis: this '(' is never closed"
    err = error("f(a, b")
    assert (err.line, err.column) == (1, 2)
    assert "never closed" in err.message


def test_unbalanced_close_parenthesis() -> None:
    err = error("a = b;\n(a + b))")
    assert (err.line, err.column) == (2, 8)
    assert "')' has no matching '('" in err.message
    assert "no matching" in error(") + a").message


def test_unterminated_string() -> None:
    err = error("a = 1;\n  norm(x, 'fro)")
    assert (err.line, err.column) == (2, 11)
    assert err.message.startswith("unterminated string")
    err = error("norm(x, 'fro\n')")
    assert (err.line, err.column) == (1, 9)


@pytest.mark.parametrize("source, line, column, bad", [
    ("a + $b", 1, 5, "'$'"),
    ("x = 1;\nA + é", 2, 5, "'é'"),
    ("a + `ls`", 1, 5, "'`'"),
    ("lambda: 0", 1, 7, "':'"),
    ('f"x"', 1, 2, "'\"'"),
    ("__import__('os')", 1, 1, "'_'"),
    ("A[0]", 1, 2, "'['"),
    ("{a}", 1, 1, "'{'"),
    ("a != b", 1, 3, "'!'"),
    ("a < b", 1, 3, "'<'"),
    ("a\x00", 1, 2, "U+0000"),
    ("a\x0c+b", 1, 2, "U+000C"),
    ("f('a\x01')", 1, 5, "U+0001"),
    ("f('é')", 1, 4, "'é'"),
    ("x.y", 1, 2, "'.'"),
])
def test_unexpected_characters(source: str, line: int, column: int, bad: str) -> None:
    err = error(source)
    assert (err.line, err.column) == (line, column)
    assert err.message.startswith("unexpected character")
    assert bad in err.message


def test_names_start_with_a_letter() -> None:
    assert "names must start with a letter" in error("__import__('os')").message


def test_non_ascii_is_fine_in_comments() -> None:
    assert cost("a  # résumé, “quotes”, $, `, \x00\n+ b") == "(a + b)"


@pytest.mark.parametrize("source, line, column, message", [
    ("", 1, 1, "the formula is empty"),
    ("   \n  ", 1, 1, "the formula is empty"),
    ("# nothing here\n# at all\n", 1, 1, "the formula is empty"),
    ("R = A*s - x;", 1, 13, "expected the cost after the definitions"),
    ("R = A*s - x;\nP = R;\n", 2, 7, "expected the cost after the definitions"),
    ("R = A*s - x", 1, 12, "expected the cost after the definitions"),
])
def test_no_cost(source: str, line: int, column: int, message: str) -> None:
    err = error(source)
    assert (err.line, err.column) == (line, column)
    assert err.message == message


@pytest.mark.parametrize("source, column, fragment", [
    ("a; b", 1, "only the last statement is the cost"),
    ("a;;", 3, "expected end of formula after the cost"),
    ("R = 1;; R", 7, "expected a definition or the cost"),
    (";", 1, "expected a definition or the cost"),
    ("* a", 1, "expected a definition or the cost"),
    ("2 = x", 3, "expected ';' or end of formula"),
    ("a = = b", 5, "expected an operand after '='"),
    ("f(a,)", 5, "expected an operand after ','"),
    ("f(a b)", 5, "expected ',' or ')' in the call to 'f'"),
    ("(a b)", 4, "expected an operator or ')'"),
    ("()", 2, "expected an operand after '('"),
    ("x^--1", 4, "expected an operand after '-'"),
    ("x^", 3, "expected an operand after '^'"),
    ("A.Tx", 2, "'.T' (transpose) cannot be followed"),
    ("2x", 2, "expected an operator after the number '2'"),
    ("1e+", 2, "malformed number"),
    ("1.5.5", 4, "expected ';' or end of formula"),
])
def test_other_syntax_errors(source: str, column: int, fragment: str) -> None:
    err = error(source)
    assert err.line == 1 and err.column == column
    assert fragment in err.message


def test_error_text_has_caret() -> None:
    text = str(error("a = 1;\nb + $"))
    assert text.splitlines() == ["line 2, column 5: unexpected character '$'",
                                 "  b + $", "      ^"]


def within(start: float, seconds: float, slow: bool) -> None:
    """A generous time limit, asserted only under ``pytest --slow``: the default suite runs on
    loaded machines, where it is bounded by what the tests do (no hang, no RecursionError)."""
    if slow and time.perf_counter() - start >= seconds:
        pytest.fail(f"took more than {seconds} s")


def test_huge_numbers_are_rejected_quickly(slow: bool) -> None:
    start = time.perf_counter()
    assert "too large" in error("1e999999999999").message
    assert "too long" in error("1" * 100_000).message
    within(start, 10, slow)
    assert parse("1e-300").cost.value == Fraction(1, 10 ** 300)


def test_only_str_is_accepted() -> None:
    with pytest.raises(TypeError):
        parse(b"a + b")  # type: ignore[arg-type]


# -- robustness --------------------------------------------------------------------------

def test_nesting_limit_is_exact() -> None:
    ok = "(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH
    assert cost(ok) == "x"
    err = error("(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1))
    assert err.offset == MAX_DEPTH
    assert err.message == f"nested too deeply (more than {MAX_DEPTH} levels)"


def test_100000_nested_parentheses(slow: bool) -> None:
    source = "(" * 100_000 + "x" + ")" * 100_000
    start = time.perf_counter()
    err = error(source)
    within(start, 10, slow)
    assert "nested too deeply" in err.message
    assert (err.line, err.column) == (1, MAX_DEPTH + 1)


@pytest.mark.parametrize("unit, tail", [
    ("-", "x"), ("f(", "x"), ("x^(", "x"), ("x^-(", "x"), ("(-", "x"), ("x^f(", "x"),
])
def test_other_deep_nesting(unit: str, tail: str, slow: bool) -> None:
    source = unit * 100_000 + tail + ")" * unit.count("(") * 100_000
    start = time.perf_counter()
    assert "nested too deeply" in error(source).message
    within(start, 10, slow)


def test_deepest_allowed_nesting_fits_the_stack() -> None:
    # The most stack-hungry shape: a power whose exponent is a call, 100 deep.
    source = "x^f(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH
    tree = parse(source).cost
    for _ in range(MAX_DEPTH):
        assert isinstance(tree, Binary) and isinstance(tree.right, Call)
        tree = tree.right.args[0]
    assert tree == Name(len(source) - MAX_DEPTH - 1, "x")


def test_10000_terms() -> None:
    source = " + ".join(f"c{i}*x{i}^2" for i in range(10_000))
    tree = parse(source).cost
    count = 0
    while isinstance(tree, Binary) and tree.op == "+":
        count += 1
        tree = tree.left
    assert count == 9_999


def test_one_megabyte_formula_parses_without_hanging(slow: bool) -> None:
    # A guard against quadratic behaviour, not a speed measurement (that is benchmarks/'s job).
    source = "a+" * 500_000 + "a"
    assert len(source) > 1_000_000
    start = time.perf_counter()
    program = parse(source)
    within(start, 20, slow)
    assert program.cost.op == "+" and program.cost.pos == len(source) - 2


def test_long_inputs_of_other_shapes(slow: bool) -> None:
    start = time.perf_counter()
    tree = parse("x" + "'" * 100_000).cost
    for _ in range(100_000):          # iteratively: the tree is 100,000 deep
        assert isinstance(tree, Transpose)
        tree = tree.operand
    assert tree == Name(0, "x")
    assert len(parse("f(" + ", ".join(["'s'"] * 50_000) + ")").cost.args) == 50_000
    assert cost(" " * 1_000_000 + "a") == "a"
    assert cost("# " + "x" * 1_000_000 + "\na") == "a"
    assert "unterminated string" in error("f('" + "a" * 1_000_000).message
    within(start, 20, slow)
