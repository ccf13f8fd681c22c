"""The program's namer (derive/naming.py): names are given last, so none can shadow
another.

A formula may call its variables `t1`, `np` or `value`; the emitted code must still
read them. The namer is seeded with every name in use and hands out only free ones.
"""
from __future__ import annotations

from derive.naming import python_name, python_namer as Namer


def test_temporaries_are_numbered_past_the_formula_s_own_names():
    namer = Namer({"t1", "t3"})          # a formula with variables t1 and t3
    assert [namer.numbered("t") for _ in range(3)] == ["t2", "t4", "t5"]


def test_a_hint_is_kept_when_free_and_suffixed_when_taken():
    namer = Namer({"H"})
    assert namer.exact("P") == "P"
    assert namer.exact("H") == "H_"
    assert namer.exact("P") == "P_"     # a name once given is taken


def test_keywords_and_builtins_are_never_given():
    namer = Namer(set())
    assert namer.exact("lambda") == "lambda_"
    assert namer.exact("sum") == "sum_"


def test_a_parameter_keeps_the_formula_s_name_unless_python_reserves_it():
    assert python_name("gamma") == "gamma"
    assert python_name("lambda") == "lambda_"
    assert python_name("value", reserved={"value", "np"}) == "value_"
