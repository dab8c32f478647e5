"""ONNX files <-> cnncalc networks: the generic machinery (docs/onnx.md).

Every layer class declares how it is written as ONNX (``to_onnx``: nodes as plain data)
and which ONNX ops it reads (``onnx_ops``, ``from_onnx``). This module owns what no
single class does: the graph walk, constant folding, the patterns of several ops
(GELU's erf chain, x·sigmoid(x), MatMul + Add, the channel shuffle, channels-last
layouts), the protobufs, and the readable spec's residuals and repeats. It names no
layer type: it asks the classes, keyed by ONNX op types.

:func:`translate` walks an ONNX graph in its (topological) node order and writes
one spec item per mapped op. Every output shape along the way is computed by the
layer classes themselves (``setup``), so a Shape op, SAME_LOWER padding or a
Reshape's target is resolved from cnncalc's own shapes, never from the shapes the
file records (those are only cross-checked, :func:`cnncalc.io.onnx_io.cross_check`).

Conventions of the ONNX operator specification (onnx/docs/Operators.md) that the
mapping relies on:

- tensors are batch first: (N, C, *spatial); cnncalc's shapes drop N.
- ``pads`` lists every axis's start, then every axis's end: [x1_b, x2_b, x1_e, x2_e].
- pooling ``strides`` default to 1 (PyTorch's to the kernel), so stride is always written.
- AveragePool ``count_include_pad`` defaults to 0 (PyTorch's to True).
- Conv weight (M, C/group, *k); ConvTranspose weight (C, M/group, *k), as in PyTorch.

The shape-computing chains of the TorchScript exporter (Shape, Gather, Unsqueeze,
Concat, Constant, ...) are evaluated on constants (:data:`FOLDABLE`) and vanish.
"""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass
from typing import Any

from cnncalc.core.errors import Loc, SpecError
from cnncalc.core.exchange import Init, OnnxCall, OnnxNode, onnx_pairs
from cnncalc.core.graph import tensor_key
from cnncalc.core.shapes import infer_shapes
from cnncalc.core.yamlio import flow_text as _flow  # one writer for the specs import writes
from cnncalc.io.onnx_proto import NP_TYPES, Imported, attr_value, to_array
from cnncalc.io.spec import STRUCTURES
from cnncalc.layers import REGISTRY
from cnncalc.layers.base import Layer, np  # np: NumPy, imported on first use

_LOC = Loc(1, 1)


@dataclass
class Act:
    """A tensor computed by the network: the cnncalc node producing it, its shape per
    sample (channels first), and its layout in the ONNX graph: "cf" (N, C, *spatial) or
    "cl" (N, *spatial, C), after a Transpose that moves the channels last."""

    node: str
    shape: tuple
    layout: str = "cf"


@dataclass
class Pending:
    """Part of an op chain that only its whole maps (GELU written as Div, Erf, Add, Mul,
    Mul): the step reached, the tensor x it started from, and the ONNX node of the step."""

    step: str
    x: Act
    node: Any
    value: float = 0.0  # the constant of the chain (softplus's beta)


@dataclass
class _Stored:
    """A small initializer whose values are read only if a node needs them."""

    proto: Any


@dataclass
class Weight:
    """An initializer whose values are not needed (or not stored: external data).
    ``external``: (location, offset, length) of its values in a file beside the model,
    for a small tensor a node may need (a Reshape target); None otherwise."""

    dims: tuple
    external: tuple | None = None
    name: str = ""


TYPE_NAMES = {1: "FLOAT", 2: "INT", 3: "STRING", 4: "TENSOR", 6: "FLOATS", 7: "INTS", 8: "STRINGS"}
# the attribute types of the ops cnncalc reads (onnx/docs/Operators.md)
ATTR_TYPES = {
    **dict.fromkeys(("pads", "strides", "dilations", "kernel_shape", "output_padding",
                     "output_shape", "perm", "starts", "ends"), 7),
    **dict.fromkeys(("group", "ceil_mode", "count_include_pad", "keepdims", "to", "blocksize",
                     "transA", "transB", "allowzero", "storage_order", "select_last_index",
                     "noop_with_empty_axes", "size", "start", "end", "num_outputs", "axis"), 2),
    "axes": 7,
    **dict.fromkeys(("alpha", "beta", "gamma", "epsilon", "momentum", "bias", "min", "max",
                     "value_float", "extrapolation_value", "cubic_coeff_a"), 1),
    **dict.fromkeys(("auto_pad", "mode", "coordinate_transformation_mode", "nearest_mode",
                     "approximate"), 3),
}


def _attrs(node) -> dict[str, Any]:
    return {a.name: attr_value(a) for a in node.attribute}


def _clean_name(name: str, op: str) -> str:
    """A cnncalc layer name from an ONNX node name: the module path of the TorchScript
    exporter ('/layer1/layer1.0/conv1/Conv' -> 'layer1_0_conv1'), or the name itself."""
    parts = [p for p in name.strip("/").split("/") if p]
    if len(parts) > 1 and re.sub(r"_\d+$", "", parts[-1]) == op:
        parts = parts[:-1]
    keep: list[str] = []
    for p in parts:
        if keep and p.startswith(keep[-1] + "."):
            keep[-1] = p
        else:
            keep.append(p)
    text = re.sub(r"[^A-Za-z0-9_\-]", "_", "_".join(keep)).strip("_")
    if text and not (text[0].isalpha() or text[0] == "_"):
        text = "n" + text
    return text


def _node_name(node) -> str:
    """The module path of the dynamo exporter's metadata (pkg.torch.onnx.name_scopes:
    ['', 'layer1', 'layer1.0', 'layer1.0.conv1', 'conv2d'] -> 'layer1_0_conv1'; a
    function at the top level keeps its own name: ['', 'add_9'] -> 'add_9'), else the
    node's name as the TorchScript exporter writes it."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            scopes = re.findall(r"'([^']*)'", prop.value)
            modules = [s for s in scopes[:-1] if s]
            text = modules[-1] if modules else (scopes[-1] if scopes else "")
            text = re.sub(r"[^A-Za-z0-9_\-]", "_", text).strip("_")
            if text:
                return text if text[0].isalpha() or text[0] == "_" else "n" + text
    return _clean_name(node.name, node.op_type)


def _folded_bn(node) -> bool:
    """The dynamo exporter's rewriter names the rules it applied to a node."""
    return any(p.key == "pkg.onnxscript.rewriter.rule_name" and "FuseBatchNorm" in p.value
               for p in node.metadata_props)


def supported_ops(table: dict) -> str:
    """The op types the reader maps, and those it evaluates on constants only (FOLDABLE),
    for the error that names an op it does not map."""
    ops = sorted(set(HANDLERS) | {op for op in table if op.isalnum()} | set(FOLDABLE))
    return ", ".join(ops) + " (the last group only on constants)"


# ops evaluated when every input is a constant (the exporters' shape arithmetic)
FOLDABLE = (
    "Constant", "Shape", "Size", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice",
    "Add", "Sub", "Mul", "Div", "Mod", "Pow", "Floor", "Ceil", "Sqrt", "Neg", "Abs", "Sign",
    "ConstantOfShape", "Range", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
    "Not", "And", "Or", "Where", "Expand", "Reshape", "Transpose", "Flatten", "Tile",
    "Identity", "ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin", "Min", "Max",
)
FOLD_LIMIT = 1 << 20  # elements a folded constant may have: shape arithmetic is small


