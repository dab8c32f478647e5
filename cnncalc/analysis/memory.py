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
saved tensors, and the backward peak: PyTorch's autograd engine walked node by node in
reverse creation order, each layer's backward allocating what its eager CPU kernel does
(:meth:`cnncalc.layers.base.Layer.eager_backward`) and passing its input gradients as new
tensors, the output's gradient itself or views of it
(:meth:`~cnncalc.layers.base.Layer.grad_passes`), a tensor with several consumers summing
them in place or into a new tensor as torch/csrc/autograd/input_buffer.cpp does
(:func:`backward_peak`; docs/conventions.md, "Memory").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from cnncalc.core.graph import INPUT, Network
from cnncalc.layers.base import SAVED_DTYPE_BYTES, Saved

OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
# tensors of a parameter's size the optimizer step allocates at once, per parameter tensor
# in turn (PyTorch 2.14 on CPU, where foreach is off: torch/optim/adam.py
# _single_tensor_adam computes denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt): the
# sqrt and the quotient live together; SGD and momentum update in place). Measured with
# the profiler's memory events: Adam and AdamW 2 x the largest parameter tensor, plus
# 12 B of scalars that are not counted.
STEP_TEMPORARIES = {"sgd": 0, "momentum": 0, "adam": 2, "adamw": 2}
POLICIES = ("eager", "graph")
DEFAULT_POLICY = "eager"  # PyTorch eager on CPU: docs/conventions.md, "Memory"


@dataclass(frozen=True)
class Training:
    """The footprint of one training step, in bytes, by part, at ``batch`` samples.

    Parameters, buffers, their gradients and the optimizer state are fixed
    (:attr:`fixed_bytes`); the saved tensors are per sample but for ``saved_fixed_bytes``
    (batch norm's per-channel statistics, stochastic depth's batch-mode factor); the
    backward peak is per sample but for ``backward_fixed_bytes`` (the kernels' weight
    copies and weight gradients live at its moment). ``step_bytes``: the optimizer step's
    temporaries, live after the backward pass has freed the saved tensors and activation
    gradients, so ``total_bytes == fixed_bytes + max(saved_fixed_bytes +
    backward_fixed_bytes + batch * per_sample_bytes, step_bytes)`` exactly (:meth:`total_at`
    gives that line at another batch).
    """

    optimizer: str
    param_bytes: int
    buffer_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    saved_bytes: int
    backward_peak_bytes: int
    saved_fixed_bytes: int = 0
    batch: int = 1
    step_bytes: int = 0
    backward_fixed_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.fixed_bytes + max(self.saved_bytes + self.backward_peak_bytes, self.step_bytes)

    @property
    def fixed_bytes(self) -> int:
        """Parameters, buffers, gradients and optimizer state: bytes held through the step."""
        return self.param_bytes + self.buffer_bytes + self.grad_bytes + self.optimizer_bytes

    def total_at(self, batch: int) -> int:
        """The footprint on the line through this one (the same network, dtype and
        optimizer): exact at :attr:`batch`; at another batch exact while the backward
        peak stays at the same moment of the same kernels, and never above the footprint
        there (the backward peak is the largest of such lines, one per moment)."""
        return self.fixed_bytes + max(self.saved_fixed_bytes + self.backward_fixed_bytes
                                      + batch * self.per_sample_bytes, self.step_bytes)

    @property
    def per_sample_bytes(self) -> int:
        """Bytes each sample adds (exact: every per-sample part is a multiple of the batch)."""
        return (self.saved_bytes - self.saved_fixed_bytes + self.backward_peak_bytes
                - self.backward_fixed_bytes) // self.batch

    def to_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "param_bytes": self.param_bytes,
                "buffer_bytes": self.buffer_bytes, "grad_bytes": self.grad_bytes,
                "optimizer_bytes": self.optimizer_bytes, "saved_bytes": self.saved_bytes,
                "backward_peak_bytes": self.backward_peak_bytes, "step_bytes": self.step_bytes,
                "saved_fixed_bytes": self.saved_fixed_bytes,
                "backward_fixed_bytes": self.backward_fixed_bytes,
                "per_sample_bytes": self.per_sample_bytes,
                "total_bytes": self.total_bytes}


