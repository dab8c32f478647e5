"""Report -> rich table | JSON | Markdown | CSV. Pure formatting: computes nothing.

Every number is printed exactly: integers in full with thousands separators,
fractions as p/q. Only the byte totals also show an approximate binary unit,
marked with '≈'.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from cnncalc.analysis.analyze import LayerResult, Report, Totals
from cnncalc.core.figures import CSV_FIGURES, column
from cnncalc.core.rf import ReceptiveField

FORMATS = ("table", "json", "markdown", "csv")


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(v) for v in shape)


def frac_text(value: Fraction | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
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


GATE_MARK = " +g"  # the exact field is global through a gate or attention: the local field is shown
GATE_NOTE = ("+g: global through a broadcast gate (squeeze-and-excitation) or an attention branch; "
             "the local field (the gate or branch held constant) is shown")


def row_rf_cells(row: LayerResult) -> tuple[str, str, str]:
    """The receptive-field cells of a row: the exact field; where it is global only through
    broadcast gates (``row.global_context``), the local field with its size marked ``+g``
    (docs/receptive-field.md, "The local receptive field")."""
    rf, local = row.receptive_field, row.local_receptive_field
    if row.global_context and local is not None and rf != local and (
            rf is None or any(v is None for v in rf.size)):
        size, stride, centre = rf_cells(local)
        return size + GATE_MARK, stride, centre
    return rf_cells(rf)


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
        num(row.flops), num(row.activation_bytes), *row_rf_cells(row),
    ]


def bytes_text(n: int) -> str:
    """'n B', with the approximate binary unit beside it from 1 KiB up."""
    approx = human_bytes(n)
    return f"{num(n)} B" if approx.endswith(" B") else f"{num(n)} B, {approx}"


def totals_rows(report: Report) -> list[tuple[str, str]]:
    t = report.totals
    return [
        ("Parameters", f"{num(t.params)}  ({bytes_text(t.param_bytes)})" if t.params else "0"),
        ("  trainable", num(t.trainable_params)),
        ("  frozen", num(t.frozen_params)),
        ("Buffers", f"{num(t.buffers)}  ({bytes_text(t.buffer_bytes)})" if t.buffers else "0"),
        ("MACs", num(t.macs)),
        ("FLOPs", num(t.flops)),
        ("Activations", f"{bytes_text(t.activation_bytes)}, all layer outputs"),
        *memory_rows(report),
    ]


def memory_rows(report: Report) -> list[tuple[str, str]]:
    """The inference peak and the training footprint (cnncalc.analysis.memory), for the footer."""
    m = report.totals.memory
    if m is None:
        return []
    t = m.training

    b = bytes_text
    return [
        ("Inference peak", f"{b(m.inference_peak_bytes)} at {m.inference_peak_layer} (activations, {m.policy} policy); "
                           f"{b(m.inference_total_bytes)} with parameters and buffers"),
        ("Training step", f"{b(t.total_bytes)} ({t.optimizer}): the first four, and the larger of "
                          "saved + backward peak and the step's temporaries"),
        ("  parameters", b(t.param_bytes)),
        ("  buffers", b(t.buffer_bytes)),
        ("  gradients", b(t.grad_bytes)),
        ("  optimizer state", b(t.optimizer_bytes)),
        ("  saved for backward", b(t.saved_bytes)),
        ("  backward peak", b(t.backward_peak_bytes)),
        ("  step temporaries", b(t.step_bytes)),
    ]


def title(report: Report) -> str:
    """The name, input and batch, and the element type the byte counts assume (the
    analysis runs nothing: `cnncalc run` picks its own precision)."""
    return (f"{report.name}: input {shape_text(report.input_shape)}, batch {report.batch}, "
            f"bytes counted as {report.dtype}")


def to_json(report: Report, dilation_base: int = 1, source: dict | None = None) -> str:
    """The JSON report, with the dilation convention the spec was read under
    (``dilation_base``: 1 as PyTorch, 1 = no gaps; 0 as cs231n, 0 = no gaps) and ``source``'s
    keys (how the network was read: ``torch_capture``)."""
    data = report.to_dict()
    data["dilation_base"] = dilation_base
    data.update(source or {})
    return json_lines(data, "layers")


def json_lines(data: dict, rows: str) -> str:
    """``data`` as indented JSON with each item of the list ``data[rows]`` on one line:
    as readable as indent=2 for a report, and json's C encoder writes each line (an
    indented dump runs in pure Python, the largest cost of a 10,000-layer report)."""
    parts = []
    for key, value in data.items():
        if key == rows and isinstance(value, list) and value:
            body = ",\n".join("    " + json.dumps(item) for item in value)
            parts.append(f"  {json.dumps(key)}: [\n{body}\n  ]")
        elif isinstance(value, list):  # a shape, the outputs: one line
            parts.append(f"  {json.dumps(key)}: {json.dumps(value)}")
        else:
            parts.append(f"  {json.dumps(key)}: " + json.dumps(value, indent=2).replace("\n", "\n  "))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def rows_of(report: Report, depth: int | None) -> list[LayerResult]:
    return list(report.layers) if depth is None else report.grouped(depth)


def to_markdown(report: Report, depth: int | None = None,
                columns: Sequence[str] | None = None) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    cols = pick_columns(columns)
    t = report.totals
    marked = False
    lines = [f"### {esc(title(report))}", "", "| " + " | ".join(c.header for c in cols) + " |",
             "|" + "|".join("---:" if c.number else "---" for c in cols) + "|"]
    for row in rows_of(report, depth):
        rf = row_rf_cells(row)
        marked = marked or rf[0].endswith(GATE_MARK)
        lines.append("| " + " | ".join(esc(c.cell(row, t, rf)) for c in cols) + " |")
    if marked and any(c.key == "rf_size" for c in cols):
        lines += ["", GATE_NOTE]
    lines += ["", "| Total | |", "|---|---:|"]
    lines += [f"| {k.strip()} | {esc(v)} |" for k, v in totals_rows(report)]
    return "\n".join(lines) + "\n"


def to_csv(report: Report, depth: int | None = None) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["name", "type", "inputs", *CSV_FIGURES])
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


# -- the table: columns, priorities, width ---------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of the table and Markdown views.

    ``key``: the name ``--columns`` takes; ``keep``: how important it is (when the
    terminal is too narrow, the lowest is dropped first; the layer name is never
    dropped); ``number``: right-aligned and never wrapped.
    """

    key: str
    header: str
    cell: Callable[[LayerResult, Totals, tuple[str, str, str]], str]
    keep: int
    number: bool = True