class _Translator:
    def __init__(self, model, input_shape=None, folder: str | None = None) -> None:
        self.model = model
        self.folder = folder  # the model's folder, where external data lives
        self.graph = model.graph
        self.t: dict[str, Any] = {}  # tensor name -> Act | Weight | numpy array (constant)
        self.items: list[dict] = []
        self.by_name: dict[str, dict] = {}
        self.shape_of: dict[str, tuple] = {}
        self.onnx_of: dict[str, str] = {}  # cnncalc name -> ONNX node label
        self.last_tensor: dict[str, str] = {}
        self.used: set[str] = {"input"}
        self.counts: dict[str, int] = {}
        self.consumers: dict[str, int] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers[name] = self.consumers.get(name, 0) + 1
        for out in self.graph.output:
            self.consumers[out.name] = self.consumers.get(out.name, 0) + 1
        self.producer = {o: n for n in self.graph.node for o in n.output}
        self.readers: dict[str, list] = {}  # tensor -> the nodes that read it, in order
        for node in self.graph.node:
            for name in dict.fromkeys(node.input):
                self.readers.setdefault(name, []).append(node)
        self.input_override = input_shape
        self.notes: list[str] = []
        self.bn_count = 0
        self.biased_convs: list[int] = []  # output channels of each Conv with a bias
        self.marked_folds: list[tuple[int, bool]] = []  # (channels, has a bias) per folded Conv
        self.claims = claims()
        self.op_of: dict[str, str] = {}  # cnncalc name -> the ONNX op (or pattern) it came from
        self.class_of: dict[str, type[Layer]] = {}
        self.pending_bias: dict[str, tuple] = {}  # MatMul layers an Add may give a bias

    # -- the graph's input and initializers ---------------------------------------

    def read_inputs(self) -> None:
        inits = {i.name for i in self.graph.initializer}
        for init in self.graph.initializer:
            if any(d < 0 for d in init.dims):
                raise SpecError(f"initializer '{init.name}' has a negative size {list(init.dims)}",
                                kind="onnx", help="the file is damaged: export the model again")
            external = init.data_location == 1 or (
                not init.raw_data and not any((init.float_data, init.int64_data, init.int32_data,
                                               init.double_data)) and math.prod(init.dims) > 0)
            where = _external_place(init) if init.data_location == 1 else None
            if external or math.prod(init.dims) > 4096:
                self.t[init.name] = Weight(tuple(init.dims), where, init.name)
            else:
                self.t[init.name] = _Stored(init)  # read with NumPy if a node needs its values
        data = [i for i in self.graph.input if i.name not in inits]
        if len(data) != 1:
            raise SpecError(
                f"the model has {len(data)} data inputs ({', '.join(i.name for i in data)}); "
                "cnncalc reads networks with one image-like input",
                kind="onnx", help="export the model with a single input tensor (N, C, *spatial)",
            )
        x = data[0]
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in x.type.tensor_type.shape.dim]
        if not 3 <= len(dims) <= 5:
            raise SpecError(
                f"input '{x.name}' has rank {len(dims)}; cnncalc reads (N, C, L), (N, C, H, W) "
                "or (N, C, D, H, W)", kind="onnx",
                help="export with a batch-first, channels-first input",
            )
        per_sample = dims[1:]
        if self.input_override is not None:
            if len(self.input_override) != len(per_sample):
                raise SpecError(
                    f"--input has rank {len(self.input_override)} but the model's input "
                    f"{x.name} has rank {len(per_sample)} (without batch)", kind="value",
                    help="give channels and every spatial axis, e.g. 3x224x224")
            per_sample = list(self.input_override)
        if any(d is None or d < 1 for d in per_sample):
            raise SpecError(
                f"input '{x.name}' has symbolic sizes {['?' if d is None else d for d in dims]}",
                kind="onnx", help="give the size: --input 3x224x224",
            )
        recorded = {p.key: p.value for p in self.model.metadata_props}.get("cnncalc.batch", "")
        # a symbolic batch counts as 1, or as the batch cnncalc's export says its figures were for
        self.batch = dims[0] if dims[0] else (int(recorded) if recorded.isdigit() and
                                              0 < int(recorded) <= 1 << 20 else 1)
        self.input_name = x.name
        self.ndim = len(per_sample) - 1
        self.input_shape = tuple(int(d) for d in per_sample)
        self.t[x.name] = Act("input", self.input_shape)
        self.shape_of["input"] = self.input_shape

    # -- helpers ------------------------------------------------------------------

    def label(self, node) -> str:
        return f"{node.name or '(unnamed)'}' ({node.op_type}"

    def fail(self, node, message: str, help: str | None = None) -> SpecError:
        return SpecError(f"ONNX node '{self.label(node)}): {message}", kind="onnx", help=help)

    def get(self, node, i: int):
        if i >= len(node.input) or not node.input[i]:
            return None
        name = node.input[i]
        if name not in self.t:
            raise self.fail(node, f"input '{name}' is not produced by any node before it",
                            help="the graph must be in topological order (onnx.checker.check_model)")
        value = self.t[name]
        if isinstance(value, _Stored):
            try:
                value = self.t[name] = to_array(value.proto)
            except ValueError as exc:
                raise self.fail(node, str(exc)) from None
        return value

    def external_values(self, node, weight: Weight):
        """The values of a small initializer stored in a data file beside the model, or
        None when that file is absent (a stripped model) or the tensor is large."""
        if weight.external is None or self.folder is None or math.prod(weight.dims) > 4096:
            return None
        location, offset, length = weight.external
        init = next(i for i in self.graph.initializer if i.name == weight.name)
        if init.data_type not in NP_TYPES:
            raise self.fail(node, f"tensor '{init.name}' has element type {init.data_type}")
        size = np.dtype(NP_TYPES[init.data_type]).itemsize * math.prod(weight.dims)
        if length is not None and length != size:
            raise self.fail(node, f"tensor '{init.name}': its external data has length {length}, "
                                  f"its shape {list(weight.dims)} needs {size} bytes")
        path = os.path.join(self.folder, location)
        root = os.path.realpath(self.folder)
        if os.path.commonpath([root, os.path.realpath(path)]) != root:  # a symbolic link out
            raise self.fail(node, f"tensor '{init.name}': its external data '{location}' leads "
                                  "outside the model's folder (a symbolic link)",
                            help="external data must live beside the model")
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                raw = f.read(size)
        except OSError:
            return None  # absent: the caller falls back to the shapes the file records
        if len(raw) != size:
            raise self.fail(node, f"tensor '{init.name}': its external data file '{location}' "
                                  f"ends before its {size} bytes (offset {offset})",
                            help="the data file is truncated: export the model again")
        return np.frombuffer(raw, dtype=NP_TYPES[init.data_type]).reshape(weight.dims).copy()

    def recorded_shape(self, tensor: str) -> tuple | None:
        """The full shape (batch first) the file records for ``tensor`` (value_info or a
        graph output), a symbolic batch as this network's; None if not recorded or symbolic."""
        for vi in list(self.graph.value_info) + list(self.graph.output):
            if vi.name != tensor or not vi.type.tensor_type.HasField("shape"):
                continue
            dims = [d.dim_value if d.HasField("dim_value") else None
                    for d in vi.type.tensor_type.shape.dim]
            if dims and dims[0] is None:
                dims[0] = self.batch
            if dims and all(d is not None and d > 0 for d in dims):
                return tuple(dims)
        return None

    def act(self, node, i: int = 0, layouts: tuple[str, ...] = ("cf",)) -> Act:
        value = self.get(node, i)
        if isinstance(value, Pending):
            raise self.fail(value.node, f"{value.node.op_type} of a computed tensor and a constant "
                                        "has no cnncalc equivalent (outside the GELU chain "
                                        "x·0.5·(1 + erf(x/√2)))")
        if not isinstance(value, Act):
            raise self.fail(node, f"input {i} ('{node.input[i]}') must be computed from the "
                                  "network's input, but it is a stored tensor")
        if value.layout not in layouts:
            raise self.channels_last(node)
        return value

    def channels_last(self, node) -> SpecError:
        """The error for an op cnncalc maps only with the channels first."""
        return self.fail(node, "its input has the channels last (after a Transpose); cnncalc "
                                  "maps elementwise ops, LayerNormalization over the channels and "
                                  "MatMul (a 1x1 convolution) there, until a Transpose moves the "
                                  "channels back")

    def const(self, node, i: int, what: str):
        value = self.get(node, i)
        if value is None:
            return None
        if isinstance(value, Act):
            raise self.fail(node, f"{what} (input {i}) is computed at run time; cnncalc needs it "
                                  "constant", help="export with fixed sizes (do_constant_folding=True)")
        if isinstance(value, Weight):
            values = self.external_values(node, value)
            if values is None:
                raise self.fail(node, f"{what} (input {i}) is a stored tensor whose values are not "
                                      "in the file", help="keep the model's external data file beside it")
            self.t[node.input[i]] = values
            return values
        return value

    def dims(self, node, i: int) -> tuple:
        stored = self.t.get(node.input[i]) if i < len(node.input) else None
        if isinstance(stored, _Stored):
            return tuple(stored.proto.dims)
        value = self.get(node, i)
        if isinstance(value, Weight):
            return value.dims
        if value is None or isinstance(value, Act):
            raise self.fail(node, f"input {i} must be a stored weight tensor")
        return tuple(value.shape)

    def full_rank(self, act: Act) -> int:
        return len(act.shape) + 1

    def unique(self, base: str) -> str:
        base = base or "layer"
        name, k = base, 1
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    def dispatch(self, node, op: str, attrs: dict, inputs: list[Act] | None = None,
                 extra: dict | None = None, out_index: int = 0, suffix: str = "",
                 required: bool = True) -> Act | None:
        """Ask the layer classes reading ``op`` (:func:`claims`), in order, for the node's
        parameters; emit the first that takes it. ``inputs``: the computed tensors (default:
        input 0, or every input of Concat and Sum)."""
        if inputs is None:
            count = len(node.input) if op in ALL_DATA else 1
            inputs = [self.act(node, i, BOTH) for i in range(count)]
        if len({x.layout for x in inputs}) > 1:
            raise self.fail(node, "its inputs have the channels in different places")
        for cls in self.claims.get(op, ()):
            if inputs[0].layout == "cl" and op not in cls.onnx_channels_last:
                raise self.channels_last(node)
            params = cls.from_onnx(NodeView(self, node, op, attrs, inputs, extra))
            if params is not None:
                layout = inputs[0].layout if op in cls.onnx_channels_last else "cf"
                return self.emit(node, cls, params, inputs, out_index, suffix, layout, op)
        if required:
            raise self.fail(node, "this op has no cnncalc equivalent",
                            help="supported ops: " + supported_ops(self.claims))
        return None

    def emit(self, node, cls: type[Layer], params: dict | None, inputs: list[Act],
             out_index: int = 0, suffix: str = "", layout: str = "cf", op: str = "") -> Act:
        """Write one spec item and compute its output shape with the layer's own setup."""
        type_name = cls.type_name
        params = {k: v for k, v in (params or {}).items() if v is not None}
        base = _node_name(node) or type_name
        name = self.unique(base + suffix)
        try:
            values, locs = cls.parse_params(params or None, self.ndim, _LOC, {}, _LOC)
            layer = cls(self.ndim, values, None, locs)
            # the output shape only (bind); the loader sets the layer up in full later
            shape = tuple(layer.bound([a.shape for a in inputs]).out_shape)
        except SpecError as exc:
            raise self.fail(node, exc.message, exc.help) from None
        item: dict[str, Any] = {type_name: params or None, "name": name,
                                "from": [a.node for a in inputs]}
        self.items.append(item)
        self.by_name[name] = item
        self.shape_of[name] = shape
        self.onnx_of[name] = f"'{node.name or '(unnamed)'}' ({node.op_type})"
        self.op_of[name] = op or node.op_type
        self.class_of[name] = cls
        act = Act(name, shape, layout)
        if out_index < len(node.output) and node.output[out_index]:
            self.t[node.output[out_index]] = act
            self.last_tensor[name] = node.output[out_index]
        return act

    def retype(self, name: str, cls: type[Layer], params: dict | None = None) -> None:
        """Change an emitted item's type in place (a fused pattern: Sigmoid then Mul = SiLU)."""
        item = self.by_name[name]
        params = {k: v for k, v in (params or {}).items() if v is not None} or None
        new = {cls.type_name: params, "name": item["name"], "from": item["from"]}
        item.clear()
        item.update(new)
        self.class_of[name] = cls

    def producer_item(self, act: Act) -> dict | None:
        return self.by_name.get(act.node)

    # -- folding ------------------------------------------------------------------

    def fold(self, node) -> bool:
        """Evaluate a node whose inputs are all constants (or a Shape of anything)."""
        op = node.op_type
        if op not in FOLDABLE:
            return False
        if op not in ("Constant", "Shape", "Size"):
            if any(n and n not in self.t for n in node.input):
                return False  # the handler names the missing input (or skips a pattern's node)
            raw = [self.t.get(n) for n in node.input if n]
            if op == "Identity" and raw and not isinstance(raw[0], Act):  # a shared weight
                self.t[node.output[0]] = raw[0]
                return True
            for j, name in enumerate(n for n in node.input if n):
                if isinstance(raw[j], Weight) and raw[j].external is not None:
                    values = self.external_values(node, raw[j])
                    if values is not None:
                        raw[j] = self.t[name] = values
            if any(isinstance(v, (Act, Weight, Pending)) for v in raw):
                return False  # computed at run time: a layer, not a constant
        a = self.attrs(node)
        if op == "Constant":
            if "value" in a:
                value = to_array(a["value"])
            elif "value_float" in a:
                value = np.array(a["value_float"], dtype=np.float32)
            elif "value_int" in a:
                value = np.array(a["value_int"], dtype=np.int64)
            elif "value_floats" in a:
                value = np.array(a["value_floats"], dtype=np.float32)
            elif "value_ints" in a:
                value = np.array(a["value_ints"], dtype=np.int64)
            else:
                raise self.fail(node, "a Constant without a supported value attribute")
            self.t[node.output[0]] = np.asarray(value)
            return True
        if op in ("Shape", "Size"):
            x = self.get(node, 0)
            shape = (((self.batch, *x.shape[1:], x.shape[0]) if x.layout == "cl"
                      else (self.batch, *x.shape)) if isinstance(x, Act)
                     else x.dims if isinstance(x, Weight) else x.shape)
            if op == "Size":
                self.t[node.output[0]] = np.array(math.prod(shape), dtype=np.int64)
                return True
            shape = np.array(shape, dtype=np.int64)
            start, end = a.get("start", 0), a.get("end", None)
            self.t[node.output[0]] = shape[start:end]
            return True
        ins = [self.get(node, i) for i in range(len(node.input))]
        v = [None if x is None else np.asarray(x) for x in ins]
        if not v or v[0] is None:
            raise self.fail(node, "its first input is missing")
        try:
            out = self.fold_op(node, op, a, v)
        except SpecError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, OverflowError, ZeroDivisionError,
                MemoryError, AttributeError) as exc:
            raise self.fail(node, f"cannot evaluate it on its constant inputs: {exc}",
                            help="the file is damaged or the op's inputs do not fit its "
                                 "specification (onnx/docs/Operators.md)") from None
        if out is None:  # pragma: no cover - FOLDABLE lists only the ops fold_op knows
            return False
        self.t[node.output[0]] = np.asarray(out)
        return True

    def fold_size(self, node, shape) -> tuple:
        """A constant's shape made of the ints in ``shape``, refused beyond FOLD_LIMIT."""
        dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
        if any(d < 0 for d in dims) or math.prod(dims) > FOLD_LIMIT:
            raise self.fail(node, f"a constant of shape {list(dims)}: cnncalc folds shape "
                                  f"arithmetic of at most {FOLD_LIMIT} elements",
                            help="the file is damaged, or the model computes large constants "
                                 "at run time")
        return dims

    def fold_op(self, node, op: str, a: dict, v: list):
        """The value of op ``op`` on constant inputs ``v`` (NumPy arrays), by the ONNX
        operator specification (onnx/docs/Operators.md)."""
        if op == "Gather":
            out = np.take(v[0], v[1], axis=a.get("axis", 0))
        elif op in ("Unsqueeze", "Squeeze"):
            axes = a.get("axes") if "axes" in a else (None if len(v) < 2 or v[1] is None
                                                      else list(v[1]))
            if op == "Unsqueeze":
                out = v[0]
                rank = out.ndim + len(axes)
                for ax in sorted(x % rank for x in axes):
                    out = np.expand_dims(out, ax)
            else:
                out = np.squeeze(v[0], axis=None if axes is None else tuple(axes))
        elif op == "Concat":
            out = np.concatenate([np.atleast_1d(x) for x in v], axis=a.get("axis", 0))
        elif op == "Cast":
            if a.get("to") not in NP_TYPES:
                raise self.fail(node, f"Cast to element type {a.get('to')}, which cnncalc does not read")
            out = v[0].astype(NP_TYPES[a["to"]])
        elif op == "Slice":
            starts, ends = (a.get("starts"), a.get("ends")) if "starts" in a else (v[1], v[2])
            axes = a.get("axes") if "starts" in a else (v[3] if len(v) > 3 and v[3] is not None
                                                        else None)
            steps = v[4] if len(v) > 4 and v[4] is not None else None
            axes = list(range(len(starts))) if axes is None else list(axes)
            index = [slice(None)] * v[0].ndim
            for j, ax in enumerate(axes):
                step = 1 if steps is None else int(steps[j])
                if step == 0:
                    raise self.fail(node, "Slice with step 0")
                index[int(ax)] = slice(int(starts[j]), int(ends[j]), step)
            out = v[0][tuple(index)]
        elif op in BINARY_FOLDS:
            out = v[0]
            for other in v[1:]:
                if other is None:
                    raise self.fail(node, "an input is missing")
                if op in ("Div", "Mod") and other.dtype.kind in "iu" and not other.all():
                    raise self.fail(node, f"{op} by zero in the shape arithmetic")
                with np.errstate(all="ignore"):
                    out = BINARY_FOLDS[op](out, other)
        elif op in UNARY_FOLDS:
            out = UNARY_FOLDS[op](v[0])
        elif op == "ConstantOfShape":
            fill = to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
            if fill.size < 1:
                raise self.fail(node, "ConstantOfShape with an empty value")
            out = np.full(self.fold_size(node, v[0]), fill.reshape(-1)[0], dtype=fill.dtype)
        elif op == "Range":
            start, limit, delta = (x.reshape(-1)[0] for x in v[:3])
            if delta == 0:
                raise self.fail(node, "Range with delta 0")
            self.fold_size(node, [max(math.ceil((limit - start) / delta), 0)])
            out = np.arange(start, limit, delta, dtype=v[0].dtype)
        elif op == "Where":
            out = np.where(v[0], v[1], v[2])
        elif op == "Expand":
            size = np.broadcast_shapes(v[0].shape, self.fold_size(node, v[1]))
            out = np.broadcast_to(v[0], self.fold_size(node, size)).copy()
        elif op == "Tile":
            reps = self.fold_size(node, v[1])
            self.fold_size(node, [math.prod(reps) * v[0].size])
            out = np.tile(v[0], reps)
        elif op == "Reshape":
            target = [int(d) for d in v[1]]
            target = [v[0].shape[i] if d == 0 and not a.get("allowzero", 0) else d
                      for i, d in enumerate(target)]
            out = v[0].reshape(target)
        elif op == "Transpose":
            perm = a.get("perm") or list(range(v[0].ndim))[::-1]
            out = np.transpose(v[0], perm)
        elif op == "Flatten":
            axis = a.get("axis", 1) % (v[0].ndim + 1) if v[0].ndim else 0
            out = v[0].reshape(math.prod(v[0].shape[:axis]), -1)
        elif op in ("ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin"):
            axes = a.get("axes") if "axes" in a else (None if len(v) < 2 or v[1] is None
                                                      else [int(x) for x in v[1]])
            if axes == [] and a.get("noop_with_empty_axes", 0):
                out = v[0]
            else:
                out = REDUCE_FOLDS[op](v[0], axis=None if not axes else tuple(axes),
                                       keepdims=bool(a.get("keepdims", 1)))
        else:  # pragma: no cover - FOLDABLE lists only the ops above
            return None
        return out

    # -- the walk -----------------------------------------------------------------

    def run(self) -> None:
        self.read_inputs()
        for node in self.graph.node:
            if not node.output or not node.output[0]:
                raise self.fail(node, "the node has no output", help="the file is damaged: "
                                "export the model again")
            if (node.name, node.output[0]) in getattr(self, "skip", ()):
                continue
            try:
                self.step(node)
            except SpecError:
                raise
            except (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError,
                    ZeroDivisionError, RecursionError, MemoryError) as exc:
                # a damaged or hand-made file: an attribute of the wrong type, a missing
                # input, an impossible size. The node is named; the file is at fault.
                raise self.fail(node, f"cannot be read: its attributes or inputs do not fit the "
                                      f"ONNX specification of {node.op_type} ({type(exc).__name__}: "
                                      f"{str(exc)[:200]})",
                                help="the file is damaged or hand-made: check it with "
                                     "onnx.checker.check_model, or export the model again") from None
        for out in self.graph.output:
            if not isinstance(self.t.get(out.name), Act):
                raise SpecError(f"graph output '{out.name}' is not computed from the input",
                                kind="onnx", help="cnncalc reads networks whose outputs depend on the input")

    def step(self, node) -> None:
        """Fold one node on constants, or hand it to its handler (a layer class's reader
        or a pattern of ops)."""
        if self.fold(node):
            return
        handler = HANDLERS.get(node.op_type) or (_single if node.op_type in self.claims else None)
        if handler is None:
            raise self.fail(node, "this op has no cnncalc equivalent",
                            help="supported ops: " + supported_ops(self.claims))
        handler(self, node, self.attrs(node))

    def attrs(self, node) -> dict[str, Any]:
        """A node's attributes, each of the type the ONNX specification gives it
        (:data:`ATTR_TYPES`; onnx/onnx.proto AttributeType)."""
        for a in node.attribute:
            expected, kind = ATTR_TYPES.get(a.name), a.type  # AttributeProto's type: a number
            if kind not in (1, 2, 3, 4, 6, 7, 8) or (expected is not None and kind != expected):
                raise self.fail(node, f"attribute '{a.name}' has type {kind}"
                                      + (f"; the ONNX specification gives it type {expected} "
                                         f"({TYPE_NAMES[expected]})" if expected else
                                         " (a graph or a sparse tensor), which cnncalc does not read"),
                                help="the file is damaged or hand-made: check it with "
                                     "onnx.checker.check_model")
        return _attrs(node)

    # -- geometry -----------------------------------------------------------------

    def padding(self, node, a: dict, sizes, kernel, strides, dilations) -> Any:
        auto = a.get("auto_pad", "NOTSET")
        nd = len(kernel)
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            pairs = []
            for size, k, s, d in zip(sizes, kernel, strides, dilations):
                keff = d * (k - 1) + 1
                total = max((-(-size // s) - 1) * s + keff - size, 0)
                small, big = total // 2, total - total // 2
                pairs.append((small, big) if auto == "SAME_UPPER" else (big, small))
            return onnx_pairs(pairs)
        if auto == "VALID":
            return 0
        pads = a.get("pads", [0] * (2 * nd))
        if len(pads) != 2 * nd:
            raise self.fail(node, f"pads has {len(pads)} values; {2 * nd} expected")
        return onnx_pairs(zip(pads[:nd], pads[nd:]))

    def window(self, node, a: dict, x: Act, kernel, default_stride=1):
        nd = len(kernel)
        if nd != self.ndim:
            raise self.fail(node, f"a {nd}-D window in a {self.ndim}-D network")
        strides = a.get("strides", [default_stride] * nd)
        dilations = a.get("dilations", [1] * nd)
        pad = self.padding(node, a, x.shape[1:], kernel, strides, dilations)
        return strides, dilations, pad


# -- the view of a node that a layer class reads (Layer.from_onnx) ---------------------


class NodeView:
    """One ONNX node as a layer class's :meth:`~cnncalc.layers.base.Layer.from_onnx` reads
    it: ``op`` (an op type, or the name of a pattern of ops), ``attrs``, ``inputs`` (the
    computed tensors it takes, :class:`Act`), ``x`` (the first), ``rank`` (with the
    batch), ``ndim``, ``batch``, ``n_inputs`` (the node's inputs, stored ones included),
    ``stored`` (indices of its inputs that are not computed), and ``extra`` (what the
    reader decoded: a Split output's index and axis, Slice ranges, a Reshape target, a
    fused bias)."""

    def __init__(self, tr: _Translator, node, op: str, attrs: dict, inputs: list[Act],
                 extra: dict | None = None) -> None:
        self.tr, self.node, self.op, self.attrs = tr, node, op, attrs
        self.inputs = inputs
        self.x = inputs[0] if inputs else None
        self.extra = extra or {}
        self.ndim, self.batch = tr.ndim, tr.batch
        self.rank = len(self.x.shape) + 1 if self.x is not None else 0
        self.n_inputs = len(node.input)
        self.stored = [i for i, name in enumerate(node.input)
                       if name and not isinstance(tr.t.get(name), (Act, Pending))]

    @property
    def n_outputs(self) -> int:
        """The node's outputs, used or not."""
        return len(self.node.output)

    def has(self, i: int) -> bool:
        """Whether optional input ``i`` is given."""
        return self.tr.get(self.node, i) is not None

    def dims(self, i: int) -> tuple:
        """The shape of stored input ``i`` (a weight)."""
        return self.tr.dims(self.node, i)

    def const(self, i: int, what: str):
        """The values of constant input ``i`` (a NumPy array), None if not given."""
        return self.tr.const(self.node, i, what)

    def window(self, kernel) -> tuple:
        """(strides, dilations, padding as a spec writes it) of a sliding-window op."""
        return self.tr.window(self.node, self.attrs, self.x, kernel)

    def output_used(self, i: int) -> bool:
        """Whether output ``i`` of the node is read by another node or the graph."""
        out = self.node.output
        return bool(len(out) > i and out[i] and self.tr.consumers.get(out[i]))

    def fail(self, message: str, help: str | None = None) -> SpecError:
        """A SpecError naming the node and its op type."""
        return self.tr.fail(self.node, message, help)


def claims() -> dict[str, list[type[Layer]]]:
    """ONNX op (or op pattern) -> the layer classes that read it, the higher
    :attr:`~cnncalc.layers.base.Layer.onnx_priority` first, then in registry order."""
    out: dict[str, list[type[Layer]]] = {}
    seen: list[type[Layer]] = []
    for cls in REGISTRY.values():
        if cls not in seen:
            seen.append(cls)
    for cls in sorted(seen, key=lambda c: -c.onnx_priority):
        for op in cls.onnx_ops:
            out.setdefault(op, []).append(cls)
    return out


# -- the ops and patterns of ops the reader handles itself -----------------------------


def _single(tr: _Translator, node, a):
    """An op one of the layer classes reads (:func:`claims`)."""
    tr.dispatch(node, node.op_type, a)
    if node.op_type == "Conv":
        channels = int(tr.dims(node, 1)[0])
        biased = tr.get(node, 2) is not None
        if biased:
            tr.biased_convs.append(channels)
        if _folded_bn(node):
            tr.marked_folds.append((channels, biased))
    elif node.op_type == "BatchNormalization":
        tr.bn_count += 1


def _reduce(tr: _Translator, node, a):
    """ReduceMean / ReduceMax over the spatial axes; keepdims=0 drops them: a flatten."""
    y = tr.dispatch(node, node.op_type, a)
    if not a.get("keepdims", 1):
        tr.dispatch(node, "Flatten", {"axis": 1}, inputs=[y], suffix="_flatten")


def _matmul(tr: _Translator, node, a):
    """x @ W, W a stored 2-D weight; a following Add of a stored vector is its bias."""
    x = tr.act(node, 0, BOTH)
    w = tr.dims(node, 1)
    if len(w) != 2:
        raise tr.fail(node, f"MatMul with a {len(w)}-D right operand; cnncalc maps x @ W, W 2-D")
    y = tr.dispatch(node, "MatMul", a, inputs=[x])
    tr.pending_bias[y.node] = (node, a, x, int(w[1]))


def _binary(tr: _Translator, node, a):
    """Add / Mul: of two computed tensors; x times its own gate (Sigmoid: SiLU); x times a
    stored per-channel scale; MatMul + Add (the bias); a step of the GELU chain."""
    op = node.op_type
    first, second = tr.get(node, 0), tr.get(node, 1)
    if isinstance(first, Pending) or isinstance(second, Pending) or \
            (_scalar(first) is not None) != (_scalar(second) is not None):
        if _softplus_chain(tr, node, first, second) or _gelu_chain(tr, node, first, second):
            return
        for v in (first, second):
            if isinstance(v, Pending):
                tr.act(node, (first, second).index(v))  # raises, naming the node
    if isinstance(first, Act) and isinstance(second, Act):
        if first.layout != second.layout:
            raise tr.fail(node, "its inputs have the channels in different places")
        if op == "Mul":
            for gate, x in ((first, second), (second, first)):
                fused = tr.claims.get(f"Mul(x, {tr.op_of.get(gate.node)}(x))")
                inner = tr.producer_item(gate)
                if fused and inner["from"] == [x.node] and \
                        tr.consumers.get(tr.last_tensor.get(gate.node), 0) == 1:
                    # x * sigmoid(x) = SiLU (Elfwing et al. 2018); x * hardsigmoid(x) = hardswish
                    key = f"Mul(x, {tr.op_of[gate.node]}(x))"
                    tr.retype(gate.node, fused[0], fused[0].from_onnx(NodeView(tr, node, key, a, [x])))
                    tr.op_of[gate.node] = key
                    tr.t[node.output[0]] = gate
                    tr.last_tensor[gate.node] = node.output[0]
                    return
        tr.dispatch(node, op, a, inputs=[first, second])
        return
    act = first if isinstance(first, Act) else second
    other = second if act is first else first
    if isinstance(act, Act) and tr.dispatch(node, op, a, inputs=[act], required=False):
        return  # x · γ, one learnable scale per channel
    if op == "Add" and isinstance(act, Act) and act.node in tr.pending_bias and \
            tr.consumers.get(tr.last_tensor.get(act.node), 0) == 1:
        matmul, attrs, x, features = tr.pending_bias[act.node]
        dims = other.dims if isinstance(other, Weight) else tuple(other.shape)
        if math.prod(dims) == features:  # MatMul + Add = linear (or 1x1 conv) with bias
            cls = tr.class_of[act.node]
            params = cls.from_onnx(NodeView(tr, matmul, "MatMul", attrs, [x], {"bias": True}))
            tr.by_name[act.node][cls.type_name] = {k: v for k, v in params.items() if v is not None} or None
            del tr.pending_bias[act.node]
            tr.t[node.output[0]] = act
            tr.last_tensor[act.node] = node.output[0]
            return
    raise tr.fail(node, f"{node.op_type} of a computed tensor and a constant has no cnncalc "
                        "equivalent", help="cnncalc maps Add/Mul of two computed tensors "
                        "(residuals, gates) and MatMul + Add (linear)")


def _int_div(x, y):
    """ONNX Div: integer division truncates toward zero (C's), float division is exact."""
    if x.dtype.kind in "iu" and np.asarray(y).dtype.kind in "iu":
        return np.trunc(np.true_divide(x, y)).astype(np.result_type(x, y))
    return x / y


BINARY_FOLDS = {
    "Add": lambda x, y: x + y, "Sub": lambda x, y: x - y, "Mul": lambda x, y: x * y,
    "Div": _int_div, "Mod": lambda x, y: np.mod(x, y), "Pow": lambda x, y: np.power(x, y),
    "Equal": lambda x, y: np.equal(x, y), "Less": lambda x, y: np.less(x, y),
    "Greater": lambda x, y: np.greater(x, y), "LessOrEqual": lambda x, y: np.less_equal(x, y),
    "GreaterOrEqual": lambda x, y: np.greater_equal(x, y),
    "And": lambda x, y: np.logical_and(x, y), "Or": lambda x, y: np.logical_or(x, y),
    "Min": lambda x, y: np.minimum(x, y), "Max": lambda x, y: np.maximum(x, y),
}
UNARY_FOLDS = {
    "Floor": lambda x: np.floor(x), "Ceil": lambda x: np.ceil(x), "Sqrt": lambda x: np.sqrt(x),
    "Neg": lambda x: np.negative(x), "Abs": lambda x: np.abs(x), "Sign": lambda x: np.sign(x),
    "Not": lambda x: np.logical_not(x), "Identity": lambda x: np.asarray(x),
}
REDUCE_FOLDS = {"ReduceProd": lambda x, **k: np.prod(x, **k), "ReduceSum": lambda x, **k: np.sum(x, **k),
                "ReduceMax": lambda x, **k: np.max(x, **k), "ReduceMin": lambda x, **k: np.min(x, **k)}


def _external_place(init) -> tuple:
    """(location, offset, length) of an initializer's external data (onnx/onnx.proto
    StringStringEntryProto keys). A location that is absolute or leaves the model's
    folder is refused, as onnx's own loader refuses it."""
    entries = {e.key: e.value for e in init.external_data}
    location = entries.get("location", "")
    normal = os.path.normpath(location) if location else ""
    if not location or os.path.isabs(location) or normal.startswith("..") or "\0" in location \
            or re.match(r"^[A-Za-z]:", location):
        raise SpecError(f"initializer '{init.name}': its external data location '{location}' "
                        "is not a file inside the model's folder", kind="onnx",
                        help="external data must live beside the model (onnx.save with a "
                             "relative location)")
    try:
        offset = int(entries.get("offset", 0))
        length = int(entries["length"]) if "length" in entries else None
    except ValueError:
        raise SpecError(f"initializer '{init.name}': its external data offset or length is not "
                        "a number", kind="onnx", help="the file is damaged: export the model again") from None
    if offset < 0 or (length is not None and length < 0):
        raise SpecError(f"initializer '{init.name}': a negative external data offset or length",
                        kind="onnx", help="the file is damaged: export the model again")
    return normal, offset, length


def _concat(tr: _Translator, node, a):
    """Concat of computed tensors; with one input it is the identity (valid ONNX: the
    TorchScript exporter writes it for DenseNet's first dense layer)."""
    if len([n for n in node.input if n]) == 1:
        tr.t[node.output[0]] = tr.act(node, 0, BOTH)
        return
    _single(tr, node, a)


BOTH = ("cf", "cl")  # elementwise ops do not care where the channels are
ALL_DATA = ("Concat", "Sum")  # ops whose every input is a computed tensor


def _scalar(value) -> float | None:
    if isinstance(value, (Act, Weight, Pending)) or value is None:
        return None
    value = np.asarray(value)
    return float(value.reshape(-1)[0]) if value.size == 1 else None


def _gelu_chain(tr: _Translator, node, first, second) -> bool:
    """GELU as exporters write it before opset 20: x·0.5·(1 + erf(x/√2)) with the products
    in any order (TorchScript: (x·(1 + erf))·0.5; dynamo: x·(0.5·(1 + erf))), x/√2 as a
    Div or a Mul by 1/√2 (Hendrycks and Gimpel 2016)."""
    op = node.op_type
    values = (first, second)
    acts = [v for v in values if isinstance(v, Act)]
    pend = [v for v in values if isinstance(v, Pending)]
    c = next((_scalar(v) for v in values if _scalar(v) is not None), None)

    def put(step, x):
        tr.t[node.output[0]] = Pending(step, x, node)

    def same(a, b):
        return a.node == b.node and a.layout == b.layout

    if op == "Div" and acts and first is acts[0] and c is not None and abs(c - 2 ** 0.5) < 1e-4:
        put("x/sqrt2", acts[0])
    elif op == "Mul" and acts and not pend and c is not None and abs(c - 2 ** -0.5) < 1e-4:
        put("x/sqrt2", acts[0])
    elif op == "Mul" and acts and not pend and c == 0.5:
        put("x/2", acts[0])
    elif op == "Add" and pend and pend[0].step == "erf" and c == 1.0:
        put("1+erf", pend[0].x)
    elif op == "Mul" and pend and acts and pend[0].step == "1+erf" and same(pend[0].x, acts[0]):
        put("x(1+erf)", acts[0])
    elif op == "Mul" and pend and not acts and c == 0.5 and pend[0].step == "1+erf":
        put("(1+erf)/2", pend[0].x)
    elif op == "Mul" and pend and acts and pend[0].step == "(1+erf)/2" and same(pend[0].x, acts[0]):
        tr.dispatch(node, "Gelu", {}, inputs=[acts[0]])
    elif op == "Mul" and pend and c == 0.5 and pend[0].step == "x(1+erf)" or \
            op == "Mul" and len(pend) == 2 and {p.step for p in pend} == {"x/2", "1+erf"} \
            and same(pend[0].x, pend[1].x):
        tr.dispatch(node, "Gelu", {}, inputs=[pend[0].x])
    else:
        return False
    return True


def _erf(tr: _Translator, node, a):
    x = tr.get(node, 0)
    if isinstance(x, Pending) and x.step == "x/sqrt2":
        tr.t[node.output[0]] = Pending("erf", x.x, node)
        return
    raise tr.fail(node, "Erf outside the GELU chain x·0.5·(1 + erf(x/√2)) has no cnncalc equivalent")


def _softplus_chain(tr: _Translator, node, first, second) -> bool:
    """softplus(beta·x) / beta, PyTorch's softplus with beta as Mul, Softplus, Div (ONNX's
    Softplus has no beta; cnncalc's export writes it so)."""
    c = _scalar(second)
    if node.op_type == "Mul" and isinstance(first, Act) and c is not None and c > 0:
        users = tr.readers.get(node.output[0], [])
        if len(users) == 1 and users[0].op_type == "Softplus":
            tr.t[node.output[0]] = Pending("beta·x", first, node, c)
            return True
        return False
    if isinstance(first, Pending) and first.step == "softplus(beta·x)" and c is not None and (
            node.op_type == "Div" and abs(c - first.value) <= 1e-6 * first.value
            or node.op_type == "Mul" and abs(c * first.value - 1) <= 1e-6):
        tr.dispatch(node, "Softplus", {}, inputs=[first.x], extra={"beta": first.value})
        return True
    return False


def _softplus(tr: _Translator, node, a):
    """Softplus; of beta·x, a step of the chain softplus(beta·x) / beta."""
    x = tr.get(node, 0)
    if isinstance(x, Pending) and x.step == "beta·x":
        tr.t[node.output[0]] = Pending("softplus(beta·x)", x.x, node, x.value)
        return
    _single(tr, node, a)


def _div(tr: _Translator, node, a):
    first, second = tr.get(node, 0), tr.get(node, 1)
    if _softplus_chain(tr, node, first, second):
        return
    if not _gelu_chain(tr, node, first, second):
        raise tr.fail(node, "Div of a computed tensor has no cnncalc equivalent (outside the "
                            "GELU chain)")


def _reshape(tr: _Translator, node, a):
    """A Reshape that keeps the batch axis: none (the same shape, or the dynamo exporter's
    identity as_strided), a channel shuffle, a Flatten, or a reshape."""
    x = tr.act(node)
    full = (tr.batch, *x.shape)
    stored = tr.t.get(node.input[1]) if len(node.input) > 1 else None
    recorded = tr.recorded_shape(node.output[0]) if isinstance(stored, Weight) else None
    if recorded is not None and tr.external_values(node, stored) is None:
        # the target's values live in an absent data file: the shape the file records serves
        target = list(recorded)
        tr.notes.append(f"the target shape of ONNX node '{node.name}' (Reshape) is in external "
                        f"data that is absent ('{stored.external[0] if stored.external else '?'}'); "
                        f"cnncalc used the shape the file records for its output "
                        f"'{node.output[0]}' (value_info): {'x'.join(map(str, target[1:]))}")
    else:
        target = [int(v) for v in tr.const(node, 1, "the target shape")]
    target = [full[i] if d == 0 and not a.get("allowzero", 0) else d for i, d in enumerate(target)]
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        target[target.index(-1)] = math.prod(full) // max(known, 1)
    if len(target) == 1 and _strided_identity(tr, node, full):
        return
    if math.prod(target) != math.prod(full) or target[0] != tr.batch:
        raise tr.fail(node, f"reshapes {list(full)} to {target}; cnncalc keeps the batch axis",
                      help="reshape each sample: x.view(x.size(0), ...)")
    unshuffle = _unshuffle_end(tr, node, full, target)
    if unshuffle is not None:
        transpose, back, r = unshuffle
        tr.shuffle_skip = getattr(tr, "shuffle_skip", set()) | {transpose.name + "|" + transpose.output[0],
                                                                back.name + "|" + back.output[0]}
        y = tr.dispatch(back, UNSHUFFLE, {}, inputs=[x], extra={"factor": int(r)})
        tr.t[transpose.output[0]] = y  # consumed only by `back`, skipped below
        return
    shuffle = _shuffle_end(tr, node)
    if shuffle is not None and len(target) == len(full) + 1 and target[1] * target[2] == full[1]:
        transpose, back = shuffle
        tr.shuffle_skip = getattr(tr, "shuffle_skip", set()) | {transpose.name + "|" + transpose.output[0],
                                                                back.name + "|" + back.output[0]}
        y = tr.dispatch(back, SHUFFLE, {}, inputs=[x], extra={"groups": int(target[1])})
        tr.t[transpose.output[0]] = y  # consumed only by `back`, skipped below
        return
    per_sample = target[1:]
    if list(per_sample) == list(x.shape):
        tr.t[node.output[0]] = x  # a no-op reshape: no layer
        return
    if len(per_sample) == 1 and len(x.shape) > 1:
        tr.dispatch(node, "Flatten", {"axis": 1}, inputs=[x])
        return
    tr.dispatch(node, "Reshape", a, inputs=[x], extra={"shape": [int(d) for d in per_sample]})


SHUFFLE = "Reshape, Transpose (0, 2, 1, ...), Reshape"  # ShuffleNet's channel shuffle, exported


def _shuffle_end(tr: _Translator, node):
    """Reshape (N, g, C/g, H, W) -> Transpose (0, 2, 1, 3, 4) -> Reshape (N, C, H, W):
    ShuffleNet's channel shuffle (Zhang et al. 2018, section 3.1). Returns (input, g) or None."""
    return _transpose_between(tr, node, lambda perm: len(perm) >= 4 and perm[:3] == [0, 2, 1]
                              and perm[3:] == list(range(3, len(perm))))


def _transpose_between(tr: _Translator, node, fits):
    """(Transpose, Reshape) when the Reshape ``node`` is read only by a Transpose whose perm
    ``fits``, itself read only by a Reshape; else None."""
    users = tr.readers.get(node.output[0], [])
    if len(users) != 1 or users[0].op_type != "Transpose":
        return None
    if not fits(list(_attrs(users[0]).get("perm", []))):
        return None
    after = tr.readers.get(users[0].output[0], [])
    if len(after) != 1 or after[0].op_type != "Reshape":
        return None
    return users[0], after[0]


UNSHUFFLE = "Reshape, Transpose (0, 1, 3, 5, ..., 2, 4, ...), Reshape"  # pixel_unshuffle, exported


def _unshuffle_end(tr: _Translator, node, full, target):
    """Reshape (N, C, L1/r, r, ..) -> Transpose (0, 1, 3, 5, .., 2, 4, ..) -> Reshape
    (N, C·r^n, L1/r, ..): PyTorch's pixel_unshuffle (torch/onnx/symbolic_opset9.py).
    Returns (transpose, reshape, r) or None."""
    n = len(full) - 2
    if n < 1 or len(target) != 2 + 2 * n or list(target[:2]) != list(full[:2]):
        return None
    factors = {target[3 + 2 * a] for a in range(n)}
    if len(factors) != 1 or any(target[2 + 2 * a] * target[3 + 2 * a] != full[2 + a] for a in range(n)):
        return None
    order = [0, 1] + [3 + 2 * a for a in range(n)] + [2 + 2 * a for a in range(n)]
    pair = _transpose_between(tr, node, lambda perm: perm == order)
    return None if pair is None else (*pair, factors.pop())


def _strided_identity(tr: _Translator, node, full) -> bool:
    """Reshape to 1-D, then Gather (axis 0) of the indices 0, 1, 2, ... laid out in the
    original shape: the dynamo exporter's as_strided that changes nothing. No layer."""
    users = tr.readers.get(node.output[0], [])
    if len(users) != 1 or users[0].op_type != "Gather" or _attrs(users[0]).get("axis", 0) != 0:
        return False
    indices = tr.t.get(users[0].input[1])
    if isinstance(indices, _Stored):
        indices = tr.get(users[0], 1)
    if isinstance(indices, (Act, Weight, Pending)) or indices is None:
        return False
    indices = np.asarray(indices)
    if tuple(indices.shape) != tuple(full) or not np.array_equal(indices.reshape(-1),
                                                                 np.arange(indices.size)):
        return False
    x = tr.act(node, 0, BOTH)
    tr.t[node.output[0]] = None  # consumed only by the Gather
    tr.t[users[0].output[0]] = x
    tr.skip = getattr(tr, "skip", set()) | {(users[0].name, users[0].output[0])}
    return True


def _transpose(tr: _Translator, node, a):
    x = tr.act(node, 0, BOTH)
    perm = list(a.get("perm", []))
    r = tr.full_rank(x)
    if len(perm) == r and r >= 3:  # moving the channels last or back: no layer, a layout
        if x.layout == "cf" and perm == [0, *range(2, r), 1]:
            tr.t[node.output[0]] = Act(x.node, x.shape, "cl")
            return
        if x.layout == "cl" and perm == [0, r - 1, *range(1, r - 1)]:
            tr.t[node.output[0]] = Act(x.node, x.shape, "cf")
            return
    if x.layout == "cf" and len(perm) == r and perm and perm[0] == 0:  # another order: a layer
        tr.dispatch(node, "Transpose", a, inputs=[x])
        return
    raise tr.fail(node, f"Transpose with perm {list(a.get('perm', []))}: cnncalc maps a Transpose "
                        "that keeps the batch first (permute), moves the channels last and back, or "
                        "is inside a channel shuffle (Reshape, Transpose (0, 2, 1, ...), Reshape)")


def _skip_if_shuffled(handler):
    def wrapped(tr: _Translator, node, a):
        key = node.name + "|" + node.output[0]
        if key in getattr(tr, "shuffle_skip", set()):
            if node.op_type == "Reshape":
                return  # emitted as the channel shuffle's output already
            return
        handler(tr, node, a)
    return wrapped


def _split(tr: _Translator, node, a):
    """Split of a non-batch axis: one layer per output that is read."""
    x = tr.act(node)
    rank = tr.full_rank(x)
    axis = a.get("axis", 0) % rank
    if axis == 0:
        raise tr.fail(node, "a Split of the batch axis")
    for i, out in enumerate(node.output):
        if not out or not tr.consumers.get(out):
            continue
        tr.dispatch(node, "Split", a, inputs=[x], out_index=i, suffix=f"_{i}",
                    extra={"index": i, "axis": axis})


def _slice(tr: _Translator, node, a):
    """Slice with unit steps: the ranges [begin, end) per full-rank axis it changes."""
    x = tr.act(node)
    full = (tr.batch, *x.shape)
    rank = len(full)
    if "starts" in a:
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    else:
        starts = tr.const(node, 1, "starts")
        ends = tr.const(node, 2, "ends")
        axes = tr.const(node, 3, "axes") if len(node.input) > 3 else None
        steps = tr.const(node, 4, "steps") if len(node.input) > 4 else None
    axes = list(range(len(starts))) if axes is None else [int(v) % rank for v in axes]
    ranges = {}
    for j, ax in enumerate(axes):
        if steps is not None and int(steps[j]) != 1:
            raise tr.fail(node, f"Slice with step {int(steps[j])}; cnncalc maps unit steps")
        b, e, _ = slice(int(starts[j]), int(ends[j])).indices(full[ax])
        if (b, e) != (0, full[ax]):
            ranges[ax] = (b, max(e, b))
    if 0 in ranges:
        raise tr.fail(node, "a Slice of the batch axis")
    if not ranges:
        tr.t[node.output[0]] = x
        return
    tr.dispatch(node, "Slice", a, inputs=[x], extra={"ranges": ranges})


HANDLERS = {
    "Concat": _concat,
    "Softplus": _softplus,
    "MatMul": _matmul,
    "ReduceMean": _reduce,
    "ReduceMax": _reduce,
    "Add": _binary,
    "Mul": _binary,
    "Div": _div,
    "Erf": _erf,
    "Reshape": _skip_if_shuffled(_reshape),
    "Transpose": _skip_if_shuffled(_transpose),
    "Split": _split,
    "Slice": _slice,
}


def translate(model, input_shape=None, readable: bool = False, folder: str | None = None):
    """An ONNX ModelProto as a cnncalc spec (:class:`cnncalc.io.onnx_proto.Imported`).

    Args:
        model: an ``onnx.ModelProto`` (initializers may lack their data).
        input_shape: per-sample shape replacing the model's input (symbolic sizes).
        readable: write ``from`` only where the input is not the previous layer.
        folder: the model's folder, where small tensors stored as external data are read
            (a Reshape's target); None reads none.

    Raises:
        SpecError: an unmappable op (named, with its type and the supported ops), or
            a graph cnncalc cannot read (several inputs, a batch-mixing reshape).
    """
    tr = _Translator(model, input_shape, folder)
    tr.run()
    if not tr.items:
        raise SpecError("the model has no layers: its outputs are its input or constants",
                        kind="onnx", help="cnncalc analyses graphs with at least one op on the input")
    name = model.graph.name or "onnx_model"
    notes = list(tr.notes)  # what the walk found (absent external data)
    folds = {}
    if tr.marked_folds:
        folds = {"marked": len(tr.marked_folds),
                 "biased": sum(c for c, b in tr.marked_folds if b),
                 "unbiased": sum(c for c, b in tr.marked_folds if not b),
                 "biased_convs": sum(1 for _, b in tr.marked_folds if b)}
    elif tr.biased_convs and model.producer_name != "cnncalc":
        # cnncalc's own exports never fold anything: their biases are the spec's
        # (a BatchNormalization node that is left follows no convolution: DenseNet's)
        folds = {"guess": len(tr.biased_convs), "biased": sum(tr.biased_convs), "kept": tr.bn_count}
    # value_info shapes the file records, for the cross-check
    recorded = {}
    for vi in list(model.graph.value_info) + list(model.graph.output):
        value = tr.t.get(vi.name)
        if not isinstance(value, Act) or tr.last_tensor.get(value.node) != vi.name:
            continue
        if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in vi.type.tensor_type.shape.dim]
        recorded[vi.name] = (value.node, tuple(dims[1:]))
    lines = [f"name: {_flow(name)}", f"input: {{shape: {_flow(list(tr.input_shape))}, batch: {tr.batch}}}",
             "layers:"]
    if readable:
        joins = {name for name, op in tr.op_of.items() if op in ("Add", "Sum")}
        text = structured_text(lines, tr.items, joins)
        return Imported(text, tr.items, {}, notes, recorded, name, tr.input_shape, folds)
    node_of_line = {}
    prev = "input"
    for item in tr.items:
        shown = dict(item)
        if readable and shown["from"] == [prev]:
            del shown["from"]
        elif len(shown["from"]) == 1:
            shown["from"] = shown["from"][0]
        lines.append("  - " + _flow(shown))
        node_of_line[len(lines)] = tr.onnx_of[item["name"]]
        prev = item["name"]
    text = "\n".join(lines) + "\n"
    return Imported(text, tr.items, node_of_line, notes, recorded, name, tr.input_shape, folds)


# -- export: each layer's ONNX nodes (Layer.to_onnx) as protobufs ------------------------


class OnnxBuilder:
    """Collects ONNX nodes and initializers while a network is written out.

    Tensor names are cnncalc node names (``layer1.0.conv1``); weights keep cnncalc's
    keys (``layer1.0.conv1.weight``: PyTorch's names and layouts).
    """

    def __init__(self, weights: dict | None, batch: int) -> None:
        self.weights = weights
        self.batch = batch
        self.nodes: list = []
        self.inits: list = []
        self.names: set[str] = set()

    def add(self, layer_name: str, node: OnnxNode) -> None:
        """Write one node a layer described, its initializers first."""
        from onnx import helper

        inputs = [self.tensor(layer_name, x) if isinstance(x, Init) else x for x in node.inputs]
        self.nodes.append(helper.make_node(node.op, inputs, [node.output], name=node.name, **node.attrs))

    def tensor(self, layer_name: str, init: Init) -> str:
        """The initializer ``init`` (a layer's tensor, or constant values), written once."""
        if init.values is not None:
            return self.init(init.name, np.array(init.values, dtype=init.dtype).reshape(init.shape))
        if self.weights is None:
            return self.placeholder(init.name, init.shape)
        array = self.weights[tensor_key(layer_name, init.key)]
        return self.init(init.name, array.T.copy() if init.transpose else array.reshape(init.shape))

    def init(self, name: str, array) -> str:
        from onnx import numpy_helper

        if name not in self.names:
            self.names.add(name)
            self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def placeholder(self, name: str, dims) -> str:
        """A float initializer that records its shape and no values (its data is marked
        external, as in a file whose weights were stripped)."""
        from onnx import TensorProto

        if name not in self.names:
            self.names.add(name)
            t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(dims))
            t.data_location = TensorProto.EXTERNAL
            entry = t.external_data.add()
            entry.key, entry.value = "location", "stripped.weights"
            self.inits.append(t)
        return name


def onnx_types() -> list[str]:
    """The layer types cnncalc writes as ONNX (the others declare why not)."""
    return sorted(name for name, cls in REGISTRY.items()
                  if cls.writes_onnx() and not cls.onnx_export_refusal)


def check_exportable(net) -> None:
    """Raise a SpecError naming the first layer whose type cnncalc cannot write as ONNX,
    with the reason its class declares (``onnx_export_refusal``)."""
    for node in net.nodes:
        cls = type(node.layer)
        if cls.onnx_export_refusal or not cls.writes_onnx():
            why = cls.onnx_export_refusal or "is not written as ONNX by this version of cnncalc"
            raise SpecError(f"layer '{node.name}' ({node.type}) {why}", kind="export",
                            help="types cnncalc writes as ONNX: " + ", ".join(onnx_types()))


def export_graph(net, weights: dict | None, opset: int = 18, batch: int | None = None):
    """The network as an ONNX ModelProto with the given weights (cnncalc's keys); with
    ``weights`` None, the weights' shapes only (enough for every figure). The opset is
    raised to the least one a layer's ops need (``onnx_opset``: Gelu 20). The batch axis
    is symbolic (``N``) unless ``batch`` fixes it.

    Raises:
        SpecError: a layer type ONNX cannot express as standard ops (named, with the
            types that can).
    """
    from onnx import TensorProto, helper

    check_exportable(net)
    shapes = infer_shapes(net)  # and every node's facts
    opset = max(opset, *(type(node.layer).onnx_opset for node in net.nodes))
    b = OnnxBuilder(weights, net.batch)
    for node in net.nodes:
        facts = node.facts
        call = OnnxCall(node.name, list(node.inputs), node.name, net.batch, facts.params, facts.buffers)
        for part in node.layer.to_onnx(facts, call):
            b.add(node.name, part)
    # a symbolic batch N by default: onnxruntime then runs any batch (every Reshape the
    # layers write copies the batch with 0); ``batch`` fixes it
    n = "N" if batch is None else int(batch)
    graph = helper.make_graph(
        b.nodes, net.name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [n, *net.input_shape])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [n, *shapes[o]])
         for o in net.outputs],
        initializer=b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="cnncalc")
    # the batch the figures are for (memory): the import reads it where the file's is N
    helper.set_model_props(model, {"cnncalc.batch": str(net.batch)})
    # readable by onnxruntime releases of 2024 on; opset 21 (GroupNormalization) needs IR 10
    model.ir_version = min(model.ir_version, 9 if opset < 21 else 10)
    return model


