"""``cnncalc verify``: every reported figure held against a measurement; exit 1 on a mismatch.

The table's text is verify's own (:mod:`cnncalc.measure.verify`: COLUMNS, table_rows, ...);
issue 20 moves it to ``cnncalc/present/verify_text.py``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from cnncalc.commands.files import parse_bytes
from cnncalc.io.spec import load
from cnncalc.measure.memory import measure
from cnncalc.measure.verify import COLUMNS, not_measured_lines, summary, table_rows
from cnncalc.measure.verify import verify as check
from cnncalc.options import parse_input
from cnncalc.present.console import console
from cnncalc.present.progress import Progress

EXIT_FINDINGS = 1


def run(spec: Path, seed: int, max_memory: str, input: str | None, format: str, memory: bool,
        train: bool) -> None:
    """Verify ``spec``; with ``memory``/``train`` also measure the executor's peak memory."""
    net = load(spec, input_shape=parse_input(input, "verify"))
    bar = Progress("verifying")
    try:
        result = check(net, seed=seed, max_memory=parse_bytes(max_memory), progress=bar)
    finally:
        bar.close()
    measured = None
    if memory or train:
        measured = measure(net, train=train, seed=seed)
    if format == "json":
        extra = {} if measured is None else {"memory": measured.to_dict()}
        sys.stdout.write(json.dumps({"name": net.name, **result.to_dict(), **extra}, indent=2,
                                    default=str) + "\n")
    else:
        table = Table(title=Text(f"{net.name}: analysed / measured"), box=box.SIMPLE_HEAVY, padding=0)
        for col, figure in COLUMNS:
            table.add_column(col, no_wrap=col != "Status", justify="right" if figure else "left")
        for cells in table_rows(result):
            table.add_row(*(Text(c) for c in cells))
        out = console()
        out.print(table)
        for line in not_measured_lines(result):
            out.print(Text(line))
        for row in result.rows:
            if not row.ok:
                out.print(Text(f"MISMATCH {row.name}: {row.note}"))
        out.print(Text(summary(result)))
        if measured is not None:
            out.print(Text(
                f"Memory ({measured.what}, the executor's policy): measured {measured.measured_bytes:,} B, "
                f"estimated {measured.estimated_bytes:,} B, ratio {measured.ratio:.3f}"))
    if not result.ok:
        raise typer.Exit(EXIT_FINDINGS)
