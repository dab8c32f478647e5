"""``cnncalc verify`` as text: the table of analysed / measured figures, the notes
below it, and the summary line. Pure formatting of a
:class:`~cnncalc.measure.verify.Verification`: measures and computes nothing.

A cell shows one value where analysis and measurement agree, ``analysed /
measured`` where they do not, ``?`` for a figure not measured (a documented
refusal) and ``!`` for a figure whose measurement failed (docs/executor.md).
"""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from cnncalc.core.errors import printable
from cnncalc.measure.verify import (
    FAILED,
    MISMATCH,
    NOT_MEASURED,
    OK,
    Figure,
    Verification,
    value_text,
)

COLUMNS = (("Layer", None), ("Type", None), ("Output shape", "output_shape"), ("Params", "params"),
           ("Buffers", "buffers"), ("MACs", "macs"), ("Act. bytes", "activation_bytes"),
           ("RF size", "rf_size"), ("RF stride", "rf_stride"), ("RF centre", "rf_center"),
           ("Status", None))
MARKS = {NOT_MEASURED: "?", FAILED: "!"}  # a measured cell for a figure without a measurement


def _cell(figures: list[Figure], axes: int | None = None) -> str:
    """'analysed' where every figure agrees; 'analysed / measured' where one disagrees;
    '?' marks a figure not measured, '!' one whose measurement failed. Per-axis figures
    are one value when every axis agrees (as in ``cnncalc analyze``), else joined with
    'x' ('-': an axis without this figure, as the stride of a global axis)."""
    if not figures:
        return "-"
    if axes is not None:
        by_axis = {f.axis: f for f in figures}
        slots = [by_axis.get(a) for a in range(axes)]
    else:
        slots = list(figures)

    def joined(texts: list[str]) -> str:  # one value when every axis agrees, as analyze shows it
        return texts[0] if len(set(texts)) == 1 else "x".join(texts)

    analysed = joined(["-" if f is None else value_text(f.analysed) for f in slots])
    if all(f is None or f.status == OK for f in slots):
        return analysed
    measured = joined(["-" if f is None else MARKS.get(f.status) or value_text(f.measured)
                       for f in slots])
    return analysed if measured == analysed else f"{analysed} / {measured}"


def table_rows(result: Verification) -> list[list[str]]:
    """One list of cells per layer, in the order of :data:`COLUMNS`."""
    rows = []
    for row in result.rows:
        cells = [row.name, row.type]
        axes = max((f.axis + 1 for f in row.figures if f.axis is not None), default=None)
        for _, name in COLUMNS[2:-1]:
            cells.append(_cell([f for f in row.figures if f.name == name],
                               axes if name.startswith("rf_") else None))
        problems = [("MISMATCH", row.mismatched), ("FAILED", row.failed)]
        status = "; ".join(f"{word} {', '.join(f.label for f in figures)}"
                           for word, figures in problems if figures)
        if not status:
            status = f"ok, {len(row.not_measured)} not measured" if row.not_measured else "ok"
        rows.append([*cells, status])
    return rows


def _grouped(result: Verification, status: str) -> dict[str, list[str]]:
    reasons: dict[str, list[str]] = {}
    for row in result.rows:
        for f in row.figures:
            if f.status == status:
                reasons.setdefault(f.reason, []).append(f"{row.name}.{f.label}")
    return reasons


def _shown(labels: list[str]) -> str:
    return ", ".join(labels[:6]) + (f" and {len(labels) - 6} more" if len(labels) > 6 else "")


def not_measured_lines(result: Verification) -> list[str]:
    """Each reason a figure was not measured, once, with the figures it applies to."""
    return [f"not measured: {_shown(labels)}: {reason}"
            for reason, labels in _grouped(result, NOT_MEASURED).items()]


def failed_lines(result: Verification) -> list[str]:
    """Each failed measurement, once per error, with the figures it applies to
    (each reason reads "could not measure <figure>: <error>")."""
    return [f"FAILED {_shown(labels)}: {reason}" for reason, labels in _grouped(result, FAILED).items()]


def summary(result: Verification) -> str:
    """The closing line: layers, figures per status, how each figure was measured, and
    the probe lengths."""
    counts = result.counts()
    sizes = "; ".join(f"axis {a}: {', '.join(map(str, s)) or '-'}" for a, s in enumerate(result.probe_sizes))
    n = len(result.rows)
    failed = f"{counts[FAILED]:,} failed, " if counts[FAILED] else ""
    broken = sum(bool(r.failed) for r in result.rows)
    return (f"{n} layer{'' if n == 1 else 's'}, {sum(bool(r.mismatched) for r in result.rows)} mismatched"
            f"{f', {broken} with failed figures' if broken else ''}; figures: "
            f"{counts[OK]:,} agree, {counts[MISMATCH]:,} disagree, {failed}"
            f"{counts[NOT_MEASURED]:,} not measured. "
            f"Shapes and activation bytes from the arrays, parameters and buffers from the tensors "
            f"the layers asked for, MACs from the contractions run; receptive fields from gradient "
            f"supports on one-channel probes (probe input lengths, {sizes}). "
            f"'a / m': analysed a, measured m; '?': not measured; '!': failed.")


def render_json(name: str, result: Verification, extra: dict[str, Any] | None = None) -> str:
    """The verification as JSON (``cnncalc verify --format json``), newline-terminated."""
    return json.dumps({"name": name, **result.to_dict(), **(extra or {})}, indent=2, default=str) + "\n"


def render_table(name: str, result: Verification) -> list[Any]:
    """What ``cnncalc verify`` prints, in order, for a rich console: the table, each
    reason not measured, each failure, each mismatch, and the summary."""
    table = Table(title=Text(printable(f"{name}: analysed / measured")), box=box.SIMPLE_HEAVY, padding=0)
    for col, figure in COLUMNS:
        table.add_column(col, no_wrap=col != "Status", justify="right" if figure else "left")
    for cells in table_rows(result):
        table.add_row(*(Text(printable(c)) for c in cells))
    lines = [*not_measured_lines(result), *failed_lines(result),
             *(f"MISMATCH {row.name}: {row.note}" for row in result.rows if row.mismatched)]
    return [table, *(Text(printable(line)) for line in lines), Text(summary(result))]
