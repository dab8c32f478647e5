"""Pooling: windowed (max, average), global and adaptive."""

from __future__ import annotations

from ..rf import ratio_window_map, window_map
from .base import (
    Bool,
    Ints,
    Layer,
    OutputSize,
    Padding,
    Param,
    effective_kernel,
    fmt_axes,
    numel,
    pool_out,
    resolve_padding,
)


class _WindowPool(Layer):
    """Shared geometry of windowed pooling (PyTorch's pooling_output_shape_pad_lr)."""

    family = "pooling"
    spatial = True
    primary = "kernel_size"

    def setup(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        sizes = self.need_spatial()
        self.kernel = self.p["kernel_size"]
        self.stride = self.p["stride"] if self.p["stride"] is not None else self.kernel
        self.dilation = self.p.get("dilation", (1,) * self.ndim)
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
    summary = "max pooling (MaxPool1d/2d/3d)"
    params = (*_WINDOW, Param("dilation", Ints(1), 1, "spacing between window taps"))

    def flops(self):
        return numel(self.out_shape) * (numel(self.kernel) - 1)


class AvgPool(_WindowPool):
    """Average pooling (PyTorch AvgPool1d/2d/3d).

    FLOPs per sample: out_elems * prod(k): prod(k) - 1 additions and one division
    per window, whatever the border clips.
    """

    type_name = "avgpool"
    summary = "average pooling (AvgPool1d/2d/3d)"
    params = (
        *_WINDOW,
        Param("count_include_pad", Bool(), True, "divide by the full window, padding included"),
    )

    def flops(self):
        return numel(self.out_shape) * numel(self.kernel)


class _GlobalPool(Layer):
    family = "pooling"
    spatial = True

    def setup(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        self.need_spatial()
        self.out_shape = (self.in_shape[0],) + (1,) * self.ndim
        return self.out_shape

    def unit_maps(self):
        return [None] * self.ndim


class GlobalAvgPool(_GlobalPool):
    """Global average pooling (Lin et al., Network in Network, 2014): [C, *S] -> [C, 1, ...].

    FLOPs per sample: C * prod(S) (prod(S) - 1 additions and one division per channel).
    """

    type_name = "global_avgpool"
    summary = "global average pooling ([C, *S] -> [C, 1, ...])"

    def flops(self):
        return numel(self.in_shape)


class GlobalMaxPool(_GlobalPool):
    """Global max pooling: [C, *S] -> [C, 1, ...]; FLOPs C * (prod(S) - 1)."""

    type_name = "global_maxpool"
    summary = "global max pooling ([C, *S] -> [C, 1, ...])"

    def flops(self):
        return numel(self.in_shape) - self.in_shape[0]


class _AdaptivePool(Layer):
    """Adaptive pooling with PyTorch's window rule.

    Output unit o on an axis of input length L and output length O pools
    [floor(o L / O), ceil((o + 1) L / O)) (aten/src/ATen/native/AdaptivePooling.h,
    start_index / end_index).
    """

    family = "pooling"
    spatial = True
    primary = "output_size"
    params = (Param("output_size", OutputSize(), doc="output size per axis (null keeps the input size)"),)

    def setup(self, in_shapes, ref_shapes=()):
        self.in_shapes = list(in_shapes)
        sizes = self.need_spatial()
        self.sizes = sizes
        self.outs = tuple(size if o is None else o for o, size in zip(self.p["output_size"], sizes))
        self.out_shape = (self.in_shape[0], *self.outs)
        return self.out_shape

    def window_elems(self) -> int:
        """Sum over output units of their window's element count, per channel."""
        total = 1
        for size, out in zip(self.sizes, self.outs):
            total *= sum(-(-((o + 1) * size) // out) - (o * size) // out for o in range(out))
        return total

    def unit_maps(self):
        return [ratio_window_map(size, out) for size, out in zip(self.sizes, self.outs)]


class AdaptiveAvgPool(_AdaptivePool):
    """Adaptive average pooling (AdaptiveAvgPool1d/2d/3d); FLOPs: one per pooled element."""

    type_name = "adaptive_avgpool"
    summary = "adaptive average pooling to output_size"

    def flops(self):
        return self.in_shape[0] * self.window_elems()


class AdaptiveMaxPool(_AdaptivePool):
    """Adaptive max pooling (AdaptiveMaxPool1d/2d/3d); FLOPs: window elements - 1 per window."""

    type_name = "adaptive_maxpool"
    summary = "adaptive max pooling to output_size"

    def flops(self):
        return self.in_shape[0] * self.window_elems() - numel(self.out_shape)

