"""Report -> rich table | JSON | Markdown | CSV. Pure formatting: computes nothing.

Every number is printed exactly: integers in full with thousands separators,
fractions as p/q. Only the byte totals also show an approximate binary unit,
marked with '≈'.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from fractions import Fraction

from .analyze import LayerResult, Report
from .rf import ReceptiveField

FORMATS = ("table", "json", "markdown", "csv")
COLUMNS = ("Layer", "Type", "Output shape", "Params", "MACs", "FLOPs", "Activations (B)",
           "RF size", "Eff. stride", "RF centre")


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(v) for v in shape)


def frac_text(value: Fraction | int | None) -> str:
    if value is None:
        return "-"
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def axes_text(values: Sequence, fmt=str) -> str:
    """One value when every axis agrees, else the values joined by ', '."""
    texts = [fmt(v) if v is not None else "-" for v in values]
    return texts[0] if len(set(texts)) == 1 else ", ".join(texts)


def rf_cells(rf: ReceptiveField | None) -> tuple[str, str, str]:
    if rf is None:
        return "global", "-", "-"
    return (axes_text(rf.size, lambda v: str(v)), axes_text(rf.stride, frac_text),
            axes_text(rf.center, frac_text))


def num(value: int) -> str:
    return f"{value:,}"


def human_bytes(n: int) -> str:
    """An approximate binary-unit figure, for reading only (the exact count is beside it)."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"≈ {n / size:.2f} {unit}"
    return f"{n} B"


def row_cells(row: LayerResult) -> list[str]:
    return [
        row.name, row.type, shape_text(row.output_shape), num(row.params), num(row.macs),
        num(row.flops), num(row.activation_bytes), *rf_cells(row.receptive_field),
    ]


def totals_rows(report: Report) -> list[tuple[str, str]]:
    t = report.totals
    return [
        ("Parameters", f"{num(t.params)}  ({num(t.param_bytes)} B, {human_bytes(t.param_bytes)})"),
        ("  trainable", num(t.trainable_params)),
        ("  frozen", num(t.frozen_params)),
        ("Buffers", f"{num(t.buffers)}  ({num(t.buffer_bytes)} B, {human_bytes(t.buffer_bytes)})"),
        ("MACs", num(t.macs)),
        ("FLOPs", num(t.flops)),
        ("Activations", f"{num(t.activation_bytes)} B ({human_bytes(t.activation_bytes)}), "
                        "all layer outputs"),
        *memory_rows(report),
    ]


def memory_rows(report: Report) -> list[tuple[str, str]]:
    """The inference peak and the training footprint (cnncalc.memory), for the footer."""
    m = report.totals.memory
    if m is None:
        return []
    t = m.training

    def b(n: int) -> str:
        return f"{num(n)} B" + (f" ({human_bytes(n)})" if n >= 1024 else "")

    return [
        ("Inference peak", f"{b(m.inference_peak_bytes)} of activations, at {m.inference_peak_layer}; "
                           f"{b(m.inference_total_bytes)} with parameters and buffers"),
        ("Training step", f"{b(t.total_bytes)} with {t.optimizer}:"),
        ("  parameters", b(t.param_bytes)),
        ("  buffers", b(t.buffer_bytes)),
        ("  gradients", b(t.grad_bytes)),
        ("  optimizer state", b(t.optimizer_bytes)),
        ("  saved for backward", b(t.saved_bytes)),
        ("  backward peak", b(t.backward_peak_bytes)),
    ]


def title(report: Report) -> str:
    return (f"{report.name}: input {shape_text(report.input_shape)}, batch {report.batch}, "
            f"{report.dtype}")


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def rows_of(report: Report, depth: int | None) -> list[LayerResult]:
    return list(report.layers) if depth is None else report.grouped(depth)


def to_markdown(report: Report, depth: int | None = None) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"### {esc(title(report))}", "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * 7) + "|"]
    for row in rows_of(report, depth):
        lines.append("| " + " | ".join(esc(c) for c in row_cells(row)) + " |")
    lines += ["", "| Total | |", "|---|---:|"]
    lines += [f"| {k.strip()} | {esc(v)} |" for k, v in totals_rows(report)]
    return "\n".join(lines) + "\n"


def to_csv(report: Report, depth: int | None = None) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["name", "type", "inputs", "output_shape", "params", "trainable_params",
                     "buffers", "macs", "flops", "activation_bytes", "rf_size", "rf_stride",
                     "rf_center"])
    for row in rows_of(report, depth):
        rf = row.receptive_field
        writer.writerow([
            row.name, row.type, " ".join(row.inputs), shape_text(row.output_shape), row.params,
            row.trainable_params, row.buffers, row.macs, row.flops, row.activation_bytes,
            "" if rf is None else " ".join("-" if v is None else str(v) for v in rf.size),
            "" if rf is None else " ".join(frac_text(v) for v in rf.stride),
            "" if rf is None else " ".join(frac_text(v) for v in rf.center),
        ])
    return buf.getvalue()


def to_table(report: Report, console, depth: int | None = None) -> None:
    """Print the rich table and the totals to a rich Console."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    # padding 0 and no wrapping: rich measures every cell, and this halves the cost
    # of a 200-row table; the box's blank column separators keep the columns apart
    table = Table(title=Text(title(report)), box=box.SIMPLE_HEAVY, padding=0)
    for i, col in enumerate(COLUMNS):
        table.add_column(col, justify="right" if 3 <= i else "left", no_wrap=True)
    for row in rows_of(report, depth):
        table.add_row(*(Text(c) for c in row_cells(row)))
    console.print(table)
    totals = Table(box=box.SIMPLE, show_header=False)
    totals.add_column("what")
    totals.add_column("value", justify="left")
    for k, v in totals_rows(report):
        totals.add_row(Text(k), Text(v))
    console.print(totals)
    console.print(Text(
        "MACs: multiply-accumulates of conv and linear layers (torchvision's 'GFLOPS'); "
        "FLOPs: every multiply and add counted apart; receptive field in input pixels "
        "(docs/conventions.md, docs/receptive-field.md)", style="dim"))
