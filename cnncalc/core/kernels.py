"""NumPy building blocks of the executor: padding, sliding windows, scatter-add.

Arrays are batch-first ``(N, C, *spatial)``. Windows come from
``numpy.lib.stride_tricks.sliding_window_view`` (no Python loop over pixels);
the adjoint of a windowed read (col2im) loops over the kernel taps only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class Context:
    """State of one execution: the MAC counter and the probe switch.

    ``mm(a, b)`` is ``a @ b`` that also adds the multiply-accumulates of the
    contraction to ``macs`` (for ``verify``: MACs measured from what ran).
    ``probe``: backward passes propagate support rather than values where a
    layer's true gradient can vanish (max pooling routes to every tap of its
    window, elementwise functions pass the gradient through).
    """

    def __init__(self, probe: bool = False, refs: Sequence[np.ndarray] = ()) -> None:
        self.macs = 0
        self.probe = probe
        self.refs = list(refs)  # arrays whose shape only a layer reads (crop: {like: NAME})

    def quiet(self) -> Context:
        """A context with the same probe switch whose count is discarded (recomputation)."""
        return Context(probe=self.probe, refs=self.refs)

    def mm(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a @ b`` (batched: (..., M, K) @ (..., K, N)), adding prod(batch)·M·K·N
        multiply-accumulates to :attr:`macs`."""
        batch = math.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
        self.macs += batch * a.shape[-2] * a.shape[-1] * b.shape[-1]
        return np.matmul(a, b)


class Tensors(dict):
    """Tensors handed to an inner layer (a separable convolution's depthwise part):
    ``take`` returns the tensor after checking the shape the inner forward pass asks for."""

    def take(self, key: str, shape, buffer: bool = False) -> np.ndarray:
        """The tensor ``key``, checked to have ``shape``.

        Raises:
            ValueError: another shape (the outer layer asked for the wrong one).
        """
        tensor = self[key]
        if tuple(tensor.shape) != tuple(shape):
            raise ValueError(f"tensor '{key}' has shape {list(tensor.shape)}, needs {list(shape)}")
        return tensor


def window_count(size: int, before: int, after: int, keff: int, stride: int,
                 ceil_mode: bool = False) -> int:
    """How many windows of extent ``keff`` a stride-``stride`` scan of the padded
    input (``before + size + after``) starts, by the scan itself: a window starts at
    every ``stride``-th position; without ``ceil_mode`` it must lie inside the padded
    input; with it, a window starts as long as the one before it left pixels of the
    padded input unread and it starts inside the input or its left padding (PyTorch's
    ceil_mode). The executor's windows, not the analyzer's formula."""
    padded = before + size + after
    if ceil_mode:
        return len(range(0, min(padded - keff + stride, size + before), stride))
    return len(range(0, padded - keff + 1, stride))


def pad(x: np.ndarray, pads: Sequence[tuple[int, int]], value: float = 0.0) -> np.ndarray:
    """Pad the spatial axes (2..) by (before, after) pairs."""
    if not any(b or a for b, a in pads):
        return x
    return np.pad(x, [(0, 0), (0, 0), *pads], mode="constant", constant_values=value)


def windows(xp: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
            dilation: Sequence[int], out: Sequence[int]) -> np.ndarray:
    """View (N, C, *out, *kernel) of a padded input: tap k of window o reads o*s + k*d."""
    nd = len(kernel)
    keff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    view = sliding_window_view(xp, keff, axis=tuple(range(2, 2 + nd)))
    index = (slice(None), slice(None),
             *(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, stride)),
             *(slice(None, None, d) for d in dilation))
    return view[index]


def tap_slices(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
               out: Sequence[int]):
    """For each kernel tap, the index of the (N, C, *out) block it reads: o*s + k*d."""
    for tap in np.ndindex(*kernel):
        yield tap, (slice(None), slice(None),
                    *(slice(t * d, t * d + (o - 1) * s + 1, s)
                      for t, d, o, s in zip(tap, dilation, out, stride)))