# -- readable import: residual structures and repeats ----------------------------------


def _kind(item: dict) -> str:
    return next(k for k in item if k not in ("name", "from"))


def _ancestors(name: str, by_name: dict) -> set[str]:
    seen, stack = set(), [name]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in by_name:
            stack.extend(by_name[n]["from"])
    return seen


def _residuals(items: list[dict], joins: set[str]) -> list[dict]:
    """Fold each Add of two paths that leave one tensor x and meet nowhere else into a
    ``residual`` item (body: the longer path; shortcut: the other, empty for identity).
    ``joins``: the names of the items read from an ONNX Add or Sum of computed tensors."""
    items = list(items)
    changed = True
    while changed:
        changed = False
        by_name = {it["name"]: it for it in items}
        consumers: dict[str, list[str]] = {}
        for it in items:
            for f in it["from"]:
                consumers.setdefault(f, []).append(it["name"])
        for add in items:
            if add["name"] not in joins or _kind(add) in STRUCTURES or len(add["from"]) != 2 \
                    or add[_kind(add)]:
                continue
            p, q = add["from"]
            anc_p, anc_q = _ancestors(p, by_name), _ancestors(q, by_name)
            common = anc_p & anc_q
            order = {it["name"]: i for i, it in enumerate(items)}
            x = max(common, key=lambda n: order.get(n, -1))
            regions = [anc_p - common, anc_q - common]
            ok = True
            for region, out in zip(regions, (p, q)):
                for n in region:
                    inputs_ok = all(f in region or f == x for f in by_name[n]["from"])
                    users = [u for u in consumers.get(n, []) if u not in region]
                    if not inputs_ok or users != ([add["name"]] if n == out else []):
                        ok = False
            for region in regions:  # x feeds the first layer of each path only
                users = [it for it in items if it["name"] in region and x in it["from"]]
                if region and (len(users) != 1 or users[0]["from"] != [x]
                               or users[0] is not next(it for it in items if it["name"] in region)):
                    ok = False
            if not ok or not regions[0] | regions[1]:
                continue
            body_set, short_set = sorted(regions, key=len, reverse=True)
            body = [it for it in items if it["name"] in body_set]
            short = [it for it in items if it["name"] in short_set]
            names = [it["name"] for it in body + short]
            prefix = _common_prefix(names) or add["name"]
            for part in (body, short):
                if part:
                    part[0] = {**part[0], "from": ["__in__"]}
            structure = {"residual": {"body": _localise(body, x, prefix),
                                      "shortcut": _localise(short, x, prefix)},
                         "name": prefix if prefix not in by_name or prefix == add["name"]
                         else add["name"], "from": [x]}
            rename = {add["name"]: structure["name"]}
            position = items.index(add)
            items[position] = structure
            items = [it for it in items if it["name"] not in body_set | short_set]
            for it in items:
                it["from"] = [rename.get(f, f) for f in it["from"]]
            changed = True
            break
    return items


