"""What a layer does to its input shapes, as immutable records.

:class:`Facts` is everything the analysis derived for one layer (shapes, tensors,
MACs and FLOPs, windows, receptive-field unit maps, tensors saved for backward);
:class:`Window` one spatial axis of a sliding window as applied; :class:`Step` one
line of a derivation (explain) and :class:`Term` a number that carries its own
arithmetic. Shapes are per sample and channels-first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING

from cnncalc.core.expr import arithmetic
from cnncalc.core.rf import UnitMap
from cnncalc.core.window import effective_kernel, unread_note

if TYPE_CHECKING:
    from cnncalc.layers.base import Layer

Shape = tuple[int, ...]


def numel(shape: Sequence[int]) -> int:
    """Elements of a tensor of this shape (1 for ``()``)."""
    return math.prod(shape)


@dataclass(frozen=True)
class Step:
    """One line of a derivation: which figure, the formula, the numbers put in, the
    result, and a note (e.g. which pixels a non-exact division drops).

    Build a step with arithmetic through :meth:`calc`, so that its result is the value
    of its substituted expression (tests/test_explain.py evaluates every step).
    """

    field: str
    formula: str
    substituted: str
    result: str
    note: str = ""

    @classmethod
    def of(cls, field: str, formula: str, term: Term, note: str = "") -> Step:
        """A step for a figure computed as a :class:`Term`: its text and its value."""
        return cls(field, formula, term.text, fmt_number(term.value), note)

    @classmethod
    def calc(cls, field: str, formula: str, substituted: str, note: str = "") -> Step:
        """A step whose result is computed from ``substituted`` (cnncalc.core.expr.arithmetic)."""
        return cls(field, formula, substituted, fmt_number(calc(substituted)), note)

    @property
    def value(self) -> Fraction | None:
        """The result as an exact number, or None where it is not one (a shape, 'global')."""
        text = self.result.replace(",", "")
        try:
            return Fraction(text)
        except (ValueError, ZeroDivisionError):
            return None


class Term:
    """A number together with the arithmetic that computes it, as explain writes it.

    ``Term(98) * (Term(9) - 1)`` has value 784 and text ``98·(9 - 1)``: a figure built
    this way and its explanation cannot disagree, and nothing is parsed on the hot path
    of the analysis. Products print as ``·``; operands are parenthesized as needed.
    """

    __slots__ = ("value", "text", "prec")

    def __init__(self, value: int | Fraction, text: str | None = None, prec: int = 3) -> None:
        self.value, self.text, self.prec = value, str(value) if text is None else text, prec

    @staticmethod
    def _of(other: Term | int) -> Term:
        return other if isinstance(other, Term) else Term(other)

    def _wrap(self, below: int) -> str:
        return f"({self.text})" if self.prec <= below else self.text

    def __add__(self, other):
        o = self._of(other)
        return Term(self.value + o.value, f"{self.text} + {o.text}", 1)

    def __radd__(self, other):
        return self._of(other) + self

    def __sub__(self, other):
        o = self._of(other)
        return Term(self.value - o.value, f"{self.text} - {o._wrap(1)}", 1)

    def __rsub__(self, other):
        return self._of(other) - self

    def __mul__(self, other):
        o = self._of(other)
        return Term(self.value * o.value, f"{self._wrap(1)}·{o._wrap(1)}", 2)

    def __rmul__(self, other):
        return self._of(other) * self


def calc(text: str) -> int | Fraction:
    """The value of explain-style arithmetic (``5·5·6 + 1``), exact: an int where whole."""
    value = arithmetic(text)
    return value.numerator if value.denominator == 1 else value


def fmt_number(value: int | Fraction) -> str:
    """``117,600``; a fraction as ``p/q``."""
    value = Fraction(value)
    if value.denominator == 1:
        return f"{value.numerator:,}"
    return f"{value.numerator}/{value.denominator}"


DILATED = "F_d = d(k - 1) + 1"  # the dilated kernel extent, in explain


SAME_TF = "TensorFlow 'same': o = ceil(L / S), P = max(S·(o - 1) + F - L, 0)"


def same_steps(sizes, keffs, strides, pads, axes: str) -> list[Step]:
    """How ``padding: same`` gets its total, as TensorFlow derives it (and CS5242 teaches it):
    o = ceil(L / S), P = max(S·(o - 1) + F - L, 0), the odd pixel after; one step when every
    axis has the same numbers, else one per axis."""
    steps = [Step.calc("output_shape", SAME_TF, f"max({s}·(ceil({w} / {s}) - 1) + {f} - {w}, 0)",
                       f"o = {-(-w // s)}; {b} before, {a} after" + (" (the odd pixel after)" if a != b else ""))
             for w, f, s, (b, a) in zip(sizes, keffs, strides, pads)]
    if len({(st.substituted, st.note) for st in steps}) == 1:
        return steps[:1]
    return [replace(st, formula=f"[{axes[i]}] {st.formula}") for i, st in enumerate(steps)]


def size_steps(layer: Layer, rule: str, sizes, keffs, strides, pads, outs, ceil: bool = False,
               kernels=None, dilations=None, padding_mode: str | None = None) -> list[Step]:
    """Steps for O = floor((W - F + P_b + P_a) / S) + 1 per axis, with the note when
    the division is not exact (Dumoulin and Visin 2016, relationship 6; dilated
    F = d(k - 1) + 1, relationship 15); for ``padding: same``, TensorFlow's derivation of
    the padding first (:func:`same_steps`)."""
    steps = []
    axes = "LHW" if len(sizes) == 1 else ("HW" if len(sizes) == 2 else "DHW")
    axes = axes[-len(sizes):]
    for i, (w, f, s, (b, a), o) in enumerate(zip(sizes, keffs, strides, pads, outs)):
        name = axes[i] if len(sizes) > 1 else "L"
        if dilations is not None and dilations[i] != 1:
            k, d = kernels[i], dilations[i]
            steps.append(Step.calc("output_shape", DILATED, f"{d}·({k} - 1) + 1",
                                   "dilated kernel extent"))
        pad = f"2·{b}" if a == b else f"{b} + {a}"
        span = w - f + b + a
        func = "ceil" if ceil else "floor"
        # the dilated extent is F_d, so that F keeps meaning the kernel size (params: F·F·C_in)
        F = "F_d" if dilations is not None and dilations[i] != 1 else "F"
        formula = f"{name}_out = {func}(({name} - {F} + 2P) / S) + 1" if a == b else \
            f"{name}_out = {func}(({name} - {F} + P_before + P_after) / S) + 1"
        note = unread_note(w, f, s, b, a)  # the words of `cnncalc solve output` (core/window.py)
        if span % s and ceil:
            note = (f"not exact: ({w} - {f} + {b + a}) = {span} is not divisible by {s}; "
                    f"the last window reaches {s - span % s} pixel(s) past the padded input")
        substituted = f"{func}(({w} - {f} + {pad}) / {s}) + 1"
        if ceil and calc(substituted) == o + 1:
            note += "; the last window would start in the right padding and is dropped (PyTorch's rule)"
            substituted += " - 1"
        steps.append(Step.calc("output_shape", formula + f"  [{rule}]", substituted, note))
    # the same numbers on every axis (square inputs and kernels): say it once
    if len(sizes) > 1 and len({(st.substituted, st.result, st.note) for st in steps
                               if st.formula.startswith(tuple(axes))}) == 1:
        first = next(st for st in steps if st.formula.startswith(tuple(axes)))
        same = " = ".join(f"{a}_out" for a in axes)
        steps = [st for st in steps if not st.formula.startswith(tuple(axes))]
        steps.append(Step("output_shape", first.formula.replace(f"{axes[0]}_out", same, 1)
                          .replace(f"(({axes[0]} ", "((W ", 1), first.substituted, first.result,
                          first.note))
        steps = [st for st in steps if st.formula == DILATED][:1] + \
            [st for st in steps if st.formula != DILATED]
    if padding_mode == "same":
        at = sum(st.formula == DILATED for st in steps)
        steps[at:at] = same_steps(sizes, keffs, strides, pads, axes)
    return steps


@dataclass(frozen=True)
class Window:
    """One spatial axis of the window a layer slides (convolution, pooling), as applied.

    ``size`` input units, ``kernel`` taps ``dilation`` apart (extent :attr:`keff`),
    ``stride``, the padding actually applied (``pad_before``, ``pad_after``: for a
    transposed convolution the pixels cropped from its full output), ``out`` output
    units. ``padding_mode`` is the mode the spec asked for (``same``, ``full``) or None
    for explicit pixels. ``transposed``: the window slides over the output (transposed
    convolution), ``output_padding`` then adds units after it.
    """

    size: int
    kernel: int
    dilation: int
    stride: int
    pad_before: int
    pad_after: int
    out: int
    ceil_mode: bool = False
    transposed: bool = False
    output_padding: int = 0
    padding_mode: str | None = None

    @property
    def keff(self) -> int:
        """Dilated extent d(k - 1) + 1 (Dumoulin and Visin 2016, relationship 15)."""
        return effective_kernel(self.kernel, self.dilation)


@dataclass(frozen=True)
class Saved:
    """A tensor a layer keeps for its backward pass, as PyTorch's autograd saves it.

    ``what``: ``input0``, ``input1``, ... (the tensor that input is: stored once however
    many layers save it), ``output`` (its own output), or the name of a tensor of its own
    (``indices``, ``mean``). ``dtype``: None for the activations' dtype, else a fixed one
    (``int64`` indices, ``bool`` masks). ``for_weight``: needed only to compute its
    parameters' gradients (a frozen layer does not keep it).
    """

    what: str
    shape: Shape
    dtype: str | None = None
    for_weight: bool = False
    per_sample: bool = True  # False: one tensor for the whole batch (batch norm's statistics)


SAVED_DTYPE_BYTES = {"int64": 8, "bool": 1, "float32": 4}


# the counters' families of attention (TorchOp.category): the Q, K, V and output
# projections, and the products Q·K^T and A·V of the core
ATTENTION_PROJECTIONS = "attention (projections)"
ATTENTION_PRODUCTS = "attention (Q·K^T, A·V)"


# the family of a layer of which cnncalc knows no PyTorch form: its MACs are cnncalc's,
# and every counter's difference there is what it misses (docs/conventions.md)
NO_TORCH_FORM = "no PyTorch form"


@dataclass(frozen=True)
class TorchOp:
    """One operation PyTorch runs for a layer, as the FLOP counters see it (per sample).

    The FLOP counters of the field (fvcore, ptflops, thop, torchinfo, calflops, DeepSpeed,
    PyTorch's FlopCounterMode) hook modules, patch functionals or trace ATen ops; each
    table in ``cnncalc/analysis/conventions.py`` counts from these records.

    ``op``: the ATen operator's name (``convolution``, also transposed; ``linear``, ``batch_norm``,
    ``max_pool2d``, ``relu``, ``add``, ``cat``, ``upsample_bilinear2d``...). ``module``:
    the ``torch.nn`` class whose ``forward`` runs it (``Conv2d``, ``ReLU``), or ``""`` when
    the parent's forward calls it directly. ``call``: the Python call that reaches it
    (``F.relu``, ``torch.cat``, ``x + y``, ``x += y``, ``x * y``), which decides what a
    counter that patches functionals sees. Element counts are per sample: ``in_elems`` of
    the first input, ``out_elems`` of the output; ``macs``: multiply-accumulates as cnncalc
    counts them (a transposed convolution on its input grid); ``out_grid_macs``: the weight's
    elements times the output positions (a transposed convolution on its output grid, the
    figure thop and torchinfo print); ``weight``/``bias``: elements of the module's weight
    and bias (0 without); ``affine``: a normalization's weight and bias exist; ``window``:
    an adaptive pooling's input size over its output size per axis, multiplied (thop's
    kernel), or a softmax's vector length; ``size``: the
    product of an interpolation's ``size`` argument when the call passes one (0: a scale
    factor), which calflops counts in place of the elements; ``groups``: a convolution's
    groups; ``conv_grid``: for a transposed convolution, the positions a (forward)
    convolution with its kernel, stride, padding and dilation would produce from its
    input, floor((L + 2p - d(k - 1) - 1) / s) + 1 per axis (calflops 0.3.2 counts its bias
    on that grid); ``category``: the operation family a
    difference is broken down by (``convolution``, ``transposed convolution``, ``linear
    (matmul)``, ``batch norm``, ``normalization``, ``pooling``, ``activation``,
    ``elementwise``, ``upsampling``, ``data movement``, ``attention (projections)``,
    ``attention (Q·K^T, A·V)``); ``known``: False
    for a layer type of which cnncalc knows no PyTorch form (every counter then says so).

    Attention: ``op`` empty is a module's own record, no ATen op (nn.MultiheadAttention,
    whose forward calls F.linear and F.scaled_dot_product_attention, each an op of its
    own); ``tokens``: the queries Lq (and keys: self-attention), ``heads`` the heads;
    ``dispatched``: the ATen op the CPU dispatcher runs when it is not ``op`` itself, as
    the counters that see dispatched ops (ptflops' aten backend, FlopCounterMode) see it,
    where fvcore's JIT trace sees ``op`` (F.scaled_dot_product_attention runs the fused
    ``_scaled_dot_product_flash_attention_for_cpu`` on inputs of unit stride on the last
    axis, else ``_scaled_dot_product_attention_math``: two bmm).
    """

    op: str
    module: str
    call: str
    in_elems: int
    out_elems: int
    macs: int = 0
    out_grid_macs: int = 0
    weight: int = 0
    bias: int = 0
    affine: bool = False
    window: Fraction = Fraction(0)
    size: int = 0
    groups: int = 1
    conv_grid: int = 0
    category: str = ""
    known: bool = True
    tokens: int = 0
    heads: int = 0
    dispatched: str = ""

    @property
    def bias_adds(self) -> int:
        """Additions of a filter bias: one per output element when there is a bias."""
        return self.out_elems if self.bias else 0


@dataclass(frozen=True)
class Facts:
    """Everything one layer does to its input shapes, computed once (:meth:`Layer.facts`).

    Per sample: ``out_shape`` (channels first), ``macs`` and ``flops``
    (docs/conventions.md), of which ``bias_flops`` are the additions of the filter
    biases. ``params``/``buffers``: tensor name -> shape in PyTorch's names and
    layouts; ``bias``: the names of the params that are filter biases (a course that
    does not count biases drops these, never a normalization's shift). ``windows``:
    one :class:`Window` per spatial axis where the layer slides a window, else None.
    ``maps``/``input_maps``: receptive-field unit maps (cnncalc.core.rf). The flags are the
    layer's declared capabilities, read by lint and verify instead of its type name.
    """

    type: str
    family: str
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    params: dict[str, Shape]
    buffers: dict[str, Shape]
    bias: tuple[str, ...]
    macs: int
    flops: int
    bias_flops: int
    windows: tuple[Window, ...] | None
    maps: tuple[UnitMap | None, ...] | None
    input_maps: tuple[tuple[UnitMap, ...], ...] | None
    data_dependent_field: bool
    mixes_axes: bool
    last_axis_only: bool
    context_mixing: bool = False  # attention: data-dependent mixing of every position
    saved: tuple[Saved, ...] = ()
    aliases_input: bool = False  # the output is its input's storage (a view, or in place)
    # in a training-mode forward (dropout and stochastic depth write a new output there)
    train_aliases_input: bool = False
    # buffers of a fixed dtype whatever the report's (a relative position index: int64)
    buffer_dtypes: dict[str, str] = field(default_factory=dict)
    layer: Layer = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    @property
    def geometry(self) -> list[tuple[int, int]] | None:
        """(k_eff, stride) per axis of a (non-transposed) window, for the lectures'
        recurrence r = r_in + (k_eff - 1) j_in, j = j_in s; None without one."""
        if not self.windows or self.windows[0].transposed:
            return None
        return [(w.keff, w.stride) for w in self.windows]

    @property
    def pads(self) -> list[tuple[int, int]] | None:
        """(before, after) padding per axis of its window, or None without one."""
        return None if not self.windows else [(w.pad_before, w.pad_after) for w in self.windows]

    @property
    def param_count(self) -> int:
        return sum(numel(s) for s in self.params.values())

    @property
    def buffer_count(self) -> int:
        return sum(numel(s) for s in self.buffers.values())

    def buffer_bytes(self, width: int) -> int:
        """Bytes of the buffers: ``width`` per element, a fixed-dtype buffer (``buffer_dtypes``)
        at its own (int64: 8)."""
        return sum(numel(s) * (SAVED_DTYPE_BYTES[self.buffer_dtypes[k]] if k in self.buffer_dtypes else width)
                   for k, s in self.buffers.items())

    @property
    def bias_count(self) -> int:
        return sum(numel(self.params[k]) for k in self.bias)

    @cached_property
    def aten_ops(self) -> tuple[TorchOp, ...]:
        """What PyTorch runs for this layer, as the FLOP counters see it
        (:class:`TorchOp`; the layer's :meth:`~cnncalc.layers.base.Layer.aten_ops`)."""
        return tuple(self.layer.aten_ops())

    def aten_ops_as(self, form: str) -> tuple[TorchOp, ...]:
        """:attr:`aten_ops` when the upstream forward writes the layer in ``form`` (a spec's
        ``torch:`` key: ``functional``, ``LayerNorm2d``...; ``""`` its module)."""
        return self.aten_ops if not form else tuple(self.layer.aten_ops(form))

    @cached_property
    def steps(self) -> tuple[Step, ...]:
        """The lecture formulas behind the figures, with the numbers put in (explain)."""
        return tuple(self.layer.explain())