@dataclass(frozen=True)
class Memory:
    """Inference peak and training footprint of a network for a batch and dtype.

    ``inference_peak_bytes``: activations live at the peak under ``policy`` (the input
    included); ``inference_total_bytes`` adds parameters and buffers. Per node:
    ``live_bytes``, the activation bytes live after it has run (inference, under the
    policy); ``saved_bytes``, the bytes its backward pass adds to what autograd keeps (a
    tensor several layers keep counts at the first). Under the graph policy the
    inference peak is exactly ``batch x`` :attr:`inference_per_sample_bytes`; under eager
    a convolution's weight copy is fixed, so estimate at each batch.
    """

    param_bytes: int
    buffer_bytes: int
    inference_peak_bytes: int
    inference_peak_layer: str
    training: Training
    live_bytes: dict[str, int] = field(default_factory=dict)
    saved_bytes: dict[str, int] = field(default_factory=dict)
    policy: str = DEFAULT_POLICY
    batch: int = 1

    @property
    def inference_total_bytes(self) -> int:
        return self.param_bytes + self.buffer_bytes + self.inference_peak_bytes

    @property
    def inference_per_sample_bytes(self) -> int:
        """The inference peak divided by the batch (exact per sample under the graph
        policy, where every live tensor scales with the batch)."""
        return self.inference_peak_bytes // self.batch

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "param_bytes": self.param_bytes,
                "buffer_bytes": self.buffer_bytes,
                "inference_peak_bytes": self.inference_peak_bytes,
                "inference_peak_layer": self.inference_peak_layer,
                "inference_total_bytes": self.inference_total_bytes,
                "training": self.training.to_dict()}


def storage_owner(net: Network, train: bool = False) -> dict[str, str]:
    """Node -> the node whose storage its output is (itself, or its input's through views
    and in-place layers; ``train``: as in a training-mode forward)."""
    owner = {INPUT: INPUT}
    for node in net.nodes:
        alias = node.facts.train_aliases_input if train else node.facts.aliases_input
        owner[node.name] = owner[node.inputs[0]] if alias else node.name
    return owner


def _eager_holds(net: Network) -> dict[str, int]:
    """Node (or the input) -> the index of the last layer during which PyTorch's eager
    mode still holds it, beyond its consumers (docs/conventions.md, "Memory"): the caller
    holds the network input for the whole forward; a block (a structure, block use or
    named repeat: a module's forward) holds its inputs for its whole call; a tensor that
    layers of two or more top-level items read (a U-Net's skip) is a local variable of
    the network's forward, held until the forward returns."""
    end = {}  # group -> index of its last node
    for i, node in enumerate(net.nodes):
        for g in node.path:
            end[g] = i
    last = len(net.nodes) - 1
    hold = {INPUT: last}
    path = {node.name: node.path for node in net.nodes}
    path[INPUT] = ()
    items: dict[str, set[str]] = {}  # tensor -> the top-level items whose layers read it
    for node in net.nodes:
        for name in node.inputs:
            for g in node.path:  # a block that starts here, reading a tensor from outside
                if g not in path[name]:
                    hold[name] = max(hold.get(name, -1), end[g])
            items.setdefault(name, set()).add(node.path[0] if node.path else node.name)
    for name, readers in items.items():
        if len(readers) > 1:  # a skip between top-level items: a local of the forward
            hold[name] = last
    return hold


