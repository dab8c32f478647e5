"""cnncalc layer types -> PyTorch source (``cnncalc export --to pytorch``).

Each layer with learnable tensors or buffers becomes a ``torch.nn`` module registered at
its cnncalc name (``layer1.0.conv1`` under ``nn.ModuleDict`` containers), so the
module's ``state_dict`` keys are cnncalc's weight keys (``layer1.0.conv1.weight``) and
``cnncalc run --weights`` and ``load_state_dict`` exchange weights. Layers without
state are written as functional calls in ``forward``. cnncalc never imports torch:
this module writes text.
"""

from __future__ import annotations

import keyword
import re

from cnncalc.core.errors import SpecError

# nn.Module's own attributes: a submodule of that name would be shadowed by them
_MODULE_ATTRS = frozenset({
    "training", "forward", "modules", "parameters", "buffers", "children", "eval", "train",
    "apply", "cuda", "cpu", "float", "half", "double", "type", "to", "state_dict",
    "load_state_dict", "zero_grad", "add_module", "register_module", "register_buffer",
    "register_parameter", "get_submodule", "get_parameter", "requires_grad_", "named_modules",
    "named_parameters", "named_buffers", "named_children", "extra_repr", "share_memory",
    "bfloat16", "ipu", "xpu", "mtia", "compile", "dump_patches", "call_super_init"})


def _ax(values):
    values = list(values)
    return values[0] if len(set(values)) == 1 else tuple(values)


def _sym(layer):
    """Symmetric padding per axis, or None when some axis pads unequally."""
    if any(b != a for b, a in layer.pads):
        return None
    return _ax([b for b, _ in layer.pads])


# torch.nn's defaults, left out of the source
_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True,
             "output_padding": 0, "eps": 1e-5, "momentum": 0.1, "affine": True,
             "track_running_stats": True, "ceil_mode": False, "count_include_pad": True}


def _args(*positional, _keep=(), **named) -> str:
    parts = [repr(v) for v in positional]
    parts += [f"{k}={v!r}" for k, v in named.items()
              if v is not None and not (k not in _keep and k in _DEFAULTS and v == _DEFAULTS[k] and type(v) is type(_DEFAULTS[k]))]
    return ", ".join(parts)


def _torch_pad(pairs) -> tuple:
    """F.pad's order: the last axis first, (before, after) each."""
    out = []
    for b, a in reversed(list(pairs)):
        out += [b, a]
    return tuple(out)


class _Writer:
    def __init__(self, net) -> None:
        self.net = net
        self.init: list[str] = []
        self.body: list[str] = []
        self.containers: set[str] = set()
        self.var: dict[str, str] = {"input": "x"}
        self.used = {"x", "self"}
        self.helpers: set[str] = set()

    def ref(self, parts: list[str]) -> str:
        first = parts[0]
        ref = f"self.{first}" if first.isidentifier() and not keyword.iskeyword(first) \
            else f'getattr(self, "{first}")'
        return ref + "".join(f'["{p}"]' for p in parts[1:])

    def assign(self, parts: list[str], value: str) -> str:
        if len(parts) == 1 and not (parts[0].isidentifier() and not keyword.iskeyword(parts[0])):
            return f'self.add_module("{parts[0]}", {value})'
        return f"{self.ref(parts)} = {value}"

    def add(self, name: str, ctor: str) -> str:
        """Register a module at the node's dotted name (ModuleDicts for the levels above)."""
        parts = name.split(".")
        if parts[0] in _MODULE_ATTRS:
            raise SpecError(f"layer '{name}': '{parts[0]}' is an nn.Module attribute; rename it",
                            kind="export")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix not in self.containers:
                self.containers.add(prefix)
                self.init.append(self.assign(parts[:i], "nn.ModuleDict()"))
        self.init.append(self.assign(parts, ctor))
        return self.ref(parts)

    def variable(self, name: str) -> str:
        base = re.sub(r"\W", "_", name)
        if not base.isidentifier() or base in ("torch", "nn", "F"):
            base = "v_" + base
        v, k = base, 1
        while v in self.used:
            k += 1
            v = f"{base}_{k}"
        self.used.add(v)
        self.var[name] = v
        return v


