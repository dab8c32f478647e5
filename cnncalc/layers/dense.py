"""The fully connected layer."""

from __future__ import annotations

from cnncalc.core.exchange import TorchCode, torch_args
from cnncalc.core.rf import IDENTITY
from cnncalc.layers.base import Bool, Int, Layer, Param, Step, fmt_shape, numel


class Linear(Layer):
    """Fully connected layer on the last axis (PyTorch nn.Linear).

    [..., in_features] -> [..., out_features]; weight (out_features,
    in_features), bias (out_features,). MACs per sample: out_elems * in_features.
    On a tensor with spatial axes it acts on the last one (as PyTorch does); that
    axis then has no receptive field of its own (every input position reaches
    every unit).
    """

    type_name = "linear"
    aten_op = "linear"
    torch_class = "Linear"
    torch_call = "F.linear"
    family = "dense"
    bias_names = ("bias",)
    last_axis_only = True
    saves = ("input:weight",)  # dL/dW = dL/dy^T x
    mixes_axes = True
    summary = "fully connected layer on the last axis (Linear)"
    primary = "out_features"
    params = (
        Param("out_features", Int(1), doc="output size"),
        Param("bias", Bool(), True, "learnable bias"),
        Param("in_features", Int(1), None, "inferred from the input; checked if given"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.in_features = self.in_shape[-1]
        given = self.p["in_features"]
        if given is not None and given != self.in_features:
            raise self.fail(
                f"in_features is {given} but the input's last axis has {self.in_features}",
                help="remove in_features (it is inferred) or fix the layer before",
                param="in_features",
            )
        self.out_shape = (*self.in_shape[:-1], self.p["out_features"])
        return self.out_shape

    def param_shapes(self):
        shapes = {"weight": (self.p["out_features"], self.in_features)}
        if self.p["bias"]:
            shapes["bias"] = (self.p["out_features"],)
        return shapes

    def macs(self):
        return numel(self.out_shape) * self.in_features

    def flops(self):
        # in_features products, in_features - 1 additions, + 1 for the bias per output
        out = numel(self.out_shape)
        return 2 * self.macs() - out + (out if self.p["bias"] else 0)

    def unit_maps(self):
        if len(self.out_shape) != self.ndim + 1:
            return None
        return [IDENTITY] * (self.ndim - 1) + [None]

    def explain(self):
        i, o, bias = self.in_features, self.p["out_features"], self.p["bias"]
        rows = numel(self.out_shape) // o
        lead = f"{rows}·" if rows > 1 else ""
        return [
            Step("output_shape", "[..., out_features]", "", fmt_shape(self.out_shape)),
            Step.calc("params", "(in + 1)·out" if bias else "in·out",
                      f"({i} + 1)·{o}" if bias else f"{i}·{o}"),
            Step.calc("macs", "in·out per position", f"{lead}{i}·{o}"),
            Step.calc("flops", "out·(2·in - 1 + bias)", f"{lead}{o}·(2·{i} - 1 + {int(bias)})"),
        ]

    def _tensors(self, x, w):
        o = self.p["out_features"]
        weight = w.take("weight", (o, x.shape[-1]))
        return weight, (w.take("bias", (o,)) if self.p["bias"] else None)

    def forward(self, xs, w, ctx):
        x = xs[0]
        weight, bias = self._tensors(x, w)
        y = ctx.mm(x.reshape(-1, x.shape[-1]), weight.T)
        if bias is not None:
            y = y + bias
        return y.reshape(*x.shape[:-1], -1)

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        weight, bias = self._tensors(x, w)
        g2 = g.reshape(-1, weight.shape[0])
        grads = {"weight": g2.T @ x.reshape(-1, x.shape[-1])}
        if bias is not None:
            grads["bias"] = g2.sum(axis=0)
        return [(g2 @ weight).reshape(x.shape)], grads

    # -- files (docs/onnx.md) --
    onnx_ops = ("Gemm", "MatMul")
    torch_ops = ("aten.linear",)

    @classmethod
    def from_torch(cls, v):
        """aten.linear (weight (out, in)) of a channels-first tensor: on its last axis."""
        if v.x.layout == "cl":
            return None
        return {"out_features": int(v.a["weight"].shape[0]),
                "bias": None if v.a["bias"] is not None else False}

    @classmethod
    def from_onnx(cls, v):
        """Gemm (transA 0; W (out, in) with transB, else (in, out)); MatMul by a stored 2-D W
        of a channels-first tensor (a following Add of a stored vector is the bias)."""
        w = v.dims(1)
        if v.op == "MatMul":
            if v.x.layout == "cl":
                return None
            return {"out_features": int(w[1]), "bias": None if v.extra.get("bias") else False}
        if v.attrs.get("transA", 0):
            raise v.fail("transA=1 (the data transposed) has no cnncalc equivalent")
        out = w[0] if v.attrs.get("transB", 0) else w[1]
        return {"out_features": int(out), "bias": None if v.has(2) else False}

    def to_onnx(self, f, call):
        """Gemm (transB) on a flat input; MatMul by W^T (+ Add of the bias) on the last axis."""
        if len(f.in_shapes[0]) == 1:
            inputs = [call.ins[0], call.weight("weight")]
            if self.p["bias"]:
                inputs.append(call.weight("bias"))
            return [call.node("Gemm", inputs, transB=1)]
        wt = call.weight("weight", transpose=True)
        if not self.p["bias"]:
            return [call.node("MatMul", [call.ins[0], wt])]
        mm = call.name + ".matmul"
        return [call.node("MatMul", [call.ins[0], wt], mm, mm),
                call.node("Add", [mm, call.weight("bias")])]

    def to_torch(self, f, call):
        """nn.Linear(in_features, out_features)."""
        ctor = f"nn.Linear({torch_args(f.in_shapes[0][-1], self.p['out_features'], bias=self.p['bias'])})"
        return TorchCode(f"{call.module}({call.ins[0]})", ctor)

    def aten_ops(self, form=""):
        macs = self.macs()
        return [self.torch_op("linear", form, macs=macs, out_grid_macs=macs)]