def estimate(net: Network, width: int, batch: int | None = None,
             optimizer: str = "adam", *, policy: str = DEFAULT_POLICY) -> Memory:
    """Estimate the memory of inference and of one training step.

    Args:
        net: a loaded network (every node has its facts).
        width: bytes per element of activations and parameters (4 for float32).
        batch: samples per step (default: the network's).
        optimizer: sgd, momentum, adam or adamw.
        policy: the inference peak's policy: "eager" (PyTorch's eager mode: what the
            caller and each block's forward hold, and CPU kernels' temporaries) or
            "graph" (each tensor freed after its last consumer, as an ahead-of-time
            runtime). docs/conventions.md, "Memory".

    Returns:
        A :class:`Memory` with every figure in bytes.

    Raises:
        ValueError: an unknown optimizer or policy.
    """
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"unknown optimizer '{optimizer}': one of {', '.join(OPTIMIZER_STATES)}")
    if policy not in POLICIES:
        raise ValueError(f"unknown memory policy '{policy}': one of {', '.join(POLICIES)}")
    batch = net.batch if batch is None else batch
    owner = storage_owner(net)
    size = activation_sizes(net, width, batch)

    # -- inference: liveness over storages ----------------------------------------------
    last_use: dict[str, int] = {}
    for i, node in enumerate(net.nodes):
        for name in node.inputs + node.refs:
            last_use[owner[name]] = max(last_use.get(owner[name], -1), i)
    for i, node in enumerate(net.nodes):  # a view keeps its storage alive as long as it is used
        last_use[owner[node.name]] = max(last_use.get(owner[node.name], -1), i)
    if policy == "eager":
        for name, i in _eager_holds(net).items():
            last_use[owner[name]] = max(last_use.get(owner[name], -1), i)
    keep = {owner[o] for o in net.outputs}
    free_at: dict[int, list[str]] = {}  # layer index -> storages freed once it has run
    for storage, i in last_use.items():
        if storage not in keep:
            free_at.setdefault(i, []).append(storage)
    live = {INPUT: size[INPUT]}
    peak, where, live_after = 0, net.nodes[0].name, {}
    for i, node in enumerate(net.nodes):
        new = owner[node.name] == node.name
        running = sum(live.values()) + (size[node.name] if new else 0)
        if policy == "eager":  # the kernel's own temporaries: its largest phase
            running += max((sum(_bytes(t, batch, width) for t in phase)
                            for phase in node.facts.layer.eager_workspace(batch)), default=0)
        if running > peak:
            peak, where = running, node.name
        if new:
            live[node.name] = size[node.name]
        for storage in free_at.get(i, ()):
            live.pop(storage, None)
        live_after[node.name] = sum(live.values())

    # -- training -------------------------------------------------------------------
    params = sum(n.facts.param_count for n in net.nodes)
    trainable = sum(n.facts.param_count for n in net.nodes if n.trainable)
    largest = max((math.prod(shape) for n in net.nodes if n.trainable
                   for shape in n.facts.params.values()), default=0)
    buffer_bytes = sum(n.facts.buffer_bytes(width) for n in net.nodes)
    tensors, needs_grad = saved_tensors(net, width, batch)
    saved: dict[tuple, int] = {}
    fixed: set[tuple] = set()
    by_node = {node.name: 0 for node in net.nodes}
    for name, key, nbytes, per_sample in tensors:
        before = sum(saved.values())
        saved[key] = nbytes
        if not per_sample:
            fixed.add(key)
        by_node[name] += sum(saved.values()) - before
    back_peak, back_fixed = backward_peak(net, width, batch, needs_grad, split=True)
    training = Training(
        optimizer=optimizer, param_bytes=params * width, buffer_bytes=buffer_bytes,
        grad_bytes=trainable * width, optimizer_bytes=OPTIMIZER_STATES[optimizer] * trainable * width,
        saved_bytes=sum(saved.values()), backward_peak_bytes=back_peak,
        saved_fixed_bytes=sum(saved[k] for k in fixed), batch=batch,
        backward_fixed_bytes=back_fixed,
        step_bytes=STEP_TEMPORARIES[optimizer] * largest * width,
    )
    return Memory(params * width, buffer_bytes, peak, where, training, live_after, by_node,
                  policy, batch)