def _d(layer) -> int:
    return layer.ndim


def _conv(w: _Writer, node, layer, ins):
    d = _d(layer)
    x = ins[0]
    pad = _sym(layer)
    if pad is None:  # asymmetric: pad first, as PyTorch's Conv takes one padding per axis
        x = f"F.pad({x}, {_torch_pad(layer.pads)!r})"
        pad = 0
    if node.type == "conv_transpose":
        if _sym(layer) is None:
            raise SpecError(f"layer '{node.name}': PyTorch's ConvTranspose has no asymmetric padding",
                            kind="export")
        ctor = (f"nn.ConvTranspose{d}d({_args(layer.in_channels, layer.p['out_channels'])}, "
                f"{_args(kernel_size=_ax(layer.kernel), stride=_ax(layer.stride), padding=pad, output_padding=_ax(layer.p['output_padding']), groups=layer.p['groups'], bias=layer.p['bias'], dilation=_ax(layer.dilation))})")
    else:
        ctor = (f"nn.Conv{d}d({_args(layer.in_channels, layer.p['out_channels'])}, "
                f"{_args(kernel_size=_ax(layer.kernel), stride=_ax(layer.stride), padding=pad, dilation=_ax(layer.dilation), groups=layer.p['groups'], bias=layer.p['bias'])})")
    return f"{w.add(node.name, ctor)}({x})"


def _pool(cls):
    def emit(w: _Writer, node, layer, ins):
        pad = _sym(layer)
        if pad is None:
            raise SpecError(f"layer '{node.name}': PyTorch's pooling has no asymmetric padding",
                            kind="export")
        d = _d(layer)
        named = dict(kernel_size=_ax(layer.kernel), stride=_ax(layer.stride), padding=pad,
                     ceil_mode=layer.p["ceil_mode"])
        if cls == "MaxPool":
            named["dilation"] = _ax(layer.dilation)
        else:
            named["count_include_pad"] = layer.p["count_include_pad"]
        ctor = f"nn.{cls}{d}d({_args(**named, _keep=('stride',))})"  # pooling's default: the kernel
        return f"{w.add(node.name, ctor)}({ins[0]})"
    return emit


def _fn(template):
    def emit(w: _Writer, node, layer, ins):
        return template.format(*ins, p=layer.p, d=_d(layer), layer=layer)
    return emit


def _linear(w, node, layer, ins):
    ctor = f"nn.Linear({_args(layer.in_features, layer.p['out_features'], bias=layer.p['bias'])})"
    return f"{w.add(node.name, ctor)}({ins[0]})"


def _batchnorm(w, node, layer, ins):
    d = max(len(layer.in_shape) - 1, 1)
    ctor = (f"nn.BatchNorm{d}d({_args(layer.channels, eps=layer.p['eps'], momentum=layer.p['momentum'], affine=layer.p['affine'], track_running_stats=layer.p['track_running_stats'])})")
    return f"{w.add(node.name, ctor)}({ins[0]})"


def _depthwise(w, node, layer, ins):
    return _conv(w, node, layer, ins)


def _prelu(w, node, layer, ins):
    ctor = f"nn.PReLU({layer.p['num_parameters']})"
    return f"{w.add(node.name, ctor)}({ins[0]})"


def _lrn(w, node, layer, ins):
    ctor = f"nn.LocalResponseNorm({_args(layer.p['size'], alpha=layer.p['alpha'], beta=layer.p['beta'], k=layer.p['k'])})"
    return f"{w.add(node.name, ctor)}({ins[0]})"


def _groupnorm(w, node, layer, ins):
    ctor = f"nn.GroupNorm({_args(layer.p['num_groups'], layer.in_shape[0], eps=layer.p['eps'], affine=layer.p['affine'])})"
    return f"{w.add(node.name, ctor)}({ins[0]})"


