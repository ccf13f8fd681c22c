"""--steps on every recipe: the forward pass defines only what the derivation uses.

The UFLDL note defines z(l) and a(l) to use them: each forward value printed by --steps is
used by a later line (another forward value, the cost, a delta or a gradient), never an
a(l) that prints as something else (1 ./ z4 inside m rho ./ z4).
"""
from __future__ import annotations

import re

import pytest

from derive.recipes import all_recipes, load
from derive.render import render


def sections(text: str) -> tuple[list[str], str]:
    """The forward pass's lines and everything after them, up to the result."""
    derivation = text.split("Result:")[0]
    after = derivation.split("Forward pass")[1]
    forward = after.split("Backward pass")[0].splitlines()[1:]
    return [line.strip() for line in forward if line.strip()], after


@pytest.mark.parametrize("name", [r.name for r in all_recipes()])
def test_every_forward_value_of_a_recipe_is_used(name):
    forward, after = sections(render(load(name).gradient(), "text", True))
    for line in forward[:-1]:
        defined = line.split(" = ")[0]
        assert len(re.findall(rf"\b{defined}\b", after)) >= 2, (defined, forward)


def test_a_layer_input_the_formula_names_keeps_its_name_in_its_delta():
    _, after = sections(render(load("sparse_autoencoder").gradient(), "text", True))
    assert "  delta_A3 = delta4\n" in after and "  delta2 = delta_A3 .* A3 .* (1 - A3)\n" in after