def activation_sizes(net: Network, width: int, batch: int) -> dict[str, int]:
    """Node (and the input) -> the bytes of its output at ``batch`` samples of ``width``."""
    size = {INPUT: math.prod(net.input_shape) * batch * width}
    for node in net.nodes:
        size[node.name] = math.prod(node.facts.out_shape) * batch * width
    return size


def saved_tensors(net: Network, width: int, batch: int, *, input_grad: bool = False,
                  frozen: bool = False) -> tuple[list[tuple[str, tuple, int, bool]], dict[str, bool]]:
    """The tensors a training step keeps for its backward pass, in the forward's order:
    (node, storage key, bytes, per sample) each, and whether each node's output needs a
    gradient. A layer whose inputs need no gradient keeps nothing for them, a frozen one
    nothing for its weights' gradients; ``("storage", name)`` is an activation's storage as
    a training-mode forward lays it out (one key however many layers keep it; a saved view
    keeps its whole base), ``("own", node, what)`` a tensor of the layer's own
    (:class:`cnncalc.layers.base.Saved`). ``input_grad``: the network input needs a
    gradient; ``frozen``: no parameter does (as the measurements of a frozen network)."""
    owner = storage_owner(net, train=True)
    size = activation_sizes(net, width, batch)
    needs_grad = {INPUT: input_grad}
    found = []
    for node in net.nodes:
        facts = node.facts
        weights = node.trainable and facts.param_count > 0 and not frozen
        inputs = any(needs_grad[i] for i in node.inputs)
        needs_grad[node.name] = inputs or weights
        for s in facts.saved:
            if not (weights if s.for_weight else (inputs or weights)):
                continue
            if s.what.startswith("input") and s.what[5:].isdigit():
                # a saved view keeps its whole base storage alive
                storage = owner[node.inputs[int(s.what[5:])]]
                found.append((node.name, ("storage", storage), size[storage], True))
            elif s.what == "output":
                found.append((node.name, ("storage", owner[node.name]), size[owner[node.name]], True))
            else:
                found.append((node.name, ("own", node.name, s.what), _bytes(s, batch, width),
                              s.per_sample))
    return found, needs_grad


