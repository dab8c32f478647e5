"""Pooling: windowed (max, average), global and adaptive."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from types import MappingProxyType
from typing import ClassVar

from cnncalc.core.errors import SpecError
from cnncalc.core.exchange import TorchCode, ax, onnx_axes, onnx_pads, symmetric, torch_args
from cnncalc.core.rf import ratio_window_map, window_map
from cnncalc.core.window import taps_symbol
from cnncalc.layers.base import (
    Bool,
    Ints,
    K,
    Layer,
    Number,
    OutputSize,
    Padding,
    PadSpec,
    Param,
    Saved,
    SlidingWindow,
    Step,
    Term,
    Window,
    effective_kernel,
    fmt_axes,
    fmt_shape,
    np,
    numel,
    pool_out,
    resolve_padding,
    size_steps,
)


class _WindowPool(SlidingWindow, Layer):
    """Shared geometry of windowed pooling (PyTorch's pooling_output_shape_pad_lr)."""

    family = "pooling"
    spatial = True
    primary = "kernel_size"

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        sizes = self.need_spatial()
        self.keff = tuple(effective_kernel(k, d) for k, d in zip(self.kernel, self.dilation))
        pad = self.p["padding"]
        self.pads = resolve_padding(pad, sizes, self.keff, self.stride)
        if pad.mode is None:
            for k, (b, a) in zip(self.kernel, self.pads):
                if max(b, a) > k // 2:
                    raise self.fail(
                        f"padding {max(b, a)} is more than half the kernel size {k}",
                        help="PyTorch requires padding <= kernel_size // 2 for pooling",
                        param="padding",
                    )
        out = []
        for size, keff, s, (b, a) in zip(sizes, self.keff, self.stride, self.pads):
            o = pool_out(size, keff, s, b, a, self.p["ceil_mode"])
            if o is None or o < 1:
                raise self.fail(
                    f"window {fmt_axes(self.keff)} does not fit input {fmt_axes(sizes)} "
                    f"(padding {pad.describe()})",
                    help="use a smaller kernel_size, or padding", param="kernel_size",
                )
            out.append(o)
        self.out_shape = (self.in_shape[0], *out)
        return self.out_shape

    def unit_maps(self):
        return [
            window_map(s, b, k, d)
            for s, (b, _), k, d in zip(self.stride, self.pads, self.kernel, self.dilation)
        ]

    def windows(self):
        mode, ceil = self.p["padding"].mode, self.p["ceil_mode"]
        return tuple(Window(size, k, d, s, b, a, o, ceil_mode=ceil, padding_mode=mode)
                     for size, k, d, s, (b, a), o in
                     zip(self.in_shape[1:], self.kernel, self.dilation, self.stride, self.pads,
                         self.out_shape[1:]))

    def explain(self):
        steps = size_steps(self, self.type_name, self.in_shape[1:], self.keff, self.stride, self.pads,
                           self.out_shape[1:], ceil=self.p["ceil_mode"], kernels=self.kernel,
                           dilations=self.dilation, padding_mode=self.p["padding"].mode)
        steps.append(Step("output_shape", "channels unchanged", "", fmt_shape(self.out_shape)))
        steps.append(Step("params", "pooling has no parameters", "", "0"))
        steps.append(Step.of("flops", self.flops_formula.replace("F·F", taps_symbol(self.ndim)),
                             self.flops_term()))
        return steps

    # FLOPs per window, written once: the figure and its explanation come from one Term
    # (docs/conventions.md), of the number of kernel taps F·F.
    flops_formula: str = "outputs · F·F"

    @staticmethod
    def flops_per_window(taps: Term) -> Term:
        return taps

    def flops_term(self) -> Term:
        return Term(numel(self.out_shape)) * self.flops_per_window(Term(numel(self.kernel)))

    def workspace(self):
        padded = numel((o - 1) * s + k for o, s, k in zip(self.out_shape[1:], self.stride, self.keff))
        return self.in_shape[0] * max(padded, numel(self.in_shape[1:]))

    def _padded(self, x, value):
        """Pad, and pad further after the input where a ceil-mode window reaches past it.

        Returns the padded array, the (before, after) pads applied and the number of
        windows per axis, counted by the scan (kernels.window_count), not read from
        the analysis."""
        pads, outs = [], []
        spans = K.extent(self.kernel, self.dilation)
        for size, (b, a), keff, s in zip(x.shape[2:], self.exec_pads(x), spans, self.stride):
            o = K.window_count(size, b, a, keff, s, self.p["ceil_mode"])
            need = (o - 1) * s + keff - (size + b)  # how far the last window reaches
            pads.append((b, max(a, need)))
            outs.append(o)
        return K.pad(x, pads, value), pads, outs

    def _taps(self, outs):
        return K.tap_slices(self.kernel, self.stride, self.dilation, outs)

    # -- files (docs/onnx.md) --
    onnx_op: ClassVar[str] = ""  # the ONNX op of this pooling (MaxPool, AveragePool)
    torch_module: ClassVar[str] = ""  # its torch.nn module, without the 1d/2d/3d

    @classmethod
    def from_onnx(cls, v):
        """MaxPool / AveragePool: the stride is always written (ONNX's default is 1,
        PyTorch's the kernel); the indices output must not be used."""
        if v.output_used(1):
            raise v.fail("the pooling indices output is used; cnncalc has no unpooling")
        kernel = v.attrs["kernel_shape"]
        strides, dilations, pad = v.window(kernel)
        params = {"kernel_size": onnx_axes(kernel), "stride": onnx_axes(strides),
                  "padding": None if pad == 0 else pad,
                  "ceil_mode": True if v.attrs.get("ceil_mode", 0) else None}
        return {**params, **cls.onnx_extra(v, pad, dilations)}

    @classmethod
    def from_torch(cls, v):
        """aten.max_pool{1,2,3}d / aten.avg_pool{1,2,3}d: the stride (an empty list: the
        kernel) is always written, as from ONNX."""
        a = v.a
        nd = v.ndim
        kernel = list(a["kernel_size"]) * (nd if len(a["kernel_size"]) == 1 else 1)
        stride = list(a["stride"]) or kernel
        pad = a["padding"]
        params = {"kernel_size": onnx_axes(kernel), "stride": onnx_axes(stride),
                  "padding": None if set(pad) == {0} else onnx_axes(pad),
                  "ceil_mode": True if a["ceil_mode"] else None}
        return {**params, **cls.torch_extra(v)}

    @classmethod
    def torch_extra(cls, v) -> dict:
        """Parameters of this pooling beyond the window's, from the ATen op's arguments."""
        return {}

    @classmethod
    def onnx_extra(cls, v, pad, dilations) -> dict:
        """Parameters of this pooling beyond the window's, from the ONNX node."""
        return {}

    def onnx_attrs(self, f) -> dict:
        """Attributes of this pooling beyond the window's, for the ONNX node."""
        return {}

    def to_onnx(self, f, call):
        """The ONNX pooling op with the window as applied."""
        w = f.windows
        attrs = dict(kernel_shape=[x.kernel for x in w], strides=[x.stride for x in w],
                     pads=onnx_pads([(x.pad_before, x.pad_after) for x in w]),
                     ceil_mode=int(self.p["ceil_mode"]), **self.onnx_attrs(f))
        return [call.node(self.onnx_op, call.ins, **attrs)]

    def torch_named(self, f) -> dict:
        """torch.nn arguments of this pooling beyond the window's."""
        return {}

    def to_torch(self, f, call):
        """nn.{Max,Avg}Pool{d}d; the stride always written (pooling's default is the kernel)."""
        w = f.windows
        pad = symmetric([(x.pad_before, x.pad_after) for x in w])
        if pad is None:
            raise SpecError(f"layer '{call.name}': PyTorch's pooling has no asymmetric padding",
                            kind="export")
        named = dict(kernel_size=ax(x.kernel for x in w), stride=ax(x.stride for x in w), padding=pad,
                     ceil_mode=self.p["ceil_mode"], **self.torch_named(f))
        ctor = f"nn.{self.torch_module}{self.ndim}d({torch_args(**named, keep=('stride',))})"
        return TorchCode(f"{call.module}({call.ins[0]})", ctor)


_WINDOW = (
    Param("kernel_size", Ints(1), doc="window extent per axis"),
    Param("stride", Ints(1), None, "step between windows (default: kernel_size)"),
    Param("padding", Padding(("valid", "same")), 0, "implicit padding (at most kernel_size // 2 each side)"),
    Param("ceil_mode", Bool(), False, "round the output size up (the last window must start inside the input or its left padding)"),
)


class MaxPool(_WindowPool):
    """Max pooling (PyTorch MaxPool1d/2d/3d); padding is minus infinity.

    FLOPs per sample: out_elems * (prod(k) - 1) comparisons.
    """

    type_name = "maxpool"
    aten_op = "max_pool"
    torch_class = "MaxPool{n}d"
    torch_call = "F.max_pool{n}d"
    torch_forms = ("functional",)
    erf_rule = "inside"  # the ERF's uniform protocol: the average over the window inside the input
    saves = ("input", "indices")  # max_pool2d_with_indices: the input and int64 argmax
    # PyTorch's CPU kernel computes the int64 indices under no_grad too, freed on return
    eager_temporaries = ("indices",)
    summary = "max pooling (MaxPool1d/2d/3d)"
    flops_formula = "outputs · (F·F - 1) comparisons"
    flops_per_window = staticmethod(lambda taps: taps - 1)
    params = (*_WINDOW, Param("dilation", Ints(1), 1, "spacing between window taps"))


    def forward(self, xs, w, ctx):
        xp, _, outs = self._padded(xs[0], -np.inf)
        result = None
        for _, index in self._taps(outs):  # a loop over the kernel taps, not the pixels
            result = xp[index].copy() if result is None else np.maximum(result, xp[index])
        return result

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        xp, pads, outs = self._padded(x, -np.inf)
        dxp = np.zeros(xp.shape, dtype=g.dtype)
        taken = np.zeros(out.shape, dtype=bool)
        for _, index in self._taps(outs):
            if ctx.probe:  # the support: every tap of the window (same window geometry)
                dxp[index] += g
                continue
            first = (xp[index] == out) & ~taken  # the switch: the first maximum, as in PyTorch
            taken |= first
            dxp[index] += g * first
        return [K.unpad(dxp, pads, x.shape[2:])], {}

    # -- files (docs/onnx.md) --
    onnx_ops = ("MaxPool",)
    torch_ops = ("aten.max_pool1d", "aten.max_pool2d", "aten.max_pool3d")

    @classmethod
    def torch_extra(cls, v) -> dict:
        """The dilation."""
        d = v.a["dilation"]
        return {"dilation": None if set(d) == {1} else onnx_axes(d)}
    onnx_op = "MaxPool"
    torch_module = "MaxPool"

    @classmethod
    def onnx_extra(cls, v, pad, dilations):
        return {"dilation": None if set(dilations) == {1} else onnx_axes(dilations)}

    def onnx_attrs(self, f):
        dilations = [x.dilation for x in f.windows]
        return {"dilations": dilations} if any(d != 1 for d in dilations) else {}

    def torch_named(self, f):
        return {"dilation": ax(x.dilation for x in f.windows)}


class AvgPool(_WindowPool):
    """Average pooling (PyTorch AvgPool1d/2d/3d).

    FLOPs per sample: out_elems * prod(k): prod(k) - 1 additions and one division
    per window, whatever the border clips.
    """

    type_name = "avgpool"
    aten_op = "avg_pool"
    torch_class = "AvgPool{n}d"
    torch_call = "F.avg_pool{n}d"
    torch_forms = ("functional",)
    saves = ("input",)  # avg_pool2d_backward reads the input (its shape and padding)
    summary = "average pooling (AvgPool1d/2d/3d)"
    flops_formula = "outputs · F·F (F·F - 1 additions and a division)"
    params = (
        *_WINDOW,
        Param("count_include_pad", Bool(), True, "divide by the full window, padding included"),
    )


    erf_rule = "copy"  # weights from PyTorch's divisor (erf_taps)

    def erf_taps(self, axis, k=0):
        """The uniform protocol keeps average pooling's own definition: each tap inside the
        input weighs 1 / PyTorch's divisor on this axis (the window clipped to the end of
        the padded input; with count_include_pad false, to the input): :meth:`divisor`'s
        rule on the resolved padding, one axis at a time (the divisor is a product)."""
        rows = super().erf_taps(axis, k)
        if rows is None:
            return None
        size, (b, a) = self.in_shape[1 + axis], self.pads[axis]
        out = []
        for o, row in enumerate(rows):
            start = o * self.stride[axis] - b
            end = min(start + self.kernel[axis], size + a)
            if not self.p["count_include_pad"]:
                start, end = max(start, 0), min(end, size)
            out.append([(j, 1.0 / (end - start)) for j, _ in row])
        return out

    def divisor(self, x, outs):
        """PyTorch's divisor per output: taps inside the padded input (count_include_pad)
        or inside the input; windows are clipped at the end of the padded input."""
        per_axis = []
        for size, (b, a), k, s, o in zip(x.shape[2:], self.exec_pads(x), self.kernel, self.stride, outs):
            start = np.arange(o) * s - b
            end = np.minimum(start + k, size + a)
            if not self.p["count_include_pad"]:
                start, end = np.maximum(start, 0), np.minimum(end, size)
            per_axis.append(end - start)
        div = per_axis[0]
        for other in per_axis[1:]:
            div = np.multiply.outer(div, other)
        return div

    def forward(self, xs, w, ctx):
        x = xs[0]
        xp, _, outs = self._padded(x, 0.0)
        total = None
        for _, index in self._taps(outs):
            total = xp[index].copy() if total is None else total + xp[index]
        return total / self.divisor(x, outs).astype(x.dtype)

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        xp, pads, outs = self._padded(x, 0.0)
        share = g / self.divisor(x, outs).astype(g.dtype)
        dxp = np.zeros(xp.shape, dtype=g.dtype)
        for _, index in self._taps(outs):
            dxp[index] += share
        return [K.unpad(dxp, pads, x.shape[2:])], {}

    # -- files (docs/onnx.md) --
    onnx_ops = ("AveragePool",)
    torch_ops = ("aten.avg_pool1d", "aten.avg_pool2d", "aten.avg_pool3d")

    @classmethod
    def torch_extra(cls, v) -> dict:
        """count_include_pad (PyTorch's default True); a divisor_override is refused."""
        if v.a.get("divisor_override") is not None:
            raise v.fail("avg_pool with divisor_override has no cnncalc equivalent")
        return {"count_include_pad": None if v.a["count_include_pad"] else False}
    onnx_op = "AveragePool"
    torch_module = "AvgPool"

    @classmethod
    def onnx_extra(cls, v, pad, dilations):
        if pad != 0 and not v.attrs.get("count_include_pad", 0):
            return {"count_include_pad": False}  # ONNX's default; PyTorch's is True
        return {}

    def onnx_attrs(self, f):
        return {"count_include_pad": int(self.p["count_include_pad"])}

    def torch_named(self, f):
        return {"count_include_pad": self.p["count_include_pad"]}


class SumPool(_WindowPool):
    """Sum pooling: the sum over each window (average pooling without the division).

    FLOPs per sample: out_elems * (prod(k) - 1) additions.
    """

    type_name = "sumpool"
    erf_rule = "copy"  # the ERF's uniform protocol: the sum, as defined
    saves = ("input",)  # as avg_pool2d, which it scales
    summary = "sum pooling (the window's sum)"
    flops_formula = "outputs · (F·F - 1) additions"
    flops_per_window = staticmethod(lambda taps: taps - 1)
    params = _WINDOW


    def forward(self, xs, w, ctx):
        xp, _, outs = self._padded(xs[0], 0.0)
        total = None
        for _, index in self._taps(outs):
            total = xp[index].copy() if total is None else total + xp[index]
        return total

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        xp, pads, outs = self._padded(x, 0.0)
        dxp = np.zeros(xp.shape, dtype=g.dtype)
        for _, index in self._taps(outs):
            dxp[index] += g
        return [K.unpad(dxp, pads, x.shape[2:])], {}

    # -- files (docs/onnx.md) --
    onnx_import_refusal = "ONNX has no sum pooling (an AveragePool times the window is not read as one)"
    onnx_export_refusal = "is not written as ONNX by this version of cnncalc: ONNX has no sum pooling"
    torch_refusal = "torch.nn has no sum pooling"
    to_onnx = Layer.to_onnx
    to_torch = Layer.to_torch


class LPPool(_WindowPool):
    """Power-average (Lp) pooling, PyTorch's LPPool1d/2d: (sum over the window of x^p)^(1/p).

    norm_type 2 is L2 pooling (Goodfellow et al. 2016, section 9.3). No padding,
    as in PyTorch. FLOPs per output: prod(k) powers + (prod(k) - 1) additions + 1
    root = 2 prod(k).
    """

    type_name = "lppool"
    summary = "Lp pooling, (sum x^p)^(1/p) over the window (norm_type 2: L2 pooling)"
    flops_formula = "outputs · 2·F·F (a power and an addition per tap)"
    flops_per_window = staticmethod(lambda taps: 2 * taps)

    def saved_for_backward(self):
        # F.lp_pool2d composes (avg_pool2d(x^p) * F·F)^(1/p): pow keeps x, avg_pool2d its
        # input x^p, and the final pow its base and its result
        return [Saved("input0", self.in_shapes[0]), Saved("powered", self.in_shapes[0]),
                Saved("pooled", self.out_shape), Saved("output", self.out_shape)]
    params = (
        Param("kernel_size", Ints(1), doc="window extent per axis"),
        Param("norm_type", Number(0, open_min=True), 2, "p"),
        Param("stride", Ints(1), None, "step between windows (default: kernel_size)"),
        Param("ceil_mode", Bool(), False, "round the output size up"),
    )

    def bind(self, in_shapes, ref_shapes=()):
        self.p = MappingProxyType({**self.p, "padding": PadSpec(pairs=((0, 0),) * self.ndim)})
        return super().bind(in_shapes, ref_shapes)


    def forward(self, xs, w, ctx):
        xp, _, outs = self._padded(xs[0], 0.0)
        power = self.p["norm_type"]
        total = None
        for _, index in self._taps(outs):
            term = xp[index] ** power
            total = term if total is None else total + term
        return total ** (1 / power)

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        power = self.p["norm_type"]
        xp, pads, outs = self._padded(x, 0.0)
        dxp = np.zeros(xp.shape, dtype=g.dtype)
        # d out / d x_i = x_i^(p - 1) out^(1 - p) for each window holding x_i
        scale = g if ctx.probe else g * np.where(out > 0, out, 1.0) ** (1 - power)
        for _, index in self._taps(outs):
            dxp[index] += scale if ctx.probe else scale * xp[index] ** (power - 1)
        return [K.unpad(dxp, pads, x.shape[2:])], {}

    # -- files (docs/onnx.md) --
    onnx_import_refusal = "ONNX's LpPool is not read yet"
    onnx_export_refusal = "is not written as ONNX by this version of cnncalc (ONNX's LpPool: not yet)"
    torch_refusal = "not written as PyTorch by this version of cnncalc (nn.LPPool: not yet)"
    to_onnx = Layer.to_onnx
    to_torch = Layer.to_torch


class _GlobalPool(Layer):
    family = "pooling"
    spatial = True

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.need_spatial()
        self.out_shape = (self.in_shape[0],) + (1,) * self.ndim
        return self.out_shape

    def unit_maps(self):
        return [None] * self.ndim

    # -- files (docs/onnx.md) --
    onnx_reduce: ClassVar[str] = ""  # the ONNX op pooling every position (GlobalAveragePool)
    torch_kind: ClassVar[str] = ""  # avg or max, as in F.adaptive_avg_pool2d

    @classmethod
    def from_onnx(cls, v):
        """The global op; a Reduce* over every spatial axis (keepdims=0: the reader adds a
        flatten)."""
        if v.op.startswith("Global"):
            return {}
        axes = v.attrs.get("axes")
        if axes is None and v.has(1):
            axes = [int(a) for a in v.const(1, "axes")]
        spatial = set(range(2, v.rank))
        if axes is None or {int(a) % v.rank for a in axes} != spatial or not spatial:
            raise v.fail(f"reduces axes {axes}; cnncalc maps a reduction over every spatial "
                         f"axis ({sorted(spatial)}) only", help="global pooling over H, W")
        return {}

    @classmethod
    def from_torch(cls, v):
        """Adaptive pooling to size 1 on every axis; mean / amax over every spatial axis (without
        keepdim the reader adds a flatten). Any other output size is adaptive pooling's."""
        if v.op.startswith("aten.adaptive"):
            return {} if set(v.a["output_size"]) == {1} else None
        spatial = set(range(2, v.rank))
        dims = {int(d) % v.rank for d in (v.a["dim"] or ())}
        if dims != spatial or not spatial:
            raise v.fail(f"reduces axes {sorted(dims)}; cnncalc maps a reduction over every "
                         f"spatial axis ({sorted(spatial)}) only", help="global pooling over H, W")
        return {}

    def to_onnx(self, f, call):
        """GlobalAveragePool / GlobalMaxPool."""
        return [call.node(self.onnx_reduce, call.ins)]

    def to_torch(self, f, call):
        """F.adaptive_{avg,max}_pool{d}d to size 1."""
        return TorchCode(f"F.adaptive_{self.torch_kind}_pool{self.ndim}d({call.ins[0]}, 1)")

    def aten_ops(self, form=""):
        # thop's adaptive kernel: input size over output size per axis, multiplied
        window = Fraction(numel(self.in_shapes[0][1:]), numel(self.out_shape[1:]))
        if form == "mean":  # torchvision's ShuffleNetV2: x.mean([2, 3]) in the forward
            return [replace(self.torch_op("mean", "functional", window=window), call="x.mean")]
        return [self.torch_op(self.aten_op, form, window=window)]


class GlobalAvgPool(_GlobalPool):
    """Global average pooling (Lin et al., Network in Network, 2014): [C, *S] -> [C, 1, ...].

    FLOPs per sample: C * prod(S) (prod(S) - 1 additions and one division per channel).
    """

    type_name = "global_avgpool"
    aten_op = "adaptive_avg_pool"
    torch_class = "AdaptiveAvgPool{n}d"
    torch_call = "F.adaptive_avg_pool{n}d"
    torch_forms = ("functional", "mean")

    @classmethod
    def torch_form_of(cls, op, module):
        """``x.mean((2, 3))`` (ShuffleNetV2's head) is the ``mean`` form."""
        return "mean" if op == "aten.mean" else super().torch_form_of(op, module)

    # as AdaptiveAvgPool2d(1), which torchvision uses: PyTorch's adaptive_avg_pool2d (and
    # 1d) to size 1 is input.mean(...), whose backward keeps only sizes: nothing saved
    saves = ()
    shape_rule = "[C, 1, ...]: one value per channel"
    summary = "global average pooling ([C, *S] -> [C, 1, ...])"

    def flops(self):
        return numel(self.in_shape)

    def forward(self, xs, w, ctx):
        return xs[0].mean(axis=tuple(range(2, 2 + self.ndim)), keepdims=True)

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        return [np.broadcast_to(g / numel(x.shape[2:]), x.shape).copy()], {}

    # -- files (docs/onnx.md) --
    onnx_ops = ("GlobalAveragePool", "ReduceMean")
    torch_ops = ("aten.adaptive_avg_pool1d", "aten.adaptive_avg_pool2d", "aten.adaptive_avg_pool3d",
                 "aten.mean")
    torch_priority = 1  # adaptive pooling to size 1 is global pooling
    onnx_reduce = "GlobalAveragePool"
    torch_kind = "avg"


class GlobalMaxPool(_GlobalPool):
    """Global max pooling: [C, *S] -> [C, 1, ...]; FLOPs C * (prod(S) - 1)."""

    type_name = "global_maxpool"
    aten_op = "adaptive_max_pool"
    torch_class = "AdaptiveMaxPool{n}d"
    torch_call = "F.adaptive_max_pool{n}d"
    torch_forms = ("functional",)
    saves = ("input", "indices")  # as AdaptiveMaxPool2d(1)
    # PyTorch's CPU kernel computes the int64 indices under no_grad too, freed on return
    eager_temporaries = ("indices",)
    shape_rule = "[C, 1, ...]: one value per channel"
    summary = "global max pooling ([C, *S] -> [C, 1, ...])"

    def flops(self):
        return numel(self.in_shape) - self.in_shape[0]

    def forward(self, xs, w, ctx):
        return xs[0].max(axis=tuple(range(2, 2 + self.ndim)), keepdims=True)

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        flat = x.reshape(*x.shape[:2], -1)
        if ctx.probe:
            mask = np.ones(flat.shape, dtype=g.dtype)
        else:
            mask = (np.arange(flat.shape[-1]) == flat.argmax(axis=-1)[..., None]).astype(g.dtype)
        return [(mask * g.reshape(*g.shape[:2], 1)).reshape(x.shape)], {}

    # -- files (docs/onnx.md) --
    onnx_ops = ("GlobalMaxPool", "ReduceMax")
    torch_ops = ("aten.adaptive_max_pool1d", "aten.adaptive_max_pool2d", "aten.adaptive_max_pool3d",
                 "aten.amax")
    torch_priority = 1
    onnx_reduce = "GlobalMaxPool"
    torch_kind = "max"


class _AdaptivePool(Layer):
    """Adaptive pooling with PyTorch's window rule.

    Output unit o on an axis of input length L and output length O pools
    [floor(o L / O), ceil((o + 1) L / O)) (aten/src/ATen/native/AdaptivePooling.h,
    start_index / end_index).
    """

    family = "pooling"
    erf_rule = "inside"  # the ERF's uniform protocol: the average over each window (max: too)
    spatial = True
    primary = "output_size"
    params = (Param("output_size", OutputSize(), doc="output size per axis (null keeps the input size)"),)

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        sizes = self.need_spatial()
        self.sizes = sizes
        self.outs = tuple(size if o is None else o for o, size in zip(self.p["output_size"], sizes))
        self.out_shape = (self.in_shape[0], *self.outs)
        return self.out_shape

    def tiling_problems(self) -> list[str]:
        """Uneven adaptive windows: an input size that is not a multiple of the output
        (cnncalc sizes, cnncalc/core/window.py)."""
        return [f"{size} is not a multiple of {out}" for size, out in zip(self.sizes, self.outs)
                if size % out]

    def window_elems(self) -> int:
        """Sum over output units of their window's element count, per channel.

        Per axis, sum over o of ceil((o + 1) L / O) - floor(o L / O) = L + O - gcd(L, O)
        (from sum_{k<n} floor(k m / n) = ((m - 1)(n - 1) + gcd(m, n) - 1) / 2), so no
        loop over the output; the axes multiply.
        """
        total = 1
        for size, out in zip(self.sizes, self.outs):
            total *= size + out - math.gcd(size, out)
        return total

    def unit_maps(self):
        # output size 1: the one unit pools the whole axis, as global pooling does
        return [None if out == 1 else ratio_window_map(size, out)
                for size, out in zip(self.sizes, self.outs)]

    def workspace(self):
        longest = numel(max(-(-size // out) + 1, 1) for size, out in zip(self.sizes, self.outs))
        return numel(self.out_shape) * longest

    def box_index(self, sizes):
        """Per axis, (out, longest window) indices of each window for input ``sizes``,
        padded by repeating its last index, and a mask of the real entries: the executor's
        windows (cnncalc.core.kernels.adaptive_windows), not the analyzer's rule."""
        index, masks = [], []
        for size, want in zip(sizes, self.p["output_size"]):
            out = size if want is None else want
            idx, mask = K.adaptive_windows(size, out, size, out)
            index.append(idx)
            masks.append(mask)
        return index, masks

    def gather(self, x):
        """(N, C, *out, *window) boxes of x, and the mask of their real elements."""
        nd = self.ndim
        index, masks = self.box_index(x.shape[2:])
        grids, mask = [], np.ones((), dtype=bool)
        for axis, (idx, m) in enumerate(zip(index, masks)):
            shape = [1] * (2 * nd)
            shape[axis], shape[nd + axis] = idx.shape
            grids.append(idx.reshape(shape))
            mask = mask & m.reshape(shape)
        boxes = x[(slice(None), slice(None), *np.broadcast_arrays(*grids))]
        return boxes, np.broadcast_to(mask, boxes.shape[2:]), grids

    # -- verify's per-axis probe (cnncalc/measure/verify.py) --------------------------------

    def probe_values(self, axis, values, shapes):
        """Along ``axis`` the probe keeps this layer's windows at the network's sizes
        (input L, output O: unit o pools [floor(o L / O), ceil((o + 1) L / O))) at any
        probe length, so that what the probe measures is the field of the network as
        written. An axis pooled to one unit stays as written: one unit at every length,
        which a broadcasting merge after it (a squeeze-and-excitation gate) needs."""
        if shapes.output[1 + axis] > 1:  # pooled to one unit: as written
            values["ratio_of"] = (shapes.inputs[0][1 + axis],)
        return values

    def probe_layer(self, ndim, values, loc, input_names, shapes):
        if "ratio_of" not in values:
            return super().probe_layer(ndim, values, loc, input_names, shapes)
        cls = type(f"Probe{type(self).__name__}", (_RatioWindows, type(self)), {"type_name": ""})
        return cls(ndim, values, loc, self.param_locs, input_names=input_names)

    def scatter(self, values, grids, shape):
        result = np.zeros(shape, dtype=values.dtype)
        np.add.at(result, (slice(None), slice(None), *np.broadcast_arrays(*grids)), values)
        return result

    # -- files (docs/onnx.md) --
    onnx_import_refusal = ("ONNX has no adaptive pooling: an export writes a fixed window, read "
                           "back as its max/avg pooling (or global pooling to size 1)")
    onnx_op: ClassVar[str] = ""  # MaxPool or AveragePool

    @classmethod
    def from_torch(cls, v):
        """aten.adaptive_{avg,max}_pool{1,2,3}d: the output size (size 1 is global pooling's)."""
        return {"output_size": onnx_axes(v.a["output_size"])}
    torch_kind: ClassVar[str] = ""  # avg or max

    def to_onnx(self, f, call):
        """Global pooling to size 1; else a window L/o with stride L/o, when o divides L."""
        sizes, outs = f.in_shapes[0][1:], f.out_shape[1:]
        if all(o == 1 for o in outs):
            return [call.node("Global" + self.onnx_op, call.ins)]
        if any(L % o for L, o in zip(sizes, outs)):
            raise SpecError(f"{self.type_name} '{call.name}': {'x'.join(map(str, sizes))} to "
                            f"{'x'.join(map(str, outs))} does not divide evenly; ONNX has no "
                            "adaptive pooling", kind="export",
                            help="make the input size a multiple of output_size")
        k = [L // o for L, o in zip(sizes, outs)]
        return [call.node(self.onnx_op, call.ins, kernel_shape=k, strides=k)]

    def to_torch(self, f, call):
        """F.adaptive_{avg,max}_pool{d}d."""
        return TorchCode(f"F.adaptive_{self.torch_kind}_pool{self.ndim}d({call.ins[0]}, "
                         f"{ax(f.out_shape[1:])!r})")

    def aten_ops(self, form=""):
        # thop's adaptive kernel: input size over output size per axis, multiplied
        window = Fraction(numel(self.in_shapes[0][1:]), numel(self.out_shape[1:]))
        if form == "mean":  # torchvision's ShuffleNetV2: x.mean([2, 3]) in the forward
            return [replace(self.torch_op("mean", "functional", window=window), call="x.mean")]
        return [self.torch_op(self.aten_op, form, window=window)]


class AdaptiveAvgPool(_AdaptivePool):
    """Adaptive average pooling (AdaptiveAvgPool1d/2d/3d); FLOPs: one per pooled element."""

    type_name = "adaptive_avgpool"
    aten_op = "adaptive_avg_pool"
    torch_class = "AdaptiveAvgPool{n}d"
    torch_call = "F.adaptive_avg_pool{n}d"
    torch_forms = ("functional",)
    saves = ("input",)  # _adaptive_avg_pool2d_backward reads the input
    shape_rule = "[C, *output_size]"
    summary = "adaptive average pooling to output_size"

    def saved_for_backward(self):
        # PyTorch's adaptive_avg_pool1d/2d to size 1 is input.mean(...): nothing saved
        if self.ndim <= 2 and all(o == 1 for o in self.out_shape[1:]):
            return []
        return super().saved_for_backward()

    def flops(self):
        return self.in_shape[0] * self.window_elems()

    def forward(self, xs, w, ctx):
        boxes, mask, _ = self.gather(xs[0])
        axes = tuple(range(-self.ndim, 0))
        return (boxes * mask).sum(axis=axes) / mask.sum(axis=axes).astype(boxes.dtype)

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        _, mask, grids = self.gather(x)
        axes = tuple(range(-self.ndim, 0))
        share = g / mask.sum(axis=axes).astype(g.dtype)
        spread = share.reshape(*share.shape, *(1,) * self.ndim) * mask
        return [self.scatter(spread, grids, x.shape)], {}

    # -- files (docs/onnx.md) --
    onnx_op = "AveragePool"
    torch_kind = "avg"
    torch_ops = ("aten.adaptive_avg_pool1d", "aten.adaptive_avg_pool2d", "aten.adaptive_avg_pool3d")


class AdaptiveMaxPool(_AdaptivePool):
    """Adaptive max pooling (AdaptiveMaxPool1d/2d/3d); FLOPs: window elements - 1 per window."""

    type_name = "adaptive_maxpool"
    aten_op = "adaptive_max_pool"
    torch_class = "AdaptiveMaxPool{n}d"
    torch_call = "F.adaptive_max_pool{n}d"
    torch_forms = ("functional",)
    saves = ("input", "indices")
    # PyTorch's CPU kernel computes the int64 indices under no_grad too, freed on return
    eager_temporaries = ("indices",)
    shape_rule = "[C, *output_size]"
    summary = "adaptive max pooling to output_size"

    def flops(self):
        return self.in_shape[0] * self.window_elems() - numel(self.out_shape)

    def forward(self, xs, w, ctx):
        boxes, mask, _ = self.gather(xs[0])
        return np.where(mask, boxes, -np.inf).max(axis=tuple(range(-self.ndim, 0)))

    def backward(self, xs, w, out, g, ctx):
        x = xs[0]
        boxes, mask, grids = self.gather(x)
        flat = np.where(mask, boxes, -np.inf).reshape(*boxes.shape[:2 + self.ndim], -1)
        if ctx.probe:
            pick = np.broadcast_to(mask, boxes.shape).reshape(flat.shape).astype(g.dtype)
        else:
            pick = (np.arange(flat.shape[-1]) == flat.argmax(axis=-1)[..., None]).astype(g.dtype)
        spread = (pick * g[..., None]).reshape(boxes.shape)
        return [self.scatter(spread, grids, x.shape)], {}

    # -- files (docs/onnx.md) --
    onnx_op = "MaxPool"
    torch_kind = "max"
    torch_ops = ("aten.adaptive_max_pool1d", "aten.adaptive_max_pool2d", "aten.adaptive_max_pool3d")



class _RatioWindows:
    """A probe's adaptive pooling with the network's windows at any length: unit o pools
    [floor(o L / O), ceil((o + 1) L / O)) for the network's L and O, for as many units
    as fit in the probe's input (verify only; one spatial axis)."""

    def _ratio_out(self, size: int) -> int:
        (length,), (out,) = self.p["ratio_of"], self.p["output_size"]
        return size * out // length  # units o with ceil((o + 1) L / O) <= size

    def bind(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        sizes = self.need_spatial()
        self.sizes, self.outs = tuple(sizes), (self._ratio_out(sizes[0]),)
        if self.outs[0] < 1:
            raise self.fail(f"no window fits input {sizes[0]}")
        self.out_shape = (self.in_shape[0], *self.outs)
        return self.out_shape

    def box_index(self, sizes):
        (length,), (want,) = self.p["ratio_of"], self.p["output_size"]
        index, mask = K.adaptive_windows(sizes[0], self._ratio_out(sizes[0]), length, want)
        return [index], [mask]
