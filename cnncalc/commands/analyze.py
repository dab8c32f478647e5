"""``cnncalc analyze``: load, analyse, render as JSON, Markdown, CSV, HTML or a table, check the
spec's own ``expect:`` promises (CC001). Imports neither NumPy nor rich: this is the command
whose start-up benchmarks/bench_analyze.py times; the table on a terminal is printed by
:mod:`cnncalc.commands.analyze_console`, the HTML page by :mod:`cnncalc.commands.analyze_html`,
and of lint only the expectations rule (CC001) is loaded."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path

import typer

from cnncalc.analysis.analyze import Report, analyze
from cnncalc.core.errors import suggestion
from cnncalc.core.graph import Network
from cnncalc.io.load import load
from cnncalc.io.torch_import import load_torch
from cnncalc.lint.base import run_rules, to_text
from cnncalc.lint.rules import cc001_expectation_failed as expectations
from cnncalc.options import depth_note, parse_input, usage
from cnncalc.present import render

EXIT_FINDINGS = 1
PIPE_WIDTH = 240  # piped output keeps whole rows instead of folding to 80 columns


class no_cyclic_gc:
    """Pause the cyclic garbage collector: its passes over the growing graph of layers
    cost a quarter of a 10,000-layer analysis and free nothing (reference counting
    frees what the analysis drops). Restored on exit."""

    def __enter__(self):
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was:
            gc.enable()


def columns(text: str | None, command: str) -> list[str] | None:
    """The columns picked by ``--columns``, normalised; None for the default set.

    Raises:
        SpecError: an unknown column (kind ``usage``, with the nearest name).
    """
    if text is None:
        return None
    keys = [k.strip().lower().replace("-", "_") for k in text.split(",") if k.strip()]
    for key in keys:
        if key not in render.COLUMN_KEYS:
            raise usage(command, f"--columns: no column '{key}'",
                        suggestion(key, render.COLUMN_KEYS, "columns"))
    return keys


def source_notes(net: Network) -> None:
    """What the user must know about a network read from a model file (stderr)."""
    for note in [*getattr(net, "onnx_notes", ()), *getattr(net, "torch_notes", ())]:
        sys.stderr.write(f"note: {note}\n")


def run(spec: Path, format: str, input: str | None, batch: int | None, dtype: str, optimizer: str,
        max_layers: int, dilation_base: int, depth: int | None, columns_text: str | None,
        table: Callable[[Report, int | None, list[str] | None], None] | None = None,
        page: Callable[[Network, Report], str] | None = None,
        transform: Callable[[Network, Report], Report] | None = None,
        memory_policy: str = "eager", torch: str | None = None,
        training: bool = False) -> None:
    """Analyse ``spec`` and write the report in ``format``; exit 1 if an ``expect:`` fails.

    ``table`` prints the table view (on a terminal: rich); by default the plain text of
    :func:`cnncalc.present.render.write_table` at PIPE_WIDTH columns is written. ``page``
    makes the HTML page (format html: :mod:`cnncalc.commands.analyze_html` passes it).
    ``transform`` adds to the report (``--erf``: :func:`cnncalc.commands.erf.with_erf`).
    ``memory_policy``: the inference peak's policy (``--memory-policy``, eager or graph).
    ``torch`` (MODULE:FACTORY) reads a PyTorch module instead of ``spec`` (``training``: captured
    in training mode; :mod:`cnncalc.io.torch_import`).
    """
    if format == "html" and page is None:
        raise ValueError("the html format is drawn by cnncalc.commands.analyze_html")
    picked = columns(columns_text, "analyze")
    with no_cyclic_gc():
        if torch is not None:
            net = load_torch(torch, parse_input(input, "analyze"), batch=batch,
                             max_nodes=max_layers, training=training)
        else:
            net = load(spec, input_shape=parse_input(input, "analyze"), batch=batch,
                       max_nodes=max_layers, dilation_base=dilation_base)
        report = analyze(net, dtype=dtype, optimizer=optimizer, memory_policy=memory_policy)
        if transform is not None:
            report = transform(net, report)
    failed = []
    if net.expect or any(n.expect for n in net.nodes):  # the spec's own promises
        failed = run_rules(net, [expectations.RULE], report)
    if format == "json":
        capture = getattr(net, "torch_capture", None)  # which capture read a PyTorch module
        sys.stdout.write(render.to_json(report, dilation_base,
                                        {"torch_capture": capture} if capture else None))
    elif format == "markdown":
        sys.stdout.write(render.to_markdown(report, depth, picked))
    elif format == "csv":
        sys.stdout.write(render.to_csv(report, depth))
    elif format == "html":
        sys.stdout.write(page(net, report))
    elif table is not None:
        table(report, depth, picked)
    else:  # piped: the same text without rich's start-up
        render.write_table(report, sys.stdout, PIPE_WIDTH, depth, picked)
    source_notes(net)
    note = depth_note([r.name for r in report.layers], depth) if format != "json" else None
    if note:  # json lists every layer whatever --depth says
        sys.stderr.write(f"note: {note}\n")
    if failed:
        sys.stderr.write(to_text(failed))
        raise typer.Exit(EXIT_FINDINGS)
