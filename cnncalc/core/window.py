"""The sliding-window primitive shared by the layers, lint, ``solve`` and ``sizes``.

One axis of a window sequence: an input of ``size`` real pixels, padded with
``before`` and ``after`` pixels, read by windows of extent ``keff`` (the
dilated kernel d(k - 1) + 1) every ``stride`` pixels.

Output size (Dumoulin and Visin 2016, relationships 6 and 15)::

    O = floor((L + P_before + P_after - F) / S) + 1

The windows stop at the last whole window: ``(L + P_before + P_after - F) mod S``
pixels at the end of the padded input are read by no window. Those pixels are
the after-padding first, then real input pixels. **A window sequence tiles its
input exactly** when no *real* input pixel after the last window is left unread;
padding that is never read does not count. With a stride larger than the
window (S > F), every gap of S - F pixels between windows is skipped (lint
CC103 reports that), so an end gap no longer than S - F is the same pattern
and still counts as tiling.

``cnncalc sizes``, ``cnncalc solve`` and lint rule CC101 all use
:func:`tiles` and :func:`dropped` (docs/homework.md, "Tiling exactly").

This module also holds every other size rule of the analyzer, one named function each,
which the layer types' ``bind`` call: padding resolution, convolution, pooling and
transposed output sizes, crop, chunk and split bounds, upsampling, pixel (un)shuffle,
adaptive pooling windows, broadcasting and explicit padding. The executor never calls
them: it has its own mechanics in :mod:`cnncalc.core.kernels`, and
tests/test_independence.py patches each rule here to be off by one and shows that
``verify`` then fails, naming the figure (docs/executor.md, "The boundary").
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnncalc.core.params import PadSpec

__all__ = ["effective_kernel", "resolve_padding", "conv_out", "pool_out", "transposed_padding",
           "transposed_out", "centre_crop_padding", "crop_out", "chunk_bounds", "split_bounds",
           "upsample_axis", "pixel_shuffle_shape", "pixel_unshuffle_shape", "adaptive_window",
           "broadcast_shape", "pad_out", "window_out", "unread_end",
           "dropped", "tiles", "tiling_problems", "taps_symbol"]


def effective_kernel(kernel: int, dilation: int) -> int:
    """Dilated kernel extent d(k - 1) + 1 (Yu and Koltun 2016; Dumoulin and Visin 2016, eq. 15)."""
    return dilation * (kernel - 1) + 1


def resolve_padding(pad: PadSpec, sizes: Sequence[int], keffs: Sequence[int],
                    strides: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """(before, after) pixels per axis.

    ``same``: output = ceil(L / s), total = max((out - 1) s + k_eff - L, 0), the odd
    pixel after (TensorFlow's rule, tf.nn.convolution docs). ``full``: k_eff - 1
    each side (Dumoulin and Visin 2016, section 2.2.2).
    """
    if pad.pairs is not None:
        return pad.pairs
    out = []
    for size, keff, s in zip(sizes, keffs, strides):
        if pad.mode == "full":
            out.append((keff - 1, keff - 1))
        else:
            target = -(-size // s)
            total = max((target - 1) * s + keff - size, 0)
            out.append((total // 2, total - total // 2))
    return tuple(out)


def conv_out(size: int, keff: int, stride: int, before: int, after: int) -> int | None:
    """floor((L + p_b + p_a - k_eff) / s) + 1, or None if the window does not fit.

    Dumoulin and Visin 2016, relationship 6 (with dilation, relationship 15).
    """
    span = size + before + after - keff
    if span < 0:
        return None
    return span // stride + 1


def pool_out(size: int, keff: int, stride: int, before: int, after: int,
             ceil_mode: bool) -> int | None:
    """PyTorch's pooling_output_shape_pad_lr (aten/src/ATen/native/Pool.h).

    out = floor_or_ceil((L + p_b + p_a - k_eff) / s) + 1; in ceil mode the last
    window must start inside the input or its left padding:
    if (out - 1) s >= L + p_b then out -= 1. None if out < 1 ("Output size is too
    small"). In ceil mode a window may be longer than the padded input and still
    give one output (PyTorch accepts avg_pool k4 p1 ceil_mode on a 1x1 input: 1x1).
    """
    span = size + before + after - keff
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1  # div_rtn: floor division
    if ceil_mode and (out - 1) * stride >= size + before:
        out -= 1
    return out if out >= 1 else None


def chunk_bounds(length: int, chunks: int, index: int) -> tuple[int, int]:
    """(start, stop) of part ``index`` of torch.chunk(x, chunks) along an axis of ``length``:
    every part has ceil(L / chunks) elements, the last what is left (so there may be
    fewer than ``chunks`` parts: 5 into 4 gives 2, 2, 1).

    Raises:
        ValueError: an index past the last part, saying how many parts there are.
    """
    size = -(-length // chunks)
    parts = -(-length // size)
    start = index * size
    if start >= length:
        raise ValueError(f"index {index} is past the last part: an axis of {length} in "
                         f"chunks of {size} has {parts} part{'s' if parts > 1 else ''}")
    return start, min(start + size, length)


def split_bounds(length: int, sizes: Sequence[int], index: int) -> tuple[int, int]:
    """(start, stop) of part ``index`` of torch.split(x, sizes) along an axis of ``length``.

    Raises:
        ValueError: sizes that do not add up to the axis, a -1, or an index past the end.
    """
    if -1 in sizes:
        raise ValueError("split sizes are lengths >= 1; -1 is not one")
    if sum(sizes) != length:
        raise ValueError(f"sizes {list(sizes)} add up to {sum(sizes)}, but the axis has {length}")
    if index >= len(sizes):
        raise ValueError(f"index {index} is past the last of the {len(sizes)} parts")
    start = sum(sizes[:index])
    return start, start + sizes[index]


def transposed_padding(pad: PadSpec, keffs: Sequence[int],
                       strides: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """(before, after) pixels a transposed convolution crops from its full output, per axis.

    Explicit pairs as written; ``same``: k_eff - s in all, the odd pixel after, so that
    the output is L * s (TensorFlow's conv2d_transpose "same"; with output_padding 0).

    Raises:
        ValueError: ``same`` with a kernel smaller than the stride (nothing to crop), with
            the axis's kernel and stride.
    """
    if pad.mode != "same":
        return pad.pairs
    out = []
    for keff, s in zip(keffs, strides):
        crop = keff - s
        if crop < 0:
            raise ValueError(f"padding: same needs kernel >= stride, got kernel {keff} and stride {s}")
        out.append((crop // 2, crop - crop // 2))
    return tuple(out)


def transposed_out(size: int, keff: int, stride: int, before: int, after: int,
                   output_padding: int) -> int:
    """(L - 1) s - p_b - p_a + k_eff + output_padding: a transposed convolution's output
    length (Dumoulin and Visin 2016, relationship 14; PyTorch's ConvTranspose2d docs).
    May be < 1 (padding crops everything); the caller reports that."""
    return (size - 1) * stride - before - after + keff + output_padding


def centre_crop_padding(size: int, target: int) -> tuple[int, int]:
    """(before, after) pixels that centre-crop an axis of ``size`` to ``target``:
    before = (L - L_ref) // 2, the odd pixel after (U-Net's cropped skip connections,
    Ronneberger et al. 2015, Fig. 1). Negative when ``target`` > ``size`` (the caller
    reports that)."""
    diff = size - target
    return diff // 2, diff - diff // 2


def crop_out(size: int, before: int, after: int) -> int:
    """L - before - after: the length left by a crop (Keras Cropping2D)."""
    return size - before - after


def pad_out(size: int, before: int, after: int) -> int:
    """L + before + after: the length after explicit padding (PyTorch's nn.ZeroPad2d etc.)."""
    return size + before + after


def upsample_axis(size: int, scale: Fraction | None, want: int | None,
                  aligned: bool) -> tuple[int, Fraction]:
    """(output length, source ratio r) of upsampling one axis of ``size``.

    Output floor(L * scale_factor), or ``want`` (None keeps L); r = 1/scale_factor if a
    scale is given, else L/O; with ``aligned`` (a linear mode with align_corners)
    r = (L - 1)/(O - 1), 0 for O = 1 (PyTorch's upsample output size and
    area_pixel_compute_scale, aten/src/ATen/native/UpSample.h).
    """
    if scale is not None:
        out, ratio = int(size * scale), 1 / Fraction(scale)
    else:
        out = size if want is None else want
        ratio = Fraction(size, out)
    if aligned:
        ratio = Fraction(size - 1, out - 1) if out > 1 else Fraction(0)
    return out, ratio


def pixel_shuffle_shape(shape: Sequence[int], r: int) -> tuple[int, ...]:
    """[C, L1, ..] -> [C / r^n, L1 r, ..] (Shi et al. 2016, ESPCN, eq. 4; the caller checks
    that r^n divides C)."""
    channels, sizes = shape[0], shape[1:]
    return (channels // r ** len(sizes), *(s * r for s in sizes))


def pixel_unshuffle_shape(shape: Sequence[int], r: int) -> tuple[int, ...]:
    """[C, L1, ..] -> [C r^n, L1 / r, ..] (torch.nn.PixelUnshuffle; the caller checks that r
    divides every L)."""
    channels, sizes = shape[0], shape[1:]
    return (channels * r ** len(sizes), *(s // r for s in sizes))


def adaptive_window(o: int, size: int, out: int) -> tuple[int, int]:
    """[start, end) of adaptive pooling's output unit ``o`` on an axis of ``size`` pooled to
    ``out``: [floor(o L / O), ceil((o + 1) L / O)) (PyTorch's start_index / end_index,
    aten/src/ATen/native/AdaptivePooling.h)."""
    return (o * size) // out, -((-(o + 1) * size) // out)


def broadcast_shape(shapes: Sequence[Sequence[int]]) -> tuple[int, ...] | None:
    """NumPy's broadcasting of per-sample shapes: right-aligned, each axis equal or 1;
    None when they do not broadcast (NumPy manual, "Broadcasting")."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for sizes in zip(*padded):
        distinct = {v for v in sizes if v != 1}
        if len(distinct) > 1:
            return None
        out.append(distinct.pop() if distinct else 1)
    return tuple(out)


def window_out(size: int, keff: int, stride: int, before: int = 0, after: int = 0,
               ceil_mode: bool = False) -> int | None:
    """Windows that fit along one axis, or None if not even one fits.

    Args:
        size: real input pixels L.
        keff: window extent F (dilated: d(k - 1) + 1).
        stride: S >= 1.
        before, after: padding pixels on each side.
        ceil_mode: PyTorch pooling's rounding up (:func:`cnncalc.layers.base.pool_out`).
    """
    if ceil_mode:
        return pool_out(size, keff, stride, before, after, True)
    return conv_out(size, keff, stride, before, after)


def unread_end(size: int, keff: int, stride: int, before: int = 0, after: int = 0) -> int:
    """Pixels at the end of the *padded* input that no window reads:
    (L + P_before + P_after - F) mod S (0 when no window fits)."""
    span = size + before + after - keff
    return span % stride if span >= 0 else 0


def dropped(size: int, keff: int, stride: int, before: int = 0, after: int = 0) -> int:
    """Real input pixels after the last window that no window reads.

    The unread end of the padded input is the after-padding first, then input:
    max(unread_end - P_after, 0), at most L. Example: L = 6, F = 3, S = 2, P = 1
    leaves (6 + 2 - 3) mod 2 = 1 pixel unread, and it is padding: 0 dropped.
    """
    return min(max(unread_end(size, keff, stride, before, after) - after, 0), size)


def unread_note(size: int, keff: int, stride: int, before: int = 0, after: int = 0) -> str:
    """What a floor division that is not exact leaves unread, in the words ``explain`` and
    ``solve output`` both use: real input pixels never read, or only padding; "" when the
    division is exact (or no window fits)."""
    span = size + before + after - keff
    unread = unread_end(size, keff, stride, before, after)
    if not unread:
        return ""
    lost = dropped(size, keff, stride, before, after)
    head = f"not exact: ({size} - {keff} + {before + after}) = {span} is not divisible by {stride}"
    if lost:
        return f"{head}; the last {lost} input pixel(s) are never read"
    return f"{head}, but the {unread} unread pixel(s) at the end are padding: every input pixel is read"


def tiles(size: int, keff: int, stride: int, before: int = 0, after: int = 0) -> bool:
    """True when the windows fit and leave no real input pixel unread at the end,
    apart from the regular gap S - F of a stride larger than the window."""
    if size + before + after < keff:
        return False
    return dropped(size, keff, stride, before, after) <= max(stride - keff, 0)


def tiling_problems(layer) -> list[str]:
    """Why a layer (after setup) does not tile its input exactly, one text per problem.

    A layer type with its own notion (a centred crop, adaptive pooling) defines a
    ``tiling_problems()`` method; every layer that slides a window (its ``windows()``,
    not a transposed one) is checked here with :func:`tiles`; ceil-mode pooling reads
    the end of its input and always tiles.
    """
    own = getattr(layer, "tiling_problems", None)
    if own is not None:
        return own()
    windows = layer.windows()
    if not windows or windows[0].transposed or any(w.ceil_mode for w in windows):
        return []
    problems = []
    names = ("D", "H", "W")[-len(windows):] if len(windows) > 1 else ("",)
    for w, axis in zip(windows, names):
        size, k, s, b, a = w.size, w.keff, w.stride, w.pad_before, w.pad_after
        if not tiles(size, k, s, b, a):
            along = f" along {axis}" if axis else ""  # one text per axis: say which
            problems.append(f"the last {dropped(size, k, s, b, a)} input pixel(s) of {size}{along} are "
                            f"never read (({size} + {b + a} - {k}) mod {s} = {unread_end(size, k, s, b, a)})")
    return problems


def taps_symbol(ndim: int) -> str:
    """The lectures' F·F for a window's taps, with one F per spatial axis: F (1-D),
    F·F (2-D), F·F·F (3-D)."""
    return "·".join("F" * max(ndim, 1))
