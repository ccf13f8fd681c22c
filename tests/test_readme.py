"""The README shows real output: every `$ derive ...` in a console block prints what follows it."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from conftest import run

README = Path(__file__).resolve().parent.parent / "README.md"


def console_examples() -> list[tuple[str, str]]:
    examples = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(), flags=re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            examples.append((command, output))
    return examples


@pytest.mark.parametrize("command, output", console_examples(),
                         ids=[c for c, _ in console_examples()])
def test_readme_example_prints_what_the_readme_says(command, output):
    words = shlex.split(command)
    assert words[0] == "derive"
    code, out, err = run(*words[1:])
    assert code == 0, err
    assert out.strip() == output.strip()


def test_readme_recipe_table_is_current():
    from derive.recipes import all_recipes, markdown_table
    assert markdown_table(all_recipes()) in README.read_text()
