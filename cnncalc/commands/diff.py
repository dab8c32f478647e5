"""``cnncalc diff A B``: two networks (YAML or ONNX) compared layer by layer and in total
(cnncalc.analysis.diff); ``--fail-on`` budgets exit 1 when one is broken."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cnncalc.analysis.analyze import analyze
from cnncalc.analysis.diff import diff, parse_budgets
from cnncalc.analysis.memory import DEFAULT_POLICY
from cnncalc.io.load import load
from cnncalc.options import parse_input
from cnncalc.present.diff_text import budget_lines, diff_json, diff_markdown, diff_text

EXIT_FINDINGS = 1


def run(a: Path, b: Path, input: str | None, batch: int | None, dtype: str, optimizer: str,
        fail_on: str | None, format: str, policy: str | None = None) -> None:
    """Compare ``a`` with ``b`` and print the diff in ``format``; exit 1 on a broken budget."""
    budgets = parse_budgets(fail_on) if fail_on is not None else []  # fails before loading
    shape = parse_input(input, "diff")
    if policy is None and any(p.suffix.lower() == ".onnx" for p in (a, b)):
        # an ONNX graph has no module structure, so the eager policy overstates its peak
        # (docs/conventions.md, "Memory"): compare both sides as a graph runtime runs them
        policy = "graph"
        sys.stderr.write("note: an ONNX model is compared, so both inference peaks follow the "
                         "graph memory policy (--memory-policy eager to override)\n")
    reports = [analyze(load(p, input_shape=shape, batch=batch), dtype=dtype, optimizer=optimizer,
                       memory_policy=policy or DEFAULT_POLICY) for p in (a, b)]
    result = diff(*reports, budgets)
    writer = {"json": diff_json, "markdown": diff_markdown}.get(format, diff_text)
    sys.stdout.write(writer(result))
    if result.broken:
        if format == "json":  # the JSON says it; say it on stderr too, for CI logs
            sys.stderr.write("\n".join(budget_lines(result)) + "\n")
        raise typer.Exit(EXIT_FINDINGS)