def backward_peak(net: Network, width: int, batch: int, needs_grad: dict[str, bool],
                  extra=None, *, frozen: bool = False, split: bool = False):
    """The peak bytes PyTorch's autograd engine holds for activation gradients and the
    kernels' backward temporaries during one backward pass (eager, CPU; docs/conventions.md,
    "Memory"). The output's gradient is counted from the start (the caller's, held
    through the pass, as ``out.backward(g)`` holds ``g``); the engine runs the nodes in
    reverse creation order (engine.cpp: the ready queue by sequence number), which is the
    spec's order reversed. Each node's call holds its output's gradient and allocates the
    phases of :meth:`cnncalc.layers.base.Layer.eager_backward`; it returns a new gradient,
    the output's gradient itself ("same") or a view of it ("view") to each input that needs
    one (:meth:`~cnncalc.layers.base.Layer.grad_passes`), and drops its output's gradient.
    A tensor with several consumers sums them in its InputBuffer
    (torch/csrc/autograd/input_buffer.cpp, accumulate): in place when the gradient it holds
    is a dense tensor (not a view) that nothing else references, else ``old + new``, a new
    tensor, after which both are dropped. A view keeps its whole base storage alive. The
    parameters' gradients a call returns are added into ``.grad`` by AccumulateGrad and
    freed once the call's outputs are dispatched; the network input's gradient is kept.
    ``needs_grad``: node (and the input) -> whether its output needs a gradient
    (:func:`saved_tensors`); ``frozen``: no parameter needs a gradient; ``extra(node)``:
    bytes live beside them while that node's backward runs (activation checkpointing's
    recomputed tensors), if given. Returns the peak, or with ``split`` (peak, the part of
    it that does not grow with the batch: the weight copies and weight gradients of the
    moment of the peak)."""
    size = activation_sizes(net, width, batch)
    storage: dict[int, int] = {}  # storage -> bytes
    fixed: dict[int, int] = {}  # storage -> bytes if it does not grow with the batch
    tensors: dict[int, list] = {}  # tensor -> [storage, references, is a view]
    users: dict[int, int] = {}  # storage -> tensors on it
    counter = iter(range(1 << 62))

    def new(nbytes: int, per_sample: bool = True) -> int:
        t, st = next(counter), next(counter)
        storage[st], users[st], tensors[t] = nbytes, 1, [st, 1, False]
        fixed[st] = 0 if per_sample else nbytes
        return t

    def view(t: int) -> int:
        v, st = next(counter), tensors[t][0]
        users[st] += 1
        tensors[v] = [st, 1, True]
        return v

    def drop(t: int) -> None:
        tensors[t][1] -= 1
        if tensors[t][1] == 0:
            st = tensors.pop(t)[0]
            users[st] -= 1
            if users[st] == 0:
                del storage[st], users[st], fixed[st]

    buffer: dict[str, int] = {}
    for name in net.outputs:
        if needs_grad.get(name):
            buffer[name] = new(size[name])
            tensors[buffer[name]][1] += 1  # the caller's reference
    peak, peak_fixed = sum(storage.values()), 0

    def moment(running: int = 0, running_fixed: int = 0) -> None:
        nonlocal peak, peak_fixed
        now = sum(storage.values()) + running
        if now > peak:
            peak, peak_fixed = now, sum(fixed.values()) + running_fixed

    for node in reversed(net.nodes):
        if node.name not in buffer:
            continue
        grad = buffer.pop(node.name)
        layer = node.facts.layer
        wanted = tuple(needs_grad[i] for i in node.inputs)
        weights = node.trainable and node.facts.param_count > 0 and not frozen
        phases = layer.eager_backward(batch, wanted, weights)
        more = extra(node) if extra is not None else 0
        running = max(((sum(_bytes(t, batch, width) for t in phase),
                        sum(_bytes(t, batch, width) for t in phase if not t.per_sample))
                       for phase in phases), default=(0, 0))
        moment(more + running[0], running[1])
        passes = layer.grad_passes()
        returned = {i: (new(size[name]) if passes[i] == "new" else
                        view(grad) if passes[i] == "view" else grad)
                    for i, name in enumerate(node.inputs) if wanted[i]}
        for i, t in returned.items():
            if passes[i] == "same":
                tensors[t][1] += 1
        param_grads = [new(_bytes(t, batch, width), False) for t in (phases[-1] if phases else ())
                       if t.what.startswith("grad_") and not t.what.startswith("grad_input")]
        drop(grad)  # the call's inputs are released when it returns
        for i, t in returned.items():  # dispatched to the producers' buffers, in input order
            name = node.inputs[i]
            old = buffer.get(name)
            if old is None:
                buffer[name] = t
            elif not tensors[old][2] and tensors[old][1] == 1 and users[tensors[old][0]] == 1:
                drop(t)  # old.add_(new)
            else:  # old + new
                buffer[name] = new(size[name])
                moment(more)
                drop(old)
                drop(t)
        for t in param_grads:  # AccumulateGrad: .grad += it, then it is freed
            drop(t)
    return (peak, peak_fixed) if split else peak


def _bytes(t: Saved, batch: int, width: int) -> int:
    """Bytes of a declared tensor: its elements (times the batch if per sample) times its
    dtype's width (the activations' ``width`` when it has none of its own)."""
    per = width if t.dtype is None else SAVED_DTYPE_BYTES[t.dtype]
    return math.prod(t.shape) * (batch if t.per_sample else 1) * per
