"""Plain data a layer class hands to the file writers and takes from the readers.

A layer type declares in its own class how it is written as ONNX and as PyTorch
source, and how an ONNX op becomes its parameters (docs/onnx.md, "One place per
layer type"). The layers neither import ``onnx`` (an optional extra) nor anything of
:mod:`cnncalc.io`: they describe nodes, initializers and source text with the records
below, and :mod:`cnncalc.io.onnx_map` / :mod:`cnncalc.io.torch_map` turn them into
protobufs and files.

- :class:`Init`: an initializer, either one of the layer's own tensors (by its key in
  ``param_shapes``/``buffer_shapes``, PyTorch's layout) or constant values.
- :class:`OnnxNode`: one ONNX node: op type, inputs (tensor names or :class:`Init`),
  output tensor name, node name, attributes (ints, floats, strings and their lists).
- :class:`OnnxCall`: what the writer tells a layer: its node name, input and output
  tensor names and the batch size, with helpers that build the records.
- :class:`TorchCall`, :class:`TorchCode`: a layer's inputs in the PyTorch source, and the ``forward`` expression of a layer, and the ``torch.nn``
  constructor registered at the layer's name when it has state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Init:
    """An ONNX initializer described without NumPy or protobuf.

    Either ``key`` names a tensor of the layer (``weight``, ``running_mean``; its values
    are the weights the writer is given, under ``"<node>.<key>"``), written ``transpose``d
    (a 2-D weight as W^T) or reshaped to ``shape``; or ``values`` (flat, row-major) of
    ``dtype`` (``float32`` or ``int64``) make a constant of ``shape`` (``()``: a scalar).
    ``shape`` is always the initializer's shape as written.
    """

    name: str
    shape: Shape
    key: str | None = None
    transpose: bool = False
    values: tuple | None = None
    dtype: str = "float32"


@dataclass(frozen=True)
class OnnxNode:
    """One ONNX node (onnx/docs/Operators.md): ``op`` of the default domain, ``inputs``
    in the op's order (a tensor name, an :class:`Init`, or "" for an omitted optional
    input), one ``output`` tensor, the node's ``name`` and its ``attrs``."""

    op: str
    inputs: tuple[str | Init, ...]
    output: str
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class OnnxCall:
    """A layer's place in the ONNX graph being written, and builders for its records.

    ``name``: the cnncalc node name (also its output tensor, ``out``); ``ins``: the
    tensor names of its inputs; ``batch``: the network's batch size (ONNX shapes are
    batch first). ``params``/``buffers``: the layer's tensor shapes (Facts), which
    :meth:`weight` reads for initializers written without values.
    """

    name: str
    ins: list[str]
    out: str
    batch: int
    params: dict[str, Shape] = field(default_factory=dict)
    buffers: dict[str, Shape] = field(default_factory=dict)

    def node(self, op: str, inputs: list, output: str | None = None, name: str | None = None,
             **attrs: Any) -> OnnxNode:
        """A node; ``output`` and ``name`` default to the layer's own (its last node)."""
        return OnnxNode(op, tuple(inputs), self.out if output is None else output,
                        self.name if name is None else name, attrs)

    def weight(self, key: str, transpose: bool = False, shape: Shape | None = None) -> Init:
        """The layer's tensor ``key`` as the initializer ``<node>.<key>`` (``_t`` appended when
        transposed). A tensor that is the layer itself (key ``""``, weight key ``<node>``) is
        ``<node>.value``: the layer's output tensor already has the node's name."""
        dims = tuple(self.params.get(key) or self.buffers[key])
        if transpose:
            dims = tuple(reversed(dims))
        return Init(f"{self.name}.{key or 'value'}" + ("_t" if transpose else ""),
                    dims if shape is None else tuple(shape), key=key, transpose=transpose)

    @staticmethod
    def ints(name: str, values) -> Init:
        """A 1-D int64 constant (ONNX's shape, pads and index inputs)."""
        values = tuple(int(v) for v in values)
        return Init(name, (len(values),), values=values, dtype="int64")

    @staticmethod
    def floats(name: str, values, shape: Shape | None = None) -> Init:
        """A float32 constant: a scalar from a number, 1-D from a list, else of ``shape``."""
        if isinstance(values, (int, float)):
            return Init(name, (), values=(float(values),))
        values = tuple(float(v) for v in values)
        return Init(name, (len(values),) if shape is None else tuple(shape), values=values)


