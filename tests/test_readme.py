"""The README and docs/ show real output: every `$ derive ...` in a console block prints what
follows it.

The one thing compared loosely is a relative error of `derive check`: its last digits are
the rounding of the machine's BLAS kernel (OPENBLAS_CORETYPE=SkylakeX prints 1.67e-10 where
Prescott prints 1.17e-10), so the printed error must only agree with the documented one in
its order of magnitude and stay under the tolerance.
"""
from __future__ import annotations

import math
import re
import shlex
from pathlib import Path

import pytest

from conftest import run

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# "relative error 1.67e-10": the number is the machine's, the rest of the line is derive's.
ERROR = re.compile(r"(relative error )(\d\.\d\de-\d\d)")
ORDERS_OF_MAGNITUDE = 2


def console_examples() -> list[tuple[str, str, str]]:
    """(page, command, documented output) of every console block of every page."""
    examples = []
    for page in PAGES:
        for block in re.findall(r"```console\n(.*?)```", page.read_text(), flags=re.S):
            for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
                command, _, output = chunk.partition("\n")
                examples.append((page.relative_to(ROOT).as_posix(), command, output))
    return examples


def assert_same_output(printed: str, documented: str) -> None:
    """Equal text, the relative errors within two orders of magnitude of each other."""
    assert ERROR.sub(r"\1E", printed.strip()) == ERROR.sub(r"\1E", documented.strip())
    for ours, theirs in zip(ERROR.findall(printed), ERROR.findall(documented)):
        assert abs(math.log10(float(ours[1]) / float(theirs[1]))) <= ORDERS_OF_MAGNITUDE, \
            (ours[1], theirs[1])


@pytest.mark.parametrize("page, command, output", console_examples(),
                         ids=[f"{p}: {c}" for p, c, _ in console_examples()])
def test_documented_example_prints_what_the_page_says(page, command, output):
    words = shlex.split(command)
    assert words[0] == "derive"
    code, out, err = run(*words[1:])
    assert code == 0, err
    assert_same_output(out, output)


def test_every_page_is_checked():
    pages = {page for page, _, _ in console_examples()}
    assert {"README.md", "docs/language.md", "docs/derivations.md", "docs/targets.md",
            "docs/second-order.md"} <= pages


def test_the_relative_errors_are_compared_by_their_size_not_their_digits():
    documented = "grad_W: relative error 1.67e-10\nPASS: largest relative error 1.67e-10"
    assert_same_output(documented.replace("1.67", "1.17"), documented)
    with pytest.raises(AssertionError):
        assert_same_output(documented.replace("e-10", "e-06"), documented)
    with pytest.raises(AssertionError):
        assert_same_output(documented.replace("PASS", "FAIL"), documented)


def test_the_recipe_table_is_current():
    from derive.recipes import all_recipes, markdown_table
    assert markdown_table(all_recipes()) in (ROOT / "docs" / "recipes.md").read_text()


def test_the_links_between_pages_lead_somewhere():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:\s]+\.(?:md|png))\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to {target}"