def _common_prefix(names: list[str]) -> str:
    """'layer1_0_conv1', 'layer1_0_relu' -> 'layer1_0' (whole '_'-separated parts)."""
    if not names:
        return ""
    parts = [n.split("_") for n in names]
    common = []
    for group in zip(*parts):
        if len(set(group)) != 1:
            break
        common.append(group[0])
    return "_".join(common)


def _localise(items: list[dict], x: str, prefix: str) -> list[dict]:
    """Items of a structure with the structure's prefix taken off their names (so
    'layer1_0_conv1' inside 'layer1_0' is 'conv1': full name 'layer1_0.conv1')."""
    local = {}
    for it in items:
        short = it["name"][len(prefix):].lstrip("_") if prefix and it["name"].startswith(prefix) \
            else it["name"]
        if not short:
            short = _kind(it)
        if short in local.values() or not (short[0].isalpha() or short[0] == "_"):
            short = it["name"]
        local[it["name"]] = short
    out = []
    for it in items:
        new = dict(it)
        new["name"] = local[it["name"]]
        new["from"] = [local.get(f, f) for f in it["from"]]
        out.append(new)
    return out


def _canonical(unit: list[dict], entry: str) -> str | None:
    """A unit's items with names replaced by positions (None if it reaches outside)."""
    index = {it["name"]: i for i, it in enumerate(unit)}

    def strip(item):
        if isinstance(item, dict):
            return {k: strip(v) for k, v in item.items() if k != "name" or not isinstance(v, str)}
        if isinstance(item, list):
            return [strip(v) for v in item]
        return item

    out = []
    for it in unit:
        refs = []
        for f in it["from"]:
            if f in index:
                refs.append(index[f])
            elif f == entry and it is unit[0] and it["from"] == [entry]:
                refs.append("in")  # only the first layer reads the unit's input
            else:
                return None
        body = {k: v for k, v in it.items() if k not in ("name", "from")}
        out.append((repr(strip(body)), refs))
    return repr(out)


