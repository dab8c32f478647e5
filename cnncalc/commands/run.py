"""``cnncalc run``: the network forward in NumPy; its outputs printed, or every layer's written."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from cnncalc.commands.files import load_array, load_npz, npz_target, parse_bytes
from cnncalc.io.load import load
from cnncalc.measure.execute import guard_memory
from cnncalc.measure.execute import run as execute
from cnncalc.options import parse_input, usage
from cnncalc.present.arrays import outputs_json, outputs_text, wrote_json
from cnncalc.present.progress import Progress


def run(spec: Path, data: Path | None, input: str | None, weights: Path | None, output: Path | None,
        seed: int, dtype: str | None, max_memory: str, format: str) -> None:
    """Run ``spec`` on ``data`` (else the spec's values, else a seeded random batch of one)."""
    net = load(spec, input_shape=parse_input(input, "run"))
    limit = parse_bytes(max_memory)
    target = npz_target(output, spec) if output is not None else None  # before any work
    x = None
    if data is not None:
        x = load_array(data, "--data")
    elif net.input_values is None:
        guard_memory(net, 1, 4, "all", limit)  # before the random input is allocated
        x = np.random.default_rng(seed).standard_normal((1, *net.input_shape)).astype(np.float32)
    tensors = load_npz(weights) if weights is not None else None
    bar = Progress("running")
    try:
        values = execute(net, x, tensors, seed, dtype=dtype, max_memory=limit, progress=bar)
    finally:
        bar.close()
    if target is not None:
        try:
            with open(target, "wb") as fh:  # a file object: numpy adds no suffix of its own
                np.savez(fh, **values)
        except OSError as exc:
            raise usage("run", f"--output: cannot write {target}: {exc.strerror}",
                        "give a file in a folder that exists and is writable") from None
        if format == "json":
            sys.stdout.write(wrote_json(target, values))
        else:
            sys.stdout.write(f"wrote {len(values)} arrays to {target}\n")
        return
    if format == "json":
        sys.stdout.write(outputs_json(values, net.outputs))
    else:
        sys.stdout.write(outputs_text(values, net.outputs))