def _upsample(w, node, layer, ins):
    if layer.p["scale_factor"] is not None:
        geometry = {"scale_factor": _ax(float(f) for f in layer.p["scale_factor"])}
    else:
        geometry = {"size": _ax(layer.out_shape[1:])}
    mode = layer.p["mode"]
    align = None if mode == "nearest" else layer.p["align_corners"]
    return f"F.interpolate({ins[0]}, {_args(**geometry, mode=mode, align_corners=align)})"


def _pad(w, node, layer, ins):
    mode = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
            "circular": "circular"}[layer.p["mode"]]
    value = layer.p["value"] if mode == "constant" and layer.p["value"] else None
    return f"F.pad({ins[0]}, {_torch_pad(layer.pads)!r}, {_args(mode=mode, value=value)})"


def _crop(w, node, layer, ins):
    index = ", ".join(f"{b}:{L - a}" for L, (b, a) in zip(layer.in_shape[1:], layer.pads))
    return f"{ins[0]}[:, :, {index}]"


def _merge(op):
    def emit(w, node, layer, ins):
        if op == "cat":
            return f"torch.cat([{', '.join(ins)}], 1)"
        return f" {op} ".join(ins)
    return emit


def _adaptive(kind):
    def emit(w, node, layer, ins):
        return f"F.adaptive_{kind}_pool{_d(layer)}d({ins[0]}, {_ax(layer.outs)!r})"
    return emit


def _global(kind):
    def emit(w, node, layer, ins):
        return f"F.adaptive_{kind}_pool{_d(layer)}d({ins[0]}, 1)"
    return emit


def _layer_scale(w, node, layer, ins):
    w.helpers.add("LayerScale")
    shape = (layer.in_shape[0], *(1,) * (len(layer.in_shape) - 1))
    init = layer.p["init"]
    return f"{w.add(node.name, f'LayerScale({shape!r}, {init!r})')}({ins[0]})"


def _slice(w, node, layer, ins):
    index = ", ".join([":"] * layer.p["dim"] + [f"{layer.start}:{layer.stop}"])
    return f"{ins[0]}[{index}]"


def _norm(cls):
    def emit(w, node, layer, ins):
        d = max(len(layer.in_shape) - 1, 1)
        ctor = f"nn.{cls}{d}d({_args(layer.in_shape[0], eps=layer.p['eps'], affine=layer.p['affine'], track_running_stats=layer.p.get('track_running_stats'))})"
        return f"{w.add(node.name, ctor)}({ins[0]})"
    return emit


def _layernorm(w, node, layer, ins):
    shape = layer.affine_shape()
    named = dict(eps=layer.p["eps"], elementwise_affine=None if layer.p["elementwise_affine"] else False)
    if layer.p["over"] == "channels":
        w.helpers.add("ChannelLayerNorm")
        ctor = f"ChannelLayerNorm({_args(shape[0], **named)})"
    else:
        ctor = f"nn.LayerNorm({_args(list(shape), **named)})"
    return f"{w.add(node.name, ctor)}({ins[0]})"


HELPERS = {
    "ChannelLayerNorm": [
        "class ChannelLayerNorm(nn.LayerNorm):",
        '    """LayerNorm over the channels at every position of (N, C, *spatial)."""',
        "",
        "    def forward(self, x):",
        "        return super().forward(x.movedim(1, -1)).movedim(-1, 1)",
    ],
    "LayerScale": [
        "class LayerScale(nn.Module):",
        '    """x · γ with one learnable scale per channel (ConvNeXt\'s layer scale)."""',
        "",
        "    def __init__(self, shape, init):",
        "        super().__init__()",
        "        self.layer_scale = nn.Parameter(torch.full(shape, float(init)))",
        "",
        "    def forward(self, x):",
        "        return x * self.layer_scale",
    ],
}


