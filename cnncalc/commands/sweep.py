"""``cnncalc sweep``: one network at many input sizes (cnncalc.analysis.sweep), as a table,
JSON, CSV or an SVG chart (cnncalc.present.sweep_text)."""

from __future__ import annotations

import sys
from pathlib import Path

from cnncalc.analysis.sweep import expand, parse_sizes, sweep
from cnncalc.io.load import load
from cnncalc.options import usage
from cnncalc.present.sweep_text import sweep_csv, sweep_json, sweep_svg, sweep_text


def run(spec: Path, input: str | None, sizes: str | None, batch: int | None, dtype: str,
        optimizer: str, format: str) -> None:
    """Sweep ``spec`` over the shapes of ``input`` or ``sizes`` and print it in ``format``."""
    if (input is None) == (sizes is None):
        raise usage("sweep", "give the sizes with --input 3x{224..512..32} or --sizes 224,256 "
                    "(one of them)", "e.g. cnncalc sweep net.yaml --input 3x{224..512..32}")
    net = load(spec, batch=batch)  # a spec that cannot be read at its own size: exit 2
    shapes = expand(input, net.ndim) if input is not None else \
        parse_sizes(sizes, net.input_shape[0], net.ndim)
    result = sweep(spec, shapes, batch, dtype, optimizer)
    writer = {"json": sweep_json, "csv": sweep_csv, "svg": sweep_svg}.get(format, sweep_text)
    sys.stdout.write(writer(result))
