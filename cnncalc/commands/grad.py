"""``cnncalc grad``: backpropagation through an exercise, or the input region of one unit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from cnncalc.commands.files import load_array, load_npz
from cnncalc.io.load import load
from cnncalc.measure import grad as G
from cnncalc.present.arrays import region_json


def run(spec: Path, data: Path | None, weights: Path | None, upstream: Path | None, explain: bool,
        unit: str | None, seed: int, format: str) -> None:
    """dL/dx and dL/dw per layer (with ``explain``: the identities with the numbers); with
    ``unit`` (LAYER:i,j) the input region that reaches that unit instead."""
    net = load(spec)
    if unit is not None:
        name, index = G.parse_unit(unit, net)
        region = G.unit_region(net, name, index, seed)
        if format == "json":
            sys.stdout.write(region_json(name, index, region))
        else:
            sys.stdout.write(G.render_region(region))
        return
    x = load_array(data, "--data") if data is not None else None
    tensors = load_npz(weights) if weights is not None else None
    given = None
    if upstream is not None:
        if upstream.suffix == ".npz":
            given = load_npz(upstream)
        else:
            given = load_array(upstream, "--upstream")
    result = G.gradients(net, x, tensors, given, seed, explain=explain or format == "json")
    if format == "json":
        sys.stdout.write(json.dumps(G.to_dict(result), indent=2) + "\n")
        return
    with np.printoptions(precision=6, suppress=True):
        sys.stdout.write(G.render(result, explain))