def _run_at(items: list[dict], i: int, prev: str) -> tuple[int, int] | None:
    """The longest run of identical units starting at item ``i``: (unit size k, copies n),
    or None."""
    best = None
    for k in range(1, 9):
        if i + 2 * k > len(items):
            break
        first = _canonical(items[i:i + k], prev)
        if first is None:
            continue
        n, start = 1, i + k
        while start + k <= len(items):
            if _canonical(items[start:start + k], items[start - 1]["name"]) != first:
                break
            n, start = n + 1, start + k
        later = {f for it in items[start:] for f in it["from"]}
        inner = {it["name"] for it in items[i:start - 1]}
        if n >= 2 and not later & inner and (best is None or k * n > best[0] * best[1]):
            best = (k, n)
    return best


def _aligned(items: list[dict], i: int, k: int, n: int) -> bool:
    """Whether each unit of the run is one block by its names: the items of a unit share a
    name prefix that the other units do not ('layer1_1', 'layer1_2'), as a module path of
    the exporter gives them."""
    if k == 1:
        return True
    prefixes = [_common_prefix([it["name"] for it in items[i + u * k:i + (u + 1) * k]])
                for u in range(n)]
    return all(prefixes) and len(set(prefixes)) == n


def _repeats(items: list[dict], entry: str = "input") -> list[dict]:
    """Consecutive identical units (1 to 8 items, reaching nothing outside but their
    input) become one ``sequential`` item with ``repeat``."""
    out: list[dict] = []
    i = 0
    prev = entry
    while i < len(items):
        best = _run_at(items, i, prev)
        if best is not None and not _aligned(items, i, *best):
            # a unit cut across blocks (ResNet's [relu, bottleneck] for [bottleneck, relu]):
            # a start up to k - 1 items later whose units are whole blocks is taken instead
            k = best[0]
            for d in range(1, k):
                later = _run_at(items, i + d, items[i + d - 1]["name"])
                if later is not None and _aligned(items, i + d, *later):
                    best = None
                    break
        if best is None:
            out.append(items[i])
            prev = items[i]["name"]
            i += 1
            continue
        k, n = best
        run = items[i:i + k * n]
        last = run[-1]["name"]
        name = _common_prefix([it["name"] for it in run]) or f"repeat{len(out) + 1}"
        taken = {it["name"] for it in items if it not in run} | {it["name"] for it in out}
        base, count = name, 1
        while name in taken:
            count += 1
            name = f"{base}_{count}"
        unit = _localise(items[i:i + k], prev, _common_prefix([it["name"] for it in items[i:i + k]]))
        for it in unit:
            it["from"] = [f if f != prev else "__in__" for f in it["from"]]
        units = [items[i + u * k:i + (u + 1) * k] for u in range(n)]
        first = _first_number(name, [_common_prefix([it["name"] for it in u]) for u in units])
        if first:
            # the exporter numbered the copies from `first` (layer1_1, layer1_2): so does the
            # spec, and the blocks before them that carry the same name's lower numbers
            # (ResNet's projection block layer1_0) become its copies layer1.0, ...
            later = {f for it in items[i + k * n:] for f in it["from"]}
            prev = _number_before(out, name, first, prev, later, entry)
        item = _copies({"sequential": unit} if k > 1 else dict(unit[0]), name, [prev], n,
                       first or None)
        out.append(item)
        for it in items[i + k * n:]:
            it["from"] = [name if f == last else f for f in it["from"]]
        prev = name
        i += k * n
    return out


