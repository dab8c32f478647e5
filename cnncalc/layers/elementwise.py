"""Elementwise layers: activations, identity, dropout, softmax.

FLOPs per element (docs/conventions.md): a comparison, an addition, a
multiplication, a division and one evaluation of exp, erf or tanh each count 1.
Each class holds its function ``f``, its derivative ``df`` (from the input x
and the output y) and its FLOP count together.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import ClassVar

from cnncalc.core.errors import SpecError
from cnncalc.core.exchange import TorchCode, f32
from cnncalc.layers.base import (
    REGISTRY,
    Bool,
    Choice,
    Int,
    Layer,
    Number,
    Param,
    Saved,
    Term,
    fmt_shape,
    np,
    numel,
)

SELU_ALPHA = 1.6732632423543772848170429916717  # Klambauer et al. 2017, eq. 14
SELU_SCALE = 1.0507009873554804934193349852946


class Elementwise(Layer):
    """An elementwise layer: output shape = input shape, ``per_element`` FLOPs each."""

    family = "elementwise"
    per_element: ClassVar[int] = 0
    erf_rule: ClassVar[str | None] = "copy"  # the ERF's uniform protocol: activations are the identity

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.out_shape = tuple(self.in_shape)
        return self.out_shape

    flops_formula = "elements · FLOPs per element (docs/conventions.md)"

    def flops_term(self) -> Term:
        return Term(numel(self.out_shape)) * self.per_element

    def f(self, x):
        return x

    def df(self, x, y):
        return np.ones_like(x)

    def forward(self, xs, w, ctx):
        return self.f(xs[0])

    def backward(self, xs, w, out, g, ctx):
        if ctx.probe:  # elementwise: the support passes through unchanged
            return [g], {}
        return [g * self.df(xs[0], out)], {}

    # -- files (docs/onnx.md) --
    onnx_simple: ClassVar[str] = ""  # the ONNX op computing it (attributes: onnx_attrs)
    torch_template: ClassVar[str] = ""  # its forward expression: {0} the input, {p} the params

    @classmethod
    def from_onnx(cls, v):
        """An op of :attr:`onnx_ops` without attributes to read."""
        return {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "torch_channels_last" not in cls.__dict__:  # elementwise: any layout
            cls.torch_channels_last = tuple(cls.__dict__.get("torch_ops", cls.torch_ops))

    @classmethod
    def from_torch(cls, v):
        """An ATen op of :attr:`torch_ops` without arguments to read (in place or not: the
        figures are those of the op; docs/torch.md)."""
        return {}

    def onnx_attrs(self) -> dict:
        """The attributes of :attr:`onnx_simple` (its parameters in ONNX's names)."""
        return {}

    def to_onnx(self, f, call):
        """The one ONNX op :attr:`onnx_simple`."""
        return [call.node(self.onnx_simple, call.ins, **self.onnx_attrs())]

    def to_torch(self, f, call):
        """The functional call :attr:`torch_template`."""
        return TorchCode(self.torch_template.format(*call.ins, p=self.p))

    @staticmethod
    def clip_bounds(v) -> tuple[float | None, float | None]:
        """An ONNX Clip's (min, max): attributes before opset 11, optional inputs after."""
        lo, hi = v.attrs.get("min"), v.attrs.get("max")
        if v.n_inputs > 1:
            c = v.const(1, "min")
            lo = None if c is None else float(c)
        if v.n_inputs > 2:
            c = v.const(2, "max")
            hi = None if c is None else float(c)
        return lo, hi


class Identity(Elementwise):
    """Identity (a named point in the graph): y = x; 0 FLOPs."""

    type_name = "identity"
    aten_op = None
    view = True
    grad_pass = "same"  # no autograd node: the output's gradient is the input's
    summary = "identity (a named point in the graph)"

    # -- files (docs/onnx.md) --
    onnx_ops = ("Identity",)
    onnx_channels_last = ("Identity",)
    onnx_simple = "Identity"
    torch_ops = ("aten.alias",)  # also the name the reader gives a level's input (docs/torch.md)
    torch_template = "{0}"


class Dropout(Elementwise):
    """Dropout (Srivastava et al. 2014): the identity at inference; 0 FLOPs."""

    type_name = "dropout"
    aten_op = "dropout"
    torch_class = "Dropout"
    torch_call = "F.dropout"
    view = True  # at inference it returns its input
    summary = "dropout (identity at inference)"
    params = (Param("p", Number(0, 1, open_max=True), 0.5, "drop probability (training only)"),
              Param("inplace", Bool(), False, "overwrite the input (PyTorch's inplace=True): no new storage"))
    primary = "p"

    def train_view(self):
        """Training (PyTorch's CPU ``at::dropout``): p = 0 returns the input; otherwise the
        input times a noise tensor, a new output unless in place."""
        return self.p["p"] == 0 or bool(self.p["inplace"])

    def grad_passes(self):
        """p = 0 returns its input (the gradient passes on); else MulBackward allocates
        the noise times the output's gradient."""
        return ("same" if self.p["p"] == 0 else "new",)

    def saved_for_backward(self):
        # CPU at::dropout (_dropout_impl): noise = empty_like(input).bernoulli_(1 - p) / (1 - p)
        # in the input's dtype, and mul keeps it for the input's gradient (CUDA's fused
        # native_dropout keeps a bool mask instead); p = 0 keeps nothing
        return [] if self.p["p"] == 0 else [Saved("noise", self.in_shapes[0])]

    # -- files (docs/onnx.md) --
    onnx_ops = ("Dropout",)
    torch_ops = ("aten.dropout",)

    @classmethod
    def from_torch(cls, v):
        """aten.dropout (the identity in eval mode): its p."""
        p = float(v.a["p"])
        return {"p": None if p == 0.5 else p}
    torch_template = "F.dropout({0}, {p[p]!r}, self.training)"

    @classmethod
    def from_onnx(cls, v):
        """Dropout: ratio as an attribute (before opset 12) or a constant input, to six digits."""
        ratio = v.attrs.get("ratio", 0.5)
        if v.has(1):
            ratio = float(v.const(1, "ratio"))
        ratio = f32(ratio)
        return {"p": None if ratio == 0.5 else ratio}

    def to_onnx(self, f, call):
        """Dropout with its ratio as an input (the identity in inference)."""
        return [call.node("Dropout", [call.ins[0], call.floats(call.name + ".ratio", float(self.p["p"]))])]


class ReLU(Elementwise):
    """ReLU: max(x, 0); 1 FLOP per element."""

    type_name = "relu"
    aten_op = "relu"
    torch_class = "ReLU"
    torch_call = "F.relu"
    torch_forms = ("functional",)
    params = (Param("inplace", Bool(), False, "overwrite the input (PyTorch's inplace=True): no new storage"),)
    saves = ("output",)
    summary = "rectified linear unit"
    per_element = 1

    def f(self, x):
        return np.maximum(x, 0)

    def df(self, x, y):
        return (x > 0).astype(x.dtype)

    # -- files (docs/onnx.md) --
    onnx_ops = ("Relu", "Clip")
    torch_ops = ("aten.relu",)
    onnx_channels_last = ("Relu",)
    onnx_priority = 1  # Clip: after relu6's [0, 6], before hardtanh's any range
    onnx_simple = "Relu"
    torch_template = "F.relu({0})"

    @classmethod
    def from_onnx(cls, v):
        """Relu; Clip to [0, inf) (a max of 3.4e38 is float32's largest: no bound)."""
        if v.op == "Relu":
            return {}
        lo, hi = cls.clip_bounds(v)
        return {} if lo == 0 and (hi is None or hi == float("inf") or hi >= 3.4e38) else None


class ReLU6(Elementwise):
    """ReLU6 (MobileNet): min(max(x, 0), 6); 2 FLOPs per element."""

    type_name = "relu6"
    aten_op = "hardtanh"
    torch_class = "ReLU6"
    torch_call = "F.hardtanh"
    torch_forms = ("functional",)
    params = (Param("inplace", Bool(), False, "overwrite the input (PyTorch's inplace=True): no new storage"),)
    saves = ("input",)  # hardtanh_backward reads the input
    saves_inplace = ("input_copy",)  # in place: autograd keeps a copy of the input
    summary = "ReLU capped at 6 (MobileNet)"
    per_element = 2

    def f(self, x):
        return np.clip(x, 0, 6)

    def df(self, x, y):
        return ((x > 0) & (x < 6)).astype(x.dtype)

    # -- files (docs/onnx.md) --
    onnx_ops = ("Clip",)
    torch_ops = ("aten.hardtanh",)
    torch_priority = 1  # hardtanh(x, 0, 6) is nn.ReLU6 before it is a hardtanh

    @classmethod
    def from_torch(cls, v):
        """aten.hardtanh with the bounds 0 and 6 (nn.ReLU6, F.relu6)."""
        return {} if (v.a["min_val"], v.a["max_val"]) == (0, 6) else None
    onnx_priority = 2  # Clip(0, 6) is relu6 before it is a hardtanh
    torch_template = "F.relu6({0})"

    @classmethod
    def from_onnx(cls, v):
        """Clip to [0, 6]."""
        lo, hi = cls.clip_bounds(v)
        return {} if lo == 0 and hi == 6 else None

    def to_onnx(self, f, call):
        """Clip(x, 0, 6), the bounds shared by every relu6 of the graph."""
        return [call.node("Clip", [call.ins[0], call.floats("zero_f", 0.0), call.floats("six_f", 6.0)])]


class LeakyReLU(Elementwise):
    """Leaky ReLU: x if x > 0 else a x; 2 FLOPs per element."""

    type_name = "leaky_relu"
    aten_op = "leaky_relu"
    torch_class = "LeakyReLU"
    torch_call = "F.leaky_relu"
    torch_forms = ("functional",)
    saves = ("input",)
    saves_inplace = ("output",)  # the in-place op keeps its result (derivatives.yaml)
    summary = "leaky ReLU"
    per_element = 2
    params = (Param("negative_slope", Number(), 0.01, "slope for x < 0"),
              Param("inplace", Bool(), False, "overwrite the input (PyTorch's inplace=True): no new storage"))
    primary = "negative_slope"

    def f(self, x):
        return np.where(x > 0, x, self.p["negative_slope"] * x)

    def df(self, x, y):
        return np.where(x > 0, 1.0, self.p["negative_slope"]).astype(x.dtype)

    # -- files (docs/onnx.md) --
    onnx_ops = ("LeakyRelu",)
    torch_ops = ("aten.leaky_relu",)

    @classmethod
    def from_torch(cls, v):
        """aten.leaky_relu: its negative slope."""
        return {"negative_slope": float(v.a["negative_slope"])}
    onnx_channels_last = ("LeakyRelu",)
    onnx_simple = "LeakyRelu"
    torch_template = "F.leaky_relu({0}, {p[negative_slope]!r})"

    @classmethod
    def from_onnx(cls, v):
        return {"negative_slope": v.attrs.get("alpha", 0.01)}

    def onnx_attrs(self):
        return {"alpha": self.p["negative_slope"]}


class ELU(Elementwise):
    """ELU (Clevert et al. 2016): x if x > 0 else a (exp(x) - 1); 4 FLOPs per element."""

    type_name = "elu"
    aten_op = "elu"
    torch_class = "ELU"
    torch_call = "F.elu"
    torch_forms = ("functional",)
    saves = ("input",)
    saves_inplace = ("output",)  # the in-place op keeps its result (derivatives.yaml)
    summary = "exponential linear unit"
    per_element = 4
    params = (Param("alpha", Number(), 1.0, "saturation value for x < 0"),
              Param("inplace", Bool(), False, "overwrite the input (PyTorch's inplace=True): no new storage"))
    primary = "alpha"

    def f(self, x):
        return np.where(x > 0, x, self.p["alpha"] * np.expm1(np.minimum(x, 0)))

    def df(self, x, y):
        return np.where(x > 0, 1.0, y + self.p["alpha"]).astype(x.dtype)

    # -- files (docs/onnx.md) --
    onnx_ops = ("Elu",)
    torch_ops = ("aten.elu",)

    @classmethod
    def from_torch(cls, v):
        """aten.elu with scale 1 (F.elu): its alpha."""
        if v.a["scale"] != 1 or v.a["input_scale"] != 1:
            return None
        return {"alpha": float(v.a["alpha"])}
    onnx_channels_last = ("Elu",)
    onnx_simple = "Elu"
    torch_template = "F.elu({0}, {p[alpha]!r})"

    @classmethod
    def from_onnx(cls, v):
        return {"alpha": v.attrs.get("alpha", 1.0)}

    def onnx_attrs(self):
        return {"alpha": self.p["alpha"]}


class SELU(Elementwise):
    """SELU (Klambauer et al. 2017): scale * elu(x, alpha); 5 FLOPs per element."""

    type_name = "selu"
    aten_op = "selu"
    torch_class = "SELU"
    torch_call = "F.selu"
    torch_forms = ("functional",)
    params = (Param("inplace", Bool(), False, "overwrite the input (PyTorch's inplace=True): no new storage"),)
    saves = ("input",)
    saves_inplace = ("output",)  # the in-place op keeps its result (derivatives.yaml)
    summary = "scaled ELU (Klambauer et al. 2017)"
    per_element = 5

    def f(self, x):
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))

    def df(self, x, y):
        return SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0)))

    # -- files (docs/onnx.md) --
    onnx_ops = ("Selu",)
    torch_ops = ("aten.selu",)
    onnx_channels_last = ("Selu",)
    onnx_simple = "Selu"
    torch_template = "F.selu({0})"


