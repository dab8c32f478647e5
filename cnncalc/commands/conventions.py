"""``cnncalc conventions`` (every FLOP counter's number for a network and why it differs
from cnncalc's MACs) and ``cnncalc analyze --convention NAME`` (one counter's number per
layer). Loads, counts with :mod:`cnncalc.analysis.conventions`, renders with
:mod:`cnncalc.present.conventions_text`."""

from __future__ import annotations

import sys
from pathlib import Path

from cnncalc.analysis.analyze import analyze
from cnncalc.analysis.conventions import COUNTERS, count_nodes, counter, needed_by, reconcile
from cnncalc.core.graph import Network
from cnncalc.io.load import load
from cnncalc.io.torch_import import load_torch
from cnncalc.options import parse_input
from cnncalc.present import conventions_text as text


def _nodes(net: Network, output: str | None) -> set[str] | None:
    """The nodes a counter sees: those ``output`` needs (a torchvision model in eval mode
    runs its main output only), or every node."""
    return None if output is None else needed_by(net, output)


def run(spec: Path, format: str, input: str | None, batch: int | None, paper: bool,
        output: str | None, names: str | None) -> None:
    """Print every counter's number for ``spec`` and its difference from cnncalc's MACs by
    family (``names``: a comma-separated subset of the counters)."""
    picked = list(COUNTERS) if not names else [counter(n.strip()).name
                                              for n in names.split(",") if n.strip()]
    net = load(spec, input_shape=parse_input(input, "conventions"), batch=batch)
    nodes = _nodes(net, output)
    b = net.batch
    results = [reconcile(net, COUNTERS[n], b, nodes) for n in picked]
    macs = results[0].macs if results else 0
    shape = (b, *net.input_shape)
    if format == "json":
        sys.stdout.write(text.to_json(text.to_dict(str(spec), shape, macs, results, paper)))
    elif format == "markdown":
        sys.stdout.write(text.to_markdown(str(spec), shape, macs, results, paper))
    else:
        sys.stdout.write(text.to_text(str(spec), shape, macs, results, paper))


def analyze_run(spec: Path | None, name: str, format: str, input: str | None, batch: int | None,
                output: str | None, torch: str | None = None, training: bool = False) -> None:
    """``analyze --convention NAME``: the per-layer table (or the JSON report with its
    ``convention`` section) under counter ``name``, of ``spec`` or of the PyTorch module
    ``torch`` (MODULE:FACTORY; the import writes each layer's ``torch:`` form)."""
    c = counter(name)
    if torch is not None:
        net = load_torch(torch, parse_input(input, "analyze"), batch=batch, training=training)
    else:
        net = load(spec, input_shape=parse_input(input, "analyze"), batch=batch)
    report = analyze(net)
    nodes = _nodes(net, output)
    b = report.batch
    rows = count_nodes(net, c, b, nodes)
    r = reconcile(net, c, b, nodes)
    if format == "json":
        sys.stdout.write(text.analyze_json(report, text.convention_section(c, r, rows)))
    else:
        sys.stdout.write(text.analyze_text(report, c, r, rows, markdown=format == "markdown"))
