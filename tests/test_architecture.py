"""The package's architecture (docs/architecture.md) holds: layers, the executor's boundary, no
import circle, no import hidden inside a function.

The contracts live in pyproject.toml ([tool.importlinter]); import-linter (a `test` extra)
checks them here, and `lint-imports` runs the same check by hand.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cnncalc"

# Import circles allowed: none (the ONNX reader and the YAML loader called each other until
# issue 20; io/load.py now dispatches by content).
KNOWN_CYCLES: list[set[str]] = []

# Modules that may import an optional extra inside a function (the import is the point:
# the package works without it). Only these names may be imported there.
OPTIONAL_EXTRAS = {"onnx", "onnxruntime", "torch", "matplotlib"}

# Two deliberate exceptions, both so that `cnncalc analyze` never pays NumPy's import
# (docs/architecture.md; tests/test_architecture.py checks what analyze imports): the root
# __init__.py is the public API, and its run() and verify() import the executor when first
# called (every command imports the package root); layers/base.py's _LazyModule imports NumPy
# and the executor's kernels the first time a layer's forward pass touches them (the analysis
# of a layer never does).
ROOT_API = "__init__.py"
LAZY = {("layers/base.py", "importlib")}


def test_import_contracts_are_kept():
    """Every [tool.importlinter] contract in pyproject.toml is kept; a broken one is listed."""
    done = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         "--no-cache"],  # reads ROOT/pyproject.toml, the working directory's
        cwd=ROOT, capture_output=True, text=True)
    broken = [line for line in done.stdout.splitlines() if line.rstrip().endswith("BROKEN")]
    assert done.returncode == 0, "broken import contracts:\n" + "\n".join(broken) + "\n" + done.stdout[-3000:]
    assert "0 broken" in done.stdout, done.stdout[-3000:]


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """The import circles of a grimp graph: its strongly connected components of more than one
    module (Tarjan's algorithm, iterative so that a deep chain cannot overflow the stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_the_cycle_finder_finds_a_circle():
    """The finder itself can fail: a -> b -> c -> a is one circle, d outside it."""
    class Graph:
        modules = {"a", "b", "c", "d"}
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

        def find_modules_directly_imported_by(self, m):
            return self.edges.get(m, set())

    assert strongly_connected(Graph()) == [{"a", "b", "c"}]


def test_no_import_circle():
    """No circle among cnncalc's modules, other than the one marked in KNOWN_CYCLES."""
    graph = grimp.build_graph("cnncalc", exclude_type_checking_imports=True)
    cycles = strongly_connected(graph)
    unexpected = [sorted(c) for c in cycles if c not in KNOWN_CYCLES]
    assert not unexpected, f"import circles: {unexpected}"


def _function_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import statement inside a function body of one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Import):
                found += [(node.lineno, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def test_no_import_inside_a_function():
    """An import inside a function hides a dependency from the contracts and from a reader;
    only optional extras may be imported there (the package works without them)."""
    hidden = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == ROOT_API:
            continue
        for line, module in _function_imports(path):
            if module.split(".")[0] not in OPTIONAL_EXTRAS and (rel, module) not in LAZY:
                hidden.append(f"cnncalc/{rel}:{line}: import {module}")
    assert not hidden, "imports inside functions:\n" + "\n".join(hidden)


@pytest.mark.parametrize("source, expected", [
    ("def f():\n    import json\n", [(2, "json")]),
    ("def f():\n    from ..core import x\n", [(2, "..core")]),
    ("import json\n\ndef f():\n    return json\n", []),
])
def test_the_import_finder_sees_imports_in_functions(tmp_path, source, expected):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert _function_imports(path) == expected


def test_analyze_imports_only_what_it_uses(tmp_path):
    """`cnncalc analyze -f json` keeps NumPy's import (~0.2 s on this machine), rich's console
    (~15 ms), the HTML page's renderer and all lint rules but CC001 (~7 ms together) out of its
    start-up by structure: cnncalc/commands/analyze.py imports none of them; checked in a fresh
    interpreter, on a spec with an expect: block so that CC001 runs."""
    code = ("import sys\nsys.argv = ['cnncalc', 'analyze', sys.argv[1], '-f', 'json']\n"
            "from cnncalc.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('numpy', 'rich.console', 'cnncalc.measure', 'cnncalc.present.view',"
            " 'cnncalc.lint.engine', 'cnncalc.lint.rules.cc101_window_does_not_tile')"
            " if m in sys.modules]\n"
            "sys.stderr.write(f'LOADED {heavy}' if heavy else 'CLEAN')\n")
    spec = tmp_path / "net.yaml"
    spec.write_text("input: [1, 8]\nexpect: {params: 8}\nlayers:\n  - conv1d: {out_channels: 2, kernel_size: 3}\n")
    done = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, cwd=ROOT)
    assert done.stderr.endswith("CLEAN"), done.stderr[-2000:]