class Sigmoid(Elementwise):
    """Logistic sigmoid 1 / (1 + exp(-x)); 3 FLOPs per element."""

    type_name = "sigmoid"
    aten_op = "sigmoid"
    torch_class = "Sigmoid"
    torch_call = "torch.sigmoid"
    torch_forms = ("functional",)
    saves = ("output",)  # dy/dx = y (1 - y)
    summary = "logistic sigmoid"
    per_element = 3

    def f(self, x):
        return 0.5 * (1 + np.tanh(0.5 * x))  # the same function, without overflow in exp

    def df(self, x, y):
        return y * (1 - y)

    # -- files (docs/onnx.md) --
    onnx_ops = ("Sigmoid",)
    torch_ops = ("aten.sigmoid",)
    onnx_channels_last = ("Sigmoid",)
    onnx_simple = "Sigmoid"
    torch_template = "torch.sigmoid({0})"


class Tanh(Elementwise):
    """Hyperbolic tangent; 1 FLOP per element."""

    type_name = "tanh"
    aten_op = "tanh"
    torch_class = "Tanh"
    torch_call = "torch.tanh"
    torch_forms = ("functional",)
    saves = ("output",)  # dy/dx = 1 - y^2
    summary = "hyperbolic tangent"
    per_element = 1

    def f(self, x):
        return np.tanh(x)

    def df(self, x, y):
        return 1 - y * y

    # -- files (docs/onnx.md) --
    onnx_ops = ("Tanh",)
    torch_ops = ("aten.tanh",)
    onnx_channels_last = ("Tanh",)
    onnx_simple = "Tanh"
    torch_template = "torch.tanh({0})"


