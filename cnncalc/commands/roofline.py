"""``cnncalc roofline``: per layer the bytes moved and the arithmetic intensity, and with a
device (or --peak-tflops and --bandwidth) the roofline's lower bound on each layer's time and
which layers memory bounds (cnncalc.analysis.roofline; rendered by
cnncalc.present.roofline_text)."""

from __future__ import annotations

import sys
from pathlib import Path

from cnncalc.analysis.analyze import analyze
from cnncalc.analysis.roofline import machine, roofline
from cnncalc.io.load import load
from cnncalc.options import parse_input
from cnncalc.present.roofline_text import roofline_csv, roofline_json, roofline_text


def run(spec: Path, device: str | None, peak_tflops: str | None, bandwidth: str | None,
        dtype: str, batch: int | None, input: str | None, format: str) -> None:
    """Print the roofline of ``spec`` in ``format`` (table, json, csv)."""
    mach = machine(device, dtype, peak_tflops, bandwidth)  # a bad device fails before loading
    net = load(spec, input_shape=parse_input(input, "roofline"), batch=batch)
    roof = roofline(net, analyze(net, dtype=dtype), mach)
    if format == "json":
        sys.stdout.write(roofline_json(roof))
    elif format == "csv":
        sys.stdout.write(roofline_csv(roof))
    else:
        sys.stdout.write(roofline_text(roof))
