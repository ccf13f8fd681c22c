"""The one namer (derive/naming.py): the printers' t1, t2, the steps' z1 and delta_H, the
directions d_X of second order and the emitted code's names all come from it, so a generated
name never shadows a name the reader already knows."""
from __future__ import annotations

import derive
from derive.naming import Name, Namer, python_name, python_namer


def test_numbered_names_skip_every_taken_name():
    fresh = Namer({"t1", "t3"}).fresh("t", lambda i: f"t_{{{i}}}")
    assert [fresh() for _ in range(3)] == [Name("t2", "t_{2}"), Name("t4", "t_{4}"),
                                           Name("t5", "t_{5}")]


def test_a_wish_is_kept_if_free_else_lengthened():
    namer = Namer({"d_x"})
    assert namer.exact("d_x") == "d_x_"
    assert namer.exact("d_y") == "d_y"
    assert namer.exact("d_y") == "d_y_"         # a name once given is taken


def test_the_code_s_temporaries_are_numbered_past_the_formula_s_own_names():
    namer = python_namer({"t1", "t3"})          # a formula with variables t1 and t3
    assert [namer.numbered("t") for _ in range(3)] == ["t2", "t4", "t5"]


def test_the_target_language_reserves_its_words_only_in_code():
    # A definition called lambda is a fine name in mathematics, not in Python.
    assert Namer(set()).exact("lambda") == "lambda"
    assert python_namer(set()).exact("lambda") == "lambda_"
    assert python_namer(set()).exact("sum") == "sum_"
    assert Namer(set(), reserved={"end"}).exact("end") == "end_"
    assert python_name("lambda") == "lambda_" and python_name("np", {"np"}) == "np_"
    # A parameter keeps the formula's name unless Python or the code reserves it.
    assert python_name("gamma") == "gamma"
    assert python_name("value", reserved={"value", "np"}) == "value_"


def test_generated_names_never_clash_with_the_formula():
    # The formula has t1 and d_x: the shared part is t2, the direction d_x_.
    d = derive.gradient("t1*sum(sigmoid(W*x + b)) + sum(sigmoid(W*x + b) .* x) "
                        "+ norm(sigmoid(W*x + b))^2", "W", {"t1": ()})
    assert [n.text for n in d.names.values()] == ["t2"]
    assert derive.hvp("sum(d_x .* x) + x'*x", "x").text == "hvp_x = 2 d_x_"
