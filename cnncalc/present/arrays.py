"""What ``cnncalc run`` and ``cnncalc grad --unit`` print: arrays as text or JSON."""

from __future__ import annotations

import json

import numpy as np


def outputs_json(values: dict, outputs: list[str]) -> str:
    """``run -f json``: per network output, its shape, dtype and values (nested lists), one line."""
    return json.dumps({name: {"shape": list(values[name].shape),
                              "dtype": str(values[name].dtype),
                              "values": values[name].tolist()}
                       for name in outputs}) + "\n"


def outputs_text(values: dict, outputs: list[str]) -> str:
    """``run``'s text: per output a header line and the array (6 decimals, summarised past 200)."""
    with np.printoptions(precision=6, suppress=True, threshold=200, linewidth=120):
        return "".join(f"{name}: shape {list(values[name].shape)}, {values[name].dtype}\n"
                       f"{values[name]}\n" for name in outputs)


def wrote_json(target, values: dict) -> str:
    """``run -o FILE -f json``: the file written and the arrays in it."""
    return json.dumps({"wrote": str(target), "arrays": sorted(values)}, indent=2) + "\n"


def region_json(name: str, index, region) -> str:
    """``grad --unit -f json``: the input region that reaches one unit (measure.grad.unit_region),
    its bounds, its size and the analysed receptive field beside it."""
    return json.dumps({
        "layer": name, "unit": list(index), "bounds": [list(b) for b in region.bounds],
        "positions": int(region.mask.sum()), "input_positions": int(region.mask.size),
        "analysed_receptive_field": None if region.analysed is None else list(region.analysed),
        "mask": region.mask.astype(int).tolist()}, indent=2) + "\n"
