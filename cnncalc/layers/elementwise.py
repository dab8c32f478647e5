"""Elementwise layers: activations, identity, dropout, softmax.

FLOPs per element (docs/conventions.md): a comparison, an addition, a
multiplication, a division and one evaluation of exp, erf or tanh each count 1.
"""

from __future__ import annotations

from typing import ClassVar

from .base import Choice, Int, Layer, Number, Param, fmt_shape, numel


class Elementwise(Layer):
    """An elementwise layer: output shape = input shape, ``per_element`` FLOPs each."""

    family = "elementwise"
    per_element: ClassVar[int] = 0
    formula: ClassVar[str] = ""

    def setup(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.out_shape = tuple(self.in_shape)
        return self.out_shape

    def flops(self):
        return self.per_element * numel(self.out_shape)


def _act(name: str, per: int, formula: str, summary: str, params=(), primary=None):
    cls = type(
        name.title().replace("_", ""),
        (Elementwise,),
        {
            "type_name": name,
            "per_element": per,
            "formula": formula,
            "summary": summary,
            "params": tuple(params),
            "primary": primary,
            "__doc__": f"{summary}: {formula}; {per} FLOP(s) per element.",
        },
    )
    return cls


Identity = _act("identity", 0, "y = x", "identity (a named point in the graph)")
Dropout = _act("dropout", 0, "y = x at inference", "dropout (identity at inference)",
               [Param("p", Number(0, 1, open_max=True), 0.5, "drop probability (training only)")], "p")
ReLU = _act("relu", 1, "max(x, 0)", "rectified linear unit")
ReLU6 = _act("relu6", 2, "min(max(x, 0), 6)", "ReLU capped at 6 (MobileNet)")
LeakyReLU = _act("leaky_relu", 2, "x if x > 0 else a x", "leaky ReLU",
                 [Param("negative_slope", Number(), 0.01, "slope for x < 0")], "negative_slope")
ELU = _act("elu", 4, "x if x > 0 else a (exp(x) - 1)", "exponential linear unit",
           [Param("alpha", Number(), 1.0, "saturation value for x < 0")], "alpha")
SELU = _act("selu", 5, "l * elu(x, a)", "scaled ELU (Klambauer et al. 2017)")
Sigmoid = _act("sigmoid", 3, "1 / (1 + exp(-x))", "logistic sigmoid")
Tanh = _act("tanh", 1, "tanh(x)", "hyperbolic tangent")
SiLU = _act("silu", 4, "x * sigmoid(x)", "SiLU / swish")
Hardswish = _act("hardswish", 5, "x * relu6(x + 3) / 6", "hard swish (MobileNetV3)")


class GELU(Elementwise):
    """GELU (Hendrycks and Gimpel 2016).

    approximate none: x/2 (1 + erf(x / sqrt 2)), 5 FLOPs per element;
    approximate tanh: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), 9 FLOPs.
    """

    type_name = "gelu"
    summary = "Gaussian error linear unit"
    params = (Param("approximate", Choice("none", "tanh"), "none", "PyTorch's approximate"),)
    primary = "approximate"

    def flops(self):
        return (9 if self.p["approximate"] == "tanh" else 5) * numel(self.out_shape)


class PReLU(Elementwise):
    """Parametric ReLU (He et al. 2015): weight (num_parameters,), 1 or one per channel.

    FLOPs: 2 per element (comparison, multiplication).
    """

    type_name = "prelu"
    summary = "parametric ReLU with learnable slope(s)"
    per_element = 2
    params = (Param("num_parameters", Int(1), 1, "1 (shared) or the number of channels"),)
    primary = "num_parameters"

    def setup(self, in_shapes, ref_shapes=()):
        out = super().setup(in_shapes)
        n = self.p["num_parameters"]
        if n != 1 and n != self.in_shape[0]:
            raise self.fail(
                f"num_parameters is {n} but the input has {self.in_shape[0]} channels",
                help="use 1 (one shared slope) or the channel count", param="num_parameters",
            )
        return out

    def param_shapes(self):
        return {"weight": (self.p["num_parameters"],)}


class Softmax(Elementwise):
    """Softmax along ``dim`` (PyTorch's numbering: 0 is the batch axis, 1 the channels).

    FLOPs per softmax over n elements: n exp + (n - 1) additions + n divisions
    = 3n - 1.
    """

    type_name = "softmax"
    summary = "softmax along dim (default 1: the channels)"
    params = (Param("dim", Int(None), 1, "axis, counting the batch axis as 0"),)
    primary = "dim"

    def setup(self, in_shapes, ref_shapes=()):
        out = super().setup(in_shapes)
        rank = len(self.in_shape) + 1
        dim = self.p["dim"]
        if not (-rank < dim < rank) or dim % rank == 0:
            raise self.fail(
                f"dim {dim} is not a non-batch axis of {fmt_shape(self.in_shape)} (with batch: rank {rank})",
                help="dim 1 is the channel axis; the batch axis 0 cannot be normalized", param="dim",
                kind="value",
            )
        self.axis_len = self.in_shape[dim % rank - 1]
        return out

    def flops(self):
        return numel(self.out_shape) // self.axis_len * (3 * self.axis_len - 1)
