"""How large a batch fits: the footprint of one step split into fixed + batch × per-sample
bytes, solved in closed form for a memory budget (``cnncalc solve batch``).

Every figure comes from :func:`cnncalc.analysis.memory.estimate` (PyTorch's autograd for a
training step, the eager or graph policy for the inference peak; docs/conventions.md "Memory") at the batch asked for, with two variants of one training
step whose rules are written here and in docs/conventions.md ("Capacity"):

- mixed precision (``amp``, as ``torch.autocast`` with ``torch.amp.GradScaler`` keeps
  tensors; Micikevicius et al. 2018, "Mixed Precision Training", ICLR, section 3.1: a
  float32 master copy of the weights): activations and the tensors saved for backward at
  2 bytes (float16 or bfloat16), the parameters at float32 *plus* a 2-byte working copy
  of the weights of every layer autocast runs in half precision (those with MACs: the
  convolutions and ``linear``, PyTorch's "ops that can autocast to float16"; autocast
  caches that cast copy for the step), buffers, gradients and optimizer state at float32.
- activation checkpointing per block (``checkpoint``: Chen et al. 2016, "Training Deep Nets
  with Sublinear Memory Cost", section 3; ``torch.utils.checkpoint``): the blocks are the
  spec's structures at a dotted depth (as ``analyze --depth`` groups rows). A block keeps
  only its inputs through the forward pass; its own saved tensors are recomputed when its
  output's gradient arrives and all of them are live until its backward pass has run. So
  the step holds: the tensors saved by layers outside every block, each block's inputs,
  and during the backward walk the activation gradients plus the recomputed tensors of
  the one block being walked.

Each part of each footprint is linear in the batch or the largest of such lines
(parameters, buffers, gradients, optimizer state and the tensors saved once per batch,
batch norm's statistics, do not depend on it; every activation is per-sample bytes ×
batch; the backward peak is the largest of one line per moment of the walk, its kernels'
weight copies and gradients fixed), so the largest batch is
``floor((budget - fixed) / per_sample)`` on the line of the piece the answer lies on
(:func:`solve_batch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnncalc.analysis.analyze import DTYPE_BYTES
from cnncalc.analysis.memory import (
    DEFAULT_POLICY,
    OPTIMIZER_STATES,
    POLICIES,
    activation_sizes,
    backward_peak,
    estimate,
    saved_tensors,
    storage_owner,
)
from cnncalc.core.errors import SpecError
from cnncalc.core.graph import Network

AMP_WIDTH = 2  # float16 and bfloat16: 2 bytes an element
MASTER_WIDTH = 4  # float32 master weights, gradients, optimizer state and buffers under amp

# the parts of a footprint, in the order they are printed, with what each holds
PART_HELP = {
    "params": "parameters (float32 master weights with --amp)",
    "half_weights": "--amp: autocast's half-precision copy of the convolution and linear weights",
    "buffers": "buffers (batch norm's running statistics)",
    "grads": "gradients of the trainable parameters",
    "optimizer": "optimizer state",
    "activations": "activations live at the inference peak",
    "saved": "tensors saved for the backward pass",
    "kept": "--checkpoint: tensors saved outside the blocks and each block's inputs",
    "backward": "activation gradients at the backward pass's peak",
    "recompute": "--checkpoint: activation gradients plus one block's recomputed tensors, at their peak",
    "step": "the optimizer step's temporaries beyond what the backward pass held (they come after it)",
}


@dataclass(frozen=True)
class Settings:
    """What a footprint is of: inference or one training step, and under which rules.

    ``dtype``: element type of parameters and activations (ignored by ``amp``, which
    fixes float32 and 2-byte halves). ``checkpoint``: the dotted depth of the blocks
    checkpointed (None: none). ``policy``: the inference peak's memory policy, eager or
    graph (cnncalc.analysis.memory; a training step's figures do not depend on it).
    """

    train: bool = False
    dtype: str = "float32"
    optimizer: str = "adam"
    amp: bool = False
    checkpoint: int | None = None
    policy: str = DEFAULT_POLICY

    def to_dict(self) -> dict[str, Any]:
        return {"train": self.train, "dtype": "float32+half" if self.amp else self.dtype,
                "optimizer": self.optimizer if self.train else None, "amp": self.amp,
                "checkpoint": self.checkpoint, "memory_policy": self.policy}


@dataclass(frozen=True)
class Footprint:
    """Bytes of one inference or training step at one batch, by part (PART_HELP's names,
    in its order; a part that does not apply is absent)."""

    batch: int
    parts: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(b for _, b in self.parts)

    def part(self, name: str) -> int:
        """The bytes of one part (0 when absent)."""
        return dict(self.parts).get(name, 0)

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "parts": dict(self.parts), "total_bytes": self.total}


@dataclass(frozen=True)
class Solution:
    """The largest batch whose footprint fits a budget.

    ``fixed`` + ``batch`` × ``per_sample`` is the footprint (bytes) at any batch; ``batch``
    is the largest that fits ``budget`` (0 when even one sample does not); ``at`` the
    footprint at that batch (None when 0) and ``next`` at ``batch + 1``, which does not fit.
    ``fixed_parts``/``per_sample_parts``: the same split per part. ``bends``: the footprint
    is not one line (the eager inference peak): the split holds at ``batch`` and
    ``batch + 1``, not at every batch.
    """

    budget: int
    settings: Settings
    fixed: int
    per_sample: int
    batch: int
    at: Footprint | None
    next: Footprint
    fixed_parts: tuple[tuple[str, int], ...]
    per_sample_parts: tuple[tuple[str, int], ...]
    bends: bool = False  # the line at batch 1 is not this one (the eager inference peak)

    def to_dict(self) -> dict[str, Any]:
        return {"budget_bytes": self.budget, "settings": self.settings.to_dict(),
                "fixed_bytes": self.fixed, "per_sample_bytes": self.per_sample,
                "fixed_parts": dict(self.fixed_parts), "per_sample_parts": dict(self.per_sample_parts),
                "batch": self.batch, "at": None if self.at is None else self.at.to_dict(),
                "next": self.next.to_dict(), "line_holds_from_batch_1": not self.bends}


def footprint(net: Network, batch: int, settings: Settings = Settings()) -> Footprint:
    """The bytes of one step of ``net`` at ``batch`` under ``settings``, by part.

    Inference: parameters, buffers and the activations live at the inference peak.
    Training: parameters, gradients, optimizer state, buffers, the saved tensors and the
    backward pass's peak (cnncalc.analysis.memory); with ``amp`` and ``checkpoint`` as the
    module says.

    Raises:
        SpecError: an unknown dtype or optimizer, ``amp`` with a dtype other than float32,
            or a checkpoint depth at which the spec has no block.
    """
    _check(net, settings)
    width = AMP_WIDTH if settings.amp else DTYPE_BYTES[settings.dtype]
    mem = estimate(net, width, batch, settings.optimizer, policy=settings.policy)
    params = sum(n.facts.param_count for n in net.nodes)
    trainable = sum(n.facts.param_count for n in net.nodes if n.trainable)
    wide = MASTER_WIDTH if settings.amp else width
    parts: list[tuple[str, int]] = [("params", params * wide)]
    if settings.amp:  # autocast's cached half copy of each weight a MAC layer reads
        parts.append(("half_weights", sum(n.facts.param_count for n in net.nodes if n.facts.macs)
                      * AMP_WIDTH))
    parts.append(("buffers", sum(n.facts.buffer_bytes(wide) for n in net.nodes)))
    if not settings.train:
        parts.append(("activations", mem.inference_peak_bytes))
        return Footprint(batch, tuple(parts))
    parts += [("grads", trainable * wide),
              ("optimizer", OPTIMIZER_STATES[settings.optimizer] * trainable * wide)]
    if settings.checkpoint is None:
        walk = [("saved", mem.training.saved_bytes), ("backward", mem.training.backward_peak_bytes)]
    else:
        kept, recompute = checkpointed(net, width, batch, blocks(net, settings.checkpoint))
        walk = [("kept", kept), ("recompute", recompute)]
    # the optimizer step runs after the backward pass has freed what it held: its
    # temporaries add only what they exceed that by (cnncalc.analysis.memory, Training)
    step = max(0, mem.training.step_bytes - sum(b for _, b in walk))
    parts += walk + [("step", step)]
    return Footprint(batch, tuple(parts))


def _check(net: Network, settings: Settings) -> None:
    if settings.dtype not in DTYPE_BYTES:
        raise SpecError(f"unknown dtype '{settings.dtype}'", kind="usage",
                        help="one of " + ", ".join(DTYPE_BYTES))
    if settings.optimizer not in OPTIMIZER_STATES:
        raise SpecError(f"unknown optimizer '{settings.optimizer}'", kind="usage",
                        help="one of " + ", ".join(OPTIMIZER_STATES))
    if settings.policy not in POLICIES:
        raise SpecError(f"unknown memory policy '{settings.policy}'", kind="usage",
                        help="one of " + ", ".join(POLICIES))
    if settings.amp and settings.dtype != "float32":
        raise SpecError(f"--amp keeps float32 master weights and 2-byte activations; --dtype "
                        f"{settings.dtype} contradicts it", kind="usage",
                        help="drop --dtype with --amp (or drop --amp for a pure "
                             f"{settings.dtype} run)")
    if settings.checkpoint is not None:
        if not settings.train:
            raise SpecError("--checkpoint changes only a training step", kind="usage",
                            help="add --train, or drop --checkpoint")
        if not set(blocks(net, settings.checkpoint).values()) - {None}:
            depths = sorted({g.count(".") + 1 for g in net.groups})
            raise SpecError(f"--checkpoint {settings.checkpoint}: the network has no block at "
                            f"depth {settings.checkpoint} to checkpoint", kind="usage", file=net.file,
                            help=(f"its blocks are at depth {', '.join(map(str, depths))} "
                                  "(`cnncalc analyze --depth N` shows them)") if depths else
                            "it has no structures or blocks (an ONNX model has none: `cnncalc "
                            "import` it and write its blocks)")


def blocks(net: Network, depth: int) -> dict[str, str | None]:
    """Node -> the block (a structure or block use named with ``depth`` dotted levels,
    ``layer1.bottleneck1`` at depth 2) it belongs to, or None outside every block; the
    grouping of ``analyze --depth``."""
    out: dict[str, str | None] = {}
    for node in net.nodes:
        parts = node.name.split(".")
        key = ".".join(parts[:depth]) if len(parts) > depth else None
        out[node.name] = key if key in net.groups else None
    return out


def checkpointed(net: Network, width: int, batch: int,
                 block_of: dict[str, str | None]) -> tuple[int, int]:
    """(kept, recompute) bytes of a training step with the blocks of ``block_of``
    checkpointed (the module's rule): ``kept`` the tensors saved outside every block and
    each block's inputs (stored once); ``recompute`` the peak, over the backward walk in
    reverse order, of the live activation gradients plus the recomputed saved tensors of
    the block being walked (those not already kept)."""
    size = activation_sizes(net, width, batch)
    owner = storage_owner(net, train=True)
    saved, needs_grad = saved_tensors(net, width, batch)
    kept: dict[tuple, int] = {key: b for name, key, b, _ in saved if block_of[name] is None}
    for node in net.nodes:
        block = block_of[node.name]
        if block is None:
            continue
        for i in node.inputs:  # the block's inputs: what torch.utils.checkpoint stores
            if block_of.get(i) != block:
                kept[("storage", owner[i])] = size[owner[i]]
    recompute: dict[str, dict[tuple, int]] = {}
    for name, key, b, _ in saved:
        if block_of[name] is not None and key not in kept:
            recompute.setdefault(block_of[name], {})[key] = b
    again = {block: sum(keys.values()) for block, keys in recompute.items()}
    # the backward walk of cnncalc.analysis.memory.estimate, with the block's recomputed tensors
    peak = backward_peak(net, width, batch, needs_grad,
                         lambda node: again.get(block_of[node.name], 0)
                         if block_of[node.name] is not None else 0)
    return sum(kept.values()), peak


def split(net: Network, settings: Settings = Settings(), at: int = 1) -> tuple[Footprint, Footprint]:
    """(fixed, per_sample) of the line through the footprints at batches ``at`` and
    ``at + 1``, part by part: per_sample = footprint(at + 1) - footprint(at), fixed =
    footprint(at) - at × per_sample. Where the footprint is linear (every training step; the
    graph policy's inference peak) it is that line at every batch."""
    one, two = footprint(net, at, settings), footprint(net, at + 1, settings)
    per = tuple((k, b2 - b1) for (k, b1), (_, b2) in zip(one.parts, two.parts))
    fixed = tuple((k, b1 - at * p) for (k, b1), (_, p) in zip(one.parts, per))
    return Footprint(0, fixed), Footprint(1, per)


def solve_batch(net: Network, budget: int, settings: Settings = Settings()) -> Solution:
    """The largest batch whose footprint fits ``budget`` bytes:
    ``floor((budget - fixed) / per_sample)`` (0 when even batch 1 does not fit).

    The graph policy's inference peak is one line, fixed + batch × per-sample, so one
    division answers. The eager policy's inference peak and a training step's backward
    peak are the largest of several such lines (a kernel's batch-independent temporaries
    beside its per-sample tensors): a convex function whose line at any batch lies under
    it everywhere, so the division on the line at batch 1 can only overshoot; the solve
    takes the line of the piece it lands on and divides again until the batch fits (at
    most one step per piece). Batch 1 may take other kernels (slow_conv2d), whose line
    can be steeper: when the batch after the answer fits too, the solve takes the line
    there and divides again.
    The returned split is the line at the answer (exact at ``batch`` and ``batch + 1``).

    Raises:
        SpecError: as :func:`footprint`; a network whose footprint does not grow with the
            batch (no activations), for which every batch or none fits.
    """
    at = 1
    first = None
    for _ in range(len(net.nodes) + 44):  # one step per piece of the convex footprint
        fixed, per = split(net, settings, at)
        first = first or (fixed.total, per.total)
        if per.total <= 0:
            # a flat piece: the optimizer step's temporaries outweigh what the backward pass
            # holds at this batch (VGG's classifier weights under Adam); it is the footprint's
            # least value, so if it does not fit, no batch does; else look further out
            if footprint(net, at, settings).total > budget:
                batch, here = 0, None
                break
            if at >= 2 ** 40:
                raise SpecError("the footprint does not grow with the batch: every batch fits "
                                "or none", kind="value",
                                help="a network with activations has a per-sample cost")
            at *= 2
            continue
        batch = max((budget - fixed.total) // per.total, 0)
        here = footprint(net, batch, settings) if batch else None
        if here is None or (here.total <= budget
                            and footprint(net, batch + 1, settings).total > budget):
            break
        if here.total <= budget:
            # undershot: the line came from a piece steeper than the footprint further
            # out (a kernel path of batch 1 alone: slow_conv2d); take the line after it
            at = batch + 1
            continue
        at = batch  # overshot: the footprint bends up before ``batch``; take its line there
    else:  # a footprint that is not convex: cnncalc's memory model broke its own rule
        raise AssertionError("the footprint is not a maximum of lines")
    if batch and at != batch:  # report the line of the piece the answer lies on
        fixed, per = split(net, settings, batch)
    return Solution(budget, settings, fixed.total, per.total, batch, here,
                    footprint(net, batch + 1, settings), fixed.parts, per.parts,
                    bends=first != (fixed.total, per.total))