def share(part: int, whole: int) -> str:
    """part / whole as a percentage rounded to 0.1 (half up); '<0.1%' for a nonzero
    part that rounds to zero, '-' when the whole is zero."""
    if whole == 0:
        return "-"
    if part == 0:
        return "0%"
    tenths = (2000 * part + whole) // (2 * whole)  # rounded half up, in integers
    return "<0.1%" if tenths == 0 else f"{tenths // 10}.{tenths % 10}%"


def _rf(i: int):
    return lambda row, _, rf: rf[i]


def _figure(name: str, cell: Callable[[LayerResult, Totals, tuple[str, str, str]], str],
            keep: int) -> Column:
    """The column of a catalogued figure: its --columns key and header from cnncalc.core.figures."""
    key, header = column(name)
    return Column(key, header, cell, keep)


TABLE_COLUMNS: tuple[Column, ...] = (
    Column("layer", "Layer", lambda r, _, __: r.name, 100, number=False),
    Column("type", "Type", lambda r, _, __: r.type, 6, number=False),
    _figure("output_shape", lambda r, _, __: shape_text(r.output_shape), 9),
    _figure("params", lambda r, _, __: num(r.params), 10),
    Column("params_percent", "Params %", lambda r, t, __: share(r.params, t.params), 2),
    _figure("macs", lambda r, _, __: num(r.macs), 8),
    Column("macs_percent", "MACs %", lambda r, t, __: share(r.macs, t.macs), 1),
    _figure("flops", lambda r, _, __: num(r.flops), 4),
    _figure("activation_bytes", lambda r, _, __: num(r.activation_bytes), 5),
    _figure("rf_size", _rf(0), 7),
    _figure("rf_stride", _rf(1), 3),
    _figure("rf_center", _rf(2), 0),
)
COLUMN_KEYS = tuple(c.key for c in TABLE_COLUMNS)
COLUMNS = tuple(c.header for c in TABLE_COLUMNS)
GAP = 2  # blanks between columns


def pick_columns(keys: Sequence[str] | None) -> list[Column]:
    """The columns named (in table order, the layer name always first), or all.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    if not keys:
        return list(TABLE_COLUMNS)
    unknown = [k for k in keys if k not in COLUMN_KEYS]
    if unknown:
        raise ValueError(unknown[0])
    return [c for c in TABLE_COLUMNS if c.key == "layer" or c.key in keys]


def _header_lines(text: str, width: int) -> list[str]:
    """A header wrapped at blanks to ``width`` (a word longer than that stays whole)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _fold(text: str, width: int) -> list[str]:
    """A layer name folded into pieces of ``width`` (after a '.' where possible)."""
    out = []
    while len(text) > width:
        cut = text.rfind(".", 0, width) + 1 or width
        out.append(text[:cut])
        text = text[cut:]
    return out + [text]


