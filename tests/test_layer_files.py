"""Every layer type crosses the file formats in one place, its class (issue 20, item 7;
docs/onnx.md, "One place per layer type"): it writes ONNX and PyTorch and reads ONNX,
or declares why not, and the machinery in cnncalc/io/ is layered without circles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cnncalc
from cnncalc.io.onnx_export import to_onnx  # imports onnx only when it writes
from cnncalc.io.torch_map import to_source
from cnncalc.layers import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cnncalc"
DOCS = (ROOT / "docs" / "onnx.md").read_text(encoding="utf-8")
CLASSES = sorted({cls for cls in REGISTRY.values()}, key=lambda cls: cls.type_name)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.type_name)
def test_every_type_writes_onnx_or_says_why(cls):
    assert cls.writes_onnx() != bool(cls.onnx_export_refusal), (
        "a type has an ONNX writer (to_onnx) or a refusal (onnx_export_refusal), not both, not neither")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.type_name)
def test_every_type_writes_pytorch_or_says_why(cls):
    assert cls.writes_torch() != bool(cls.torch_refusal), (
        "a type has a PyTorch writer (to_torch) or a refusal (torch_refusal), not both, not neither")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.type_name)
def test_every_type_reads_onnx_or_says_why(cls):
    assert bool(cls.onnx_ops) != bool(cls.onnx_import_refusal), (
        "a type reads ONNX ops (onnx_ops) or declares why none (onnx_import_refusal)")
    if cls.onnx_ops:  # a reader of ops must say how their attributes become its parameters
        assert cls.from_onnx.__func__ is not cnncalc.layers.Layer.from_onnx.__func__


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.type_name)
def test_every_refusal_is_in_the_docs(cls):
    for direction, reason in (("ONNX export", cls.onnx_export_refusal), ("PyTorch", cls.torch_refusal),
                              ("ONNX import", cls.onnx_import_refusal)):
        if reason:
            assert f"| `{cls.type_name}` | {direction} | {reason} |" in DOCS, (
                f"docs/onnx.md's table of refusals lacks {cls.type_name}'s {direction} reason")


def test_the_known_gaps_are_declared():
    """Issue 21 closed the export gaps of issue 20 (groupnorm, instancenorm,
    pixel_unshuffle, softplus with beta); an unshared convolution still has no ONNX op."""
    for name in ("groupnorm", "instancenorm", "pixel_unshuffle", "softplus"):
        assert REGISTRY[name].writes_onnx() and not REGISTRY[name].onnx_export_refusal, name
    assert "no ONNX equivalent" in REGISTRY["locally_connected"].onnx_export_refusal


# -- the import structure ----------------------------------------------------------------


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, inside a function) for every import of a file; ``from pkg import
    mod`` counts as an import of pkg.mod when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in inner) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.append((full if full in MODULES else node.module, id(node) in inner))
    return out


IO_FILES = ("load", "onnx_export", "onnx_io", "onnx_map", "onnx_proto", "spec", "torch_export",
            "torch_map")


def test_layers_import_neither_onnx_nor_io():
    for name, path in MODULES.items():
        if name.startswith(("cnncalc.layers", "cnncalc.core")):
            bad = [m for m, _ in _imports(path) if m.split(".")[0] == "onnx" or m.startswith("cnncalc.io")]
            assert not bad, f"{name} imports {bad}: layers hand plain data to io, never the other way"


def test_io_imports_nothing_above_it():
    above = ("cnncalc.analysis", "cnncalc.measure", "cnncalc.present", "cnncalc.homework",
             "cnncalc.lint", "cnncalc.cli", "cnncalc.options")
    for name, path in MODULES.items():
        if name.startswith("cnncalc.io"):
            bad = [m for m, _ in _imports(path) if m.startswith(above)]
            assert not bad, f"{name} imports {bad}"


def test_io_imports_at_the_top_but_the_onnx_extra():
    for stem in IO_FILES:
        path = PACKAGE / "io" / f"{stem}.py"
        inner = [m for m, in_function in _imports(path) if in_function and m.split(".")[0] != "onnx"]
        assert not inner, f"io/{stem}.py imports {inner} inside a function"


def test_no_import_circle_through_io():
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        deps = set()
        for m, _ in _imports(path):
            while m and m not in MODULES:
                m = m.rpartition(".")[0]
            if m and m != name and m.startswith("cnncalc."):
                deps.add(m)
        graph[name] = deps
    for start in (m for m in MODULES if m.startswith("cnncalc.io.")):
        seen, stack = set(), list(graph[start])
        while stack:  # every module reachable from start; start itself must not be
            m = stack.pop()
            assert m != start, f"{start} reaches itself through its imports"
            if m not in seen:
                seen.add(m)
                stack.extend(graph[m])


# -- every writer writes, every ONNX writer's nodes read back ------------------------------

# a value for each required parameter: a small network [4, 8, 8] -> relu 'first' -> the type
SMALL = {"out_channels": 4, "kernel_size": 3, "out_features": 4, "num_groups": 2, "chunks": 2,
         "sizes": [1, 3], "upscale_factor": 2, "downscale_factor": 2, "scale_factor": 2,
         "shape": [4, 64], "p": 0.1, "cropping": 1, "padding": 1, "groups": 2, "output_size": 2,
         "num_heads": 2, "dims": [0, 1, 3, 2]}
# types that take another input: a sequence [L, E] (ViT's class token), or three (q, k, v)
SPECIAL = {
    "class_token": "  - reshape: [4, -1]\n  - permute: [0, 2, 1]\n  - class_token\n",
    "scaled_dot_product_attention": "  - {relu, name: first}\n"
                                    "  - {scaled_dot_product_attention: 2, from: [first, first, first]}\n",
}


def _small(cls):
    if cls.type_name in SPECIAL:
        return cnncalc.loads(f"input: [4, 8, 8]\nlayers:\n{SPECIAL[cls.type_name]}")
    params = {p.name: SMALL[p.name] for p in cls.params
              if p.required or p.name in ("scale_factor", "cropping") or (p.name == "padding" and cls.type_name == "pad")}
    if cls.max_inputs is None:  # a merge: the relu's output and its own input
        params["with"] = "first"
    body = ", ".join(f"{k}: {v}" for k, v in params.items())
    layer = f"{{{cls.type_name}: {{{body}}}}}" if params else cls.type_name
    return cnncalc.loads(f"input: [4, 8, 8]\nlayers:\n  - {{relu, name: first}}\n  - {layer}\n")


@pytest.mark.parametrize("cls", [c for c in CLASSES if c.writes_torch()], ids=lambda cls: cls.type_name)
def test_every_pytorch_writer_writes(cls):
    text = to_source(_small(cls))
    compile(text, "<generated>", "exec")  # Python, whatever torch would say of it


@pytest.mark.parametrize("cls", [c for c in CLASSES if c.writes_onnx()], ids=lambda cls: cls.type_name)
def test_every_onnx_writer_reads_back_with_the_same_figures(cls, tmp_path):
    """spec -> ONNX -> spec keeps the output shape, parameters and MACs (docs/onnx.md, 'The
    round trip'); a type written as several ops may come back as several layers."""
    pytest.importorskip("onnx")
    import onnx

    net = _small(cls)
    path = tmp_path / "small.onnx"
    onnx.save(to_onnx(net, graph_only=True), str(path))
    a, b = cnncalc.analyze(net).to_dict(), cnncalc.analyze(cnncalc.load(path)).to_dict()
    assert a["layers"][-1]["output_shape"] == b["layers"][-1]["output_shape"]
    for key in ("params", "macs"):
        assert a["totals"][key] == b["totals"][key], key


def test_io_machinery_asks_the_layers():
    """io's ONNX and PyTorch code reads no layer's raw parameters (``.p``) or family, and
    compares no type name or class: what differs by type is the class's to say."""
    for stem in ("onnx_map", "torch_map", "onnx_export", "torch_export", "onnx_io", "load"):
        tree = ast.parse((PACKAGE / "io" / f"{stem}.py").read_text(encoding="utf-8"))
        found = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("p", "family"):
                found.append(f"line {node.lineno}: .{node.attr}")
            if isinstance(node, ast.Compare):
                for side in (node.left, *node.comparators):
                    if isinstance(side, ast.Attribute) and side.attr in ("type", "type_name", "__name__"):
                        found.append(f"line {node.lineno}: compares .{side.attr}")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("isinstance", "issubclass"):
                classes = node.args[1] if len(node.args) > 1 else None
                names = [n.id for n in ast.walk(classes) if isinstance(n, ast.Name)] if classes else []
                found += [f"line {node.lineno}: isinstance of layer class {n}" for n in names
                          if n in {cls.__name__ for cls in CLASSES} | {"Layer"}]
        assert not found, f"io/{stem}.py: " + "; ".join(found)