class SiLU(Elementwise):
    """SiLU / swish (Elfwing et al. 2018): x * sigmoid(x); 4 FLOPs per element."""

    type_name = "silu"
    aten_op = "silu"
    torch_class = "SiLU"
    torch_call = "F.silu"
    torch_forms = ("functional",)
    params = (Param("inplace", Bool(), False, "overwrite the input (PyTorch's inplace=True): no new storage"),)
    saves = ("input",)
    saves_inplace = ("input_copy",)  # in place: autograd keeps a copy of the input
    summary = "SiLU (swish is another name for it)"
    per_element = 4

    def f(self, x):
        return x * 0.5 * (1 + np.tanh(0.5 * x))

    def df(self, x, y):
        s = 0.5 * (1 + np.tanh(0.5 * x))
        return s * (1 + x * (1 - s))

    # -- files (docs/onnx.md) --
    onnx_ops = ("Mul(x, Sigmoid(x))",)  # x · sigmoid(x) (Elfwing et al. 2018)
    torch_ops = ("aten.silu",)
    torch_template = "F.silu({0})"

    def to_onnx(self, f, call):
        """Sigmoid, then Mul by the input."""
        s = call.name + ".sigmoid"
        return [call.node("Sigmoid", call.ins, s, s), call.node("Mul", [call.ins[0], s])]


