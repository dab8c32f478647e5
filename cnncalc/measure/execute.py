"""The NumPy executor: forward and backward passes over a loaded network.

``run`` computes every node's output for a batch-first input (N, C, *spatial);
weights use PyTorch's names and layouts (``"conv1.weight"`` of shape
(out, in/groups, *k)), so a PyTorch ``state_dict`` exported with NumPy loads
directly. ``backward`` propagates gradients in reverse topological order with
each layer's own backward; ``cnncalc.measure.verify`` builds on both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnncalc.core.errors import SpecError
from cnncalc.core.graph import INPUT, Network, Node, split_key, tensor_key
from cnncalc.core.kernels import Context
from cnncalc.core.weights import (  # noqa: F401 (init_weights: the executor's API, as before)
    LAYOUT_HELP,
    check_weights,
    draw,
    init_weights,
    tensor_shapes,
)

DEFAULT_MAX_MEMORY = 2 * 1024 ** 3
# NumPy's floating-point warnings, off where the executor computes: the values of a deep random
# network can overflow to inf (docs/executor.md), while every counted figure is exact integers
QUIET = {"over": "ignore", "under": "ignore", "invalid": "ignore", "divide": "ignore"}


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise SpecError(f"dtype {dtype} is not supported", kind="usage",
                        help="run in float32 (default) or float64")
    return dtype


def executor_layers(net: Network) -> dict[str, Any]:
    """The executor's own layer instances, one per node, built from the layer's class and
    its parsed parameters only: never the analyzer's objects nor their Facts. Every size a
    pass needs (padding, crops, slices, output sizes) is derived from the arrays it is
    given and the executor's own window mechanics (cnncalc.core.kernels); docs/executor.md,
    "The boundary"."""
    return {node.name: executor_layer(node) for node in net.nodes}


def executor_layer(node) -> Any:
    """One node's executor instance: its layer's class on its parsed parameters."""
    return node.layer.parsed_copy(input_names=node.inputs)


def node_weights(weights: dict[str, np.ndarray], name: str,
                 names=None) -> dict[str, np.ndarray]:
    """The tensors of one node, ``"<node>.<key>" -> array`` as ``key -> array``.

    Scans every key: for one node. A pass over every node indexes once
    (:func:`index_weights`), which keeps a run linear in the number of nodes. ``names``:
    the network's node names (see :func:`index_weights`).
    """
    return index_weights(weights, names).get(name, {})


def index_weights(weights: dict[str, np.ndarray], names=None) -> dict[str, dict[str, np.ndarray]]:
    """``"<node>.<key>" -> array`` grouped by node: node -> {key -> array}, in one pass.

    A node name may itself contain dots (``layer1.0.conv1``), and so may a tensor key
    (``self_attention.out_proj.weight``). Given the network's node ``names``, a key
    belongs to its longest prefix that is a node (:func:`cnncalc.core.graph.split_key`;
    the key equal to a node's name is that node's tensor ``""``); without them the
    tensor key is what follows the last dot. A forward or backward pass looks a node's
    tensors up here instead of scanning every key per node, which made a run quadratic in
    depth (issue 20: 58% of ResNet-101's ``verify``).
    """
    index: dict[str, dict[str, np.ndarray]] = {}
    for key, value in weights.items():
        if names is not None:
            found = split_key(key, names)
            if found is not None:
                index.setdefault(found[0], {})[found[1]] = value
            continue
        node, _, name = key.rpartition(".")
        if node:
            index.setdefault(node, {})[name] = value
    return index


@dataclass
class MemoryEstimate:
    """Peak bytes of a run: weights + the largest (live outputs + one layer's work)."""

    peak_bytes: int
    weight_bytes: int
    layer: str  # the layer at which the peak occurs


def estimate_memory(net: Network, batch: int, itemsize: int, keep: str = "all") -> MemoryEstimate:
    """Estimate peak memory before running (no allocation).

    ``keep="all"`` keeps every node's output (what ``run`` returns); ``"outputs"``
    frees an output once its last consumer has run. A layer's work space is
    its largest temporary (the im2col columns of a convolution).
    """
    weight_bytes = sum(math.prod(s) for s in tensor_shapes(net).values()) * itemsize
    last_use: dict[str, int] = {}
    for i, node in enumerate(net.nodes):
        for name in node.inputs + node.refs:
            last_use[name] = i
    sizes = {INPUT: math.prod(net.input_shape) * batch * itemsize}
    live = {INPUT: sizes[INPUT]}
    peak, where = 0, net.nodes[0].name
    for i, node in enumerate(net.nodes):
        out = math.prod(node.facts.out_shape) * batch * itemsize
        work = node.facts.layer.workspace() * batch * itemsize
        total = sum(live.values()) + out + work
        if total > peak:
            peak, where = total, node.name
        live[node.name] = sizes[node.name] = out
        if keep != "all":
            for name in node.inputs + node.refs:
                if last_use.get(name) == i and name not in net.outputs:
                    live.pop(name, None)
    return MemoryEstimate(peak + weight_bytes, weight_bytes, where)


def guard_memory(net: Network, batch: int, itemsize: int, keep: str = "all",
                 max_memory: int | None = DEFAULT_MAX_MEMORY) -> None:
    """Refuse, before anything is allocated, a run whose estimated peak exceeds ``max_memory``.

    Raises:
        SpecError: with the estimate and the layer where the peak occurs.
    """
    if max_memory is None:
        return
    est = estimate_memory(net, batch, itemsize, keep)
    if est.peak_bytes > max_memory:
        raise SpecError(
            f"running this network needs about {est.peak_bytes:,} bytes (peak at layer "
            f"'{est.layer}'), more than the limit of {max_memory:,}", kind="limit",
            help="use a smaller input or batch, keep fewer outputs, or raise --max-memory",
        )


@dataclass
class Execution:
    """What a forward pass produced and measured, per node: the MACs counted from
    the contractions run, the elements of the learnable tensors and of the buffers
    its layer took (each of the shape the layer asked for), and every tensor used
    (``"<node>.<name>"``: given or drawn)."""

    values: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    macs: dict[str, int] = field(default_factory=dict)
    params_read: dict[str, int] = field(default_factory=dict)
    buffers_read: dict[str, int] = field(default_factory=dict)
    shapes_read: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    seed: int = 0  # tensors not given were drawn from it
    probe: bool = False
    layers: dict[str, Any] = field(default_factory=dict)  # the executor's own instances


class _Recorder:
    """A node's tensors, allocated as its layer asks for them.

    ``take(name, shape)`` returns the given tensor of that name (weights the user
    gave, or written in the spec) after checking its shape, or draws a seeded one
    of exactly the requested shape (:func:`draw`). What the layer took is what
    ``verify`` counts: parameters and buffers are measured from the requests,
    not from the analysis.
    """

    def __init__(self, node: str, given: dict[str, np.ndarray], seed: int, dtype,
                 positive: bool = False) -> None:
        self.node, self.given, self.seed, self.dtype = node, given, seed, dtype
        self.positive = positive
        self.tensors: dict[str, np.ndarray] = {}
        self.buffers: set[str] = set()

    def take(self, key: str, shape, buffer: bool = False, value: np.ndarray | None = None) -> np.ndarray:
        """The tensor ``key`` of the shape the layer's pass derived from its input
        arrays and parameters (never from the analysis); ``buffer``: non-learnable
        state (running statistics), counted as a buffer; ``value``: a tensor the layer
        computes itself (a relative position index), used when none is given, never drawn.

        Raises:
            SpecError: a given tensor of another shape, naming the node.
        """
        shape = tuple(int(v) for v in shape)
        tensor = self.tensors.get(key)
        if tensor is None:
            tensor = self.given.get(key, value)
            if tensor is None:
                weight = self.tensors.get("weight", self.given.get("weight"))
                tensor = draw(self.seed, self.node, key, shape, self.dtype,
                              None if weight is None else tuple(weight.shape), self.positive)
        if tuple(tensor.shape) != shape:
            raise SpecError(
                f"weights: '{tensor_key(self.node, key)}' has shape {list(tensor.shape)}, but node "
                f"'{self.node}' needs {list(shape)}", kind="weights", help=LAYOUT_HELP)
        self.tensors[key] = tensor
        if buffer:
            self.buffers.add(key)
        return tensor

    def __getitem__(self, key: str) -> np.ndarray:
        """A tensor already taken (or given)."""
        return self.tensors[key] if key in self.tensors else self.given[key]

    def __contains__(self, key: str) -> bool:
        return key in self.tensors or key in self.given

    def counts(self) -> tuple[int, int]:
        """(parameter elements, buffer elements) taken."""
        params = sum(t.size for k, t in self.tensors.items() if k not in self.buffers)
        return params, sum(self.tensors[k].size for k in self.buffers)


def _check_input(net: Network, x: np.ndarray) -> None:
    if x.ndim != len(net.input_shape) + 1 or tuple(x.shape[1:]) != tuple(net.input_shape):
        raise SpecError(
            f"the input has shape {list(x.shape)}, but the network takes "
            f"[N, {', '.join(map(str, net.input_shape))}] (batch first)", kind="usage",
            help="reshape the input, or load the spec with input_shape=... (--input on the command line)",
        )


def forward(net: Network, x: np.ndarray, weights: dict | None = None, seed: int = 0, *,
            dtype=None, keep: str = "all", max_memory: int | None = DEFAULT_MAX_MEMORY,
            progress: Callable[[int, int, str], None] | None = None,
            probe: bool = False, checked: bool = False,
            before: Callable[[Node, list[np.ndarray], list[np.ndarray]], None] | None = None) -> Execution:
    """Run the network; see :func:`run`. Returns the outputs, the weights used and
    the MACs each node executed. ``before(node, inputs, refs)``, if given, is called
    with the arrays a node is about to read, before its forward pass (verify's probes
    set each layer up on the shapes of the arrays the executor produced)."""
    if x is None:
        if net.input_values is None:
            raise SpecError("no input: give an array, or write input values in the spec",
                            kind="usage", help="input: {shape: [1, 5, 5], values: [[...]]}")
        x = np.asarray(net.input_values[0], dtype=np.float64)
        if x.ndim == len(net.input_shape):
            x = x[None]
        dtype = dtype or np.float64
    x = np.asarray(x)
    dtype = _float_dtype(dtype or (np.float64 if x.dtype == np.float64 else np.float32))
    _check_input(net, x)
    guard_memory(net, x.shape[0], dtype.itemsize, keep, max_memory)
    given = weights if checked else check_weights(net, weights, seed, dtype)
    values: dict[str, np.ndarray] = {INPUT: x.astype(dtype, copy=False)}
    remaining = {}
    for node in net.nodes:
        for name in node.inputs + node.refs:
            remaining[name] = remaining.get(name, 0) + 1
    run = Execution(values, {}, seed=seed, probe=probe, layers=executor_layers(net))
    by_node = index_weights(given or {}, {n.name for n in net.nodes})
    for i, node in enumerate(net.nodes):
        refs = [values[r] for r in node.refs]
        ctx = Context(probe=probe, refs=refs)
        tensors = _Recorder(node.name, by_node.get(node.name, {}), seed, dtype, positive=probe)
        xs = [values[n] for n in node.inputs]
        if before is not None:
            before(node, xs, refs)
        with np.errstate(**QUIET):  # deep random nets can overflow; the counted figures stay exact
            out = run.layers[node.name].forward(xs, tensors, ctx)
        values[node.name] = np.asarray(out, dtype=dtype)
        run.macs[node.name] = ctx.macs
        run.params_read[node.name], run.buffers_read[node.name] = tensors.counts()
        run.shapes_read[node.name] = {k: tuple(t.shape) for k, t in tensors.tensors.items()}
        for key, tensor in tensors.tensors.items():
            run.weights[tensor_key(node.name, key)] = tensor
        if keep != "all":
            for name in node.inputs + node.refs:
                remaining[name] -= 1
                if remaining[name] == 0 and name not in net.outputs and name != INPUT:
                    del values[name]
        if progress is not None:
            progress(i + 1, len(net.nodes), node.name)
    return run


def run(net: Network, x: np.ndarray | None = None, weights: dict | None = None, seed: int = 0, *,
        dtype=None, keep: str = "all", max_memory: int | None = DEFAULT_MAX_MEMORY,
        progress: Callable[[int, int, str], None] | None = None) -> dict[str, np.ndarray]:
    """Run a network forward (inference) on a batch.

    Args:
        net: from :func:`cnncalc.load`.
        x: input, batch first: (N, C, *spatial) matching the spec's input; float32
            (the default) or float64 (then the run is in float64). None: the values
            written in the spec (``input: {values: ...}``), run in float64.
        weights: optional ``"<node>.<param>" -> array`` in PyTorch's names and
            layouts (conv weight (out, in/groups, *k), conv_transpose (in,
            out/groups, *k), linear (out, in), batchnorm weight, bias,
            running_mean, running_var); they override tensors written in the
            spec (``weights:`` on a layer); the rest are drawn from ``seed``.
        dtype: float32 or float64 (default: float64 for a float64 input, else float32).
        keep: "all" returns every node's output; "outputs" frees intermediates
            and returns the network outputs (and the input).
        max_memory: refuse, before allocating, a run whose estimated peak is larger
            (bytes; None: no limit).
        progress: called as progress(done, total, node_name) after each node.

    Returns:
        node name -> output array (N, *output_shape); "input" is the input.

    Raises:
        SpecError: a wrong input shape, unknown or misshapen weights (naming the
            node), or an estimate above ``max_memory``.
    """
    return forward(net, x, weights, seed, dtype=dtype, keep=keep, max_memory=max_memory,
                   progress=progress).values


def backward(net: Network, run: Execution, seeds: dict[str, np.ndarray],
             probe: bool = False, outputs: bool = False) -> dict[str, np.ndarray]:
    """Reverse-mode gradients from output gradients ``seeds`` (node -> dLoss/dOutput).

    Returns ``"input"`` -> dLoss/dInput and ``"<node>.<param>"`` -> dLoss/dParam;
    with ``outputs``, also ``"<node>"`` -> dLoss/d(its output). With ``probe`` the
    layers propagate support (see kernels.Context).
    """
    grads: dict[str, np.ndarray] = {k: np.asarray(v) for k, v in seeds.items()}
    out: dict[str, np.ndarray] = {}
    by_node = index_weights(run.weights, {n.name for n in net.nodes})
    for node in reversed(net.nodes):
        ctx = Context(probe=probe, refs=[run.values[r] for r in node.refs])
        g = grads.pop(node.name, None)
        if g is None:
            continue
        if outputs:
            out[node.name] = g
        xs = [run.values[n] for n in node.inputs]
        gxs, gw = layer_backward(node, run, xs, run.values[node.name], g, ctx,
                                 by_node.get(node.name, {}))
        with np.errstate(**QUIET):
            for name, gx in zip(node.inputs, gxs):
                grads[name] = grads[name] + gx if name in grads else gx
        for key, value in gw.items():
            out[tensor_key(node.name, key)] = value
    out[INPUT] = grads.get(INPUT, np.zeros_like(run.values[INPUT]))
    return out


def layer_backward(node: Node, run: Execution, xs: list[np.ndarray], out: np.ndarray,
                   g: np.ndarray, ctx: Context, tensors: dict[str, np.ndarray] | None = None
                   ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """One node's backward pass: the gradients of its inputs ``xs`` (each (N, C_i,
    *spatial_i)) and of its tensors, from the gradient ``g`` of its output ``out``
    (N, C, *spatial); ``N`` may differ from the run's batch (verify seeds one unit
    set per row over the arrays of a one-sample run, repeated). The node's tensors are
    ``tensors`` (default: looked up in ``run.weights``), in the run's dtype."""
    if tensors is None:
        tensors = node_weights(run.weights, node.name, run.layers or None)
    w = _Recorder(node.name, tensors, run.seed, out.dtype, positive=run.probe)
    layer = run.layers.get(node.name) or executor_layer(node)
    with np.errstate(**QUIET):
        return layer.backward(xs, w, out, g, ctx)
