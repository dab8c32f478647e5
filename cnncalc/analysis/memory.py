"""Memory a user can trust: the inference peak and the training footprint of one step.

Both are estimated exactly under a stated policy (docs/conventions.md, "Memory"),
from the layers' facts (output shapes, which outputs are views or computed in place,
which tensors each layer keeps for its backward pass), never from a rule of thumb.

Inference (PyTorch's eager policy). Layers run in the spec's (topological) order. A
tensor is freed once its last consumer has run, unless it is a network output. A view
(``flatten``, ``reshape``, ``crop``, ``identity``, ``dropout`` at inference) and an
activation written with ``inplace: true`` share their input's storage. The peak is the
largest sum of live tensors while a layer runs (its inputs and its new output);
temporary workspace inside a kernel (im2col columns, cuDNN workspaces) is not counted.

Training, one step (PyTorch's autograd). Each layer keeps the tensors its backward
pass needs (:class:`cnncalc.layers.base.Saved`; a tensor kept by several layers is
stored once); a layer whose input needs no gradient keeps nothing for it, and a frozen
layer keeps nothing for its weights' gradients. The footprint is the sum of:
parameters, buffers, the gradients of the trainable parameters, the optimizer's state
(SGD 0, SGD with momentum 1, Adam and AdamW 2 tensors per trainable parameter), the
saved tensors, and the peak of the activation gradients live during the backward pass
(walked in reverse order: a gradient is freed once its producer's backward has run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from cnncalc.core.graph import INPUT, Network
from cnncalc.layers.base import SAVED_DTYPE_BYTES

OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}


@dataclass(frozen=True)
class Training:
    """The footprint of one training step, in bytes, by part."""

    optimizer: str
    param_bytes: int
    buffer_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    saved_bytes: int
    backward_peak_bytes: int

    @property
    def total_bytes(self) -> int:
        return (self.param_bytes + self.buffer_bytes + self.grad_bytes + self.optimizer_bytes
                + self.saved_bytes + self.backward_peak_bytes)

    def to_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "param_bytes": self.param_bytes,
                "buffer_bytes": self.buffer_bytes, "grad_bytes": self.grad_bytes,
                "optimizer_bytes": self.optimizer_bytes, "saved_bytes": self.saved_bytes,
                "backward_peak_bytes": self.backward_peak_bytes, "total_bytes": self.total_bytes}


@dataclass(frozen=True)
class Memory:
    """Inference peak and training footprint of a network for a batch and dtype.

    ``inference_peak_bytes``: activations live at the peak (the input included);
    ``inference_total_bytes`` adds parameters and buffers. ``live_bytes``: per node, the
    activation bytes live after it has run.
    """

    param_bytes: int
    buffer_bytes: int
    inference_peak_bytes: int
    inference_peak_layer: str
    training: Training
    live_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def inference_total_bytes(self) -> int:
        return self.param_bytes + self.buffer_bytes + self.inference_peak_bytes

    def to_dict(self) -> dict[str, Any]:
        return {"param_bytes": self.param_bytes, "buffer_bytes": self.buffer_bytes,
                "inference_peak_bytes": self.inference_peak_bytes,
                "inference_peak_layer": self.inference_peak_layer,
                "inference_total_bytes": self.inference_total_bytes,
                "training": self.training.to_dict()}


def _storage(net: Network) -> dict[str, str]:
    """Node -> the node whose storage its output is (itself, or its input's through views)."""
    owner = {INPUT: INPUT}
    for node in net.nodes:
        owner[node.name] = owner[node.inputs[0]] if node.facts.aliases_input else node.name
    return owner


def estimate(net: Network, width: int, batch: int | None = None,
             optimizer: str = "adam") -> Memory:
    """Estimate the memory of inference and of one training step.

    Args:
        net: a loaded network (every node has its facts).
        width: bytes per element of activations and parameters (4 for float32).
        batch: samples per step (default: the network's).
        optimizer: sgd, momentum, adam or adamw.

    Returns:
        A :class:`Memory` with every figure in bytes.

    Raises:
        ValueError: an unknown optimizer.
    """
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"unknown optimizer '{optimizer}': one of {', '.join(OPTIMIZER_STATES)}")
    batch = net.batch if batch is None else batch
    owner = _storage(net)
    size = {INPUT: math.prod(net.input_shape) * batch * width}
    for node in net.nodes:
        size[node.name] = math.prod(node.facts.out_shape) * batch * width

    # -- inference: liveness over storages ----------------------------------------------
    last_use: dict[str, int] = {}
    for i, node in enumerate(net.nodes):
        for name in node.inputs + node.refs:
            last_use[owner[name]] = max(last_use.get(owner[name], -1), i)
    for i, node in enumerate(net.nodes):  # a view keeps its storage alive as long as it is used
        last_use[owner[node.name]] = max(last_use.get(owner[node.name], -1), i)
    keep = {owner[o] for o in net.outputs}
    live = {INPUT: size[INPUT]}
    peak, where, live_after = 0, net.nodes[0].name, {}
    for i, node in enumerate(net.nodes):
        new = owner[node.name] == node.name
        running = sum(live.values()) + (size[node.name] if new else 0)
        if running > peak:
            peak, where = running, node.name
        if new:
            live[node.name] = size[node.name]
        for storage in {owner[n] for n in node.inputs + node.refs} | {owner[node.name]}:
            if last_use.get(storage) == i and storage not in keep:
                live.pop(storage, None)
        live_after[node.name] = sum(live.values())

    # -- training -------------------------------------------------------------------
    params = sum(n.facts.param_count for n in net.nodes)
    trainable = sum(n.facts.param_count for n in net.nodes if n.trainable)
    buffers = sum(n.facts.buffer_count for n in net.nodes)
    needs_grad = {INPUT: False}
    saved: dict[tuple, int] = {}
    for node in net.nodes:
        facts = node.facts
        weights = node.trainable and facts.param_count > 0
        inputs = any(needs_grad[i] for i in node.inputs)
        needs_grad[node.name] = inputs or weights
        for s in facts.saved:
            if not (weights if s.for_weight else (inputs or weights)):
                continue
            if s.what.startswith("input") and s.what[5:].isdigit():
                key: tuple = ("storage", owner[node.inputs[int(s.what[5:])]])
            elif s.what == "output":
                key = ("storage", owner[node.name])
            else:
                key = ("own", node.name, s.what)
            per = width if s.dtype is None else SAVED_DTYPE_BYTES[s.dtype]
            saved[key] = math.prod(s.shape) * batch * per
            if key[0] == "storage":  # a view keeps its whole storage alive (x[:, 0], a crop)
                saved[key] = max(saved[key], size[key[1]])
    # backward: gradients of activations, live from their consumer's backward to their producer's
    grads = {name: size[name] for name in net.outputs if needs_grad.get(name)}
    back_peak = sum(grads.values())
    for node in reversed(net.nodes):
        if node.name not in grads:
            continue
        new = {i: size[i] for i in node.inputs if needs_grad[i] and i not in grads}
        back_peak = max(back_peak, sum(grads.values()) + sum(new.values()))
        grads.update(new)
        del grads[node.name]
    training = Training(
        optimizer=optimizer, param_bytes=params * width, buffer_bytes=buffers * width,
        grad_bytes=trainable * width, optimizer_bytes=OPTIMIZER_STATES[optimizer] * trainable * width,
        saved_bytes=sum(saved.values()), backward_peak_bytes=back_peak,
    )
    return Memory(params * width, buffers * width, peak, where, training, live_after)
