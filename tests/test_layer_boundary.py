"""The one-place rule, checked on the syntax tree (Python's ast), not on strings: outside
cnncalc/layers/, no code tells layer types apart by name, family or class, and none reads a
layer's raw parameters (``layer.p[...]``). Code elsewhere asks a layer's Facts and declared
capabilities, so that no copy of a layer fact can drift from its class (docs/architecture.md).

tests/test_one_place.py is the earlier, string-based form of the first check."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cnncalc.layers import REGISTRY
from cnncalc.layers.base import Layer

PACKAGE = Path(__file__).resolve().parent.parent / "cnncalc"
TYPE_NAMES = set(REGISTRY)


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


LAYER_CLASSES = {c.__name__ for c in _subclasses(Layer) | {Layer}}



def _text(node: ast.AST) -> str | None:
    """A string constant, or a concatenation of them ("conv_" + "transpose"), folded."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def _is_class_name(node: ast.AST) -> bool:
    """``type(x).__name__`` or ``x.__class__.__name__``."""
    return isinstance(node, ast.Attribute) and node.attr == "__name__" and (
        (isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
         and node.value.func.id == "type")
        or (isinstance(node.value, ast.Attribute) and node.value.attr == "__class__"))


def _is_raw_params(node: ast.AST) -> bool:
    """``x.p`` (a layer's parsed parameters as given in the spec)."""
    return isinstance(node, ast.Attribute) and node.attr == "p"


def violations(source: str, where: str = "<source>") -> list[str]:
    """Every place in ``source`` that tells layer types apart or reads raw parameters."""
    tree = ast.parse(source)
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr)}
    found = []
    for node in ast.walk(tree):
        at = f"{where}:{getattr(node, 'lineno', 0)}"
        text = _text(node)
        if text in TYPE_NAMES and id(node) not in docstrings:
            found.append(f"{at}: the type name '{text}'")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("startswith", "endswith"):
            for arg in node.args:
                parts = arg.elts if isinstance(arg, ast.Tuple) else [arg]
                for part in parts:
                    value = _text(part)
                    test = str.startswith if node.func.attr == "startswith" else str.endswith
                    if value and any(test(n, value) for n in TYPE_NAMES):
                        found.append(f"{at}: .{node.func.attr}('{value}') matches layer type names")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("isinstance", "issubclass") and len(node.args) == 2:
            classes = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            for c in classes:
                name = c.id if isinstance(c, ast.Name) else c.attr if isinstance(c, ast.Attribute) else None
                if name in LAYER_CLASSES:
                    found.append(f"{at}: {node.func.id}(..., {name})")
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_class_name(s) for s in sides):
                found.append(f"{at}: compares a class name: {ast.unparse(node)}")
            if any(isinstance(s, ast.Attribute) and s.attr == "family" for s in sides):
                found.append(f"{at}: compares a layer family: {ast.unparse(node)}")
        if _is_raw_params(node):
            found.append(f"{at}: reads a raw parameter: {ast.unparse(node)}")
    return found


def test_no_layer_type_is_told_apart_outside_layers():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("layers/"):
            continue
        found += violations(path.read_text(encoding="utf-8"), f"cnncalc/{rel}")
    assert not found, "layer facts read outside cnncalc/layers/:\n" + "\n".join(found)


@pytest.mark.parametrize("source, expected", [
    ('kind = "conv"\n', "the type name 'conv'"),
    ('kind = "conv_" + "transpose"\n', "the type name 'conv_transpose'"),
    ('ok = name.endswith("pool")\n', ".endswith('pool')"),
    ('ok = name.startswith(("relu", "x"))\n', ".startswith('relu')"),
    ("ok = isinstance(layer, (Conv, MaxPool))\n", "isinstance(..., Conv)"),
    ('ok = type(layer).__name__ == "Conv"\n', "compares a class name"),
    ('ok = layer.__class__.__name__ == "Conv"\n', "compares a class name"),
    ('ok = cls.family == "convolution"\n', "compares a layer family"),
    ('k = layer.p["padding"]\n', "reads a raw parameter"),
    ('k = layer.p.get("padding")\n', "reads a raw parameter"),
    ("values = dict(layer.p)\n", "reads a raw parameter"),
])
def test_each_check_can_fail(source, expected):
    """The examples issue 20 found outside layers/ are each caught."""
    found = violations(source)
    assert any(expected in f for f in found), found


def test_what_is_allowed():
    """Asking facts and capabilities, a docstring naming a type, and unrelated names pass."""
    source = ('def f():\n    """conv"""\n'
              "w = node.facts.windows\nok = path.endswith('.yaml')\nname = type(exc).__name__\n"
              "ok = isinstance(value, int)\n")
    assert violations(source) == []
