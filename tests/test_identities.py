"""Every identity derive uses to print a result holds: a random fingerprint of each.

Each row of derive/expr/identities.py carries a left and a right side in the formula
language; both are evaluated by the oracle's interpreter (tests/oracle.py, which shares
nothing with derive) on random data that meets the row's condition, as tensorgrad checks
its rewrites. A row whose sides differ anywhere would print a wrong result.
"""
from __future__ import annotations

import numpy as np
import pytest

from derive.expr.identities import RULES
from support.oracle import Interpreter, parse

SIZES = {"m": 3, "n": 4}
GREEK = {"gamma", "lambda", "tau", "sigma", "eps", "alpha", "beta", "rho"}


def _value(text: str, data: dict) -> np.ndarray:
    formula = parse(text)
    interpreter = Interpreter()
    interpreter.dims = SIZES
    env = dict(data)
    for name, body in formula.definitions:
        env[name] = interpreter.eval(body, env)
    return np.asarray(interpreter.eval(formula.cost, env), dtype=float)


def _data(names, shapes: tuple, assume: tuple, rng) -> dict:
    declared = dict(s.split("=") for s in shapes)
    properties = dict(a.split("=") for a in assume)
    data = {}
    for name in names:
        if name in SIZES:   # a dimension used as a number (sum(A, 2) = m D)
            data[name] = np.full((1, 1), float(SIZES[name]))
            continue
        if name in declared:
            dims = [SIZES.get(d, int(d) if d.isdigit() else 0) for d in declared[name].split(",")
                    if d]
            shape = (1, 1) if not dims else (dims[0], 1) if len(dims) == 1 else tuple(dims)
        else:
            shape = (1, 1) if name in GREEK else (SIZES["n"],) * 2 if name[0].isupper() \
                else (SIZES["n"], 1)
        value = rng.uniform(0.5, 1.5, shape)   # positive: roots and logs are defined
        if properties.get(name) in ("symmetric", "spd"):
            value = value + value.T + (2 * shape[0] * np.eye(shape[0]) if
                                       properties[name] == "spd" else 0)
        data[name] = value
    return data


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
@pytest.mark.parametrize("seed", range(3))
def test_identity_holds_on_random_data(rule, seed):
    left, right, shapes, assume = rule.fingerprint
    names = set(parse(left).names()) | set(parse(right).names())
    data = _data(sorted(names), shapes, assume, np.random.default_rng(seed))
    a, b = _value(left, data), _value(right, data)
    assert a.shape == b.shape or a.size == b.size == 1, (rule.name, a.shape, b.shape)
    np.testing.assert_allclose(a, b.reshape(a.shape), rtol=1e-10, atol=1e-12,
                               err_msg=f"{rule.name}: {left} != {right}")


def test_every_rule_says_when_it_holds():
    for rule in RULES:
        assert rule.equation and rule.condition and rule.applied_by, rule.name
