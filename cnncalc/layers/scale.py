"""Residual-branch helpers of modern CNNs: layer scale and stochastic depth."""

from __future__ import annotations

from cnncalc.core.exchange import TorchCode
from cnncalc.layers.base import Choice, Layer, Number, Param, Saved, Step, fmt_shape, numel


class LayerScale(Layer):
    """Layer scale (Touvron et al. 2021, CaiT, section 3; ConvNeXt, Liu et al. 2022):
    a learnable scale per channel, y[c, ...] = layer_scale[c] · x[c, ...].

    One tensor of shape (C, 1, ..., 1), one 1 per spatial axis, as torchvision's
    CNBlock stores it (``self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) *
    layer_scale)``); (C,) on a tensor without spatial axes. The tensor is the layer
    itself: its weight key is the layer's name (a parameter registered as the block's
    attribute, as torchvision's ``features.1.0.layer_scale``: name the layer
    ``layer_scale`` inside its block). ``init`` is its
    initial value (torchvision: 1e-6); it changes no figure. FLOPs: 1 per
    element (a multiplication).
    """

    type_name = "layer_scale"
    aten_op = "mul"
    torch_call = "x * y"
    erf_rule = "copy"  # the ERF's uniform protocol: a per-channel scale taken as 1
    saves = ("input:weight",)  # x * gamma: gamma's gradient reads x
    family = "elementwise"
    summary = "learnable per-channel scale (ConvNeXt, CaiT): C parameters"
    shape_rule = "the input's shape"
    primary = "init"
    params = (Param("init", Number(), 1e-6, "initial value of every scale (torchvision's layer_scale)"),)

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.out_shape = tuple(self.in_shape)
        return self.out_shape

    def param_shapes(self):
        return {"": (self.in_shape[0], *(1,) * (len(self.in_shape) - 1))}

    def flops(self):
        return numel(self.out_shape)

    def _scale(self, w, x):
        return w.take("", (x.shape[1], *(1,) * (x.ndim - 2)))

    def forward(self, xs, w, ctx):
        x = xs[0]
        return x * self._scale(w, x)[None]

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        scale = w[""]
        axes = tuple(a for a in range(x.ndim) if a != 1)
        gw = (g * x).sum(axis=axes).reshape(scale.shape)
        if ctx.probe:  # the support passes through unchanged
            return [g], {"": gw}
        return [g * scale[None]], {"": gw}

    def explain(self):
        c = self.in_shape[0]
        return [
            Step("output_shape", self.shape_rule, "", fmt_shape(self.out_shape)),
            Step.calc("params", f"layer_scale {fmt_shape(self.param_shapes()[''])}: one per channel",
                      str(c)),
            Step.calc("flops", "1 multiplication per element", "·".join(map(str, self.out_shape))),
        ]

    # -- files (docs/onnx.md) --
    onnx_ops = ("Mul",)
    onnx_channels_last = ("Mul",)
    torch_ops = ("aten.mul",)

    @classmethod
    def from_torch(cls, v):
        """aten.mul of a computed tensor by a parameter of shape (C, 1, ..., 1) (ConvNeXt's
        ``self.layer_scale * x``); its initial value changes no figure and is not read."""
        scales = [p for p in (v.a["self"], v.a["other"]) if v.is_param(p)]
        if len(scales) != 1 or len(v.inputs) != 1:
            return None
        want = (v.x.shape[0], *(1,) * (len(v.x.shape) - 1))
        if tuple(scales[0].shape) != want:
            raise v.fail(f"a product by parameter '{scales[0].name}' of shape "
                         f"{list(scales[0].shape)}; cnncalc maps a per-channel scale {list(want)}")
        return {}

    @classmethod
    def from_onnx(cls, v):
        """Mul of a computed tensor by a stored one scale per channel: (C, 1, ...) or
        (1, C, 1, ...) channels first, (C,) channels last."""
        if len(v.inputs) != 1 or len(v.x.shape) <= 1 or not v.stored:
            return None
        x = v.x
        ones = (1,) * (len(x.shape) - 1)
        per_channel = [(x.shape[0],)] if x.layout == "cl" else [(x.shape[0], *ones), (1, x.shape[0], *ones)]
        return {} if tuple(v.dims(v.stored[0])) in per_channel else None

    def to_onnx(self, f, call):
        return [call.node("Mul", [call.ins[0], call.weight("")])]

    torch_parameter = True

    def to_torch(self, f, call):
        """An nn.Parameter at the layer's name (torch.nn has no layer-scale module), filled with
        ``init``, multiplying the input: ``x * self.layer_scale`` as torchvision's CNBlock."""
        shape = (f.in_shapes[0][0], *(1,) * (len(f.in_shapes[0]) - 1))
        return TorchCode(f"{call.ins[0]} * {call.module}",
                         f"nn.Parameter(torch.full({shape!r}, {float(self.p['init'])!r}))")


class StochasticDepth(Layer):
    """Stochastic depth (Huang et al. 2016; torchvision.ops.StochasticDepth).

    In training it zeroes a residual branch with probability ``p``, per sample
    (mode row) or for the whole batch (mode batch), and scales what is kept by
    1/(1 - p). At inference, which is what cnncalc counts and runs, it is the
    identity: no parameters, 0 FLOPs, the receptive field unchanged.
    """

    type_name = "stochastic_depth"
    aten_op = None
    torch_class = "StochasticDepth"
    erf_rule = "copy"  # the ERF's uniform protocol: the identity
    view = True  # at inference it returns its input
    family = "elementwise"
    summary = "stochastic depth (identity at inference; no parameters)"
    shape_rule = "the input's shape (identity at inference)"
    primary = "p"
    params = (
        Param("p", Number(0, 1), doc="probability of dropping the branch (training only)"),
        Param("mode", Choice("row", "batch"), "row", "row: per sample; batch: the whole batch"),
    )

    def train_view(self):
        """Training (torchvision.ops.stochastic_depth): p = 0 returns the input; otherwise
        the input times a noise tensor, a new output."""
        return self.p["p"] == 0

    def saved_for_backward(self):
        # training: the keep/scale factor the branch is multiplied by (mode row: one per
        # sample, a [N, 1, ...] tensor; mode batch: one for the batch); p = 0 keeps nothing
        if self.p["p"] == 0:
            return []
        return [Saved("noise", (1,) * len(self.in_shapes[0]), per_sample=self.p["mode"] == "row")]

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.out_shape = tuple(self.in_shape)
        return self.out_shape

    def forward(self, xs, w, ctx):
        return xs[0]

    def backward(self, xs, w, out, g, ctx):
        return [g], {}

    def explain(self):
        return [
            Step("output_shape", self.shape_rule, "", fmt_shape(self.out_shape),
                 f"identity at inference; in training drops the branch with p = {self.p['p']} "
                 f"(mode {self.p['mode']}), so no parameters and 0 FLOPs"),
            Step("flops", "identity at inference", "", "0"),
        ]

    # -- files (docs/onnx.md) --
    onnx_import_refusal = ("an eval-mode export writes it as the identity (or nothing): ONNX "
                           "Identity is read as identity")

    def to_onnx(self, f, call):
        """Identity: what stochastic depth computes in eval mode."""
        return [call.node("Identity", call.ins)]

    def to_torch(self, f, call):
        return TorchCode(f"{call.ins[0]}  # stochastic depth: the identity in eval mode")
