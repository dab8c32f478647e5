"""What ``cnncalc diff`` prints: the totals of A and B with their change, then every changed
layer (text table, JSON, or Markdown for a pull request comment), and the budgets broken.
Formats only; the figures are :mod:`cnncalc.analysis.diff`'s."""

from __future__ import annotations

import json
from fractions import Fraction

from cnncalc.analysis.diff import FIGURES, Diff, Pair
from cnncalc.analysis.fields import last_field


def _signed(v: int) -> str:
    return f"{v:+,}" if v else "0"


def _percent(before: int, after: int) -> str:
    if before == 0:
        return "new" if after else "-"
    p = Fraction(after - before) * 100 / before
    return f"{float(p):+.2f}%" if p else "0%"


def _shape(shape) -> str:
    return "x".join(map(str, shape))


def _rf(field) -> str:
    if field is None:
        return "global"
    return f"{_shape(field.size)} ({field.layer}{', local' if field.local else ''})"


def _totals_rows(d: Diff) -> list[list[str]]:
    before, after = d.before, d.after
    rows = [[FIGURES[k], f"{before[k]:,}", f"{after[k]:,}", _signed(after[k] - before[k]),
             _percent(before[k], after[k])] for k in FIGURES]
    rows.append(["receptive field (last spatial layer)", _rf(last_field(d.a)), _rf(last_field(d.b)),
                 "", ""])
    return rows


def _layer_cells(p: Pair) -> list[str]:
    def side(r, what):
        if r is None:
            return "-"
        if what == "shape":
            return _shape(r.output_shape)
        return "global" if r.receptive_field is None else _shape(r.receptive_field.size)

    name = p.b.name if p.b is not None else p.a.name
    if p.a is not None and p.b is not None and p.a.name != p.b.name:
        name = f"{p.a.name} -> {p.b.name}"
    kind = (p.b or p.a).type
    shape_a, shape_b = side(p.a, "shape"), side(p.b, "shape")
    rf_a, rf_b = side(p.a, "rf"), side(p.b, "rf")
    return [name, kind, p.rule,
            shape_a if shape_a == shape_b else f"{shape_a} -> {shape_b}",
            _signed(_value(p.b, "params") - _value(p.a, "params")),
            _signed(_value(p.b, "macs") - _value(p.a, "macs")),
            _signed(_value(p.b, "activation_bytes") - _value(p.a, "activation_bytes")),
            rf_a if rf_a == rf_b else f"{rf_a} -> {rf_b}"]


def _value(row, key: str) -> int:
    return 0 if row is None else getattr(row, key)


LAYER_HEAD = ["layer", "type", "matched by", "output shape", "params", "MACs", "activations (B)", "RF size"]
TOTAL_HEAD = ["figure", "A", "B", "change", "relative"]


def _table(head: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return ["  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                      for i, c in enumerate(r)).rstrip() for r in [head, *rows]]


def _summary(d: Diff) -> str:
    counts = d.to_dict()["matched"]
    changed = sum(p.changed for p in d.pairs)
    return (f"{counts['name']} layers matched by name, {counts['structure']} by structure, "
            f"{counts['removed']} removed, {counts['added']} added; {changed} rows changed")


def budget_lines(d: Diff) -> list[str]:
    """One line per broken budget, naming the term and the change that breaks it."""
    before, after = d.before, d.after
    return [f"budget broken: {x.text}: {FIGURES[x.figure]} {before[x.figure]:,} -> "
            f"{after[x.figure]:,} ({_signed(after[x.figure] - before[x.figure])}, "
            f"{_percent(before[x.figure], after[x.figure])})" for x in d.broken]


def diff_text(d: Diff) -> str:
    """Totals, then the changed layers; unchanged rows are counted, not listed."""
    policy = d.b.totals.memory.policy
    lines = [f"A: {d.a.name}   B: {d.b.name}   (batch {d.b.batch}, {d.b.dtype}; inference peak "
             f"under the {policy} policy)", ""]
    lines += _table(TOTAL_HEAD, _totals_rows(d), {1, 2, 3, 4})
    lines += ["", _summary(d), ""]
    rows = [_layer_cells(p) for p in d.pairs if p.changed]
    if rows:
        lines += _table(LAYER_HEAD, rows, {4, 5, 6})
    for line in budget_lines(d):
        lines.append(line)
    if d.budgets and not d.broken:
        lines.append(f"budgets held: {', '.join(x.text for x in d.budgets)}")
    return "\n".join(lines) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def diff_markdown(d: Diff) -> str:
    """For a pull request comment: the totals table, the broken budgets, and the changed
    layers in a collapsed section."""
    out = [f"### cnncalc diff: {d.a.name} → {d.b.name}", ""]
    out += [_md_row(TOTAL_HEAD), _md_row(["---"] + ["---:"] * 4)]
    out += [_md_row(r) for r in _totals_rows(d)]
    out.append("")
    for line in budget_lines(d):
        out.append(f"- :x: {line}")
    if d.budgets and not d.broken:
        out.append(f"- :white_check_mark: budgets held: `{', '.join(x.text for x in d.budgets)}`")
    out += ["", f"<details><summary>{_summary(d)}</summary>", ""]
    rows = [_layer_cells(p) for p in d.pairs if p.changed]
    if rows:
        out += [_md_row(LAYER_HEAD), _md_row(["---"] * 4 + ["---:"] * 3 + ["---"])]
        out += [_md_row(r) for r in rows]
    out += ["", "</details>"]
    return "\n".join(out) + "\n"


def diff_json(d: Diff) -> str:
    return json.dumps(d.to_dict(), indent=2) + "\n"