@dataclass(frozen=True)
class TorchCall:
    """A layer's place in the PyTorch source being written: its cnncalc node ``name``,
    its inputs' variable names ``ins``, ``module``, the reference (``self.conv1``)
    its registered ``torch.nn`` module will have if it has one, and ``form``, how the
    upstream PyTorch forward writes it (the spec's ``torch:`` key; ``""`` its module)."""

    name: str
    ins: list[str]
    module: str
    form: str = ""


@dataclass(frozen=True)
class TorchCode:
    """A layer in the PyTorch source: ``expr`` computes its output from its inputs' variable
    names (it calls the module as the reference the writer gave, when ``module`` is set);
    ``module``: the ``torch.nn`` constructor registered at the layer's name; ``helper``:
    (class name, source lines) of a module class the file must define first."""

    expr: str
    module: str | None = None
    helper: tuple[str, tuple[str, ...]] | None = None


def ax(values) -> Any:
    """A per-axis value as PyTorch and the specs write it: a scalar when every axis agrees."""
    values = list(values)
    return values[0] if len(set(values)) == 1 else tuple(values)


def torch_args(*positional: Any, keep: tuple[str, ...] = (), **named: Any) -> str:
    """Constructor arguments without torch.nn's defaults (:data:`TORCH_DEFAULTS`), unless
    named in ``keep``; None values are left out."""
    parts = [repr(v) for v in positional]
    parts += [f"{k}={v!r}" for k, v in named.items()
              if v is not None and not (k not in keep and k in TORCH_DEFAULTS and v == TORCH_DEFAULTS[k]
                                        and type(v) is type(TORCH_DEFAULTS[k]))]
    return ", ".join(parts)


# torch.nn's defaults (docs of torch.nn.Conv2d, BatchNorm2d, MaxPool2d, AvgPool2d), left out
TORCH_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True,
                  "output_padding": 0, "eps": 1e-5, "momentum": 0.1, "affine": True,
                  "track_running_stats": True, "ceil_mode": False, "count_include_pad": True}


def torch_pad(pairs) -> tuple:
    """F.pad's order: the last axis first, (before, after) each."""
    out: list[int] = []
    for b, a in reversed(list(pairs)):
        out += [b, a]
    return tuple(out)


def symmetric(pairs) -> Any:
    """Symmetric padding per axis as PyTorch writes it, or None when some axis pads unequally."""
    if any(b != a for b, a in pairs):
        return None
    return ax([b for b, _ in pairs])


def onnx_pads(pairs) -> list[int]:
    """ONNX's ``pads``: every axis's start, then every axis's end."""
    return [b for b, _ in pairs] + [a for _, a in pairs]


def onnx_axes(values) -> Any:
    """A per-axis value read from ONNX as a spec writes it: a scalar when every axis agrees."""
    values = [int(v) for v in values]
    return values[0] if len(set(values)) == 1 else values


def onnx_pairs(pairs) -> Any:
    """(before, after) pairs as written in specs: int | per-axis list | [b, a] pairs."""
    pairs = [(int(b), int(a)) for b, a in pairs]
    if all(b == a for b, a in pairs):
        return onnx_axes([b for b, _ in pairs])
    return [[b, a] for b, a in pairs]


def f32(value: float) -> float:
    """A float32 attribute read back as the decimal it was written as (1e-5 is stored as
    9.99999974e-06): six significant digits."""
    return float(f"{value:.6g}")
