"""The executor's own memory policy, and its measurement under tracemalloc
(``cnncalc verify --memory``; docs/executor.md, "Memory")."""

from __future__ import annotations

import math
import tracemalloc
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnncalc.core.graph import INPUT, Network
from cnncalc.measure.execute import backward, estimate_memory, forward, tensor_shapes


@dataclass(frozen=True)
class Measured:
    """Peak bytes the NumPy executor allocated (tracemalloc), against the estimate of
    its own policy. ``what``: "inference" or "training"."""

    what: str
    measured_bytes: int
    estimated_bytes: int

    @property
    def ratio(self) -> float:
        return self.measured_bytes / self.estimated_bytes

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "measured_bytes": self.measured_bytes,
                "estimated_bytes": self.estimated_bytes, "ratio": round(self.ratio, 4)}


def executor_estimate(net: Network, train: bool, batch: int = 1, width: int = 4) -> int:
    """The executor's policy (docs/executor.md, "Memory"), not PyTorch's: weights and
    buffers; at inference, liveness with each layer's workspace (its largest temporary,
    the im2col columns of a convolution: cnncalc.measure.execute.estimate_memory); in training,
    every output kept for the backward pass, and during the backward walk (in reverse)
    the gradients of the parameters of the layers walked so far, the live activation
    gradients, and the temporaries of the layer's backward pass (a convolution: its
    padded input, the columns and their gradient)."""
    if not train:
        return estimate_memory(net, batch, width, "outputs").peak_bytes
    weights = sum(math.prod(s) for s in tensor_shapes(net).values()) * width
    size = {INPUT: math.prod(net.input_shape) * batch * width}
    for node in net.nodes:
        size[node.name] = math.prod(node.facts.out_shape) * batch * width
    kept = sum(size.values())
    grads = {name: size[name] for name in net.outputs}
    peak, param_grads = sum(grads.values()), 0  # parameter gradients accumulate as it walks
    for node in reversed(net.nodes):
        if node.name not in grads:
            continue
        new = {i: size[i] for i in node.inputs if i not in grads}
        work = node.facts.layer.backward_workspace() * batch * width
        param_grads += node.facts.param_count * width
        peak = max(peak, sum(grads.values()) + sum(new.values()) + work + param_grads)
        grads.update(new)
        del grads[node.name]
    return weights + kept + peak


def measure(net: Network, train: bool = False, seed: int = 0, batch: int = 1) -> Measured:
    """Run the executor on ``batch`` samples (seeded input and weights) under tracemalloc and
    compare its peak with :func:`executor_estimate`. With ``train``, a forward pass that
    keeps every output, then the backward pass from gradients of ones.

    Raises:
        SpecError: a run the memory guard refuses (cnncalc.measure.execute.DEFAULT_MAX_MEMORY).
    """
    x = np.random.default_rng(seed).standard_normal((batch, *net.input_shape)).astype(np.float32)
    tracemalloc.start()
    try:
        run = forward(net, x, None, seed, keep="all" if train else "outputs")
        if train:
            backward(net, run, {o: np.ones_like(run.values[o]) for o in net.outputs})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return Measured("training" if train else "inference", peak,
                    executor_estimate(net, train, batch))