def _copies(item: dict, name: str, inputs: list[str], count: int, first: int | None) -> dict:
    """``item`` as ``count`` copies named ``name.first``, ...: ``repeat: {count: N, start: K}``,
    or ``repeat: N`` when ``first`` is None (copies numbered from 0, a single one unnumbered)."""
    item.update({"name": name, "from": inputs,
                 "repeat": count if first is None else {"count": count, "start": first}})
    return item


def _first_number(name: str, prefixes: list[str]) -> int | None:
    """K when the units' name prefixes are ``name_K``, ``name_K+1``, ... (as an exporter
    writes module paths: 'layer1_1', 'layer1_2'); else None."""
    numbers = []
    for prefix in prefixes:
        tail = prefix[len(name) + 1:] if prefix.startswith(name + "_") else ""
        if not tail.isdigit():
            return None
        numbers.append(int(tail))
    return numbers[0] if numbers == list(range(numbers[0], numbers[0] + len(numbers))) else None


def _number_before(out: list[dict], name: str, first: int, prev: str, later: set[str],
                   entry: str) -> str:
    """Turn the blocks at the end of ``out`` named ``name_{first-1}``, ``name_{first-2}``, ...
    into the numbered copies ``name.{first-1}``, ... (one ``sequential`` each, or the item
    itself), as long as each reads only the item before it and nothing in ``later`` reads
    into it. Returns the name the repeat that follows reads (``prev`` if none was taken)."""
    taken: list[dict] = []
    number = first
    while number > 0:
        tag = f"{name}_{number - 1}"
        size = 0
        while size < len(out) and (out[-1 - size]["name"] == tag
                                   or out[-1 - size]["name"].startswith(tag + "_")) \
                and "repeat" not in out[-1 - size]:
            size += 1
        block = out[len(out) - size:]
        inner = {it["name"] for it in block}
        before = out[-1 - size]["name"] if size < len(out) else entry
        if not block or block[-1]["name"] != prev or later & inner \
                or block[0]["from"] != [before] \
                or any(f not in inner for it in block[1:] for f in it["from"]):
            break
        del out[len(out) - size:]
        if len(block) == 1:
            copy_item = dict(block[0])
        else:
            unit = _localise(block, before, tag)
            unit[0] = {**unit[0], "from": ["__in__"]}
            copy_item = {"sequential": unit}
        taken.insert(0, _copies(copy_item, name, [before], 1, number - 1))
        prev, number = before, number - 1
    for later_copy in taken[1:]:
        later_copy["from"] = [name]  # the copy before it, by the name they share
    out.extend(taken)
    return name if taken else prev