def layout(columns: list[Column], cells: list[list[str]], width: int
           ) -> tuple[list[int], list[Column], list[Column]]:
    """Fit the columns to ``width``: (column widths, columns kept, columns dropped).

    A number column is as wide as its widest cell; a header wraps at blanks; a layer
    name longer than a third of the width folds. While the row is too wide, the least
    important column goes; then the layer name folds further, down to 8 characters. Numbers are never cut: a table that still does not fit is
    printed wider than ``width``.
    """
    need = []
    for i, col in enumerate(columns):
        longest = max((len(row[i]) for row in cells), default=0)
        word = max(len(w) for w in col.header.split())
        need.append(max(longest, word))
    # long dotted names (layer4.2.residual.conv3) fold onto a second line rather than
    # push a number column out: a third of the width is theirs
    need[0] = min(need[0], max(16, width // 3))
    kept = list(range(len(columns)))
    dropped: list[int] = []

    def total(idx):
        return sum(need[i] for i in idx) + GAP * (len(idx) - 1)

    while total(kept) > width and len(kept) > 2:
        victim = min(kept[1:], key=lambda i: columns[i].keep)
        kept.remove(victim)
        dropped.append(victim)
    widths = [need[i] for i in kept]
    spare = width - total(kept)
    for j, i in enumerate(kept):  # room to spare: headers on one line, most important first
        extra = len(columns[i].header) - widths[j]
        if 0 < extra <= spare:
            widths[j] += extra
            spare -= extra
    over = total(kept) - width
    if over > 0:  # fold the layer names, never a number
        widths[0] = max(widths[0] - over, min(8, widths[0]))
    return widths, [columns[i] for i in kept], [columns[i] for i in sorted(dropped)]


def table_text(report: Report, width: int, depth: int | None = None,
               keys: Sequence[str] | None = None) -> tuple[str, str, list[Column]]:
    """The table as (header lines, body lines, columns dropped for width)."""
    columns = pick_columns(keys)
    t = report.totals
    rows = rows_of(report, depth)
    all_cells = []
    for row in rows:
        rf = row_rf_cells(row)
        all_cells.append([c.cell(row, t, rf) for c in columns])
    widths, kept, dropped = layout(columns, all_cells, width)
    index = [columns.index(c) for c in kept]
    heads = [_header_lines(c.header, w) for c, w in zip(kept, widths)]
    height = max(len(h) for h in heads)
    header = []
    for line in range(height):
        parts = []
        for col, w, h in zip(kept, widths, heads):
            text = h[line - (height - len(h))] if line >= height - len(h) else ""
            parts.append(text.rjust(w) if col.number else text.ljust(w))
        header.append((" " * GAP).join(parts).rstrip())
    header.append((" " * GAP).join("━" * w for w in widths))
    body = []
    name_width = widths[0]
    for cells in all_cells:
        names = _fold(cells[0], name_width)
        rest = [cells[i].rjust(w) if c.number else cells[i].ljust(w)
                for i, c, w in zip(index[1:], kept[1:], widths[1:])]
        body.append((" " * GAP).join([names[-1].ljust(name_width) if len(names) == 1
                                      else names[0].ljust(name_width), *rest]).rstrip())
        for piece in names[1:]:
            body.append(piece)
    return "\n".join(header), "\n".join(body), dropped


def _fold_dotted(line: str, room: int) -> list[str]:
    """A line longer than ``room`` only because of a long dotted layer name, folded after
    its dots (numbers never contain one, so none is cut)."""
    if len(line) <= room or "." not in line:
        return [line]
    out, current = [], ""
    for piece in line.replace(".", ".\0").split("\0"):
        if current and len(current) + len(piece) > room:
            out.append(current)
            current = ""
        current += piece
    return out + [current] if current else out


def totals_lines(report: Report, width: int) -> list[str]:
    """The totals, label and value, wrapped at blanks to ``width`` (numbers stay whole)."""
    rows = totals_rows(report)
    label = max(len(k) for k, _ in rows) + GAP
    out = []
    room = max(width - label, 20)
    for k, v in rows:
        lines = []
        for line in textwrap.wrap(v, room, break_long_words=False, break_on_hyphens=False) or [""]:
            lines += _fold_dotted(line, room)
        out.append(k.ljust(label) + lines[0])
        out += [" " * label + line for line in lines[1:]]
    return out


NOTE = ("MACs: multiply-accumulates of conv, linear and attention layers (torchvision's 'GFLOPS'); FLOPs: "
        "every multiply and add counted apart; receptive field in input pixels; shares rounded to "
        "0.1% (docs/conventions.md, docs/receptive-field.md)")


def table_blocks(report: Report, width: int, depth: int | None = None,
                 columns: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """The table view laid out for ``width`` columns, as (text, style) blocks: title,
    header, rows, totals, notes. Least important columns are dropped first (named in
    a note), then layer names fold; a number is never cut."""
    header, body, dropped = table_text(report, width, depth, columns)
    head = "\n".join(textwrap.wrap(title(report), width, break_long_words=False,
                                   break_on_hyphens=False))
    blocks = [(head, "bold"), (header, "bold"), (body, ""),
              ("\n".join([""] + totals_lines(report, width)), "")]
    notes = []
    if dropped:
        notes.append(f"Not shown at {width} columns: {', '.join(c.header for c in dropped)} "
                     "(a wider terminal, --columns or -f csv shows them).")
    notes.append(NOTE)
    if GATE_MARK in body:
        notes.append(GATE_NOTE)
    for note in notes:
        blocks.append(("\n".join(textwrap.wrap(note, width, break_long_words=False,
                                                break_on_hyphens=False)), "dim"))
    return blocks


def write_table(report: Report, file, width: int, depth: int | None = None,
                columns: Sequence[str] | None = None) -> None:
    """The same view as plain text, for a pipe (no rich import: start-up counts)."""
    file.write("\n".join(text for text, _ in table_blocks(report, width, depth, columns)) + "\n")
