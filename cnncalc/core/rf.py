"""Exact receptive fields, one spatial axis at a time.

Definitions (docs/receptive-field.md): for output unit ``o`` of a layer, its
receptive field on one axis is the set of network-input positions that can
reach it. The input is taken as unbounded: padding positions count as input
positions and nothing is clipped at the border (Araujo, Norris and Sim,
"Computing Receptive Fields of Convolutional Neural Networks", Distill 2019,
section "Single-path networks" works in the same unclipped coordinates).

Representation. Every layer type cnncalc knows maps output units to input
units periodically: shifting the output by ``P`` units shifts the contributing
input units by ``S`` (convolution and pooling: P = 1, S = stride; transposed
convolution: P = stride, S = 1; upsampling by a/b: P = a, S = b). A composition
of such maps is again periodic, so the receptive field of output unit
``o = P*q + r`` is the interval::

    [lo[r] + M*q, hi[r] + M*q]        (r = 0 .. P-1)

with integer tables ``lo``, ``hi`` (None where the unit sees no input, as in a
transposed convolution whose stride exceeds its kernel) and an integer ``M``.
From this exact form:

* size (extent) of unit ``o``: ``hi - lo + 1``; cnncalc reports the maximum over
  the output units that exist (it depends on the phase ``r`` after transposed
  convolution and upsampling);
* effective stride: ``M / P`` input pixels per output unit, a fraction after
  upsampling (the mean distance between the centres of neighbouring units);
* centre of output unit 0: ``(lo[0] + hi[0]) / 2``.

Composition enumerates, for each phase, the layer's contributing input units
and takes the extreme ends of their receptive fields, so dilation, ceil-mode
windows, transposed convolution and upsampling are all exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import gcd

from cnncalc.core.window import adaptive_window

MAX_PERIOD = 1 << 16


@dataclass(frozen=True)
class UnitMap:
    """How one layer's output units draw on its input units along one axis.

    ``contrib(o)`` lists the input units (any integer, padding included) whose
    values can reach output unit ``o``, sorted ascending; it holds for every
    integer ``o`` and satisfies ``contrib(o + period) == [j + shift for j in
    contrib(o)]``.
    """

    period: int
    shift: int
    contrib: Callable[[int], Sequence[int]]


def window_map(stride: int, pad_before: int, kernel: int, dilation: int) -> UnitMap:
    """Convolution and pooling: unit o reads o*s - p + k*d for k = 0..K-1."""

    def contrib(o: int) -> range:
        start = o * stride - pad_before
        return range(start, start + kernel * dilation, dilation)  # O(1) however large the kernel

    return UnitMap(1, stride, contrib)


def transposed_map(stride: int, crop_before: int, kernel: int, dilation: int) -> UnitMap:
    """Transposed convolution: input i writes to full-output o + p = i*s + k*d.

    Output unit o reads the input units i = (o + p - k*d) / s for the taps k
    where the division is exact; which taps qualify depends on o mod s.
    """

    g = gcd(dilation, stride)
    step_k = stride // g  # taps that qualify are step_k apart
    inverse = pow(dilation // g, -1, step_k) if step_k > 1 else 0

    def contrib(o: int) -> range:
        full = o + crop_before
        if full % g:
            return range(0)
        k0 = (full // g) * inverse % step_k if step_k > 1 else 0  # smallest tap with k d = full (mod s)
        if k0 >= kernel:
            return range(0)
        k_last = k0 + (kernel - 1 - k0) // step_k * step_k
        # i = (full - k d) / s falls by d / g per qualifying tap: an arithmetic range, O(1)
        return range((full - k_last * dilation) // stride, (full - k0 * dilation) // stride + 1,
                     dilation // g)

    return UnitMap(stride, 1, contrib)


def shift_map(offset: int) -> UnitMap:
    """Elementwise layers, padding (offset -before) and cropping (offset +before)."""
    if offset == 0:
        return IDENTITY
    return UnitMap(1, 1, lambda o: [o + offset])


IDENTITY = UnitMap(1, 1, lambda o: [o])

# A broadcast operand (spatial size 1 spread over the output, NumPy's rule): every
# output unit reads its one unit, so its field is the same for every unit (stride 0).
BROADCAST = UnitMap(1, 0, lambda o: [0])


def ratio_window_map(in_len: int, out_len: int) -> UnitMap:
    """Adaptive pooling (PyTorch's rule): unit o pools [floor(o*L/O), ceil((o+1)*L/O))."""
    g = gcd(in_len, out_len)

    def contrib(o: int) -> range:
        return range(*adaptive_window(o, in_len, out_len))  # the one rule, core/window.py

    return UnitMap(out_len // g, in_len // g, contrib)


def nearest_map(ratio: Fraction) -> UnitMap:
    """Nearest upsampling (PyTorch's 'nearest'): unit o copies input floor(o * ratio).

    ``ratio`` is input units per output unit (1/scale_factor, or in/out size).
    """

    def contrib(o: int) -> list[int]:
        return [(o * ratio.numerator) // ratio.denominator]

    return UnitMap(ratio.denominator, ratio.numerator, contrib)


def linear_map(ratio: Fraction, align_corners: bool) -> UnitMap:
    """(Bi/tri)linear upsampling along one axis, as PyTorch computes the source.

    align_corners=False: src = (o + 1/2) * ratio - 1/2; align_corners=True:
    src = o * ratio with ratio = (in - 1)/(out - 1). Unit o reads floor(src) and,
    unless src is a whole number (weight 0 on the neighbour), floor(src) + 1.
    The clamp PyTorch applies at the border is not applied: receptive fields
    are unclipped.
    """
    offset = Fraction(0) if align_corners else (ratio - 1) / 2

    def contrib(o: int) -> list[int]:
        src = o * ratio + offset
        base = src.numerator // src.denominator
        return [base] if src.denominator == 1 else [base, base + 1]

    # src(o + den) = src(o) + num: the pattern repeats every ratio.denominator units
    return UnitMap(ratio.denominator, ratio.numerator, contrib)


@dataclass(frozen=True)
class AxisRF:
    """The exact receptive field of every unit of one tensor along one axis.

    Unit ``o = period*q + r`` sees network-input positions
    ``[lo[r] + slope*q, hi[r] + slope*q]``; ``lo[r] is None`` where it sees none.
    """

    period: int
    slope: int
    lo: tuple[int | None, ...]
    hi: tuple[int | None, ...]

    @staticmethod
    def input() -> AxisRF:
        """The network input: unit o sees exactly position o."""
        return AxisRF(1, 1, (0,), (0,))

    def at(self, o: int) -> tuple[int | None, int | None]:
        q, r = divmod(o, self.period)
        lo = self.lo[r]
        if lo is None:
            return None, None
        return lo + self.slope * q, self.hi[r] + self.slope * q  # type: ignore[operator]

    @property
    def monotone(self) -> bool:
        """True if every unit sees input and lo, hi never decrease with the unit index.

        Then the extreme ends over a run of units are those of its first and last
        unit. A dilated transposed convolution with dilation > stride breaks this
        (units 0, 1, 2, 3 can see inputs 0, -1, 1, 0).
        """
        if any(v is None for v in self.lo):
            return False
        for table in (self.lo, self.hi):
            ext = (*table, table[0] + self.slope)  # type: ignore[operator]
            if any(a > b for a, b in zip(ext, ext[1:])):  # type: ignore[operator]
                return False
        return True

    def compose(self, um: UnitMap) -> AxisRF:
        """The receptive field after a layer with unit map ``um`` on this axis."""
        period = self.period * um.period
        if period > MAX_PERIOD:
            raise OverflowError(f"receptive-field period {period} exceeds {MAX_PERIOD}")
        slope = self.slope * um.shift
        lo: list[int | None] = []
        hi: list[int | None] = []
        dense = self.monotone
        for r in range(period):
            units = um.contrib(r)
            if not dense and len(units) > MAX_PERIOD:
                raise OverflowError(f"a unit reads {len(units):,} units of a non-monotone field")
            if dense:  # the extremes of a sorted run are at its ends
                if len(units) == 0:
                    lo.append(None)
                    hi.append(None)
                    continue
                lo.append(self.at(units[0])[0])
                hi.append(self.at(units[-1])[1])
                continue
            best_lo = best_hi = None
            for j in units:
                a, b = self.at(j)
                if a is None:
                    continue
                best_lo = a if best_lo is None else min(best_lo, a)
                best_hi = b if best_hi is None else max(best_hi, b)
            lo.append(best_lo)
            hi.append(best_hi)
        return AxisRF(period, slope, tuple(lo), tuple(hi)).reduced()

    def union(self, other: AxisRF) -> AxisRF | None:
        """Positions reaching a unit through either path; None if strides differ."""
        if Fraction(self.slope, self.period) != Fraction(other.slope, other.period):
            return None
        period = self.period * other.period // gcd(self.period, other.period)
        slope = self.slope * (period // self.period)
        lo: list[int | None] = []
        hi: list[int | None] = []
        for r in range(period):
            (a1, b1), (a2, b2) = self.at(r), other.at(r)
            lows = [v for v in (a1, a2) if v is not None]
            highs = [v for v in (b1, b2) if v is not None]
            lo.append(min(lows) if lows else None)
            hi.append(max(highs) if highs else None)
        return AxisRF(period, slope, tuple(lo), tuple(hi)).reduced()

    def reduced(self) -> AxisRF:
        """The same map written with the smallest period."""
        n = self.period
        for d in range(1, n):
            if n % d or (self.slope * d) % n:
                continue
            step = self.slope * d // n
            if all(
                (self.lo[r + d] is None and self.lo[r] is None)
                or (
                    self.lo[r] is not None
                    and self.lo[r + d] == self.lo[r] + step
                    and self.hi[r + d] == self.hi[r] + step
                )
                for r in range(n - d)
            ):
                return AxisRF(d, step, self.lo[:d], self.hi[:d])
        return self

    # -- the reported figures -------------------------------------------------

    def size(self, out_len: int) -> int:
        """Largest extent hi - lo + 1 over the output units 0..out_len-1 (0 if none sees input)."""
        sizes = [
            self.hi[r] - self.lo[r] + 1  # type: ignore[operator]
            for r in range(min(self.period, max(out_len, 1)))
            if self.lo[r] is not None
        ]
        return max(sizes, default=0)

    @property
    def stride(self) -> Fraction:
        """Effective stride: input pixels per output unit, exact."""
        return Fraction(self.slope, self.period)

    @property
    def center_line(self) -> Fraction | None:
        """Offset of the centre line: the mean over phases of centre(r) - stride * r.

        Unit o's centre is this offset + stride * o on average; without
        upsampling or transposed convolution it is exactly unit 0's centre.
        """
        offsets = [Fraction(lo + hi, 2) - self.stride * r  # type: ignore[operator]
                   for r, (lo, hi) in enumerate(zip(self.lo, self.hi)) if lo is not None]
        return sum(offsets, Fraction(0)) / len(offsets) if offsets else None

    @property
    def center(self) -> Fraction | None:
        """Centre of output unit 0's receptive field (None if it sees no input)."""
        if self.lo[0] is None:
            return None
        return Fraction(self.lo[0] + self.hi[0], 2)  # type: ignore[operator]


@dataclass(frozen=True)
class ReceptiveField:
    """Per-axis receptive-field figures of one layer's output (for the report).

    ``size``: largest extent in input pixels; ``stride``: effective stride
    (Fraction); ``center``: centre of output unit 0 in input coordinates
    (Fraction, may be negative or half-integral). An entry is None on an axis
    that every input position reaches (after a global pooling or a linear layer
    on that axis).
    """

    size: tuple[int | None, ...]
    stride: tuple[Fraction | None, ...]
    center: tuple[Fraction | None, ...]
    misaligned: bool = False
    data_dependent: bool = False  # a deformable convolution upstream: the regular grid's field

    @staticmethod
    def from_axes(axes: Sequence[AxisField | None], out_lens: Sequence[int]) -> ReceptiveField:
        return ReceptiveField(
            size=tuple(None if a is None else a.size(n) for a, n in zip(axes, out_lens)),
            stride=tuple(None if a is None else a.stride(n) for a, n in zip(axes, out_lens)),
            center=tuple(None if a is None else a.center_of(0) for a in axes),
            misaligned=any(a is not None and a.misaligned for a in axes),
        )


@dataclass(frozen=True)
class AxisField:
    """The receptive field along one axis of a tensor reached through one or more paths.

    A unit's field is the union of its fields along every path. Paths with the
    same effective stride are merged into one :class:`AxisRF`; paths with
    different strides stay separate components (composition distributes over
    the union, so each is carried through later layers on its own).
    ``misaligned`` records that some merge joined paths whose effective strides
    or centre lines differ (Araujo, Norris and Sim, Distill 2019, "Multi-path
    networks": the paths of an aligned network share stride and centre). The
    centre line is compared rather than unit 0's centre, so that a 2x2
    up-convolution, whose units 2q and 2q+1 share one centre, counts as aligned
    with a skip connection whose centres lie on the same line on average.
    """

    components: tuple[AxisRF, ...]
    misaligned: bool = False

    @staticmethod
    def input() -> AxisField:
        return AxisField((AxisRF.input(),))

    def compose(self, um: UnitMap) -> AxisField:
        return AxisField(tuple(c.compose(um) for c in self.components), self.misaligned)

    def union(self, other: AxisField) -> AxisField:
        """Positions reaching a unit through either path.

        A component of stride 0 comes from a broadcast operand (a squeeze-and-excitation
        gate of size 1): it is the same for every unit, so it has no centre line to
        align and never makes the merge misaligned.
        """
        misaligned = self.misaligned or other.misaligned
        merged = list(self.components)
        for comp in other.components:
            for i, mine in enumerate(merged):
                if mine.stride == comp.stride:
                    if mine.center_line != comp.center_line and comp.stride != 0:
                        misaligned = True
                    merged[i] = mine.union(comp)  # type: ignore[assignment]
                    break
            else:
                if comp.stride != 0 and any(m.stride != 0 for m in merged):
                    misaligned = True
                merged.append(comp)
        return AxisField(tuple(merged), misaligned)

    def at(self, o: int) -> tuple[int | None, int | None]:
        ends = [c.at(o) for c in self.components]
        lows = [lo for lo, _ in ends if lo is not None]
        highs = [hi for _, hi in ends if hi is not None]
        return (min(lows), max(highs)) if lows else (None, None)

    def size(self, out_len: int) -> int:
        if len(self.components) == 1:
            return self.components[0].size(out_len)
        # strides differ: the extent changes along the axis. Within one phase class every
        # component is affine in the unit index, so max(hi) - min(lo) is convex there and
        # largest at the ends: the first and last period of units suffice (exact).
        period = 1
        for c in self.components:
            period = period * c.period // gcd(period, c.period)
        units = set(range(min(out_len, period))) | set(range(max(out_len - period, 0), out_len))
        sizes = [hi - lo + 1 for lo, hi in map(self.at, sorted(units or {0})) if lo is not None]
        return max(sizes, default=0)

    def stride(self, out_len: int) -> Fraction | None:
        if len(self.components) == 1:
            return self.components[0].stride
        # mean distance between the centres of neighbouring units over the axis
        first, last = self.center_of(0), self.center_of(out_len - 1)
        if out_len < 2 or first is None or last is None:
            return None
        return (last - first) / (out_len - 1)

    def center_of(self, o: int) -> Fraction | None:
        lo, hi = self.at(o)
        return None if lo is None else Fraction(lo + hi, 2)  # type: ignore[operator]
