"""What ``cnncalc conventions`` and ``cnncalc analyze --convention`` print: each FLOP
counter's number for a network beside cnncalc's MACs, the difference by operation family,
and the counters' rule tables for docs/conventions.md. Formatting only: the counts come from
:mod:`cnncalc.analysis.conventions`."""

from __future__ import annotations

import json
from fractions import Fraction

from cnncalc.analysis.analyze import Report
from cnncalc.analysis.conventions import (
    COUNTERS,
    PAPER,
    Amount,
    Counter,
    NodeCount,
    Reconciled,
)
from cnncalc.present.render import json_lines, shape_text


def amount(value: Amount | float) -> int | float:
    """An exact count for JSON: an int where whole, else the nearest float (thop's float64)."""
    if isinstance(value, float):
        return value
    value = Fraction(value)
    return value.numerator if value.denominator == 1 else float(value)


def amount_text(value: Amount | float, signed: bool = False) -> str:
    """``1,234`` (``+1,234`` signed); a fraction with its exact value and decimals."""
    if isinstance(value, float):
        return f"{value:+,}" if signed else f"{value:,}"
    value = Fraction(value)
    sign = "+" if signed and value > 0 else ""
    if value.denominator == 1:
        return f"{sign}{value.numerator:,}"
    return f"{sign}{float(value):,.6f}"


def printed_text(r: Reconciled) -> str:
    """The counter's number as it prints it."""
    if r.counter.printed == "gflops3":
        return f"{r.printed:.3f}"
    if r.counter.printed == "float":
        return f"{r.printed:,.1f}"
    return f"{r.printed:,}"


def _by_family_text(r: Reconciled) -> str:
    return ", ".join(f"{f} {amount_text(d, True)}" for f, d in r.by_family.items()) or "none"


def to_dict(spec: str, input_shape, macs: int, results: list[Reconciled],
            paper: bool) -> dict:
    """``{"spec", "input", "macs", "counters": {NAME: {"version", "unit", "value",
    "by_family", "unsupported", ...}}}`` (docs/cli.md, ``conventions``)."""
    counters = {}
    for r in results:
        c = r.counter
        counters[c.name] = {
            "tool": c.tool, "version": c.version, "unit": c.unit, "term": c.term,
            "value": amount(r.printed), "exact": amount(r.value),
            "difference": amount(sum(r.by_family.values(), Fraction(0))),
            "by_family": {f: amount(d) for f, d in r.by_family.items()},
            "unsupported": r.unsupported, "skipped": r.skipped, "call": c.call,
        }
    data = {"spec": spec, "input": list(input_shape), "macs": macs, "counters": counters}
    if paper:
        data["paper"] = {"unit": "mult-add", "value": macs, "note": PAPER}
    return data


def to_json(data: dict) -> str:
    """:func:`to_dict`'s record as indented JSON."""
    return json.dumps(data, indent=2) + "\n"


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return [line(header), *(line(r) for r in rows)]


def to_text(spec: str, input_shape, macs: int, results: list[Reconciled], paper: bool) -> str:
    """One row per counter: name, version, its number, unit, the difference from cnncalc's
    MACs and that difference by family; then what each counter skips as unsupported."""
    lines = [f"{spec}: input {shape_text(input_shape)}, cnncalc {macs:,} MACs", ""]
    rows = [[r.counter.name, r.counter.version, printed_text(r), r.counter.unit,
             amount_text(sum(r.by_family.values(), Fraction(0)), True), _by_family_text(r)]
            for r in results]
    if paper:
        rows.append(["paper", "-", f"{macs:,}", "mult-add", "0", "none"])
    lines += _table(["counter", "version", "value", "unit", "- cnncalc MACs", "by family"],
                    rows, {2, 4})
    notes = [f"{r.counter.name}: unsupported {', '.join(r.unsupported)}" for r in results
             if r.unsupported]
    if notes:
        lines += ["", *notes]
    if paper:
        lines += ["", "paper: " + PAPER]
    return "\n".join(lines) + "\n"


