"""Bad input: one clear paragraph (where, a caret, what was expected), exit code 2, no traceback."""
from __future__ import annotations

import pytest

import derive
from conftest import run


def assert_refused(args, *fragments, line=None, column=None):
    code, out, err = run(*args)
    assert code == 2, (code, out, err)
    assert out == ""
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    if line is not None:
        assert f"line {line}, column {column}:" in err, err
        assert "^" in err
    return err


def test_syntax_error_points_at_the_spot():
    err = assert_refused(["grad", "sum(A*s -* x)", "--wrt", "A"], "expected", line=1, column=10)
    source_line, caret_line = err.splitlines()[1:3]
    assert caret_line.index("^") == source_line.index("-*") + 1


def test_syntax_error_on_a_later_line():
    assert_refused(["grad", "R = A*s - x;\nnorm(R, 'fro')^2 +", "--wrt", "A"], "expected",
                   line=2, column=19)


def test_unknown_function_suggests_the_closest():
    assert_refused(["grad", "sum(sigmod(x))", "--wrt", "x"], "unknown function 'sigmod'",
                   "did you mean 'sigmoid'", line=1, column=5)


def test_unknown_wrt_name_lists_the_variables():
    assert_refused(["grad", "sum(A*x)", "--wrt", "B"], "no variable 'B'", "A, x")


def test_shape_mismatch_names_the_operation_and_both_shapes():
    assert_refused(["grad", "sum(A*s)", "--wrt", "A", "--shape", "A=3,4", "--shape", "s=5"],
                   "'A*s'", "3×4", "5×1", line=1, column=6)
    assert_refused(["grad", "sum(A + B)", "--wrt", "A", "--shape", "A=3,4", "--shape", "B=4,3"],
                   "'A + B'", "3×4", "4×3")


def test_non_scalar_cost_suggests_sum_or_norm():
    assert_refused(["grad", "A*s - x", "--wrt", "A"], "must be a scalar", "sum(", "norm(",
                   line=1, column=1)


@pytest.mark.parametrize("formula", [
    "__import__('os').system('id')",
    "lambda: 0",
    "().__class__",
    'f"{x}"',
    "`x`",
    "exec('1')",
    "eval('x')",
    "x; import os",
])
def test_python_stays_text(formula):
    code, out, err = run("grad", formula, "--wrt", "x")
    assert code == 2 and out == "" and "Traceback" not in err
    assert "line 1, column" in err


def test_refusals_of_what_derive_cannot_differentiate():
    assert_refused(["grad", "norm(X, 2)", "--wrt", "X"], "spectral norm")
    assert_refused(["grad", "sum(X^0.5)", "--wrt", "X"], "integer constant exponent")
    assert_refused(["grad", "sum(x^2)", "--wrt", "x", "--shape", "x=3"], "'^' needs a scalar")


def test_definitions_used_wrongly():
    assert_refused(["grad", "sum(R); R = x", "--wrt", "x"], "expected")
    assert_refused(["grad", "R = R + x; sum(R)", "--wrt", "x"], "refers to itself")
    assert_refused(["grad", "R = S; S = x; sum(R)", "--wrt", "x"], "before it is defined")
    assert_refused(["grad", "R = x; R = 2*x; sum(R)", "--wrt", "x"], "defined twice")
    assert_refused(["grad", "R = 2*x; sum(R)", "--wrt", "R"], "definition")


def test_bad_shape_declarations():
    assert_refused(["grad", "sum(x)", "--wrt", "x", "--shape", "x=0"], "positive")
    assert_refused(["grad", "sum(x)", "--wrt", "x", "--shape", "x=-2"], "positive")
    assert_refused(["grad", "sum(x)", "--wrt", "x", "--shape", "x"], "NAME=DIMS")
    assert_refused(["grad", "sum(x)", "--wrt", "x", "--shape", "x=1,2,3"], "two dimensions")


def test_formula_from_a_file_and_stdin(tmp_path):
    path = tmp_path / "cost.txt"
    path.write_text("# ICA\nnorm(W'*W*x - x)^2\n")
    code, out, _ = run("grad", f"@{path}", "--wrt", "W")
    assert code == 0 and "\ngrad_W = " in out
    code, out, _ = run("grad", "-", "--wrt", "W", input="norm(W'*W*x - x)^2")
    assert code == 0 and "\ngrad_W = " in out
    assert_refused(["grad", f"@{tmp_path}/missing.txt", "--wrt", "W"], "cannot read")


def test_api_raises_derive_error_with_place():
    with pytest.raises(derive.DeriveError) as info:
        derive.gradient("sum(A*s -* x)", wrt="A")
    assert isinstance(info.value, ValueError)
    assert (info.value.line, info.value.column) == (1, 10)
    assert info.value.message.startswith("expected")
