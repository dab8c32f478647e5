"""``cnncalc sweep``: one network at many input sizes (cnncalc.analysis.sweep), as a table,
JSON, CSV or an SVG chart (cnncalc.present.sweep_text)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cnncalc.analysis.memory import DEFAULT_POLICY
from cnncalc.analysis.sweep import expand, parse_sizes, sweep
from cnncalc.io.load import load
from cnncalc.options import usage
from cnncalc.present.sweep_text import sweep_csv, sweep_json, sweep_svg, sweep_text


def run(spec: Path, input: str | None, sizes: str | None, batch: int | None, dtype: str,
        optimizer: str, format: str, expanded: list[str] = (),
        policy: str | None = None) -> None:
    """Sweep ``spec`` over the shapes of ``input`` or ``sizes`` and print it in ``format``.
    ``expanded``: the further shapes a shell's brace expansion made of an unquoted
    ``--input 3x{224..512..32}`` (``--input 3x224 3x256 ...``), taken as the same list."""
    if (input is None) == (sizes is None):
        raise usage("sweep", "give the sizes with --input '3x{224..512..32}' or --sizes 224,256 "
                    "(one of them)", "e.g. cnncalc sweep net.yaml --input '3x{224..512..32}'")
    if expanded and (input is None or not all(re.fullmatch(r"\d+(x\d+)*", e) for e in expanded)):
        raise usage("sweep", f"unexpected argument(s) {' '.join(expanded)}",
                    "quote a range pattern so the shell leaves it alone: --input '3x{224..512..32}'")
    net = load(spec, batch=batch)  # a spec that cannot be read at its own size: exit 2
    if input is not None:
        shapes = [s for text in [input, *expanded] for s in expand(text, net.ndim)]
    else:
        shapes = parse_sizes(sizes, net.input_shape[0], net.ndim)
    result = sweep(spec, shapes, batch, dtype, optimizer, policy or DEFAULT_POLICY)
    writer = {"json": sweep_json, "csv": sweep_csv, "svg": sweep_svg}.get(format, sweep_text)
    sys.stdout.write(writer(result))
