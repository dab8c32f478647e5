"""``cnncalc erf`` and ``cnncalc analyze --erf``: the effective receptive field under a stated
protocol (cnncalc.measure.erf) beside the theoretical one."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from cnncalc.analysis.analyze import Report, analyze
from cnncalc.commands import analyze as analyze_command
from cnncalc.commands import analyze_console
from cnncalc.core.graph import Network
from cnncalc.io.spec import load
from cnncalc.measure.erf import EffectiveField, candidates, effective_fields, random_fields
from cnncalc.options import parse_input
from cnncalc.present.erf_text import table_lines, to_json


def run(spec: Path, layer: str | None, protocol: str, format: str, input: str | None,
        depth: int | None, samples: int = 4, seed: int = 0) -> None:
    """Print the ERF of ``layer`` (default: every layer, grouped ``depth`` dotted levels deep:
    at depth 1 one row per stage, the stage's output layer) as a table or JSON. Protocol
    random computes only the layers shown (``samples`` draws from ``seed``)."""
    net = load(spec, input_shape=parse_input(input, "erf"))
    report = analyze(net)
    if layer is not None:
        rows, outputs = [report.layer(layer)] if layer in {r.name for r in report.layers} else [], {}
        wanted: list[str] | None = [layer]
    else:
        rows = list(report.layers) if depth is None else report.grouped(depth)
        outputs = _group_outputs(report, rows)
        have = {n.name for n in candidates(net)}
        wanted = [outputs.get(r.name, r.name) for r in rows if outputs.get(r.name, r.name) in have]
    if protocol == "random":
        fields = random_fields(net, wanted, samples, seed)
    else:
        fields = effective_fields(net, wanted if layer is not None else None)
    if format == "json":
        sys.stdout.write(to_json(report, rows, fields, outputs, protocol))
    else:
        sys.stdout.write("\n".join(table_lines(report, rows, fields, outputs, protocol)) + "\n")


def _group_outputs(report: Report, rows) -> dict[str, str]:
    """A group row's layer: the group's declared output, else its last layer (as
    :meth:`Report.grouped` shows the group's field)."""
    members = {r.name for r in report.layers}
    outputs = {}
    for row in rows:
        if row.name in members:
            continue
        inside = [r.name for r in report.layers if r.name.startswith(row.name + ".")]
        outputs[row.name] = report.groups.get(row.name, (inside[-1], ""))[0]
    return outputs


def with_erf(net: Network, report: Report, fields: dict | None = None) -> Report:
    """The report with ``effective_receptive_field`` set on every layer that has one
    (``fields``: from :func:`effective_fields`, computed here if not given)."""
    fields = effective_fields(net) if fields is None else fields
    layers = tuple(replace(r, effective_receptive_field=fields[r.name].to_dict())
                   if isinstance(fields.get(r.name), EffectiveField) else r for r in report.layers)
    return replace(report, layers=layers)


def analyze_run(spec: Path, console: bool, **options) -> None:
    """``cnncalc analyze --erf``: the analysis with the ERF of every layer (JSON:
    ``layers[i].effective_receptive_field``; the table and Markdown views are followed by
    ``cnncalc erf``'s table)."""
    table = analyze_console._table if console else None
    kept: list[tuple[Report, dict]] = []

    def transform(net: Network, report: Report) -> Report:
        fields = effective_fields(net)
        kept.append((report, fields))
        return with_erf(net, report, fields)

    analyze_command.run(spec, table=table, transform=transform, **options)
    if kept and options.get("format") in ("table", "markdown"):  # the ERF's own table below
        report, fields = kept[0]
        depth = options.get("depth")
        rows = list(report.layers) if depth is None else report.grouped(depth)
        sys.stdout.write("\n" + "\n".join(table_lines(report, rows, fields,
                                                     _group_outputs(report, rows), "uniform")) + "\n")