def scatter_windows(taps: np.ndarray, padded_shape: Sequence[int], stride: Sequence[int],
                    dilation: Sequence[int]) -> np.ndarray:
    """Adjoint of :func:`windows` (col2im): add tap values (N, C, *out, *kernel) into
    a zero array of ``padded_shape`` at o*s + k*d. Loops over the kernel taps only."""
    nd = len(stride)
    out = taps.shape[2:2 + nd]
    kernel = taps.shape[2 + nd:]
    result = np.zeros(padded_shape, dtype=taps.dtype)
    for tap, index in tap_slices(kernel, stride, dilation, out):
        result[index] += taps[(Ellipsis, *tap)]
    return result


def unpad(x: np.ndarray, pads: Sequence[tuple[int, int]], sizes: Sequence[int]) -> np.ndarray:
    """The inverse of :func:`pad` (keeps ``sizes`` elements after each ``before``)."""
    index = (slice(None), slice(None), *(slice(b, b + n) for (b, _), n in zip(pads, sizes)))
    return x[index]


def take_axis(x: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
    """Positions ``index`` of ``x`` along ``axis`` (a gather; its adjoint is
    :func:`take_axis_adjoint`)."""
    return np.take(x, index, axis=axis)


def take_axis_adjoint(g: np.ndarray, index: np.ndarray, axis: int, size: int) -> np.ndarray:
    """Adjoint of take along an axis: scatter-add g into ``size`` positions."""
    shape = list(g.shape)
    shape[axis] = size
    out = np.zeros(shape, dtype=g.dtype)
    where = [slice(None)] * g.ndim
    where[axis] = index
    np.add.at(out, tuple(where), g)
    return out


def reduce_to(g: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Sum a broadcast gradient back to ``shape`` (NumPy broadcasting's adjoint)."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


# -- the executor's window geometry ---------------------------------------------------------
#
# The executor derives padding and crops from a layer's parsed parameters and the sizes
# of the arrays it holds, by its own mechanics: counting the windows a scan starts
# (window_count), never by the analyzer's rules (cnncalc.core.window). Tests patch the
# analyzer's rules one by one (tests/test_independence.py) and show that verify then
# fails: the two derivations share no code.


def extent(kernel: Sequence[int], dilation: Sequence[int]) -> tuple[int, ...]:
    """Input pixels one window spans per axis: its first tap at 0, its last at (k - 1) d."""
    return tuple(len(range(0, (k - 1) * d + 1)) for k, d in zip(kernel, dilation))


def resolve_pads(padding, sizes: Sequence[int], kernel: Sequence[int], dilation: Sequence[int],
                 stride: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """(before, after) zero padding per axis for a window scan over ``sizes``.

    ``padding``: a parsed PadSpec (explicit ``pairs``, or ``mode`` "same" / "full"), or
    None (none). "same": the fewest padding pixels, split with the odd one after, for
    which the scan starts as many windows as there are stride-steps that begin inside the
    input (len(range(0, L, s)), TensorFlow's "same"); found by trying totals in turn and
    counting windows with :func:`window_count`. "full": every window that overlaps the
    input by one tap, i.e. a window's span less one pixel on each side.
    """
    if padding is None:
        return ((0, 0),) * len(sizes)
    if padding.pairs is not None:
        return tuple(tuple(p) for p in padding.pairs)
    out = []
    for size, span, s in zip(sizes, extent(kernel, dilation), stride):
        if padding.mode == "full":
            out.append((span - 1, span - 1))
            continue
        starts = len(range(0, size, s))
        total = 0
        while window_count(size, total // 2, total - total // 2, span, s) < starts:
            total += 1
        out.append((total // 2, total - total // 2))
    return tuple(out)


def transposed_crop(padding, sizes: Sequence[int], full: Sequence[int],
                    stride: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """(before, after) pixels a transposed convolution crops from its uncropped output of
    ``full`` pixels per axis: explicit pairs as written; "same": whatever exceeds
    L * s (TensorFlow's conv2d_transpose "same" output), the odd pixel after."""
    if padding is None:
        return ((0, 0),) * len(sizes)
    if padding.pairs is not None:
        return tuple(tuple(p) for p in padding.pairs)
    out = []
    for size, f, s in zip(sizes, full, stride):
        crop = f - size * s
        out.append((crop // 2, crop - crop // 2))
    return tuple(out)


def centre_crop(sizes: Sequence[int], target: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """(before, after) pixels that crop ``sizes`` to ``target`` around the centre: the
    first target[i] pixels starting at the middle offset, the odd pixel left after."""
    out = []
    for size, want in zip(sizes, target):
        start = len(range(want + 1, size, 2))  # half the surplus, rounded down
        out.append((start, size - want - start))
    return tuple(out)


def chunk_part(length: int, chunks: int, index: int) -> tuple[int, int]:
    """The executor's (start, stop) of torch.chunk's part ``index``: the shortest part
    length that cuts the axis into at most ``chunks`` runs, found by trying lengths in
    turn; the parts are the runs starting every that many elements."""
    size = 1
    while len(range(0, length, size)) > chunks:
        size += 1
    start = range(0, length, size)[index]
    return start, min(start + size, length)


def split_part(sizes: Sequence[int], index: int) -> tuple[int, int]:
    """The executor's (start, stop) of torch.split's part ``index``: running sums of the sizes."""
    ends = np.cumsum([0, *sizes])
    return int(ends[index]), int(ends[index + 1])


def scaled_length(size: int, scale: Fraction) -> int:
    """The executor's output length of upsampling ``size`` positions by ``scale`` (an exact
    fraction p/q): the output positions o = 0, 1, .. whose end o + 1 lies within the scaled
    input, counted as the multiples of q in [q, L p] (floor(L * scale), PyTorch's size)."""
    scale = Fraction(scale)
    return len(range(scale.denominator, size * scale.numerator + 1, scale.denominator))


def adaptive_windows(positions: int, units: int, length: int,
                     out: int) -> tuple[np.ndarray, np.ndarray]:
    """The executor's windows of adaptive pooling: unit o of ``units`` pools the input
    positions i < ``positions`` whose cell [i, i + 1), scaled by out/length, overlaps the
    unit's cell [o, o + 1): i·out < (o + 1)·length and (i + 1)·out > o·length (an overlap
    test on the grid, not the analyzer's floor/ceil rule). ``length``/``out``: the axis
    lengths that set the ratio (the array's own for a network; the network's for verify's
    probe at another length).

    Returns (index, mask), each (units, longest window): the positions of each window
    padded by repeating its last one, and which entries are real.
    """
    o = np.arange(units)[:, None]
    i = np.arange(positions)[None, :]
    member = (i * out < (o + 1) * length) & ((i + 1) * out > o * length)  # (units, positions)
    first = member.argmax(axis=1)
    count = member.sum(axis=1)
    m = np.arange(count.max())
    index = np.minimum(first[:, None] + m, first[:, None] + count[:, None] - 1)
    return index, m < count[:, None]


def space_to_depth(x: np.ndarray, r: int) -> np.ndarray:
    """(N, C, L1·r, .., Ln·r) -> (N, C·r^n, L1, .., Ln), channel c·r^n + (i1, .., in) in
    row-major order holding position (L1·r + i1, ..): PyTorch's pixel_unshuffle, by
    reshaping and transposing the array (its sizes are the array's)."""
    n_axes = x.ndim - 2
    sizes = [s // r for s in x.shape[2:]]
    split = [x.shape[0], x.shape[1]] + [v for s in sizes for v in (s, r)]
    order = [0, 1] + [3 + 2 * a for a in range(n_axes)] + [2 + 2 * a for a in range(n_axes)]
    return x.reshape(split).transpose(order).reshape(x.shape[0], x.shape[1] * r ** n_axes, *sizes)


def depth_to_space(x: np.ndarray, r: int) -> np.ndarray:
    """The inverse of :func:`space_to_depth`: PyTorch's pixel_shuffle (Shi et al. 2016, eq. 4)."""
    n_axes = x.ndim - 2
    c = x.shape[1] // r ** n_axes
    split = [x.shape[0], c] + [r] * n_axes + list(x.shape[2:])
    order = [0, 1] + [v for a in range(n_axes) for v in (2 + n_axes + a, 2 + a)]
    return x.reshape(split).transpose(order).reshape(x.shape[0], c, *(s * r for s in x.shape[2:]))