def _emit(items: list[dict], indent: str, prev: str, lines: list[str]) -> None:
    """YAML lines for items; structures in block style, layers one per line."""
    for item in items:
        shown = {k: v for k, v in item.items() if k != "from"}
        refs = list(item["from"])
        if refs != [prev] and refs:
            shown["from"] = refs[0] if len(refs) == 1 else refs
        kind = _kind(item)
        if kind in ("residual", "sequential"):  # a structure: its name, repeat and input first
            lines.append(f"{indent}- name: {_flow(item['name'])}")
            for key in ("repeat", "from"):
                if key in shown:
                    lines.append(f"{indent}  {key}: {_flow(shown[key])}")
        if kind == "residual":
            lines.append(f"{indent}  residual:")
            lines.append(f"{indent}    body:")
            _emit(item["residual"]["body"], indent + "      ", "__in__", lines)
            if item["residual"]["shortcut"]:
                lines.append(f"{indent}    shortcut:")
                _emit(item["residual"]["shortcut"], indent + "      ", "__in__", lines)
        elif kind == "sequential":
            lines.append(f"{indent}  sequential:")
            _emit(item["sequential"], indent + "    ", "__in__", lines)
        else:
            lines.append(f"{indent}- " + _flow(shown))
        prev = item["name"]


def structured_text(header: list[str], items: list[dict], joins: set[str]) -> str:
    """The readable spec: residual structures and repeats found, then written (``joins``:
    the items read from an ONNX Add or Sum, the residuals' candidate ends)."""
    items = _repeats(_residuals(copy.deepcopy(items), joins))
    lines = list(header)
    _emit(items, "  ", "input", lines)
    return "\n".join(lines) + "\n"