class Hardswish(Elementwise):
    """Hard swish (Howard et al. 2019, MobileNetV3): x * relu6(x + 3) / 6; 5 FLOPs."""

    type_name = "hardswish"
    aten_op = "hardswish"
    torch_class = "Hardswish"
    torch_call = "F.hardswish"
    torch_forms = ("functional",)
    params = (Param("inplace", Bool(), False, "overwrite the input (PyTorch's inplace=True): no new storage"),)
    saves = ("input",)
    saves_inplace = ("input_copy",)  # in place: autograd keeps a copy of the input
    summary = "hard swish (MobileNetV3)"
    per_element = 5

    def f(self, x):
        return x * np.clip(x + 3, 0, 6) / 6

    def df(self, x, y):
        return np.where(x < -3, 0.0, np.where(x > 3, 1.0, (2 * x + 3) / 6)).astype(x.dtype)

    # -- files (docs/onnx.md) --
    onnx_ops = ("HardSwish", "Mul(x, HardSigmoid(x))")
    torch_ops = ("aten.hardswish",)
    onnx_channels_last = ("HardSwish",)
    onnx_simple = "HardSwish"
    torch_template = "F.hardswish({0})"



class GELU(Elementwise):
    """GELU (Hendrycks and Gimpel 2016).

    approximate none: x/2 (1 + erf(x / sqrt 2)), 5 FLOPs per element;
    approximate tanh: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), 9 FLOPs.
    """

    type_name = "gelu"
    aten_op = "gelu"
    torch_class = "GELU"
    torch_call = "F.gelu"
    torch_forms = ("functional",)
    saves = ("input",)
    summary = "Gaussian error linear unit"
    params = (Param("approximate", Choice("none", "tanh"), "none", "PyTorch's approximate"),)
    primary = "approximate"

    def flops_term(self):
        return Term(numel(self.out_shape)) * (9 if self.p["approximate"] == "tanh" else 5)

    @staticmethod
    def _erf(x):
        # NumPy has no erf; math.erf elementwise is exact to double precision
        return np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)

    def f(self, x):
        if self.p["approximate"] == "tanh":
            c = math.sqrt(2 / math.pi)
            return 0.5 * x * (1 + np.tanh(c * (x + 0.044715 * x ** 3)))
        return 0.5 * x * (1 + self._erf(x / math.sqrt(2)))

    def df(self, x, y):
        if self.p["approximate"] == "tanh":
            c = math.sqrt(2 / math.pi)
            t = np.tanh(c * (x + 0.044715 * x ** 3))
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
        cdf = 0.5 * (1 + self._erf(x / math.sqrt(2)))
        return cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    # -- files (docs/onnx.md) --
    onnx_ops = ("Gelu",)  # also the chain x·0.5·(1 + erf(x/√2)), which the reader sees as Gelu
    torch_ops = ("aten.gelu",)

    @classmethod
    def from_torch(cls, v):
        """aten.gelu: erf (approximate none) or tanh."""
        return {"approximate": None if v.a["approximate"] == "none" else v.a["approximate"]}
    onnx_channels_last = ("Gelu",)
    onnx_simple = "Gelu"
    onnx_opset = 20  # ONNX's Gelu op exists from opset 20
    torch_template = "F.gelu({0}, approximate={p[approximate]!r})"

    @classmethod
    def from_onnx(cls, v):
        approx = v.attrs.get("approximate", "none")
        return {"approximate": None if approx == "none" else approx}

    def onnx_attrs(self):
        return {"approximate": self.p["approximate"]}


