"""``cnncalc explain``: every formula behind a layer's figures, with the numbers put in."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cnncalc.homework.explain import explain, explanations_json, render_explanations
from cnncalc.io.load import load
from cnncalc.options import parse_input


def run(spec: Path, layer: str | None, format: str, input: str | None, dilation_base: int) -> None:
    """Explain one layer (or every layer) of ``spec`` as text, Markdown or JSON."""
    net = load(spec, input_shape=parse_input(input, "explain"), dilation_base=dilation_base)
    items = explain(net, layer)
    if format == "json":
        sys.stdout.write(json.dumps({"name": net.name, "dilation_base": dilation_base,
                                     "layers": explanations_json(items)}, indent=2) + "\n")
    else:
        sys.stdout.write(render_explanations(items, markdown=format == "markdown"))
