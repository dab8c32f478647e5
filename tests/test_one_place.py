"""The one-place rule (docs/design, issue 11): facts about layer types live in
cnncalc/layers/. Code elsewhere asks a layer's facts or capabilities; it never names a
registered type, so that no copy of a layer fact can drift from the layer's class."""

from __future__ import annotations

import ast
from pathlib import Path

from cnncalc.layers import REGISTRY

PACKAGE = Path(__file__).resolve().parent.parent / "cnncalc"


def test_no_layer_type_name_outside_layers():
    names = set(REGISTRY)
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "layers" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in docstrings:
                # a literal that is a type name, or that tests a prefix of one ("adaptive")
                hits = {n for n in names if node.value == n}
                if hits:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {sorted(hits)}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "startswith":
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value \
                            and any(n.startswith(arg.value) for n in names):
                        found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: prefix '{arg.value}'")
    assert not found, "layer type names outside cnncalc/layers/:\n" + "\n".join(found)