class PReLU(Elementwise):
    """Parametric ReLU (He et al. 2015): weight (num_parameters,), 1 or one per channel.

    FLOPs: 2 per element (comparison, multiplication).
    """

    type_name = "prelu"
    aten_op = "prelu"
    torch_class = "PReLU"
    torch_call = "F.prelu"
    saves = ("input",)  # both gradients read the input (and the weight)
    summary = "parametric ReLU with learnable slope(s)"
    per_element = 2
    params = (Param("num_parameters", Int(1), 1, "1 (shared) or the number of channels"),)
    primary = "num_parameters"

    def bind(self, in_shapes, ref_shapes=()):
        out = super().bind(in_shapes)
        n = self.p["num_parameters"]
        if n != 1 and n != self.in_shape[0]:
            raise self.fail(
                f"num_parameters is {n} but the input has {self.in_shape[0]} channels",
                help="use 1 (one shared slope) or the channel count", param="num_parameters",
            )
        return out

    def param_shapes(self):
        return {"weight": (self.p["num_parameters"],)}

    def _slope(self, w, x):
        return w.take("weight", (self.p["num_parameters"],)).reshape(1, -1, *(1,) * (x.ndim - 2))

    def forward(self, xs, w, ctx):
        x = xs[0]
        return np.where(x > 0, x, self._slope(w, x) * x)

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        slope = self._slope(w, x)
        if ctx.probe:
            return [g], {"weight": np.zeros(self.p["num_parameters"], dtype=g.dtype)}
        dx = g * np.where(x > 0, 1.0, slope)
        dw = g * np.where(x > 0, 0.0, x)
        axes = tuple(a for a in range(dw.ndim) if a != 1 or slope.size == 1)
        return [dx], {"weight": dw.sum(axis=axes).reshape(self.p["num_parameters"])}

    # -- files (docs/onnx.md) --
    onnx_ops = ("PRelu",)

    @classmethod
    def from_onnx(cls, v):
        """PRelu: as many parameters as the slope has elements."""
        return {"num_parameters": int(math.prod(v.dims(1))) or 1}

    def to_onnx(self, f, call):
        """PRelu with the slope shaped (C, 1, ...) to broadcast over the axes after C."""
        n = self.p["num_parameters"]
        rank = len(f.in_shapes[0])
        shape = (n, *([1] * (rank - 1))) if n > 1 else (1,)
        return [call.node("PRelu", [call.ins[0], call.weight("weight", shape=shape)])]

    def to_torch(self, f, call):
        """nn.PReLU(num_parameters)."""
        return TorchCode(f"{call.module}({call.ins[0]})", f"nn.PReLU({self.p['num_parameters']})")


