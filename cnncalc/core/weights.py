"""The seeded weights of a network, as ``cnncalc run``, ``verify`` and ``export`` draw them.

One convention, shared by the executor (:mod:`cnncalc.measure.execute`) and the ONNX
writer (:mod:`cnncalc.io.onnx_export`) so that an exported model computes what
``cnncalc.run(net, x, seed=...)`` computes: every tensor of ``param_shapes`` and
``buffer_shapes`` in PyTorch's layout, drawn from (seed, node name, tensor name) only.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from cnncalc.core.errors import SpecError, suggestion
from cnncalc.core.graph import Network, tensor_key

IGNORED_KEYS = ("num_batches_tracked",)  # PyTorch's step counter: no state of the function


def tensor_shapes(net: Network) -> dict[str, tuple[int, ...]]:
    """Every learnable tensor and buffer as ``"<node>.<name>" -> shape`` (after setup)."""
    shapes = {}
    for node in net.nodes:
        for key, shape in {**node.facts.params, **node.facts.buffers}.items():
            shapes[tensor_key(node.name, key)] = tuple(shape)
    return shapes


def _bounds(key: str, shape: tuple[int, ...], weight: tuple[int, ...] | None,
            positive: bool) -> tuple[float, float]:
    """The range of a drawn tensor (see :func:`init_weights`)."""
    if positive:
        return 0.5, 1.5
    weight = weight or ()
    if (key == "weight" and len(shape) >= 2) or (key == "bias" and len(weight) >= 2):
        fan_in = math.prod((shape if key == "weight" else weight)[1:])
        return -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in)
    if key in ("weight", "running_var"):
        return 0.5, 1.5
    return -0.1, 0.1


def draw(seed: int, node: str, key: str, shape: tuple[int, ...], dtype=np.float32,
         weight: tuple[int, ...] | None = None, positive: bool = False) -> np.ndarray:
    """One seeded tensor, a function of (seed, node name, tensor name, shape) only: the
    same tensor whichever other tensors the network has or in which order they are drawn.
    ``weight`` is the shape of the node's ``weight`` (a bias's range follows its fan-in)."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{node}.{key}".encode())])
    low, high = _bounds(key, tuple(shape), weight, positive)
    value = rng.random(shape, dtype=np.float32)  # float32 draws: 5x faster than float64
    return (low + (high - low) * value).astype(dtype, copy=False)


def init_weights(net: Network, seed: int = 0, dtype=np.float32,
                 positive: bool = False) -> dict[str, np.ndarray]:
    """Seeded weights in PyTorch's layouts, for every tensor the analysis lists.

    Weights of rank >= 2 and their biases: U(-b, b), b = 1/sqrt(fan_in), PyTorch's
    default bound; per-channel scales (batch-norm weight, PReLU) U(0.5, 1.5) and
    running_var U(0.5, 1.5); shifts and running_mean U(-0.1, 0.1). With
    ``positive``, everything is U(0.5, 1.5), so that no gradient can cancel
    (receptive-field probes). A buffer that is a function of the geometry (a relative
    position index, int64) is that function's value, never drawn
    (``Layer.computed_buffers``). Each tensor depends only on (seed, node, name): a
    forward pass that draws the tensors its layers ask for (:func:`forward`) draws
    exactly these.
    """
    out = {}
    for node in net.nodes:
        shapes = {**node.facts.params, **node.facts.buffers}
        weight = shapes.get("weight")
        computed = node.facts.layer.computed_buffers()
        for key, shape in shapes.items():
            out[tensor_key(node.name, key)] = computed[key] if key in computed else \
                draw(seed, node.name, key, tuple(shape), dtype, weight, positive)
    return out


def torch_shapes(net: Network) -> dict[str, tuple[int, ...]]:
    """Weight key -> shape, for the tensors whose PyTorch module (the node's ``torch:``
    form) holds them in another shape than cnncalc's: the same elements in the same order
    (a 1x1 convolution written as nn.Linear: (out, in), not (out, in, 1, 1))."""
    return {tensor_key(node.name, key): shape for node in net.nodes if node.torch_form
            for key, shape in node.facts.layer.torch_tensor_shapes(node.torch_form).items()}


def torch_layout(net: Network, weights: dict) -> dict:
    """``weights`` (weight key -> array, cnncalc's layouts) in the layouts of the module
    ``export --to pytorch`` writes, ready for its ``load_state_dict``: only the tensors of
    :func:`torch_shapes` are reshaped (no copy of their elements)."""
    shapes = torch_shapes(net)
    return {k: v.reshape(shapes[k]) if k in shapes else v for k, v in weights.items()}


def check_weights(net: Network, weights: dict | None, seed: int = 0, dtype=np.float32) -> dict[str, np.ndarray]:
    """The given tensors (written in the spec, then ``weights``), checked against the
    network's tensor names and shapes before anything runs, in ``dtype``. Tensors not
    given are drawn by the forward pass, of the shape its layers ask for.

    A tensor may also come in the layout of the layer's PyTorch form (a spec's ``torch:``
    key: a 1x1 convolution written as nn.Linear gives its weight as (out, in)); it is
    reshaped to cnncalc's, element for element.

    Raises:
        SpecError: a name no node has (with the closest one), or a wrong shape,
            naming the node.
    """
    expected = tensor_shapes(net)
    pytorch = torch_shapes(net)  # PyTorch's layout, where the node's torch: form differs
    full = {}
    inline = {tensor_key(node.name, key): value for node in net.nodes if node.inline_weights
              for key, value in node.inline_weights["values"].items()}
    for key, value in {**inline, **(weights or {})}.items():
        if key.rsplit(".", 1)[-1] in IGNORED_KEYS:
            continue
        if key not in expected:
            raise SpecError(f"weights: no tensor '{key}' in this network", kind="weights",
                            help=suggestion(key, expected, "tensor names"))
        array = np.asarray(value)
        if key in pytorch and tuple(array.shape) == pytorch[key]:
            array = array.reshape(expected[key])  # the same elements in the same order
        if tuple(array.shape) != expected[key]:
            node = key.rsplit(".", 1)[0]
            raise SpecError(
                f"weights: '{key}' has shape {list(array.shape)}, but node '{node}' needs "
                f"{list(expected[key])}", kind="weights", help=LAYOUT_HELP)
        full[key] = array.astype(dtype)
    return full


LAYOUT_HELP = ("weights use PyTorch's layouts: conv (out, in/groups, *k), "
               "conv_transpose (in, out/groups, *k), linear (out, in)")
