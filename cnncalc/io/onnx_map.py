"""ONNX ops -> cnncalc layer types: the import table (docs/onnx.md).

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

import math
import re
from dataclasses import dataclass
from typing import Any

from cnncalc.core.errors import Loc, SpecError
from cnncalc.layers.base import REGISTRY

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


@dataclass
class _Stored:
    """A small initializer whose values are read only if a node needs them."""

    proto: Any


@dataclass
class Weight:
    """An initializer whose values are not needed (or not stored: external data)."""

    dims: tuple


def _np():
    import numpy

    return numpy


def _attrs(node) -> dict[str, Any]:
    from cnncalc.io.onnx_io import attr_value

    return {a.name: attr_value(a) for a in node.attribute}


def _axes(values) -> Any:
    """A per-axis value as written in specs: a scalar when every axis agrees."""
    values = [int(v) for v in values]
    return values[0] if len(set(values)) == 1 else values


def _pairs(pairs) -> Any:
    """(before, after) pairs as written in specs: int | per-axis list | [b, a] pairs."""
    pairs = [(int(b), int(a)) for b, a in pairs]
    if all(b == a for b, a in pairs):
        return _axes([b for b, _ in pairs])
    return [[b, a] for b, a in pairs]


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


def _flow(value: Any) -> str:
    """YAML flow text of a small value (the generated spec keeps one layer per line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"inf": ".inf", "-inf": "-.inf"}.get(repr(value), ".nan")
        text = repr(value)
        mantissa, e, exp = text.partition("e")
        if e and "." not in mantissa:  # YAML 1.1 reads 1e-06 as text: write 1.0e-06
            text = f"{mantissa}.0e{exp}"
        return text
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(k if v is None else f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return text if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", text) else '"' + text + '"'


# ops evaluated when every input is a constant (the exporters' shape arithmetic)
FOLDABLE = (
    "Constant", "Shape", "Size", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Slice",
    "Add", "Sub", "Mul", "Div", "Floor", "Ceil", "Sqrt", "Neg", "ConstantOfShape", "Range",
    "Equal", "Where", "Expand", "Reshape", "Identity", "ReduceProd", "Min", "Max",
)


class _Translator:
    def __init__(self, model, input_shape=None) -> None:
        self.model = model
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
        self.input_override = input_shape
        self.notes: list[str] = []
        self.bn_count = 0
        self.biased_convs = 0
        self.marked_folds = 0

    # -- the graph's input and initializers ---------------------------------------

    def read_inputs(self) -> None:
        inits = {i.name for i in self.graph.initializer}
        for init in self.graph.initializer:
            external = init.data_location == 1 or (
                not init.raw_data and not any((init.float_data, init.int64_data, init.int32_data,
                                               init.double_data)) and math.prod(init.dims) > 0)
            if external or math.prod(init.dims) > 4096:
                self.t[init.name] = Weight(tuple(init.dims))
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
        self.batch = dims[0] if dims[0] else 1
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
            from cnncalc.io.onnx_io import to_array

            try:
                value = self.t[name] = to_array(value.proto)
            except ValueError as exc:
                raise self.fail(node, str(exc)) from None
        return value

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
            raise self.fail(node, "its input has the channels last (after a Transpose); cnncalc "
                                  "maps elementwise ops, LayerNormalization over the channels and "
                                  "MatMul (a 1x1 convolution) there, until a Transpose moves the "
                                  "channels back")
        return value

    def const(self, node, i: int, what: str):
        value = self.get(node, i)
        if value is None:
            return None
        if isinstance(value, Act):
            raise self.fail(node, f"{what} (input {i}) is computed at run time; cnncalc needs it "
                                  "constant", help="export with fixed sizes (do_constant_folding=True)")
        if isinstance(value, Weight):
            raise self.fail(node, f"{what} (input {i}) is a stored tensor whose values are not in the file")
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

    def emit(self, node, type_name: str, params: dict | None, inputs: list[Act],
             out_index: int = 0, suffix: str = "", layout: str = "cf") -> Act:
        """Write one spec item and compute its output shape with the layer's own setup."""
        if type_name not in REGISTRY:
            raise self.fail(node, f"maps to the layer type '{type_name}', which this cnncalc "
                                  "does not have", help="update cnncalc")
        cls = REGISTRY[type_name]
        params = {k: v for k, v in (params or {}).items() if v is not None}
        base = _node_name(node) or type_name
        name = self.unique(base + suffix)
        try:
            values, locs = cls.parse_params(params or None, self.ndim, _LOC, {}, _LOC)
            layer = cls(self.ndim, values, None, locs)
            shape = tuple(layer.setup([a.shape for a in inputs]).out_shape)
        except SpecError as exc:
            raise self.fail(node, exc.message, exc.help) from None
        item: dict[str, Any] = {type_name: params or None, "name": name,
                                "from": [a.node for a in inputs]}
        self.items.append(item)
        self.by_name[name] = item
        self.shape_of[name] = shape
        self.onnx_of[name] = f"'{node.name or '(unnamed)'}' ({node.op_type})"
        act = Act(name, shape, layout)
        if out_index < len(node.output) and node.output[out_index]:
            self.t[node.output[out_index]] = act
            self.last_tensor[name] = node.output[out_index]
        return act

    def retype(self, name: str, type_name: str, params: dict | None = None) -> None:
        """Change an emitted item's type in place (a fused pattern: Sigmoid then Mul = SiLU)."""
        item = self.by_name[name]
        old = next(k for k in item if k not in ("name", "from"))
        new = {type_name: params, "name": item["name"], "from": item["from"]}
        item.clear()
        item.update(new)
        del old

    def producer_item(self, act: Act) -> dict | None:
        return self.by_name.get(act.node)

    def item_type(self, act: Act) -> str | None:
        item = self.producer_item(act)
        return None if item is None else next(k for k in item if k not in ("name", "from"))

    # -- folding ------------------------------------------------------------------

    def fold(self, node) -> bool:
        """Evaluate a node whose inputs are all constants (or a Shape of anything)."""
        op = node.op_type
        if op not in FOLDABLE:
            return False
        if op not in ("Constant", "Shape", "Size"):
            raw = [self.t.get(n) for n in node.input if n]
            if op == "Identity" and raw and not isinstance(raw[0], Act):  # a shared weight
                self.t[node.output[0]] = raw[0]
                return True
            if any(isinstance(v, (Act, Weight, Pending)) for v in raw):
                return False  # computed at run time: a layer, not a constant
        np = _np()
        a = _attrs(node)
        if op == "Constant":
            from cnncalc.io.onnx_io import to_array

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
        v = ins
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
            from cnncalc.io.onnx_io import NP_TYPES

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
                index[int(ax)] = slice(int(starts[j]), int(ends[j]), step)
            out = v[0][tuple(index)]
        elif op in ("Add", "Sub", "Mul", "Div", "Equal", "Min", "Max"):
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Equal": np.equal,
                 "Min": np.minimum, "Max": np.maximum,
                 "Div": (lambda x, y: x // y if x.dtype.kind in "iu" else x / y)}[op]
            out = v[0]
            for other in v[1:]:
                out = f(out, other)
        elif op in ("Floor", "Ceil", "Sqrt", "Neg", "Identity"):
            out = {"Floor": np.floor, "Ceil": np.ceil, "Sqrt": np.sqrt, "Neg": np.negative,
                   "Identity": np.asarray}[op](v[0])
        elif op == "ConstantOfShape":
            from cnncalc.io.onnx_io import to_array

            fill = to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
            out = np.full(tuple(int(d) for d in v[0]), fill.reshape(-1)[0], dtype=fill.dtype)
        elif op == "Range":
            out = np.arange(v[0], v[1], v[2])
        elif op == "Where":
            out = np.where(v[0], v[1], v[2])
        elif op == "Expand":
            out = v[0] * np.ones(tuple(int(d) for d in v[1]), dtype=v[0].dtype)
        elif op == "Reshape":
            target = [int(d) for d in v[1]]
            target = [v[0].shape[i] if d == 0 else d for i, d in enumerate(target)]
            out = v[0].reshape(target)
        elif op == "ReduceProd":
            out = np.prod(v[0], keepdims=bool(a.get("keepdims", 1)))
        else:  # pragma: no cover - FLOADABLE lists only the ops above
            return False
        self.t[node.output[0]] = np.asarray(out)
        return True

    # -- the walk -----------------------------------------------------------------

    def run(self) -> None:
        self.read_inputs()
        handlers = HANDLERS
        for node in self.graph.node:
            if (node.name, node.output[0] if node.output else "") in getattr(self, "skip", ()):
                continue
            if self.fold(node):
                continue
            handler = handlers.get(node.op_type)
            if handler is None:
                raise self.fail(
                    node, "this op has no cnncalc equivalent",
                    help="supported ops: " + ", ".join(sorted(set(HANDLERS) | set(FOLDABLE)))
                    + " (the last group only on constants)")
            handler(self, node, _attrs(node))
        for out in self.graph.output:
            if not isinstance(self.t.get(out.name), Act):
                raise SpecError(f"graph output '{out.name}' is not computed from the input",
                                kind="onnx", help="cnncalc reads networks whose outputs depend on the input")

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
            return _pairs(pairs)
        if auto == "VALID":
            return 0
        pads = a.get("pads", [0] * (2 * nd))
        if len(pads) != 2 * nd:
            raise self.fail(node, f"pads has {len(pads)} values; {2 * nd} expected")
        return _pairs(zip(pads[:nd], pads[nd:]))

    def window(self, node, a: dict, x: Act, kernel, default_stride=1):
        nd = len(kernel)
        if nd != self.ndim:
            raise self.fail(node, f"a {nd}-D window in a {self.ndim}-D network")
        strides = a.get("strides", [default_stride] * nd)
        dilations = a.get("dilations", [1] * nd)
        pad = self.padding(node, a, x.shape[1:], kernel, strides, dilations)
        return strides, dilations, pad


# -- one function per ONNX op ---------------------------------------------------------


def _conv(tr: _Translator, node, a):
    x = tr.act(node)
    w = tr.dims(node, 1)
    kernel = a.get("kernel_shape", list(w[2:]))
    strides, dilations, pad = tr.window(node, a, x, kernel)
    bias = tr.get(node, 2) is not None
    tr.biased_convs += bias
    tr.marked_folds += _folded_bn(node)
    group = a.get("group", 1)
    params = {"out_channels": int(w[0]), "kernel_size": _axes(kernel),
              "stride": None if set(strides) == {1} else _axes(strides),
              "padding": None if pad == 0 else pad,
              "dilation": None if set(dilations) == {1} else _axes(dilations),
              "groups": None if group == 1 else int(group),
              "bias": None if bias else False}
    tr.emit(node, "conv", params, [x])


def _conv_transpose(tr: _Translator, node, a):
    x = tr.act(node)
    w = tr.dims(node, 1)
    group = int(a.get("group", 1))
    kernel = a.get("kernel_shape", list(w[2:]))
    nd = len(kernel)
    strides = a.get("strides", [1] * nd)
    dilations = a.get("dilations", [1] * nd)
    out_pad = a.get("output_padding", [0] * nd)
    auto = a.get("auto_pad", "NOTSET")
    if "output_shape" in a or auto in ("SAME_UPPER", "SAME_LOWER"):
        # ONNX: total = s (L - 1) + output_padding + k_eff - out; SAME_UPPER puts the odd pixel
        # at the start of the padding removed... per the spec's formula
        target = a.get("output_shape", [L * s for L, s in zip(x.shape[1:], strides)])[-nd:]
        pairs = []
        for L, k, s, d, op, o in zip(x.shape[1:], kernel, strides, dilations, out_pad, target):
            total = s * (L - 1) + op + d * (k - 1) + 1 - o
            if total < 0:
                raise tr.fail(node, f"output_shape {list(target)} is larger than the transposed "
                                    "convolution can give")
            if auto == "SAME_UPPER":
                pairs.append((total // 2, total - total // 2))
            else:
                pairs.append((total - total // 2, total // 2))
        pad = _pairs(pairs)
    elif auto == "VALID":
        pad = 0
    else:
        pads = a.get("pads", [0] * (2 * nd))
        pad = _pairs(zip(pads[:nd], pads[nd:]))
    bias = tr.get(node, 2) is not None
    params = {"out_channels": int(w[1]) * group, "kernel_size": _axes(kernel),
              "stride": None if set(strides) == {1} else _axes(strides),
              "padding": None if pad == 0 else pad,
              "output_padding": None if set(out_pad) == {0} else _axes(out_pad),
              "dilation": None if set(dilations) == {1} else _axes(dilations),
              "groups": None if group == 1 else group, "bias": None if bias else False}
    tr.emit(node, "conv_transpose", params, [x])


def _pool(kind):
    def handler(tr: _Translator, node, a):
        x = tr.act(node)
        if len(node.output) > 1 and node.output[1] and tr.consumers.get(node.output[1]):
            raise tr.fail(node, "the pooling indices output is used; cnncalc has no unpooling")
        kernel = a["kernel_shape"]
        strides, dilations, pad = tr.window(node, a, x, kernel)
        params = {"kernel_size": _axes(kernel), "stride": _axes(strides),
                  "padding": None if pad == 0 else pad,
                  "ceil_mode": True if a.get("ceil_mode", 0) else None}
        if kind == "maxpool":
            params["dilation"] = None if set(dilations) == {1} else _axes(dilations)
        elif pad != 0 and not a.get("count_include_pad", 0):
            params["count_include_pad"] = False  # ONNX's default; PyTorch's is True
        tr.emit(node, kind, params, [x])
    return handler


def _global(kind):
    def handler(tr: _Translator, node, a):
        tr.emit(node, kind, None, [tr.act(node)])
    return handler


def _reduce(kind):
    def handler(tr: _Translator, node, a):
        x = tr.act(node)
        rank = tr.full_rank(x)
        axes = a.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = [int(v) for v in tr.const(node, 1, "axes")]
        spatial = set(range(2, rank))
        if axes is None or {int(v) % rank for v in axes} != spatial or not spatial:
            raise tr.fail(node, f"reduces axes {axes}; cnncalc maps a reduction over every spatial "
                                f"axis ({sorted(spatial)}) only", help="global pooling over H, W")
        y = tr.emit(node, kind, None, [x])
        if not a.get("keepdims", 1):
            tr.emit(node, "flatten", None, [y], suffix="_flatten")
    return handler


def _gemm(tr: _Translator, node, a):
    x = tr.act(node)
    if a.get("transA", 0):
        raise tr.fail(node, "transA=1 (the data transposed) has no cnncalc equivalent")
    w = tr.dims(node, 1)
    out = w[0] if a.get("transB", 0) else w[1]
    bias = tr.get(node, 2) is not None
    tr.emit(node, "linear", {"out_features": int(out), "bias": None if bias else False}, [x])


def _matmul(tr: _Translator, node, a):
    x = tr.act(node, 0, BOTH)
    w = tr.dims(node, 1)
    if len(w) != 2:
        raise tr.fail(node, f"MatMul with a {len(w)}-D right operand; cnncalc maps x @ W, W 2-D")
    if x.layout == "cl":  # x @ W over the channels at every position: a 1x1 convolution
        y = tr.emit(node, "conv", {"out_channels": int(w[1]), "kernel_size": 1, "bias": False}, [x],
                    layout="cl")
    else:
        y = tr.emit(node, "linear", {"out_features": int(w[1]), "bias": False}, [x])
    tr.pending_bias = getattr(tr, "pending_bias", {})
    tr.pending_bias[y.node] = int(w[1])


def _binary(kind):
    def handler(tr: _Translator, node, a):
        first, second = tr.get(node, 0), tr.get(node, 1)
        if isinstance(first, Pending) or isinstance(second, Pending) or \
                (_scalar(first) is not None) != (_scalar(second) is not None):
            if _gelu_chain(tr, node, first, second):
                return
            for v in (first, second):
                if isinstance(v, Pending):
                    tr.act(node, (first, second).index(v))  # raises, naming the node
        if isinstance(first, Act) and isinstance(second, Act):
            if first.layout != second.layout:
                raise tr.fail(node, "its inputs have the channels in different places")
            if kind == "multiply":
                for gate, x in ((first, second), (second, first)):
                    t = tr.item_type(gate)
                    inner = tr.producer_item(gate)
                    if t in ("sigmoid", "hardsigmoid") and inner["from"] == [x.node] and \
                            tr.consumers.get(tr.last_tensor.get(gate.node), 0) == 1:
                        # x * sigmoid(x) = SiLU (Elfwing et al. 2018); x * hardsigmoid(x) = hardswish
                        tr.retype(gate.node, "silu" if t == "sigmoid" else "hardswish")
                        tr.t[node.output[0]] = gate
                        tr.last_tensor[gate.node] = node.output[0]
                        return
            tr.emit(node, kind, None, [first, second], layout=first.layout)
            return
        act = first if isinstance(first, Act) else second
        other = second if act is first else first
        if kind == "multiply" and isinstance(act, Act) and len(act.shape) > 1:
            dims = tuple(node_dims(tr, node, 1 if act is first else 0))
            ones = (1,) * (len(act.shape) - 1)
            per_channel = [(act.shape[0],)] if act.layout == "cl" else \
                [(act.shape[0], *ones), (1, act.shape[0], *ones)]
            if dims in per_channel:  # x · γ, one learnable scale per channel
                tr.emit(node, "layer_scale", None, [act], layout=act.layout)
                return
        pending = getattr(tr, "pending_bias", {})
        if kind == "add" and isinstance(act, Act) and act.node in pending and \
                tr.consumers.get(tr.last_tensor.get(act.node), 0) == 1:
            dims = other.dims if isinstance(other, Weight) else tuple(other.shape)
            if math.prod(dims) == pending[act.node]:
                item = tr.by_name[act.node]
                del item[_kind(item)]["bias"]  # MatMul + Add = linear (or 1x1 conv) with bias
                del pending[act.node]
                tr.t[node.output[0]] = act
                tr.last_tensor[act.node] = node.output[0]
                return
        raise tr.fail(node, f"{node.op_type} of a computed tensor and a constant has no cnncalc "
                            "equivalent", help="cnncalc maps Add/Mul of two computed tensors "
                            "(residuals, gates) and MatMul + Add (linear)")
    return handler


def node_dims(tr: _Translator, node, i: int) -> tuple:
    """The shape of a node's stored input (weight or constant)."""
    return tr.dims(node, i)


BOTH = ("cf", "cl")  # elementwise ops do not care where the channels are


def _unary(kind, **fixed):
    def handler(tr: _Translator, node, a):
        params = {k: (a.get(src, default) if isinstance(src, str) else src)
                  for k, (src, default) in fixed.items()} or None
        x = tr.act(node, 0, BOTH)
        tr.emit(node, kind, params, [x], layout=x.layout)
    return handler


def _gelu(tr: _Translator, node, a):
    approx = a.get("approximate", "none")
    x = tr.act(node, 0, BOTH)
    tr.emit(node, "gelu", {"approximate": None if approx == "none" else approx}, [x], layout=x.layout)


def _scalar(value) -> float | None:
    if isinstance(value, (Act, Weight, Pending)) or value is None:
        return None
    np = _np()
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
        tr.emit(node, "gelu", None, [acts[0]], layout=acts[0].layout)
    elif op == "Mul" and pend and c == 0.5 and pend[0].step == "x(1+erf)" or \
            op == "Mul" and len(pend) == 2 and {p.step for p in pend} == {"x/2", "1+erf"} \
            and same(pend[0].x, pend[1].x):
        x = pend[0].x
        tr.emit(node, "gelu", None, [x], layout=x.layout)
    else:
        return False
    return True


def _erf(tr: _Translator, node, a):
    x = tr.get(node, 0)
    if isinstance(x, Pending) and x.step == "x/sqrt2":
        tr.t[node.output[0]] = Pending("erf", x.x, node)
        return
    raise tr.fail(node, "Erf outside the GELU chain x·0.5·(1 + erf(x/√2)) has no cnncalc equivalent")


def _div(tr: _Translator, node, a):
    if not _gelu_chain(tr, node, tr.get(node, 0), tr.get(node, 1)):
        raise tr.fail(node, "Div of a computed tensor has no cnncalc equivalent (outside the "
                            "GELU chain)")


def _clip(tr: _Translator, node, a):
    x = tr.act(node)
    lo, hi = a.get("min"), a.get("max")
    if len(node.input) > 1:
        v = tr.const(node, 1, "min")
        lo = None if v is None else float(v)
    if len(node.input) > 2:
        v = tr.const(node, 2, "max")
        hi = None if v is None else float(v)
    if lo == 0 and hi == 6:
        tr.emit(node, "relu6", None, [x])
    elif lo == 0 and (hi is None or hi == float("inf") or hi >= 3.4e38):
        tr.emit(node, "relu", None, [x])
    elif lo is not None and hi is not None and "hardtanh" in REGISTRY:
        tr.emit(node, "hardtanh", {"min_val": float(f"{lo:.6g}"), "max_val": float(f"{hi:.6g}")}, [x])
    else:
        raise tr.fail(node, f"Clip to [{lo}, {hi}]; cnncalc maps Clip(0, 6) (ReLU6), Clip(0, inf) "
                            "(ReLU) and other bounded ranges (hardtanh)")


def _hardsigmoid(tr: _Translator, node, a):
    alpha, beta = a.get("alpha", 0.2), a.get("beta", 0.5)
    if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-6:
        raise tr.fail(node, f"HardSigmoid with alpha {alpha}, beta {beta}; cnncalc's hardsigmoid "
                            "is PyTorch's: relu6(x + 3) / 6 (alpha 1/6, beta 0.5)")
    tr.emit(node, "hardsigmoid", None, [tr.act(node)])


def _batchnorm(tr: _Translator, node, a):
    if a.get("training_mode", 0):
        raise tr.fail(node, "training_mode=1: export the model in eval mode")
    tr.bn_count += 1
    eps = float(a.get("epsilon", 1e-5))
    eps = float(f"{eps:.6g}")  # float32 attribute: 1e-5 is stored as 9.99999974e-06
    tr.emit(node, "batchnorm", {"eps": None if eps == 1e-5 else eps}, [tr.act(node)])


def _sum(tr: _Translator, node, a):
    ins = [tr.act(node, i, BOTH) for i in range(len(node.input))]
    if len({x.layout for x in ins}) != 1:
        raise tr.fail(node, "its inputs have the channels in different places")
    tr.emit(node, "add", None, ins, layout=ins[0].layout)


def _concat(tr: _Translator, node, a):
    ins = [tr.act(node, i) for i in range(len(node.input))]
    rank = tr.full_rank(ins[0])
    if a.get("axis", 1) % rank != 1:
        raise tr.fail(node, f"Concat along axis {a.get('axis')}; cnncalc concatenates channels (axis 1)")
    tr.emit(node, "concat", None, ins)


def _flatten(tr: _Translator, node, a):
    x = tr.act(node)
    if a.get("axis", 1) % tr.full_rank(x) != 1:
        raise tr.fail(node, f"Flatten at axis {a.get('axis')}; cnncalc keeps the batch axis (axis 1)")
    tr.emit(node, "flatten", None, [x])


def _shuffle_end(tr: _Translator, node):
    """Reshape (N, g, C/g, H, W) -> Transpose (0, 2, 1, 3, 4) -> Reshape (N, C, H, W):
    ShuffleNet's channel shuffle (Zhang et al. 2018, section 3.1). Returns (input, g) or None."""
    out = node.output[0]
    users = [n for n in tr.graph.node if out in n.input]
    if len(users) != 1 or users[0].op_type != "Transpose":
        return None
    perm = list(_attrs(users[0]).get("perm", []))
    if len(perm) < 4 or perm[:3] != [0, 2, 1] or perm[3:] != list(range(3, len(perm))):
        return None
    after = [n for n in tr.graph.node if users[0].output[0] in n.input]
    if len(after) != 1 or after[0].op_type != "Reshape":
        return None
    return users[0], after[0]


def _reshape(tr: _Translator, node, a):
    x = tr.act(node)
    target = [int(v) for v in tr.const(node, 1, "the target shape")]
    full = (tr.batch, *x.shape)
    target = [full[i] if d == 0 and not a.get("allowzero", 0) else d for i, d in enumerate(target)]
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        target[target.index(-1)] = math.prod(full) // max(known, 1)
    if len(target) == 1 and _strided_identity(tr, node, full):
        return
    if math.prod(target) != math.prod(full) or target[0] != tr.batch:
        raise tr.fail(node, f"reshapes {list(full)} to {target}; cnncalc keeps the batch axis",
                      help="reshape each sample: x.view(x.size(0), ...)")
    shuffle = _shuffle_end(tr, node)
    if shuffle is not None and len(target) == len(full) + 1 and target[1] * target[2] == full[1]:
        transpose, back = shuffle
        tr.shuffle_skip = getattr(tr, "shuffle_skip", set()) | {transpose.name + "|" + transpose.output[0],
                                                                back.name + "|" + back.output[0]}
        y = tr.emit(back, "channel_shuffle", {"groups": int(target[1])}, [x])
        tr.t[transpose.output[0]] = y  # consumed only by `back`, skipped below
        return
    per_sample = target[1:]
    if list(per_sample) == list(x.shape):
        tr.t[node.output[0]] = x  # a no-op reshape: no layer
        return
    if len(per_sample) == 1 and len(x.shape) > 1:
        tr.emit(node, "flatten", None, [x])
        return
    tr.emit(node, "reshape", {"shape": [int(d) for d in per_sample]}, [x])


def _layer_norm(tr: _Translator, node, a):
    x = tr.act(node, 0, BOTH)
    rank = tr.full_rank(x)
    if x.layout == "cl" and a.get("axis", -1) % rank == rank - 1:
        eps = float(f"{a.get('epsilon', 1e-5):.6g}")
        tr.emit(node, "layernorm", {"over": "channels", "eps": None if eps == 1e-5 else eps}, [x],
                layout="cl")
        return
    if a.get("axis", -1) % rank != 1:
        raise tr.fail(node, f"LayerNormalization from axis {a.get('axis', -1)}; cnncalc maps "
                            "normalizing every axis but the batch (axis 1), or the channels "
                            "between two Transposes (ConvNeXt's LayerNorm2d)")
    eps = float(f"{a.get('epsilon', 1e-5):.6g}")
    tr.emit(node, "layernorm", {"eps": None if eps == 1e-5 else eps}, [x])


def _strided_identity(tr: _Translator, node, full) -> bool:
    """Reshape to 1-D, then Gather (axis 0) of the indices 0, 1, 2, ... laid out in the
    original shape: the dynamo exporter's as_strided that changes nothing. No layer."""
    users = [n for n in tr.graph.node if node.output[0] in n.input]
    if len(users) != 1 or users[0].op_type != "Gather" or _attrs(users[0]).get("axis", 0) != 0:
        return False
    indices = tr.t.get(users[0].input[1])
    if isinstance(indices, _Stored):
        indices = tr.get(users[0], 1)
    if isinstance(indices, (Act, Weight, Pending)) or indices is None:
        return False
    np = _np()
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
    raise tr.fail(node, f"Transpose with perm {list(a.get('perm', []))}: cnncalc maps a Transpose "
                        "only inside a channel shuffle (Reshape, Transpose (0, 2, 1, ...), Reshape)")


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
    x = tr.act(node)
    rank = tr.full_rank(x)
    axis = a.get("axis", 0) % rank
    if axis == 0:
        raise tr.fail(node, "a Split of the batch axis")
    n = len(node.output)
    sizes = a.get("split")
    if sizes is None and len(node.input) > 1 and node.input[1]:
        sizes = [int(v) for v in tr.const(node, 1, "split")]
    channels = x.shape[axis - 1]
    if sizes is None:
        k = a.get("num_outputs", n)
        chunk = -(-channels // k)
        sizes = [min(chunk, channels - i * chunk) for i in range(k)]
    sizes = [int(s) for s in sizes]
    equal = len(set(sizes)) == 1
    for i, out in enumerate(node.output):
        if not out or not tr.consumers.get(out):
            continue
        params = {"chunks": len(sizes), "index": i} if equal else {"sizes": sizes, "index": i}
        if axis != 1:
            params["dim"] = axis  # counting the batch axis as 0, as PyTorch does
        tr.emit(node, "chunk" if equal else "split", params, [x], out_index=i, suffix=f"_{i}")


def _slice(tr: _Translator, node, a):
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
    if set(ranges) == {1}:
        b, e = ranges[1]
        c = full[1]
        parts = [s for s in (b, e - b, c - e) if s]
        index = 1 if b else 0
        tr.emit(node, "split", {"sizes": parts, "index": index}, [x])
        return
    if 1 in ranges:
        raise tr.fail(node, "a Slice of channels and spatial axes at once")
    pairs = [ranges.get(ax, (0, full[ax])) for ax in range(2, rank)]
    crop = [(b, full[ax] - e) for ax, (b, e) in zip(range(2, rank), pairs)]
    tr.emit(node, "crop", {"cropping": _pairs(crop)}, [x])


def _resize(tr: _Translator, node, a):
    x = tr.act(node)
    mode = a.get("mode", "nearest")
    ctm = a.get("coordinate_transformation_mode", "half_pixel")
    nearest = a.get("nearest_mode", "round_prefer_floor")
    scales = sizes = None
    if node.op_type == "Upsample":
        scales = tr.const(node, 1, "scales") if len(node.input) > 1 else a.get("scales")
        ctm, nearest = "asymmetric", "floor"
    else:
        if len(node.input) > 2 and node.input[2]:
            scales = tr.const(node, 2, "scales")
        if len(node.input) > 3 and node.input[3]:
            sizes = tr.const(node, 3, "sizes")
        if scales is not None and len(scales) == 0:
            scales = None
    rank = tr.full_rank(x)
    if scales is not None:
        scales = [float(s) for s in scales]
        if len(scales) != rank or scales[:2] != [1.0, 1.0]:
            raise tr.fail(node, f"scales {scales}: cnncalc resizes spatial axes only")
        geometry = {"scale_factor": _axes_f(scales[2:])}
    elif sizes is not None:
        sizes = [int(s) for s in sizes]
        if len(sizes) != rank or sizes[1] != x.shape[0]:
            raise tr.fail(node, f"sizes {sizes}: cnncalc resizes spatial axes only")
        geometry = {"size": _axes(sizes[2:])}
    else:
        raise tr.fail(node, "Resize without constant scales or sizes")
    if mode == "nearest":
        if ctm != "asymmetric" or nearest != "floor":
            raise tr.fail(node, f"nearest with coordinate_transformation_mode {ctm} and nearest_mode "
                                f"{nearest}; cnncalc's nearest is PyTorch's (asymmetric, floor)")
        tr.emit(node, "upsample", geometry, [x])
    elif mode == "linear":
        if ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
            raise tr.fail(node, f"linear with coordinate_transformation_mode {ctm}; cnncalc maps "
                                "half_pixel, pytorch_half_pixel and align_corners")
        name = {1: "linear", 2: "bilinear", 3: "trilinear"}[tr.ndim]
        tr.emit(node, "upsample", {**geometry, "mode": name,
                                   "align_corners": True if ctm == "align_corners" else None}, [x])
    else:
        raise tr.fail(node, f"Resize mode {mode}; cnncalc maps nearest and linear")


def _axes_f(values):
    values = [int(v) if float(v).is_integer() else float(v) for v in values]
    return values[0] if len(set(values)) == 1 else values


def _pad(tr: _Translator, node, a):
    x = tr.act(node)
    rank = tr.full_rank(x)
    if "pads" in a:
        pads = list(a["pads"])
        value = a.get("value", 0.0)
    else:
        pads = [int(v) for v in tr.const(node, 1, "pads")]
        v = tr.const(node, 2, "constant_value") if len(node.input) > 2 else None
        value = 0.0 if v is None else float(v)
    if len(node.input) > 3 and node.input[3]:
        raise tr.fail(node, "Pad with axes: give pads for every axis")
    if any(pads[i] or pads[i + rank] for i in (0, 1)):
        raise tr.fail(node, f"pads {pads} pad the batch or channel axis; cnncalc pads spatial axes")
    if any(p < 0 for p in pads):
        raise tr.fail(node, f"negative pads {pads} (cropping); cnncalc's crop does that")
    mode = {"constant": "zeros", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}.get(
        a.get("mode", "constant"))
    if mode is None:
        raise tr.fail(node, f"Pad mode {a.get('mode')}")
    pairs = list(zip(pads[2:rank], pads[rank + 2:]))
    tr.emit(node, "pad", {"padding": _pairs(pairs), "mode": None if mode == "zeros" else mode,
                          "value": None if value == 0 else value}, [x])


def _dropout(tr: _Translator, node, a):
    x = tr.act(node)
    ratio = a.get("ratio", 0.5)
    if len(node.input) > 1 and node.input[1]:
        ratio = float(tr.const(node, 1, "ratio"))
    ratio = float(f"{ratio:.6g}")
    tr.emit(node, "dropout", {"p": None if ratio == 0.5 else ratio}, [x])


def _depth_to_space(tr: _Translator, node, a):
    if a.get("mode", "DCR") != "CRD":
        raise tr.fail(node, "DepthToSpace in DCR mode (TensorFlow's order); PyTorch's pixel "
                            "shuffle exports CRD")
    tr.emit(node, "pixel_shuffle", {"upscale_factor": int(a["blocksize"])}, [tr.act(node)])


def _lrn(tr: _Translator, node, a):
    tr.emit(node, "lrn", {"size": int(a["size"]), "alpha": float(f"{a.get('alpha', 1e-4):.6g}"),
                          "beta": float(f"{a.get('beta', 0.75):.6g}"),
                          "k": float(f"{a.get('bias', 1.0):.6g}")}, [tr.act(node)])


def _softmax(tr: _Translator, node, a):
    x = tr.act(node)
    axis = a.get("axis", -1) % tr.full_rank(x)
    tr.emit(node, "softmax", {"dim": None if axis == 1 else axis}, [x])


def _prelu(tr: _Translator, node, a):
    slope = tr.dims(node, 1)
    tr.emit(node, "prelu", {"num_parameters": int(math.prod(slope)) or 1}, [tr.act(node)])


HANDLERS = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "MaxPool": _pool("maxpool"),
    "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _global("global_avgpool"),
    "GlobalMaxPool": _global("global_maxpool"),
    "ReduceMean": _reduce("global_avgpool"),
    "ReduceMax": _reduce("global_maxpool"),
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batchnorm,
    "Relu": _unary("relu"),
    "Sigmoid": _unary("sigmoid"),
    "Tanh": _unary("tanh"),
    "HardSwish": _unary("hardswish"),
    "HardSigmoid": _hardsigmoid,
    "LeakyRelu": _unary("leaky_relu", negative_slope=("alpha", 0.01)),
    "Elu": _unary("elu", alpha=("alpha", 1.0)),
    "Selu": _unary("selu"),
    "Softplus": _unary("softplus"),
    "Gelu": _gelu,
    "Mish": _unary("mish"),
    "Clip": _clip,
    "Add": _binary("add"),
    "Mul": _binary("multiply"),
    "Concat": _concat,
    "Sum": _sum,
    "Flatten": _flatten,
    "Reshape": _skip_if_shuffled(_reshape),
    "Transpose": _skip_if_shuffled(_transpose),
    "Erf": _erf,
    "Div": _div,
    "LayerNormalization": _layer_norm,
    "Split": _split,
    "Slice": _slice,
    "Resize": _resize,
    "Upsample": _resize,
    "Pad": _pad,
    "Dropout": _dropout,
    "Identity": _unary("identity"),
    "DepthToSpace": _depth_to_space,
    "LRN": _lrn,
    "Softmax": _softmax,
    "PRelu": _prelu,
}


def translate(model, input_shape=None, readable: bool = False):
    """An ONNX ModelProto as a cnncalc spec (:class:`cnncalc.io.onnx_io.Imported`).

    Args:
        model: an ``onnx.ModelProto`` (initializers may lack their data).
        input_shape: per-sample shape replacing the model's input (symbolic sizes).
        readable: write ``from`` only where the input is not the previous layer.

    Raises:
        SpecError: an unmappable op (named, with its type and the supported ops), or
            a graph cnncalc cannot read (several inputs, a batch-mixing reshape).
    """
    from cnncalc.io.onnx_io import Imported

    tr = _Translator(model, input_shape)
    tr.run()
    if not tr.items:
        raise SpecError("the model has no layers: its outputs are its input or constants",
                        kind="onnx", help="cnncalc analyses graphs with at least one op on the input")
    name = model.graph.name or "onnx_model"
    notes = []
    if tr.marked_folds:
        notes.append(
            f"the exporter folded batch norm into {tr.marked_folds} convolution(s) (its metadata "
            "names FuseBatchNormIntoConv; eval mode: w' = w·γ/σ, b' = β + (b − μ)·γ/σ): each "
            "folded norm's 2·C parameters and 2·C buffers are absent and its convolution has a "
            "C-element bias, so the parameter count is lower than the framework's (ResNet-18: "
            "11,684,712 here, 11,689,512 in torchvision)")
    elif tr.bn_count == 0 and tr.biased_convs:
        notes.append(
            f"no BatchNormalization node, and {tr.biased_convs} convolution(s) have a bias: if the "
            "source model had batch norm after them, the exporter folded it into the convolution "
            "(eval mode: w' = w·γ/σ, b' = β + (b − μ)·γ/σ). Each folded norm's 2·C parameters and "
            "2·C buffers are then absent and its convolution gains a C-element bias, so the "
            "parameter count is lower than the framework's (ResNet-18: 11,684,712 here, "
            "11,689,512 in torchvision)")
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
        text = structured_text(lines, tr.items)
        return Imported(text, tr.items, {}, notes, recorded, name, tr.input_shape)
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
    return Imported(text, tr.items, node_of_line, notes, recorded, name, tr.input_shape)


# -- export: cnncalc layer types -> ONNX nodes -------------------------------------------


class OnnxBuilder:
    """Collects ONNX nodes and initializers while a network is written out.

    Tensor names are cnncalc node names (``layer1.0.conv1``); weights keep cnncalc's
    keys (``layer1.0.conv1.weight``: PyTorch's names and layouts).
    """

    def __init__(self, weights: dict, batch: int) -> None:
        self.weights = weights
        self.batch = batch
        self.nodes: list = []
        self.inits: list = []
        self.names: set[str] = set()

    def node(self, op: str, inputs: list[str], output: str, name: str, **attrs) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def init(self, name: str, array) -> str:
        from onnx import numpy_helper

        if name not in self.names:
            self.names.add(name)
            self.inits.append(numpy_helper.from_array(_np().asarray(array), name))
        return name

    def weight(self, node, key: str, transpose: bool = False) -> str:
        """The initializer of a layer's tensor (``transpose``: a 2-D weight as W^T under the
        name ``<key>_t``); shape only, without values, when the builder has no weights."""
        name = f"{node.name}.{key}" + ("_t" if transpose else "")
        if self.weights is None:
            return self.placeholder(name, node.facts.params.get(key)
                                    or node.facts.buffers[key], transpose)
        array = self.weights[f"{node.name}.{key}"]
        return self.init(name, array.T.copy() if transpose else array)

    def placeholder(self, name: str, dims, transpose: bool = False) -> str:
        """A float initializer that records its shape and no values (its data is marked
        external, as in a file whose weights were stripped)."""
        from onnx import TensorProto

        if name not in self.names:
            self.names.add(name)
            t = TensorProto(name=name, data_type=TensorProto.FLOAT,
                            dims=list(reversed(dims)) if transpose else list(dims))
            t.data_location = TensorProto.EXTERNAL
            entry = t.external_data.add()
            entry.key, entry.value = "location", "stripped.weights"
            self.inits.append(t)
        return name

    def ints(self, name: str, values) -> str:
        return self.init(name, _np().array([int(v) for v in values], dtype=_np().int64))

    def floats(self, name: str, values) -> str:
        return self.init(name, _np().array(values, dtype=_np().float32))


def _onnx_pads(pairs) -> list[int]:
    return [b for b, _ in pairs] + [a for _, a in pairs]


def _x_conv(b: OnnxBuilder, node, layer, ins, out):
    inputs = [ins[0], b.weight(node, "weight")]
    if layer.p["bias"]:
        inputs.append(b.weight(node, "bias"))
    op = "ConvTranspose" if node.type == "conv_transpose" else "Conv"
    attrs = dict(kernel_shape=list(layer.kernel), strides=list(layer.stride),
                 dilations=list(layer.dilation), pads=_onnx_pads(layer.pads),
                 group=int(layer.p["groups"]))
    if op == "ConvTranspose":
        attrs["output_padding"] = list(layer.p["output_padding"])
    b.node(op, inputs, out, node.name, **attrs)


def _x_separable(b: OnnxBuilder, node, layer, ins, out):
    dw = layer.depthwise
    mid = b.node("Conv", [ins[0], b.weight(node, "depthwise_weight")], node.name + ".depthwise",
                 node.name + ".depthwise", kernel_shape=list(dw.kernel), strides=list(dw.stride),
                 dilations=list(dw.dilation), pads=_onnx_pads(dw.pads), group=int(dw.p["groups"]))
    inputs = [mid, b.weight(node, "pointwise_weight")]
    if layer.p["bias"]:
        inputs.append(b.weight(node, "bias"))
    b.node("Conv", inputs, out, node.name + ".pointwise", kernel_shape=[1] * layer.ndim)


def _x_pool(op):
    def emit(b: OnnxBuilder, node, layer, ins, out):
        attrs = dict(kernel_shape=list(layer.kernel), strides=list(layer.stride),
                     pads=_onnx_pads(layer.pads), ceil_mode=int(layer.p["ceil_mode"]))
        if op == "MaxPool" and any(d != 1 for d in layer.dilation):
            attrs["dilations"] = list(layer.dilation)
        if op == "AveragePool":
            attrs["count_include_pad"] = int(layer.p["count_include_pad"])
        b.node(op, ins, out, node.name, **attrs)
    return emit


def _x_adaptive(op):
    def emit(b: OnnxBuilder, node, layer, ins, out):
        if all(o == 1 for o in layer.outs):  # the whole input: global pooling
            b.node("Global" + op, ins, out, node.name)
            return
        if any(L % o for L, o in zip(layer.sizes, layer.outs)):
            raise SpecError(f"{node.type} '{node.name}': {fmt(layer.sizes)} to {fmt(layer.outs)} does "
                            "not divide evenly; ONNX has no adaptive pooling", kind="export",
                            help="make the input size a multiple of output_size")
        k = [L // o for L, o in zip(layer.sizes, layer.outs)]
        b.node(op, ins, out, node.name, kernel_shape=k, strides=k)
    return emit


def fmt(values) -> str:
    return "x".join(str(v) for v in values)


def _x_simple(op, **fixed):
    def emit(b: OnnxBuilder, node, layer, ins, out):
        attrs = {k: (layer.p[v] if isinstance(v, str) else v) for k, v in fixed.items()}
        b.node(op, ins, out, node.name, **attrs)
    return emit


def _x_relu6(b: OnnxBuilder, node, layer, ins, out):
    b.node("Clip", [ins[0], b.floats("zero_f", 0.0), b.floats("six_f", 6.0)], out, node.name)


def _x_silu(b: OnnxBuilder, node, layer, ins, out):
    s = b.node("Sigmoid", ins, node.name + ".sigmoid", node.name + ".sigmoid")
    b.node("Mul", [ins[0], s], out, node.name)


def _x_hardsigmoid(b: OnnxBuilder, node, layer, ins, out):
    b.node("HardSigmoid", ins, out, node.name, alpha=1 / 6, beta=0.5)


def _x_softmax(b: OnnxBuilder, node, layer, ins, out):
    b.node("Softmax", ins, out, node.name, axis=int(layer.axis))


def _x_prelu(b: OnnxBuilder, node, layer, ins, out):
    n = layer.p["num_parameters"]
    rank = len(layer.in_shape)  # per sample: the slope broadcasts over the axes after C
    shape = (n, *([1] * (rank - 1))) if n > 1 else (1,)
    if b.weights is None:
        slope = b.placeholder(f"{node.name}.weight", shape)
    else:
        slope = b.init(f"{node.name}.weight", b.weights[f"{node.name}.weight"].reshape(shape))
    b.node("PRelu", [ins[0], slope], out, node.name)


def _x_linear(b: OnnxBuilder, node, layer, ins, out):
    if len(layer.in_shape) == 1:
        inputs = [ins[0], b.weight(node, "weight")]
        if layer.p["bias"]:
            inputs.append(b.weight(node, "bias"))
        b.node("Gemm", inputs, out, node.name, transB=1)
        return
    wt = b.weight(node, "weight", transpose=True)
    if not layer.p["bias"]:
        b.node("MatMul", [ins[0], wt], out, node.name)
        return
    mm = b.node("MatMul", [ins[0], wt], node.name + ".matmul", node.name + ".matmul")
    b.node("Add", [mm, b.weight(node, "bias")], out, node.name)


def _x_batchnorm(b: OnnxBuilder, node, layer, ins, out):
    np = _np()
    c = layer.channels
    names = []
    for key, fill in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
        if key in {**layer.param_shapes(), **layer.buffer_shapes()}:
            names.append(b.weight(node, key))
        else:  # affine: false or no running statistics: the identity's values
            names.append(b.init(f"{node.name}.{key}", np.full(c, fill, np.float32)))
    b.node("BatchNormalization", [ins[0], *names], out, node.name, epsilon=float(layer.p["eps"]))


def _x_lrn(b: OnnxBuilder, node, layer, ins, out):
    b.node("LRN", ins, out, node.name, size=int(layer.p["size"]), alpha=float(layer.p["alpha"]),
           beta=float(layer.p["beta"]), bias=float(layer.p["k"]))


def _x_upsample(b: OnnxBuilder, node, layer, ins, out):
    if layer.p["scale_factor"] is not None:
        sizes_or_scales = ["", b.floats(node.name + ".scales",
                                        [1.0, 1.0, *(float(f) for f in layer.p["scale_factor"])])]
    else:
        sizes_or_scales = ["", "", b.ints(node.name + ".sizes",
                                          [b.batch, layer.out_shape[0], *layer.out_shape[1:]])]
    if layer.p["mode"] == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        attrs = dict(mode="linear", coordinate_transformation_mode="align_corners"
                     if layer.p["align_corners"] else "half_pixel")
    b.node("Resize", [ins[0], *sizes_or_scales], out, node.name, **attrs)


def _x_pad(b: OnnxBuilder, node, layer, ins, out):
    pads = [0, 0, *(p for p, _ in layer.pads), 0, 0, *(a for _, a in layer.pads)]
    mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[
        layer.p["mode"]]
    inputs = [ins[0], b.ints(node.name + ".pads", pads)]
    if mode == "constant" and layer.p["value"]:
        inputs.append(b.init(node.name + ".value", _np().array(layer.p["value"], _np().float32)))
    b.node("Pad", inputs, out, node.name, mode=mode)


def _x_crop(b: OnnxBuilder, node, layer, ins, out):
    sizes = layer.in_shape[1:]
    starts = [p for p, _ in layer.pads]
    ends = [L - a for L, (_, a) in zip(sizes, layer.pads)]
    axes = list(range(2, 2 + len(sizes)))
    b.node("Slice", [ins[0], b.ints(node.name + ".starts", starts), b.ints(node.name + ".ends", ends),
                     b.ints(node.name + ".axes", axes)], out, node.name)


def _x_reshape(b: OnnxBuilder, node, layer, ins, out):
    b.node("Reshape", [ins[0], b.ints(node.name + ".shape", [b.batch, *layer.out_shape])], out,
           node.name)


def _x_merge(op, many=None):
    def emit(b: OnnxBuilder, node, layer, ins, out):
        if len(ins) > 2 and many is None:
            raise SpecError(f"{node.type} '{node.name}' of {len(ins)} inputs", kind="export")
        b.node(op if len(ins) == 2 or many is None else many, ins, out, node.name,
               **({"axis": 1} if op == "Concat" else {}))
    return emit


def _x_dropout(b: OnnxBuilder, node, layer, ins, out):
    b.node("Dropout", [ins[0], b.floats(node.name + ".ratio", float(layer.p["p"]))], out, node.name)


def _x_hardtanh(b: OnnxBuilder, node, layer, ins, out):
    b.node("Clip", [ins[0], b.floats(node.name + ".min", float(layer.p["min_val"])),
                    b.floats(node.name + ".max", float(layer.p["max_val"]))], out, node.name)


def _x_softplus(b: OnnxBuilder, node, layer, ins, out):
    if layer.p["beta"] != 1:
        raise SpecError(f"softplus '{node.name}': ONNX's Softplus has no beta (PyTorch's "
                        f"beta {layer.p['beta']})", kind="export")
    b.node("Softplus", ins, out, node.name)  # above PyTorch's threshold 20, both give x (within 2e-9)


def _x_layer_scale(b: OnnxBuilder, node, layer, ins, out):
    b.node("Mul", [ins[0], b.weight(node, "layer_scale")], out, node.name)


def _x_slice(b: OnnxBuilder, node, layer, ins, out):
    """chunk / split: the part [start, stop) along dim (batch counted as 0)."""
    dim = int(layer.p["dim"])
    b.node("Slice", [ins[0], b.ints(node.name + ".starts", [layer.start]),
                     b.ints(node.name + ".ends", [layer.stop]), b.ints(node.name + ".axes", [dim])],
           out, node.name)


def _x_channel_shuffle(b: OnnxBuilder, node, layer, ins, out):
    """ShuffleNet's shuffle as PyTorch exports it: Reshape, Transpose, Reshape."""
    c, *sizes = layer.in_shape
    g = int(layer.p["groups"])
    split = b.node("Reshape", [ins[0], b.ints(node.name + ".grouped_shape", [b.batch, g, c // g, *sizes])],
                   node.name + ".grouped", node.name + ".reshape")
    perm = [0, 2, 1, *range(3, 3 + len(sizes))]
    swapped = b.node("Transpose", [split], node.name + ".swapped", node.name + ".transpose", perm=perm)
    b.node("Reshape", [swapped, b.ints(node.name + ".shape", [b.batch, c, *sizes])], out, node.name)


def _x_layernorm(b: OnnxBuilder, node, layer, ins, out):
    """over: all -> LayerNormalization from axis 1; over: channels -> Transpose the channels
    last, LayerNormalization of the last axis, Transpose back (as PyTorch exports LayerNorm2d)."""
    np = _np()
    shape = layer.affine_shape()
    if layer.p["elementwise_affine"]:
        scale, bias = b.weight(node, "weight"), b.weight(node, "bias")
    else:
        scale = b.init(node.name + ".ones", np.ones(shape, np.float32))
        bias = b.init(node.name + ".zeros", np.zeros(shape, np.float32))
    eps = float(layer.p["eps"])
    if layer.p["over"] == "all":
        b.node("LayerNormalization", [ins[0], scale, bias], out, node.name, axis=1, epsilon=eps)
        return
    r = len(layer.in_shape) + 1
    last = b.node("Transpose", ins, node.name + ".channels_last", node.name + ".to_channels_last",
                  perm=[0, *range(2, r), 1])
    normed = b.node("LayerNormalization", [last, scale, bias], node.name + ".normed",
                    node.name + ".norm", axis=-1, epsilon=eps)
    b.node("Transpose", [normed], out, node.name, perm=[0, r - 1, *range(1, r - 1)])


def _x_pixel_shuffle(b: OnnxBuilder, node, layer, ins, out):
    if layer.ndim != 2:
        raise SpecError(f"pixel_shuffle '{node.name}': ONNX's DepthToSpace is 2-D", kind="export")
    b.node("DepthToSpace", ins, out, node.name, blocksize=int(layer.p["upscale_factor"]), mode="CRD")


EXPORTERS = {
    "conv": _x_conv,
    "depthwise_conv": _x_conv,
    "conv_transpose": _x_conv,
    "separable_conv": _x_separable,
    "maxpool": _x_pool("MaxPool"),
    "avgpool": _x_pool("AveragePool"),
    "global_avgpool": _x_simple("GlobalAveragePool"),
    "global_maxpool": _x_simple("GlobalMaxPool"),
    "adaptive_avgpool": _x_adaptive("AveragePool"),
    "adaptive_maxpool": _x_adaptive("MaxPool"),
    "linear": _x_linear,
    "batchnorm": _x_batchnorm,
    "lrn": _x_lrn,
    "relu": _x_simple("Relu"),
    "relu6": _x_relu6,
    "leaky_relu": _x_simple("LeakyRelu", alpha="negative_slope"),
    "elu": _x_simple("Elu", alpha="alpha"),
    "selu": _x_simple("Selu"),
    "hardtanh": _x_hardtanh,
    "gelu": _x_simple("Gelu", approximate="approximate"),
    "layernorm": _x_layernorm,
    "softplus": _x_softplus,
    "mish": _x_simple("Mish"),
    "swish": _x_silu,
    "layer_scale": _x_layer_scale,
    "stochastic_depth": _x_simple("Identity"),  # eval mode: the identity
    "chunk": _x_slice,
    "split": _x_slice,
    "channel_shuffle": _x_channel_shuffle,
    "pixel_shuffle": _x_pixel_shuffle,
    "sigmoid": _x_simple("Sigmoid"),
    "tanh": _x_simple("Tanh"),
    "silu": _x_silu,
    "hardswish": _x_simple("HardSwish"),
    "hardsigmoid": _x_hardsigmoid,
    "prelu": _x_prelu,
    "softmax": _x_softmax,
    "identity": _x_simple("Identity"),
    "dropout": _x_dropout,
    "upsample": _x_upsample,
    "pad": _x_pad,
    "crop": _x_crop,
    "flatten": _x_simple("Flatten", axis=1),
    "reshape": _x_reshape,
    "add": _x_merge("Add", "Sum"),
    "multiply": _x_merge("Mul"),
    "concat": _x_merge("Concat", "Concat"),
}


# types that no composition of standard ONNX ops computes with their parameters
NO_ONNX_OP = ("locally_connected", "tiled_conv", "deform_conv")
NEEDS_OPSET = {"gelu": 20}  # ONNX's Gelu op exists from opset 20


def check_exportable(net) -> None:
    """Raise a SpecError naming the first layer whose type cnncalc cannot write as ONNX:
    one with no standard op (an unshared convolution), or one not mapped yet."""
    for node in net.nodes:
        if node.type not in EXPORTERS:
            why = ("has no ONNX equivalent among the standard ops" if node.type in NO_ONNX_OP
                   else "is not written as ONNX by this version of cnncalc")
            raise SpecError(
                f"layer '{node.name}' ({node.type}) {why}",
                kind="export", help="types cnncalc writes as ONNX: " + ", ".join(sorted(EXPORTERS)))


def export_graph(net, weights: dict | None, opset: int = 18):
    """The network as an ONNX ModelProto with the given weights (cnncalc's keys); with
    ``weights`` None, the weights' shapes only (enough for every figure).

    Raises:
        SpecError: a layer type ONNX cannot express as standard ops (named, with the
            types that can).
    """
    from onnx import TensorProto, helper

    check_exportable(net)
    if any(node.type in NEEDS_OPSET for node in net.nodes):
        opset = max(opset, *(NEEDS_OPSET[node.type] for node in net.nodes if node.type in NEEDS_OPSET))
    b = OnnxBuilder(weights, net.batch)
    for node in net.nodes:
        EXPORTERS[node.type](b, node, node.facts.layer, list(node.inputs), node.name)
    from cnncalc.core.shapes import infer_shapes

    shapes = infer_shapes(net)
    graph = helper.make_graph(
        b.nodes, net.name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [net.batch, *net.input_shape])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [net.batch, *shapes[o]])
         for o in net.outputs],
        initializer=b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="cnncalc")
    model.ir_version = min(model.ir_version, 9)  # readable by onnxruntime releases of 2024 on
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


def _residuals(items: list[dict]) -> list[dict]:
    """Fold each Add of two paths that leave one tensor x and meet nowhere else into a
    ``residual`` item (body: the longer path; shortcut: the other, empty for identity)."""
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
            if _kind(add) != "add" or len(add["from"]) != 2 or add[_kind(add)]:
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


def _repeats(items: list[dict], entry: str = "input") -> list[dict]:
    """Consecutive identical units (1 to 8 items, reaching nothing outside but their
    input) become one ``sequential`` item with ``repeat``."""
    out: list[dict] = []
    i = 0
    prev = entry
    while i < len(items):
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
        item = {"sequential": unit, "name": name, "from": [prev], "repeat": n}
        if k == 1:
            single = dict(unit[0])
            single.update({"name": name, "from": [prev], "repeat": n})
            item = single
        out.append(item)
        for it in items[i + k * n:]:
            it["from"] = [name if f == last else f for f in it["from"]]
        prev = name
        i += k * n
    return out


def _emit(items: list[dict], indent: str, prev: str, lines: list[str]) -> None:
    """YAML lines for items; structures in block style, layers one per line."""
    for item in items:
        shown = {k: v for k, v in item.items() if k != "from"}
        refs = list(item["from"])
        if refs != [prev] and refs:
            shown["from"] = refs[0] if len(refs) == 1 else refs
        kind = _kind(item)
        if kind == "residual":
            lines.append(f"{indent}- name: {_flow(item['name'])}")
            for key in ("repeat", "from"):
                if key in shown:
                    lines.append(f"{indent}  {key}: {_flow(shown[key])}")
            lines.append(f"{indent}  residual:")
            lines.append(f"{indent}    body:")
            _emit(item["residual"]["body"], indent + "      ", "__in__", lines)
            if item["residual"]["shortcut"]:
                lines.append(f"{indent}    shortcut:")
                _emit(item["residual"]["shortcut"], indent + "      ", "__in__", lines)
        elif kind == "sequential":
            lines.append(f"{indent}- name: {_flow(item['name'])}")
            for key in ("repeat", "from"):
                if key in shown:
                    lines.append(f"{indent}  {key}: {_flow(shown[key])}")
            lines.append(f"{indent}  sequential:")
            _emit(item["sequential"], indent + "    ", "__in__", lines)
        else:
            lines.append(f"{indent}- " + _flow(shown))
        prev = item["name"]


def structured_text(header: list[str], items: list[dict]) -> str:
    """The readable spec: residual structures and repeats found, then written."""
    import copy

    items = _repeats(_residuals(copy.deepcopy(items)))
    lines = list(header)
    _emit(items, "  ", "input", lines)
    return "\n".join(lines) + "\n"