class Softmax(Elementwise):
    """Softmax along ``dim`` (PyTorch's numbering: 0 is the batch axis, 1 the channels).

    FLOPs per softmax over n elements: n exp + (n - 1) additions + n divisions
    = 3n - 1.
    """

    type_name = "softmax"
    aten_op = "softmax"
    torch_class = "Softmax"
    torch_call = "F.softmax"
    torch_forms = ("functional",)
    erf_rule = None  # normalises across elements: not an activation the protocol linearises
    saves = ("output",)
    summary = "softmax along dim (default 1: the channels)"
    params = (Param("dim", Int(None), 1, "axis, counting the batch axis as 0"),)
    primary = "dim"

    def bind(self, in_shapes, ref_shapes=()):
        out = super().bind(in_shapes)
        rank = len(self.in_shape) + 1
        dim = self.p["dim"]
        if not (-rank < dim < rank) or dim % rank == 0:
            raise self.fail(
                f"dim {dim} is not a non-batch axis of {fmt_shape(self.in_shape)} (with batch: rank {rank})",
                help="dim 1 is the channel axis; the batch axis 0 cannot be normalized", param="dim",
                kind="value",
            )
        self.axis = dim % rank
        self.axis_len = self.in_shape[self.axis - 1]
        return out

    def flops_term(self):
        # per softmax of n values: n exp, n - 1 additions, n divisions = 3n - 1
        n = self.axis_len
        return Term(numel(self.out_shape) // n) * (3 * Term(n) - 1)

    def unit_maps(self):
        maps = super().unit_maps()
        if maps is not None and self.axis >= 2:  # along a spatial axis: every position reaches
            maps[self.axis - 2] = None
        return maps

    def probe_values(self, axis, values, shapes):
        """verify's probe along spatial ``axis``: a softmax along that axis stays one
        (dim 2 of the one-axis probe); along another axis it is pointwise (dim 1)."""
        along = self.p["dim"] % (len(shapes.inputs[0]) + 1)  # PyTorch's numbering, batch 0
        if along >= 2:
            values["dim"] = 2 if along - 2 == axis else 1
        return values

    def forward(self, xs, w, ctx):
        x = xs[0]
        axis = self.p["dim"] % x.ndim  # PyTorch's numbering counts the batch axis, as x does
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    def backward(self, xs, w, out, g, ctx):
        axis = self.p["dim"] % g.ndim
        if ctx.probe:  # every element along the axis reaches every other
            return [np.broadcast_to(np.abs(g).sum(axis=axis, keepdims=True), g.shape).copy()], {}
        return [out * (g - (g * out).sum(axis=axis, keepdims=True))], {}

    # -- files (docs/onnx.md) --
    onnx_ops = ("Softmax",)
    torch_template = "torch.softmax({0}, {p[dim]!r})"

    @classmethod
    def from_onnx(cls, v):
        axis = v.attrs.get("axis", -1) % v.rank
        return {"dim": None if axis == 1 else axis}

    def to_onnx(self, f, call):
        """Softmax along dim (the batch counted as axis 0, as in ONNX)."""
        return [call.node("Softmax", call.ins, axis=int(self.p["dim"] % (len(f.in_shapes[0]) + 1)))]

    def aten_ops(self, form=""):
        # window: the length n of each vector, thop's nfeatures (count_softmax: 3n - 1 per vector)
        return [self.torch_op(self.aten_op, form, window=Fraction(self.axis_len))]


class Hardsigmoid(Elementwise):
    """Hard sigmoid (Howard et al. 2019, MobileNetV3, section 5.2; torch.nn.Hardsigmoid):
    relu6(x + 3) / 6, i.e. 0 for x <= -3, 1 for x >= 3, x/6 + 1/2 between;
    4 FLOPs per element (add, max, min, divide)."""

    type_name = "hardsigmoid"
    aten_op = "hardsigmoid"
    torch_class = "Hardsigmoid"
    torch_call = "F.hardsigmoid"
    torch_forms = ("functional",)
    saves = ("input",)
    saves_inplace = ("input_copy",)  # in place: autograd keeps a copy of the input
    params = (Param("inplace", Bool(), False, "overwrite the input (PyTorch's inplace=True): no new storage"),)
    summary = "hard sigmoid relu6(x + 3) / 6 (MobileNetV3's gate)"
    per_element = 4

    def f(self, x):
        return np.clip(x + 3, 0, 6) / 6

    def df(self, x, y):
        return ((x > -3) & (x < 3)).astype(x.dtype) / 6

    # -- files (docs/onnx.md) --
    onnx_ops = ("HardSigmoid",)
    torch_ops = ("aten.hardsigmoid",)
    torch_template = "F.hardsigmoid({0})"

    @classmethod
    def from_onnx(cls, v):
        """HardSigmoid with PyTorch's alpha 1/6 and beta 0.5 only."""
        alpha, beta = v.attrs.get("alpha", 0.2), v.attrs.get("beta", 0.5)
        if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-6:
            raise v.fail(f"HardSigmoid with alpha {alpha}, beta {beta}; cnncalc's hardsigmoid "
                         "is PyTorch's: relu6(x + 3) / 6 (alpha 1/6, beta 0.5)")
        return {}

    def to_onnx(self, f, call):
        """HardSigmoid(alpha 1/6, beta 0.5): relu6(x + 3) / 6."""
        return [call.node("HardSigmoid", call.ins, alpha=1 / 6, beta=0.5)]


class Hardtanh(Elementwise):
    """Hard tanh (torch.nn.Hardtanh): min(max(x, min_val), max_val); 2 FLOPs per
    element (two comparisons)."""

    type_name = "hardtanh"
    aten_op = "hardtanh"
    torch_class = "Hardtanh"
    torch_call = "F.hardtanh"
    torch_forms = ("functional",)
    saves = ("input",)
    saves_inplace = ("input_copy",)  # in place: autograd keeps a copy of the input
    summary = "hard tanh: x clipped to [min_val, max_val]"
    per_element = 2
    params = (
        Param("min_val", Number(), -1.0, "lower bound"),
        Param("max_val", Number(), 1.0, "upper bound"),
        Param("inplace", Bool(), False, "overwrite the input (PyTorch's inplace=True): no new storage"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        if self.p["max_val"] <= self.p["min_val"]:
            raise self.fail(f"max_val {self.p['max_val']} must be greater than min_val {self.p['min_val']}",
                            help="PyTorch requires max_val > min_val", param="max_val", kind="value")
        return super().bind(in_shapes, ref_shapes)

    def f(self, x):
        return np.clip(x, self.p["min_val"], self.p["max_val"])

    def df(self, x, y):
        return ((x > self.p["min_val"]) & (x < self.p["max_val"])).astype(x.dtype)

    # -- files (docs/onnx.md) --
    onnx_ops = ("Clip",)  # the last type asked: any bounded range
    torch_ops = ("aten.hardtanh",)

    @classmethod
    def from_torch(cls, v):
        """aten.hardtanh: its bounds."""
        return {"min_val": float(v.a["min_val"]), "max_val": float(v.a["max_val"])}
    torch_template = "F.hardtanh({0}, {p[min_val]!r}, {p[max_val]!r})"

    @classmethod
    def from_onnx(cls, v):
        """Clip to a bounded range (asked after relu6 and relu)."""
        lo, hi = cls.clip_bounds(v)
        if lo is None or hi is None:
            raise v.fail(f"Clip to [{lo}, {hi}]; cnncalc maps Clip(0, 6) (ReLU6), Clip(0, inf) "
                         "(ReLU) and other bounded ranges (hardtanh)")
        return {"min_val": f32(lo), "max_val": f32(hi)}

    def to_onnx(self, f, call):
        """Clip with the bounds as inputs."""
        return [call.node("Clip", [call.ins[0], call.floats(call.name + ".min", float(self.p["min_val"])),
                                   call.floats(call.name + ".max", float(self.p["max_val"]))])]


class Softplus(Elementwise):
    """Softplus (torch.nn.Softplus): log(1 + exp(beta x)) / beta, and x itself where
    beta x > threshold (PyTorch's switch to the linear function).

    6 FLOPs per element: beta·x, the comparison with threshold, exp, + 1, log, / beta.
    """

    type_name = "softplus"
    aten_op = "softplus"
    torch_class = "Softplus"
    torch_call = "F.softplus"
    torch_forms = ("functional",)
    saves = ("input",)
    summary = "softplus log(1 + exp(beta x)) / beta"
    per_element = 6
    params = (
        Param("beta", Number(0, open_min=True), 1.0, "sharpness"),
        Param("threshold", Number(), 20.0, "above beta x > threshold the output is x"),
    )

    def f(self, x):
        bx = self.p["beta"] * x
        return np.where(bx > self.p["threshold"], x, np.logaddexp(0, bx) / self.p["beta"])

    def df(self, x, y):
        bx = self.p["beta"] * x
        return np.where(bx > self.p["threshold"], 1.0, 0.5 * (1 + np.tanh(0.5 * bx))).astype(x.dtype)

    # -- files (docs/onnx.md) --
    onnx_ops = ("Softplus",)
    onnx_channels_last = ("Softplus",)
    torch_template = "F.softplus({0}, beta={p[beta]!r}, threshold={p[threshold]!r})"

    @classmethod
    def from_onnx(cls, v):
        """Softplus; written as Mul by beta, Softplus, Div by beta (ONNX's Softplus has no
        beta), the chain's beta."""
        beta = v.extra.get("beta")
        return {"beta": None if beta is None or beta == 1 else f32(beta)}

    def to_onnx(self, f, call):
        """Softplus; with beta other than 1, softplus(beta·x) / beta as Mul, Softplus, Div
        (above PyTorch's threshold, where it switches to x, the two differ by at most
        log(1 + e^-threshold)/beta: 2e-9 for the default threshold 20)."""
        beta, threshold = float(self.p["beta"]), float(self.p["threshold"])
        gap = math.log1p(math.exp(-threshold)) / beta if threshold < 700 else 0.0
        if gap > 1e-6:  # where PyTorch switches to x, ONNX's smooth function is higher by this
            raise SpecError(f"softplus '{call.name}': ONNX's Softplus has no threshold; above "
                            f"beta·x > {threshold:g} PyTorch gives x and ONNX x + {gap:.2g}",
                            kind="export", help="use a threshold of 20 (PyTorch's default) or more")
        if beta == 1:
            return [call.node("Softplus", call.ins)]
        scaled, soft = call.name + ".scaled", call.name + ".softplus"
        return [call.node("Mul", [call.ins[0], call.floats(call.name + ".beta", beta)], scaled,
                          call.name + ".mul"),
                call.node("Softplus", [scaled], soft, call.name + ".softplus"),
                call.node("Div", [soft, call.floats(call.name + ".beta", beta)])]


class Mish(Elementwise):
    """Mish (Misra 2019; torch.nn.Mish): x · tanh(softplus(x)).

    5 FLOPs per element: exp, + 1, log (softplus with beta 1), tanh, multiply.
    """

    type_name = "mish"
    aten_op = "mish"
    torch_class = "Mish"
    torch_call = "F.mish"
    torch_forms = ("functional",)
    saves = ("input",)
    saves_inplace = ("input_copy",)  # in place: autograd keeps a copy of the input
    params = (Param("inplace", Bool(), False, "overwrite the input (PyTorch's inplace=True): no new storage"),)
    summary = "mish x·tanh(softplus(x))"
    per_element = 5

    def f(self, x):
        return x * np.tanh(np.logaddexp(0, x))

    def df(self, x, y):
        t = np.tanh(np.logaddexp(0, x))
        sigmoid = 0.5 * (1 + np.tanh(0.5 * x))
        return t + x * (1 - t * t) * sigmoid

    # -- files (docs/onnx.md) --
    onnx_ops = ("Mish",)
    torch_ops = ("aten.mish",)
    onnx_channels_last = ("Mish",)
    onnx_simple = "Mish"
    torch_template = "F.mish({0})"


# swish (Ramachandran et al. 2017) is SiLU (Elfwing et al. 2018) under another name:
# the name resolves to the same class, so its facts exist once; PyTorch's name is silu.
REGISTRY["swish"] = SiLU