def to_markdown(spec: str, input_shape, macs: int, results: list[Reconciled], paper: bool) -> str:
    """The table of :func:`to_text` in Markdown."""
    out = [f"**{spec}**: input {shape_text(input_shape)}, cnncalc {macs:,} MACs", "",
           "| counter | version | value | unit | − cnncalc MACs | by family | unsupported |",
           "|---|---|---:|---|---:|---|---|"]
    for r in results:
        out.append(f"| {r.counter.name} | {r.counter.version} | {printed_text(r)} | "
                   f"{r.counter.unit} | {amount_text(sum(r.by_family.values(), Fraction(0)), True)} | "
                   f"{_by_family_text(r)} | {', '.join(r.unsupported) or '-'} |")
    if paper:
        out.append(f"| paper | - | {macs:,} | mult-add | 0 | none | - |")
        out += ["", PAPER]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- analyze --convention


def convention_section(c: Counter, r: Reconciled, rows: list[NodeCount]) -> dict:
    """The JSON report's ``convention`` section: the counter, its total and per layer."""
    return {
        "name": c.name, "tool": c.tool, "version": c.version, "unit": c.unit, "term": c.term,
        "value": amount(r.printed), "exact": amount(r.value),
        "by_family": {f: amount(d) for f, d in r.by_family.items()},
        "unsupported": r.unsupported,
        "layers": {n.name: {"value": amount(n.value), "unsupported": n.unsupported,
                            "skipped": n.skipped} for n in rows},
    }


def analyze_json(report: Report, section: dict) -> str:
    """The JSON report with its ``convention`` section."""
    data = report.to_dict()
    data["convention"] = section
    return json_lines(data, "layers")


def analyze_text(report: Report, c: Counter, r: Reconciled, rows: list[NodeCount],
                 markdown: bool = False) -> str:
    """Per layer: type, output shape, cnncalc's MACs and the counter's number for it (its
    term and unit in the header), what it skips; the totals line."""
    by_name = {n.name: n for n in rows}
    head = f"{c.name}: {c.term} ({c.unit})"
    table = []
    for row in report.layers:
        n = by_name.get(row.name)
        if n is None:
            continue
        notes = [f"{k}: unsupported" for k in n.unsupported] + [f"{k}: skipped" for k in n.skipped]
        table.append([row.name, row.type, shape_text(row.output_shape), f"{row.macs:,}",
                      amount_text(n.value), "; ".join(notes)])
    total = ["total", "", "", f"{r.macs:,}", printed_text(r), ", ".join(r.unsupported)]
    header = ["Layer", "Type", "Output shape", "MACs", head, "Counter notes"]
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|---|---|---|---:|---:|---|"]
        out += ["| " + " | ".join(cells) + " |" for cells in [*table, total]]
        return "\n".join(out) + "\n"
    lines = _table(header, [*table, total], {3, 4})
    lines.append("")
    lines.append(f"{c.name} {c.version}: {c.call}")
    lines.append(f"difference from cnncalc's MACs: {amount_text(sum(r.by_family.values(), Fraction(0)), True)} "
                 f"({_by_family_text(r)})")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the tables in the docs


def rules_markdown() -> str:
    """Every counter's rule table, as docs/conventions.md prints it (tests/test_conventions.py
    checks that the page holds this text)."""
    out = []
    for c in COUNTERS.values():
        out += [f"### {c.name} ({c.tool} {c.version}, {c.unit})", "",
                f"`{c.call}`: {c.note}".rstrip(), "",
                "| operation | counts | status | source |", "|---|---|---|---|"]
        grouped: dict[tuple[str, str, str], list[str]] = {}
        for key, rule in c.rules.items():
            grouped.setdefault((rule.what, rule.status, rule.source), []).append(key)
        for (what, status, source), keys in grouped.items():
            names = ", ".join(f"`{k}`" for k in keys) if keys != ["*"] else "any module"
            out.append(f"| {names} | {what} | {status} | {source} |")
        if c.missing.what:
            out.append(f"| anything else | {c.missing.what} | {c.missing.status} | {c.missing.source} |")
        out.append("")
    return "\n".join(out)
