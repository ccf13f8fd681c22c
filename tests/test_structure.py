"""The package reads one way: no module reaches into another's private names, and the whole
outputs (render) take the results they are given rather than importing the result classes."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "derive"


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text())


def test_no_private_name_is_imported_from_another_module():
    found = [f"{path.relative_to(PACKAGE)}:{node.lineno} {alias.name}"
             for path, tree in modules() for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and node.level
             for alias in node.names if alias.name.startswith("_")]
    assert found == []


def test_the_whole_outputs_do_not_import_the_results_back():
    tree = ast.parse((PACKAGE / "render.py").read_text())
    runtime = [node for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert {node.module for node in runtime}.isdisjoint({"api", "diff.second_order"})
