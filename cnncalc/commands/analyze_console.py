"""``cnncalc analyze`` on a terminal: the same command, its table printed through rich (colours,
the terminal's width). Apart from :mod:`cnncalc.commands.analyze` so that piped and JSON runs
do not import rich's console."""

from __future__ import annotations

from pathlib import Path

from cnncalc.analysis.analyze import Report
from cnncalc.commands import analyze
from cnncalc.present.console import console, to_table


def _table(report: Report, depth: int | None, picked: list[str] | None) -> None:
    to_table(report, console(), depth, picked)


def run(spec: Path, **options) -> None:
    """:func:`cnncalc.commands.analyze.run` with the table printed on the terminal."""
    analyze.run(spec, table=_table, **options)