WRITERS = {
    "conv": _conv,
    "conv_transpose": _conv,
    "depthwise_conv": _depthwise,
    "linear": _linear,
    "batchnorm": _batchnorm,
    "groupnorm": _groupnorm,
    "lrn": _lrn,
    "prelu": _prelu,
    "maxpool": _pool("MaxPool"),
    "avgpool": _pool("AvgPool"),
    "global_avgpool": _global("avg"),
    "global_maxpool": _global("max"),
    "adaptive_avgpool": _adaptive("avg"),
    "adaptive_maxpool": _adaptive("max"),
    "relu": _fn("F.relu({0})"),
    "relu6": _fn("F.relu6({0})"),
    "leaky_relu": _fn("F.leaky_relu({0}, {p[negative_slope]!r})"),
    "elu": _fn("F.elu({0}, {p[alpha]!r})"),
    "selu": _fn("F.selu({0})"),
    "gelu": _fn("F.gelu({0}, approximate={p[approximate]!r})"),
    "sigmoid": _fn("torch.sigmoid({0})"),
    "tanh": _fn("torch.tanh({0})"),
    "silu": _fn("F.silu({0})"),
    "hardswish": _fn("F.hardswish({0})"),
    "hardsigmoid": _fn("F.hardsigmoid({0})"),
    "hardtanh": _fn("F.hardtanh({0}, {p[min_val]!r}, {p[max_val]!r})"),
    "softplus": _fn("F.softplus({0}, beta={p[beta]!r}, threshold={p[threshold]!r})"),
    "mish": _fn("F.mish({0})"),
    "swish": _fn("F.silu({0})"),
    "stochastic_depth": _fn("{0}  # stochastic depth: the identity in eval mode"),
    "layer_scale": _layer_scale,
    "chunk": _slice,
    "split": _slice,
    "channel_shuffle": _fn("torch.channel_shuffle({0}, {p[groups]!r})"),
    "pixel_shuffle": _fn("F.pixel_shuffle({0}, {p[upscale_factor]!r})"),
    "pixel_unshuffle": _fn("F.pixel_unshuffle({0}, {p[downscale_factor]!r})"),
    "instancenorm": _norm("InstanceNorm"),
    "layernorm": _layernorm,
    "softmax": _fn("torch.softmax({0}, {p[dim]!r})"),
    "identity": _fn("{0}"),
    "dropout": _fn("F.dropout({0}, {p[p]!r}, self.training)"),
    "flatten": _fn("torch.flatten({0}, 1)"),
    "reshape": _fn("{0}.reshape({0}.shape[0], *{p[shape]!r})"),
    "upsample": _upsample,
    "pad": _pad,
    "crop": _crop,
    "add": _merge("+"),
    "multiply": _merge("*"),
    "concat": _merge("cat"),
}


def to_source(net, source: str | None = None) -> str:
    """A Python module defining ``class Net(torch.nn.Module)`` equivalent to ``net``.

    Raises:
        SpecError: a layer type or padding PyTorch's modules cannot express (named).
    """
    for node in net.nodes:
        if node.type not in WRITERS:
            raise SpecError(f"layer '{node.name}' ({node.type}) has no torch.nn equivalent",
                            kind="export", help="types cnncalc writes as PyTorch: "
                            + ", ".join(sorted(WRITERS)))
    w = _Writer(net)
    for node in net.nodes:
        expr = WRITERS[node.type](w, node, node.facts.layer, [w.var[i] for i in node.inputs])
        w.body.append(f"{w.variable(node.name)} = {expr}  # {'x'.join(map(str, node.facts.out_shape))}")
    outs = [w.var[o] for o in net.outputs]
    title = f'"""{net.name}: written by cnncalc export --to pytorch' + (f" from {source}" if source else "")
    lines = [
        title + ".",
        "",
        "Parameter names are cnncalc's weight keys: Net().state_dict() loads into",
        "`cnncalc run --weights` (saved with numpy.savez) and back with load_state_dict.",
        f"Input: (N, {', '.join(map(str, net.input_shape))}), batch first.",
        '"""',
        "",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
        "",
        "",
        *(line for name in sorted(w.helpers) for line in (*HELPERS[name], "", "")),
        "class Net(nn.Module):",
        "    def __init__(self):",
        "        super().__init__()",
        *("        " + line for line in w.init),
        "",
        "    def forward(self, x):",
        *("        " + line for line in w.body),
        f"        return {outs[0] if len(outs) == 1 else '(' + ', '.join(outs) + ')'}",
        "",
    ]
    return "\n".join(lines)
