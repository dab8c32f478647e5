"""Normalization layers: batch normalization and local response normalization."""

from __future__ import annotations

from dataclasses import replace

from cnncalc.core.errors import SpecError
from cnncalc.core.exchange import TorchCode, f32, torch_args
from cnncalc.layers.base import (
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


class BatchNorm(Layer):
    """Batch normalization (Ioffe and Szegedy 2015; PyTorch BatchNorm1d/2d/3d).

    Normalizes each channel (axis 0 of the per-sample shape: [C], [C, L],
    [C, H, W] or [C, D, H, W]). Params: weight, bias (C,) if affine. Buffers:
    running_mean, running_var (C,) if track_running_stats (PyTorch's
    num_batches_tracked step counter is not counted: it holds no statistics).
    FLOPs at inference: 2 per element, y = x * scale + shift, with
    scale = weight / sqrt(running_var + eps) and shift = bias - running_mean * scale
    precomputed from parameters and buffers (work on parameters alone is not
    counted for any layer).
    """

    type_name = "batchnorm"
    aten_op = "batch_norm"
    torch_class = "BatchNorm{n}d"
    torch_call = "F.batch_norm"
    erf_rule = "copy"  # the ERF's uniform protocol: batch norm is the identity
    family = "normalization"
    summary = "batch normalization over the channel axis (BatchNorm1d/2d/3d)"
    spatial = True
    alias_any_rank = True
    params = (
        Param("eps", Number(0, open_min=True), 1e-5, "added to the variance"),
        Param("momentum", Number(0, 1), 0.1, "running-statistics update rate (training)"),
        Param("affine", Bool(), True, "learnable weight and bias per channel"),
        Param("track_running_stats", Bool(), True, "keep running_mean and running_var buffers"),
        Param("num_features", Int(1), None, "inferred from the input; checked if given"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        rank = getattr(self, "alias_rank", None)
        shape = self.in_shape
        if rank is not None and not (len(shape) == rank + 1 or (rank == 1 and len(shape) == 1)):
            raise self.fail(
                f"batchnorm{rank}d expects a {'[C] or [C, L]' if rank == 1 else f'rank-{rank + 1} [C, ...]'} "
                f"input, got {fmt_shape(shape)}",
                help="write batchnorm: the rank is taken from the input", kind="shape",
            )
        self.channels = self.check_in_channels("num_features")
        self.out_shape = tuple(shape)
        return self.out_shape

    def param_shapes(self):
        return {"weight": (self.channels,), "bias": (self.channels,)} if self.p["affine"] else {}

    def buffer_shapes(self):
        if not self.p["track_running_stats"]:
            return {}
        return {"running_mean": (self.channels,), "running_var": (self.channels,)}

    flops_formula = "elements · 2  (x·scale + shift at inference)"

    def flops_term(self) -> Term:
        return Term(numel(self.out_shape)) * 2  # y = x·scale + shift

    def saved_for_backward(self):
        # training mode (torch.native_batch_norm): the input and, per channel, the batch
        # mean and inverse standard deviation (float32)
        c = (self.channels,)
        return [Saved("input0", self.in_shapes[0]), Saved("save_mean", c, "float32", per_sample=False),
                Saved("save_invstd", c, "float32", per_sample=False)]

    def eager_backward(self, batch, grad_inputs, grad_weights):
        """Training-mode native_batch_norm_backward on CPU (torch 2.14, the profiler's
        memory events; tests/test_memory_torch.py): the input's gradient, the weight's and
        bias's, then a temporary of the input's shape, freed before it returns."""
        returned = super().eager_backward(batch, grad_inputs, grad_weights)
        if not returned:
            return []
        return [returned[0] + (Saved("temporary", self.in_shapes[0]),), returned[0]]

    def _stats(self, x, w):
        """Mean and variance per channel: the running buffers, or (without
        track_running_stats, as PyTorch does then) the batch's own statistics."""
        axes = tuple(a for a in range(x.ndim) if a != 1)
        if self.p["track_running_stats"]:
            shape, c = (1, -1, *(1,) * (x.ndim - 2)), (x.shape[1],)
            return (w.take("running_mean", c, buffer=True).reshape(shape),
                    w.take("running_var", c, buffer=True).reshape(shape), False)
        return x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True), True

    def _affine(self, w, x):
        if not self.p["affine"]:
            return 1.0, 0.0
        shape, c = (1, -1, *(1,) * (x.ndim - 2)), (x.shape[1],)
        return w.take("weight", c).reshape(shape), w.take("bias", c).reshape(shape)

    def forward(self, xs, w, ctx):
        x = xs[0]
        mean, var, _ = self._stats(x, w)
        scale, shift = self._affine(w, x)
        return (x - mean) / np.sqrt(var + self.p["eps"]) * scale + shift

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        mean, var, batch = self._stats(x, w)
        scale, _ = self._affine(w, x)
        inv = 1 / np.sqrt(var + self.p["eps"])
        xhat = (x - mean) * inv
        axes = tuple(a for a in range(x.ndim) if a != 1)
        gx = g * scale
        if batch:  # statistics depend on x too (Ioffe and Szegedy 2015, section 3)
            m = x.size // x.shape[1]
            gx = inv / m * (m * gx - gx.sum(axis=axes, keepdims=True)
                            - xhat * (gx * xhat).sum(axis=axes, keepdims=True))
        else:
            gx = gx * inv
        grads = {}
        if self.p["affine"]:
            grads = {"weight": (g * xhat).sum(axis=axes), "bias": g.sum(axis=axes)}
        return [gx], grads

    # -- files (docs/onnx.md) --
    onnx_ops = ("BatchNormalization",)
    torch_ops = ("aten.batch_norm",)

    @classmethod
    def from_torch(cls, v):
        """aten.batch_norm: eps, momentum, affine (a weight given), running statistics kept
        (buffers given); the training flag changes no figure."""
        a = v.a
        momentum = a["momentum"]
        return {"eps": None if a["eps"] == 1e-5 else float(a["eps"]),
                "momentum": None if momentum is None or momentum == 0.1 else float(momentum),
                "affine": None if a["weight"] is not None else False,
                "track_running_stats": None if a["running_mean"] is not None else False}

    @classmethod
    def from_onnx(cls, v):
        """BatchNormalization in eval mode; epsilon is a float32 attribute (six digits kept)."""
        if v.attrs.get("training_mode", 0):
            raise v.fail("training_mode=1: export the model in eval mode")
        eps = f32(float(v.attrs.get("epsilon", 1e-5)))
        return {"eps": None if eps == 1e-5 else eps}

    def to_onnx(self, f, call):
        """BatchNormalization; without affine or running statistics, the identity's values
        (scale 1, shift 0, mean 0, variance 1)."""
        c = f.in_shapes[0][0]
        names = []
        for key, fill in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            if key in f.params or key in f.buffers:
                names.append(call.weight(key))
            else:
                names.append(call.floats(f"{call.name}.{key}", [fill] * c))
        return [call.node("BatchNormalization", [call.ins[0], *names], epsilon=float(self.p["eps"]))]

    def to_torch(self, f, call):
        """nn.BatchNorm{d}d over the channels."""
        d = max(len(f.in_shapes[0]) - 1, 1)
        ctor = (f"nn.BatchNorm{d}d({torch_args(f.in_shapes[0][0], eps=self.p['eps'], momentum=self.p['momentum'], affine=self.p['affine'], track_running_stats=self.p['track_running_stats'])})")
        return TorchCode(f"{call.module}({call.ins[0]})", ctor)

    def aten_ops(self, form=""):
        shapes = self.param_shapes()
        op = self.torch_op(self.aten_op, form, affine="weight" in shapes)
        # torchvision's LayerNorm2d: an nn.LayerNorm subclass that permutes around F.layer_norm
        return [replace(op, module="LayerNorm2d") if form == "LayerNorm2d" else op]


class LRN(Layer):
    """Local response normalization across channels (Krizhevsky et al. 2012, section 3.3).

    PyTorch's LocalResponseNorm: b_c = a_c / (k + alpha/n * sum a^2 over the n
    channels centred on c)^beta. The paper writes (k + alpha * sum)^beta with
    k=2, n=5, alpha=1e-4, beta=0.75; in PyTorch's form that alpha is 5e-4.
    FLOPs per element: n + 4 (a square, n - 1 additions of the window, a scale,
    an addition of k, a power, a division).
    """

    type_name = "lrn"
    aten_op = "lrn"
    torch_class = "LocalResponseNorm"
    torch_call = "F.local_response_norm"
    family = "normalization"
    summary = "local response normalization across channels (AlexNet)"
    primary = "size"
    params = (
        Param("size", Int(1), 5, "n: channels in the window"),
        Param("alpha", Number(), 1e-4, "scale (PyTorch divides it by size)"),
        Param("beta", Number(), 0.75, "exponent"),
        Param("k", Number(), 1.0, "additive constant"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.out_shape = tuple(self.in_shape)
        return self.out_shape

    flops_formula = "elements · (n + 4)  (docs/conventions.md)"

    def flops_term(self) -> Term:
        # per element (docs/conventions.md): a square, size - 1 additions over the window,
        # a scale, + k, a power and a division: size + 4
        return Term(numel(self.out_shape)) * (Term(self.p["size"]) + 4)

    def saved_for_backward(self):
        # F.local_response_norm composes x / (k + alpha/n · avg(x^2))^beta: mul keeps x,
        # the window average its input x^2, pow its base and result, div x and the divisor
        shape = self.in_shapes[0]
        return [Saved("input0", shape), Saved("squared", shape), Saved("base", shape),
                Saved("denominator", shape)]

    def _window_sum(self, v, before, after):
        """Sum over channels c - before .. c + after (zero outside), for every c."""
        padded = np.pad(v, [(0, 0), (before, after)] + [(0, 0)] * (v.ndim - 2))
        csum = np.concatenate([np.zeros_like(padded[:, :1]), np.cumsum(padded, axis=1)], axis=1)
        width = before + after + 1
        return csum[:, width:] - csum[:, :-width]

    def _denominator(self, x):
        n = self.p["size"]
        total = self._window_sum(x * x, n // 2, (n - 1) // 2)  # PyTorch's padding of the window
        return self.p["k"] + self.p["alpha"] / n * total

    def forward(self, xs, w, ctx):
        x = xs[0]
        return x * self._denominator(x) ** -self.p["beta"]

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        n, beta = self.p["size"], self.p["beta"]
        if ctx.probe:  # channel c reaches the outputs whose window holds it
            return [np.abs(g) + self._window_sum(np.abs(g), (n - 1) // 2, n // 2)], {}
        d = self._denominator(x)
        inner = self._window_sum(g * x * d ** (-beta - 1), (n - 1) // 2, n // 2)
        return [g * d ** -beta - 2 * self.p["alpha"] * beta / n * x * inner], {}

    # -- files (docs/onnx.md) --
    onnx_ops = ("LRN",)

    @classmethod
    def from_onnx(cls, v):
        """LRN: size, alpha, beta and bias (k), float32 attributes read to six digits."""
        a = v.attrs
        return {"size": int(a["size"]), "alpha": f32(a.get("alpha", 1e-4)),
                "beta": f32(a.get("beta", 0.75)), "k": f32(a.get("bias", 1.0))}

    def to_onnx(self, f, call):
        """LRN (ONNX's alpha is PyTorch's: divided by size inside the op)."""
        return [call.node("LRN", call.ins, size=int(self.p["size"]), alpha=float(self.p["alpha"]),
                          beta=float(self.p["beta"]), bias=float(self.p["k"]))]

    def to_torch(self, f, call):
        """nn.LocalResponseNorm."""
        ctor = f"nn.LocalResponseNorm({torch_args(self.p['size'], alpha=self.p['alpha'], beta=self.p['beta'], k=self.p['k'])})"
        return TorchCode(f"{call.module}({call.ins[0]})", ctor)


def _identity_affine(v) -> bool:
    """Whether an ONNX normalization's scale (input 1) and bias (input 2) are stored ones
    and zeros: the identity, PyTorch's affine false. Values not in the file count as learnt."""
    try:
        scale, bias = v.const(1, "scale"), v.const(2, "bias")
    except SpecError:
        return False
    return scale is not None and bias is not None and bool((scale == 1).all() and (bias == 0).all())


class _StatNorm(Layer):
    """Normalization by the statistics of groups of elements of each sample.

    y = (x - mean) / sqrt(var + eps) (* weight + bias), mean and (biased) variance
    over each group of n elements. FLOPs per group: n for the mean, 3n for the
    variance, 2 for sqrt(var + eps), 2n to normalize (6n + 2), and 2n for the
    affine transform (docs/conventions.md).
    """

    family = "normalization"
    spatial = True  # its 1d/2d/3d forms must match the input's rank, as for convolution
    affine_key = "affine"

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.channels = self.in_shape[0]
        self.out_shape = tuple(self.in_shape)
        return self.out_shape

    def groups(self) -> tuple[int, int]:
        """(number of groups per sample, elements per group)."""
        raise NotImplementedError  # pragma: no cover

    def unit_maps(self):
        # the statistics are taken over every position: every input position reaches
        # every unit, so the receptive field is global (docs/receptive-field.md)
        return [None] * self.ndim if len(self.out_shape) == self.ndim + 1 else None

    def affine_shape(self) -> tuple[int, ...]:
        return (self.channels,)

    def saved_for_backward(self):
        # native_group_norm / native_layer_norm (instance norm runs batch norm on N·C
        # groups): the input and per group its mean and reciprocal standard deviation
        count, _ = self.groups()
        return [Saved("input0", self.in_shapes[0]), Saved("mean", (count,), "float32"),
                Saved("rstd", (count,), "float32")]

    def param_shapes(self):
        if not self.p[self.affine_key]:
            return {}
        return {"weight": self.affine_shape(), "bias": self.affine_shape()}

    def flops(self):
        count, n = self.groups()
        total = count * (6 * n + 2)
        if self.p[self.affine_key]:
            total += 2 * numel(self.out_shape)
        return total

    def _groups_of(self, x) -> tuple[int, int]:
        """(groups per sample, elements per group) of the array ``x`` (N, C, *S)."""
        raise NotImplementedError  # pragma: no cover

    def _affine_shape_of(self, x) -> tuple[int, ...]:
        """The shape of weight and bias for the array ``x``: one per channel."""
        return (x.shape[1],)

    def _view(self, x):
        """x reshaped so that each group is the last axis: (N, groups, n)."""
        return x.reshape(x.shape[0], *self._groups_of(x))

    def _affine(self, w, x):
        if not self.p[self.affine_key]:
            return None, None
        shape = self._affine_shape_of(x)
        full = (1, *shape, *(1,) * (x.ndim - 1 - len(shape)))
        return w.take("weight", shape).reshape(full), w.take("bias", shape).reshape(full)

    def forward(self, xs, w, ctx):
        x = xs[0]
        v = self._view(x)
        xhat = ((v - v.mean(axis=-1, keepdims=True)) / np.sqrt(v.var(axis=-1, keepdims=True)
                                                               + self.p["eps"])).reshape(x.shape)
        scale, shift = self._affine(w, x)
        return xhat if scale is None else xhat * scale + shift

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        v = self._view(x)
        inv = 1 / np.sqrt(v.var(axis=-1, keepdims=True) + self.p["eps"])
        xhat = (v - v.mean(axis=-1, keepdims=True)) * inv
        scale, _ = self._affine(w, x)
        grads = {}
        gx = g if scale is None else g * scale
        if scale is not None:
            if len(self._affine_shape_of(x)) == 1:  # per channel: sum over every axis but 1
                axes = tuple(a for a in range(x.ndim) if a != 1)
            else:  # per element of the sample: sum over the batch
                axes = (0,)
            grads = {"weight": (g * xhat.reshape(x.shape)).sum(axis=axes),
                     "bias": g.sum(axis=axes)}
        if ctx.probe:  # every element of a group reaches every other
            flat = np.abs(self._view(gx)).sum(axis=-1, keepdims=True)
            return [np.broadcast_to(flat, v.shape).reshape(x.shape).copy()], grads
        gv = self._view(gx)
        dx = inv * (gv - gv.mean(axis=-1, keepdims=True) - xhat * (gv * xhat).mean(axis=-1, keepdims=True))
        return [dx.reshape(x.shape)], grads

    def aten_ops(self, form=""):
        shapes = self.param_shapes()
        op = self.torch_op(self.aten_op, form, affine="weight" in shapes)
        # torchvision's LayerNorm2d: an nn.LayerNorm subclass that permutes around F.layer_norm
        return [replace(op, module="LayerNorm2d") if form == "LayerNorm2d" else op]


class InstanceNorm(_StatNorm):
    """Instance normalization (Ulyanov et al. 2016; PyTorch InstanceNorm1d/2d/3d).

    Each sample's channels normalized over their spatial positions. PyTorch's
    defaults: affine false, track_running_stats false (then buffers, and at
    inference the running statistics as in batch norm).
    """

    type_name = "instancenorm"
    aten_op = "instance_norm"
    torch_class = "InstanceNorm{n}d"
    torch_call = "F.instance_norm"
    summary = "instance normalization: each channel over its positions, per sample"
    params = (
        Param("eps", Number(0, open_min=True), 1e-5, "added to the variance"),
        Param("momentum", Number(0, 1), 0.1, "running-statistics update rate (training)"),
        Param("affine", Bool(), False, "learnable weight and bias per channel"),
        Param("track_running_stats", Bool(), False, "keep running statistics (used at inference)"),
        Param("num_features", Int(1), None, "inferred; checked if given"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        out = super().bind(in_shapes, ref_shapes)
        self.need_spatial()
        self.check_in_channels("num_features")
        return out

    def groups(self):
        return self.channels, numel(self.in_shape[1:])

    def _groups_of(self, x):
        return x.shape[1], numel(x.shape[2:])

    def _running(self, x, w):
        shape, c = (1, -1, *(1,) * (x.ndim - 2)), (x.shape[1],)
        return (w.take("running_mean", c, buffer=True).reshape(shape),
                w.take("running_var", c, buffer=True).reshape(shape))

    def buffer_shapes(self):
        if not self.p["track_running_stats"]:
            return {}
        return {"running_mean": (self.channels,), "running_var": (self.channels,)}

    def flops(self):
        if self.p["track_running_stats"]:
            return 2 * numel(self.out_shape)  # like batch norm at inference
        return super().flops()

    def unit_maps(self):
        if self.p["track_running_stats"]:  # running statistics: pointwise, as batch norm
            return Layer.unit_maps(self)
        return super().unit_maps()

    def forward(self, xs, w, ctx):
        if not self.p["track_running_stats"]:
            return super().forward(xs, w, ctx)
        x = xs[0]
        mean, var = self._running(x, w)
        y = (x - mean) / np.sqrt(var + self.p["eps"])
        scale, shift = self._affine(w, x)
        return y if scale is None else y * scale + shift

    def backward(self, xs, w, out, g, ctx):
        if not self.p["track_running_stats"]:
            return super().backward(xs, w, out, g, ctx)
        x = xs[0]
        mean, var = self._running(x, w)
        inv = 1 / np.sqrt(var + self.p["eps"])
        scale, _ = self._affine(w, x)
        grads = {}
        if scale is not None:
            axes = tuple(a for a in range(x.ndim) if a != 1)
            xhat = (x - mean) * inv
            grads = {"weight": (g * xhat).sum(axis=axes), "bias": g.sum(axis=axes)}
        return [g * inv * (1 if scale is None else scale)], grads

    # -- files (docs/onnx.md) --
    onnx_ops = ("InstanceNormalization",)

    @classmethod
    def from_onnx(cls, v):
        """InstanceNormalization; its scale and B are always given (onnx/docs/Operators.md):
        stored ones and zeros are PyTorch's affine false (its default)."""
        eps = f32(float(v.attrs.get("epsilon", 1e-5)))
        return {"eps": None if eps == 1e-5 else eps, "affine": None if _identity_affine(v) else True}

    def to_onnx(self, f, call):
        """InstanceNormalization (scale 1 and B 0 without affine); with
        track_running_stats, inference uses the running statistics: BatchNormalization."""
        c = f.in_shapes[0][0]
        scale = call.weight("weight") if "weight" in f.params else call.floats(call.name + ".scale", [1.0] * c)
        shift = call.weight("bias") if "bias" in f.params else call.floats(call.name + ".shift", [0.0] * c)
        eps = float(self.p["eps"])
        if self.p["track_running_stats"]:
            return [call.node("BatchNormalization", [call.ins[0], scale, shift, call.weight("running_mean"),
                                                     call.weight("running_var")], epsilon=eps)]
        return [call.node("InstanceNormalization", [call.ins[0], scale, shift], epsilon=eps)]

    def to_torch(self, f, call):
        """nn.InstanceNorm{d}d."""
        d = max(len(f.in_shapes[0]) - 1, 1)
        ctor = f"nn.InstanceNorm{d}d({torch_args(f.in_shapes[0][0], eps=self.p['eps'], affine=self.p['affine'], track_running_stats=self.p.get('track_running_stats'))})"
        return TorchCode(f"{call.module}({call.ins[0]})", ctor)


class GroupNorm(_StatNorm):
    """Group normalization (Wu and He 2018; PyTorch GroupNorm): channels split into
    num_groups groups, each normalized over its channels and positions, per
    sample; weight and bias per channel (affine, PyTorch's default true)."""

    type_name = "groupnorm"
    aten_op = "group_norm"
    torch_class = "GroupNorm"
    torch_call = "F.group_norm"
    summary = "group normalization over num_groups groups of channels"
    primary = "num_groups"
    params = (
        Param("num_groups", Int(1), doc="groups of channels"),
        Param("eps", Number(0, open_min=True), 1e-5, "added to the variance"),
        Param("affine", Bool(), True, "learnable weight and bias per channel"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        out = super().bind(in_shapes, ref_shapes)
        if self.channels % self.p["num_groups"]:
            raise self.fail(f"num_groups={self.p['num_groups']} does not divide the {self.channels} channels",
                            param="num_groups", help="num_groups must divide the channels")
        return out

    def groups(self):
        return self.p["num_groups"], numel(self.in_shape) // self.p["num_groups"]

    def _groups_of(self, x):
        return self.p["num_groups"], numel(x.shape[1:]) // self.p["num_groups"]

    # -- files (docs/onnx.md) --
    onnx_ops = ("GroupNormalization",)
    onnx_opset = 21  # GroupNormalization's scale and bias are per channel from opset 21

    @classmethod
    def from_onnx(cls, v):
        """GroupNormalization with a scale and bias per channel (opset 21, PyTorch's); the
        per-group scale of opset 18 only where groups and channels coincide. Stored ones
        and zeros are affine false."""
        groups, channels = int(v.attrs["num_groups"]), v.x.shape[0]
        scale = v.dims(1)
        if tuple(scale) != (channels,):
            raise v.fail(f"a scale of shape {list(scale)}: per group (opset 18); cnncalc's "
                         f"groupnorm, as PyTorch's, has one per channel ({channels})",
                         help="export at opset 21, or as Reshape, InstanceNormalization, Reshape, "
                              "Mul, Add (PyTorch's exporters before opset 21)")
        eps = f32(float(v.attrs.get("epsilon", 1e-5)))
        return {"num_groups": groups, "eps": None if eps == 1e-5 else eps,
                "affine": False if _identity_affine(v) else None}

    def to_onnx(self, f, call):
        """GroupNormalization (opset 21: scale and bias per channel; 1 and 0 without affine)."""
        c = f.in_shapes[0][0]
        scale = call.weight("weight") if "weight" in f.params else call.floats(call.name + ".scale", [1.0] * c)
        shift = call.weight("bias") if "bias" in f.params else call.floats(call.name + ".shift", [0.0] * c)
        return [call.node("GroupNormalization", [call.ins[0], scale, shift],
                          num_groups=int(self.p["num_groups"]), epsilon=float(self.p["eps"]))]

    def to_torch(self, f, call):
        """nn.GroupNorm(num_groups, channels)."""
        ctor = f"nn.GroupNorm({torch_args(self.p['num_groups'], f.in_shapes[0][0], eps=self.p['eps'], affine=self.p['affine'])})"
        return TorchCode(f"{call.module}({call.ins[0]})", ctor)


class LayerNorm(_StatNorm):
    """Layer normalization (Ba et al. 2016; PyTorch LayerNorm).

    over: all (default) normalizes each sample over all its elements, as
    PyTorch's LayerNorm(input.shape[1:]), with weight and bias of the sample's
    shape [C, *S]; over: channels normalizes each position over its channels,
    with weight and bias per channel (ConvNeXt's LayerNorm2d); over: last normalizes
    the last axis, with weight and bias of its size, as PyTorch's LayerNorm(E) on a
    sequence [L, E] (ViT's ln_1, ln_2, encoder.ln). Affine: elementwise_affine,
    PyTorch's default true.
    """

    type_name = "layernorm"
    aten_op = "layer_norm"
    torch_class = "LayerNorm"
    torch_call = "F.layer_norm"
    torch_forms = ("LayerNorm2d",)

    @classmethod
    def torch_form_of(cls, op, module):
        """Inside torchvision's LayerNorm2d (ConvNeXt's stem, downsampling and head norms)."""
        return "LayerNorm2d" if module == "LayerNorm2d" else ""

    summary = "layer normalization over a sample (over: all), its channels (over: channels) or its last axis (over: last)"
    affine_key = "elementwise_affine"
    params = (
        Param("over", Choice("all", "channels", "last"), "all", "the normalized axes"),
        Param("eps", Number(0, open_min=True), 1e-5, "added to the variance"),
        Param("elementwise_affine", Bool(), True, "learnable weight and bias"),
    )
    primary = "over"

    def groups(self):
        if self.p["over"] == "all":
            return 1, numel(self.in_shape)
        if self.p["over"] == "last":
            return numel(self.in_shape[:-1]), self.in_shape[-1]
        return numel(self.in_shape[1:]), self.channels

    def affine_shape(self):
        if self.p["over"] == "last":
            return (self.in_shape[-1],)
        return tuple(self.in_shape) if self.p["over"] == "all" else (self.channels,)

    def _groups_of(self, x):
        if self.p["over"] == "all":
            return 1, numel(x.shape[1:])
        if self.p["over"] == "last":
            return numel(x.shape[1:-1]), x.shape[-1]
        return numel(x.shape[2:]), x.shape[1]

    def _affine_shape_of(self, x):
        if self.p["over"] == "last":
            return (x.shape[-1],)
        return tuple(x.shape[1:]) if self.p["over"] == "all" else (x.shape[1],)

    def unit_maps(self):
        if self.p["over"] == "channels":  # per position: pointwise in space
            return Layer.unit_maps(self)
        if self.p["over"] == "last":  # every unit of the last axis reaches every other (as linear)
            maps = Layer.unit_maps(self)
            if maps is not None and self.ndim:
                maps[-1] = None
            return maps
        return super().unit_maps()

    def probe_values(self, axis, values, shapes):
        """verify's one-axis probe: over the last axis it stays over: last (global along it);
        along another axis it is pointwise there, as over: channels on the one channel."""
        if self.p["over"] == "last" and axis != self.ndim - 1:
            values["over"] = "channels"
        return values

    def _moved(self, x):
        """x with the normalized axis last: the channels (over: channels) or as it is (last)."""
        return x if self.p["over"] == "last" else np.moveaxis(x, 1, -1)

    def _back(self, y):
        return y if self.p["over"] == "last" else np.moveaxis(y, -1, 1)

    def _view(self, x):
        if self.p["over"] == "all":
            return x.reshape(x.shape[0], 1, -1)
        return self._moved(x).reshape(x.shape[0], -1, x.shape[1 if self.p["over"] == "channels" else -1])

    def forward(self, xs, w, ctx):
        if self.p["over"] == "all":
            return super().forward(xs, w, ctx)
        x = xs[0]
        last = self._moved(x)
        xhat = (last - last.mean(axis=-1, keepdims=True)) / np.sqrt(last.var(axis=-1, keepdims=True)
                                                                    + self.p["eps"])
        if self.p["elementwise_affine"]:
            c = (last.shape[-1],)
            xhat = xhat * w.take("weight", c) + w.take("bias", c)
        return self._back(xhat)

    def backward(self, xs, w, out, g, ctx):
        if self.p["over"] == "all":
            return super().backward(xs, w, out, g, ctx)
        x = xs[0]
        last, glast = self._moved(x), self._moved(g)
        inv = 1 / np.sqrt(last.var(axis=-1, keepdims=True) + self.p["eps"])
        xhat = (last - last.mean(axis=-1, keepdims=True)) * inv
        grads = {}
        if self.p["elementwise_affine"]:
            axes = tuple(range(last.ndim - 1))
            grads = {"weight": (glast * xhat).sum(axis=axes), "bias": glast.sum(axis=axes)}
            glast = glast * w.take("weight", (last.shape[-1],))
        if ctx.probe:
            return [self._back(np.broadcast_to(np.abs(glast).sum(-1, keepdims=True), glast.shape)).copy()], grads
        dx = inv * (glast - glast.mean(-1, keepdims=True) - xhat * (glast * xhat).mean(-1, keepdims=True))
        return [self._back(dx)], grads

    # -- files (docs/onnx.md) --
    onnx_ops = ("LayerNormalization",)
    onnx_channels_last = ("LayerNormalization",)
    torch_ops = ("aten.layer_norm",)
    torch_channels_last = ("aten.layer_norm",)

    @classmethod
    def from_torch(cls, v):
        """aten.layer_norm over the last axis of a channels-last tensor (over: channels,
        torchvision's LayerNorm2d and ConvNeXt's block), over every axis but the batch, or over
        the last axis (over: last, a transformer's tokens)."""
        a = v.a
        shape = tuple(a["normalized_shape"])
        params = {"eps": None if a["eps"] == 1e-5 else float(a["eps"]),
                  "elementwise_affine": None if a["weight"] is not None else False}
        if v.x.layout == "cl" and shape == tuple(v.x.shape[:1]):
            return {"over": "channels", **params}
        if v.x.layout == "cf" and shape == tuple(v.x.shape):
            return params
        if v.x.layout == "cf" and shape == tuple(v.x.shape[-1:]):  # a sequence's features (ViT)
            return {"over": "last", **params}
        raise v.fail(f"layer_norm over the last {len(shape)} axes {list(shape)} of a tensor of "
                     f"shape {list(v.x.shape)}; cnncalc maps normalizing every axis but the batch, "
                     "or the channels of a channels-last tensor")
    torch_helper = ("ChannelLayerNorm", (
        "class ChannelLayerNorm(nn.LayerNorm):",
        '    """LayerNorm over the channels at every position of (N, C, *spatial)."""',
        "",
        "    def forward(self, x):",
        "        return super().forward(x.movedim(1, -1)).movedim(-1, 1)",
    ))

    @classmethod
    def from_onnx(cls, v):
        """LayerNormalization from axis 1 (over: all), or of the last axis of a channels-last
        tensor (over: channels, ConvNeXt's LayerNorm2d between two Transposes)."""
        rank, axis = v.rank, v.attrs.get("axis", -1)
        eps = f32(v.attrs.get("epsilon", 1e-5))
        if v.x.layout == "cl" and axis % rank == rank - 1:
            return {"over": "channels", "eps": None if eps == 1e-5 else eps}
        if axis % rank != 1:
            raise v.fail(f"LayerNormalization from axis {axis}; cnncalc maps normalizing every "
                         "axis but the batch (axis 1), or the channels between two Transposes "
                         "(ConvNeXt's LayerNorm2d)")
        return {"eps": None if eps == 1e-5 else eps}

    def _normalized(self, shape):
        """The normalized shape, PyTorch's ``normalized_shape`` (the affine tensors' shape)."""
        if self.p["over"] == "all":
            return tuple(shape)
        return tuple(shape[-1:]) if self.p["over"] == "last" else tuple(shape[:1])

    def to_onnx(self, f, call):
        """over: all -> LayerNormalization from axis 1; over: channels -> Transpose the channels
        last, LayerNormalization of the last axis, Transpose back (as PyTorch exports LayerNorm2d);
        over: last -> LayerNormalization of the last axis."""
        shape = self._normalized(f.in_shapes[0])
        if self.p["elementwise_affine"]:
            scale, bias = call.weight("weight"), call.weight("bias")
        else:
            n = numel(shape)
            scale = call.floats(call.name + ".ones", [1.0] * n, shape)
            bias = call.floats(call.name + ".zeros", [0.0] * n, shape)
        eps = float(self.p["eps"])
        if self.p["over"] != "channels":
            axis = 1 if self.p["over"] == "all" else -1
            return [call.node("LayerNormalization", [call.ins[0], scale, bias], axis=axis, epsilon=eps)]
        r = len(f.in_shapes[0]) + 1
        last, normed = call.name + ".channels_last", call.name + ".normed"
        return [call.node("Transpose", call.ins, last, call.name + ".to_channels_last",
                          perm=[0, *range(2, r), 1]),
                call.node("LayerNormalization", [last, scale, bias], normed, call.name + ".norm",
                          axis=-1, epsilon=eps),
                call.node("Transpose", [normed], perm=[0, r - 1, *range(1, r - 1)])]

    def to_torch(self, f, call):
        """nn.LayerNorm(sample shape) or nn.LayerNorm(last axis), or ChannelLayerNorm (over: channels)."""
        shape = self._normalized(f.in_shapes[0])
        named = dict(eps=self.p["eps"], elementwise_affine=None if self.p["elementwise_affine"] else False)
        if self.p["over"] == "channels":
            return TorchCode(f"{call.module}({call.ins[0]})",
                             f"ChannelLayerNorm({torch_args(shape[0], **named)})", self.torch_helper)
        return TorchCode(f"{call.module}({call.ins[0]})", f"nn.LayerNorm({torch_args(list(shape), **named)})")
