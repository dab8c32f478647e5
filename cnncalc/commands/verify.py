"""``cnncalc verify``: every reported figure held against a measurement; exit 1 on a
mismatch or a failed measurement. The text is :mod:`cnncalc.present.verify_text`'s."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.text import Text

from cnncalc.analysis.analyze import analyze
from cnncalc.commands.files import parse_bytes
from cnncalc.io.load import load
from cnncalc.measure.memory import measure
from cnncalc.measure.verify import verify as check
from cnncalc.options import parse_input
from cnncalc.present.console import console
from cnncalc.present.progress import Progress
from cnncalc.present.verify_text import render_json, render_table

EXIT_FINDINGS = 1


def run(spec: Path, seed: int, max_memory: str, input: str | None, format: str, memory: bool,
        train: bool, memory_policy: str = "graph") -> None:
    """Verify ``spec``; with ``memory``/``train`` also measure the executor's peak memory, and
    print cnncalc's PyTorch estimate (inference peak under ``memory_policy``, or the
    training footprint) beside it."""
    net = load(spec, input_shape=parse_input(input, "verify"))
    bar = Progress("verifying", lines=True)
    try:
        result = check(net, seed=seed, max_memory=parse_bytes(max_memory), progress=bar)
    finally:
        bar.close()
    measured = None
    if memory or train:
        measured = measure(net, train=train, seed=seed)
    torch = None
    if measured is not None:
        mem = analyze(net, memory_policy=memory_policy).totals.memory
        torch = {"policy": memory_policy, "inference_peak_bytes": mem.inference_peak_bytes,
                 "training_total_bytes": mem.training.total_bytes}
    if format == "json":
        extra = {} if measured is None else {"memory": {**measured.to_dict(), "pytorch": torch}}
        sys.stdout.write(render_json(net.name, result, extra))
    else:
        out = console()
        for item in render_table(net.name, result):
            out.print(item)
        if measured is not None:
            out.print(Text(
                f"Memory ({measured.what}, the executor's policy): measured {measured.measured_bytes:,} B, "
                f"estimated {measured.estimated_bytes:,} B, ratio {measured.ratio:.3f}"))
            out.print(Text(
                f"PyTorch's estimate (memory policy {memory_policy}): inference peak "
                f"{torch['inference_peak_bytes']:,} B, training step {torch['training_total_bytes']:,} B"))
    if not result.ok:
        raise typer.Exit(EXIT_FINDINGS)
