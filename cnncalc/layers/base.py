"""The layer base class, parameter kinds and the registry.

One class per layer type holds every fact about it (the one-place rule of
docs/design): its parameters and their validation, output shape, weight and
buffer shapes (the parameter count is derived from them, never restated), MACs
and FLOPs, and its receptive-field unit map. The loader, the analyzer and
``cnncalc layers`` all read :data:`REGISTRY`.

Shapes are per sample and channels-first: ``(C, *spatial)`` while the tensor
has spatial axes, ``(F,)`` after ``flatten``. Counts (MACs, FLOPs) returned by a
layer are per sample; the analyzer multiplies by the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Any, ClassVar

from ..errors import Loc, SpecError, suggestion
from ..rf import UnitMap
from ..yamlio import YMap

REQUIRED = object()
Shape = tuple[int, ...]


class _LazyModule:
    """Import a module on first use: the analyzer never needs NumPy, and its
    start-up time is part of the command's (benchmarks/bench_analyze.py)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import importlib

        module = importlib.import_module(self._name)
        self.__dict__.update(module.__dict__)
        return getattr(module, attr)


np = _LazyModule("numpy")
K = _LazyModule("cnncalc.kernels")


def fmt_shape(shape: Sequence[int]) -> str:
    """``[6, 28, 28]`` style, as written in specs."""
    return "[" + ", ".join(str(v) for v in shape) + "]"


def fmt_axes(values: Sequence[Any]) -> str:
    """``5x5`` style for per-axis values."""
    return "x".join(str(v) for v in values)


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string '{value}'"
    if value is None:
        return "nothing (null)"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"


# -- parameter kinds ----------------------------------------------------------


class Kind:
    """How one parameter's YAML value is checked and converted."""

    text = "a value"

    def parse(self, value: Any, ndim: int, loc: Loc, name: str) -> Any:  # pragma: no cover
        raise NotImplementedError

    def error(self, name: str, value: Any, loc: Loc, extra: str = "") -> SpecError:
        return SpecError(
            f"'{name}' must be {self.text}{extra}, got {describe(value)}", loc, kind="value"
        )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Int(Kind):
    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum
        self.text = "a whole number" + (f" >= {minimum}" if minimum is not None else "")

    def parse(self, value, ndim, loc, name):
        if not _whole(value) or (self.minimum is not None and value < self.minimum):
            raise self.error(name, value, loc)
        return value


class Ints(Kind):
    """Per-axis whole numbers: a scalar (same on every axis) or a list of length ndim."""

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum
        self.text = f"a whole number >= {minimum} or a list of one per spatial axis"

    def parse(self, value, ndim, loc, name):
        items = _per_axis(value, ndim, loc, name, self)
        for v in items:
            if not _whole(v) or v < self.minimum:
                raise self.error(name, value, loc)
        return tuple(items)


def _per_axis(value, ndim, loc, name, kind: Kind) -> list:
    if isinstance(value, list):
        if len(value) != ndim:
            raise SpecError(
                f"'{name}' has {len(value)} values but the network has {ndim} spatial "
                f"ax{'is' if ndim == 1 else 'es'}",
                loc,
                kind="value",
                help=f"give one value (same on every axis) or a list of {ndim}",
            )
        return list(value)
    return [value] * ndim


class Bool(Kind):
    text = "true or false"

    def parse(self, value, ndim, loc, name):
        if not isinstance(value, bool):
            raise self.error(name, value, loc)
        return value


class Number(Kind):
    def __init__(self, minimum: float | None = None, maximum: float | None = None,
                 open_min: bool = False, open_max: bool = False) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.open_min, self.open_max = open_min, open_max
        parts = []
        if minimum is not None:
            parts.append(f"{'>' if open_min else '>='} {minimum}")
        if maximum is not None:
            parts.append(f"{'<' if open_max else '<='} {maximum}")
        self.text = "a number" + (" " + " and ".join(parts) if parts else "")

    def parse(self, value, ndim, loc, name):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise self.error(name, value, loc)
        lo, hi = self.minimum, self.maximum
        if lo is not None and (value < lo or (self.open_min and value == lo)):
            raise self.error(name, value, loc)
        if hi is not None and (value > hi or (self.open_max and value == hi)):
            raise self.error(name, value, loc)
        return value


class Choice(Kind):
    def __init__(self, *options: str) -> None:
        self.options = options
        self.text = "one of " + ", ".join(options)

    def parse(self, value, ndim, loc, name):
        if value not in self.options:
            raise SpecError(
                f"'{name}' must be one of {', '.join(self.options)}, got {describe(value)}",
                loc,
                kind="value",
                help=suggestion(str(value), self.options, f"values of '{name}'"),
            )
        return value


@dataclass(frozen=True)
class PadSpec:
    """A parsed ``padding``: explicit (before, after) pairs per axis, or a mode."""

    pairs: tuple[tuple[int, int], ...] | None = None
    mode: str | None = None  # "same" or "full"

    def describe(self) -> str:
        if self.mode:
            return self.mode
        if all(b == a for b, a in self.pairs):
            values = [b for b, _ in self.pairs]
            return str(values[0]) if len(set(values)) == 1 else fmt_axes(values)
        return ", ".join(f"[{b}, {a}]" for b, a in self.pairs)


class Padding(Kind):
    """int | per-axis list | per-axis [before, after] pairs | valid | same | full."""

    def __init__(self, modes: Sequence[str] = ("valid", "same", "full")) -> None:
        self.modes = tuple(modes)
        self.text = (
            "a whole number >= 0, a list of one per axis, a list of [before, after] pairs"
            + (", or one of " + ", ".join(self.modes) if self.modes else "")
        )

    def parse(self, value, ndim, loc, name):
        if isinstance(value, str):
            if value not in self.modes:
                raise SpecError(
                    f"'{name}' must be {self.text}, got {describe(value)}",
                    loc,
                    kind="value",
                    help=suggestion(value, self.modes, f"modes of '{name}'") if self.modes
                    else "give the padding in pixels",
                )
            if value == "valid":
                return PadSpec(pairs=((0, 0),) * ndim)
            return PadSpec(mode=value)
        pairs = []
        for item in _per_axis(value, ndim, loc, name, self):
            if _whole(item) and item >= 0:
                pairs.append((item, item))
            elif (
                isinstance(item, list) and len(item) == 2
                and all(_whole(v) and v >= 0 for v in item)
            ):
                pairs.append((item[0], item[1]))
            else:
                raise self.error(name, value, loc)
        return PadSpec(pairs=tuple(pairs))


class Scale(Kind):
    """Per-axis positive scale factors, kept as exact fractions."""

    text = "a positive number or a list of one per spatial axis"

    def parse(self, value, ndim, loc, name):
        out = []
        for v in _per_axis(value, ndim, loc, name, self):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 \
                    or v != v or v == float("inf"):
                raise self.error(name, value, loc)
            out.append(Fraction(str(v)) if isinstance(v, float) else Fraction(v))
        return tuple(out)


class OutputSize(Kind):
    """Per-axis output sizes; None on an axis keeps the input size (PyTorch)."""

    text = "a whole number >= 1 or a list of one per spatial axis (null keeps that axis)"

    def parse(self, value, ndim, loc, name):
        items = _per_axis(value, ndim, loc, name, self)
        for v in items:
            if v is not None and (not _whole(v) or v < 1):
                raise self.error(name, value, loc)
        return tuple(items)


class IntList(Kind):
    """A list of whole numbers (reshape's target shape; -1 at most once)."""

    text = "a list of whole numbers >= 1 (one may be -1)"

    def parse(self, value, ndim, loc, name):
        if not isinstance(value, list) or not value:
            raise self.error(name, value, loc)
        for v in value:
            if not _whole(v) or (v < 1 and v != -1):
                raise self.error(name, value, loc)
        if value.count(-1) > 1:
            raise self.error(name, value, loc, extra=" (-1 at most once)")
        return tuple(value)


class Names(Kind):
    """A layer name or a list of names (resolved by the graph builder)."""

    text = "a layer name or a list of layer names"

    def parse(self, value, ndim, loc, name):
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str) and v for v in items):
            raise self.error(name, value, loc)
        return tuple(items)


@dataclass(frozen=True)
class Param:
    """One parameter of a layer type: its PyTorch name, kind, default and meaning."""

    name: str
    kind: Kind
    default: Any = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


# -- the layer base class -----------------------------------------------------


class Layer:
    """Base class of every layer type.

    Subclasses set ``type_name``, ``family``, ``params`` and ``summary``, and
    implement :meth:`setup` (output shape from input shapes, storing what the
    other methods need), and where non-zero :meth:`param_shapes`,
    :meth:`buffer_shapes`, :meth:`macs`, :meth:`flops` and :meth:`unit_maps`.

    Raises:
        SpecError: from :meth:`setup`, for input shapes the layer cannot take
            (the analyzer adds the node's location).
    """

    type_name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    primary: ClassVar[str | None] = None  # the parameter a scalar shorthand sets
    spatial: ClassVar[bool] = False  # accepts the 1d/2d/3d aliases and needs spatial axes
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    ref_params: ClassVar[tuple[str, ...]] = ()  # Names parameters that add graph edges
    shape_rule: ClassVar[str] = "the input's shape"  # how the output shape follows, for explain
    # capabilities, read through Facts by lint and verify (never the type name)
    bias_names: ClassVar[tuple[str, ...]] = ()  # params that are filter biases
    data_dependent_field: ClassVar[bool] = False  # the receptive field depends on the data
    mixes_axes: ClassVar[bool] = False  # mixes positions across spatial axes (not separable)
    last_axis_only: ClassVar[bool] = False  # acts on the last axis of its input only
    # memory (docs/conventions.md, "Memory"): what the backward pass keeps, PyTorch's way.
    # Tokens: "input" (input 0, for the input's gradient), "input:weight" (input 0, only
    # for the parameters' gradients), "inputs" (every input), "output", "indices" (int64,
    # output-shaped), "mask" (bool, output-shaped).
    saves: ClassVar[tuple[str, ...]] = ()
    view: ClassVar[bool] = False  # the output is a view of the input (no new storage)

    def __init__(self, ndim: int, values: dict[str, Any], loc: Loc | None = None,
                 param_locs: dict[str, Loc] | None = None) -> None:
        self.ndim = ndim
        self.p = values
        self.loc = loc
        self.param_locs = param_locs or {}
        self.in_shapes: list[Shape] = []
        self.out_shape: Shape = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type_name:
            REGISTRY[cls.type_name] = cls

    # -- construction ---------------------------------------------------------

    @classmethod
    def parse_params(cls, raw: Any, ndim: int, loc: Loc, raw_locs: dict[str, Loc],
                     type_loc: Loc) -> tuple[dict[str, Any], dict[str, Loc]]:
        """Check a YAML parameter mapping against ``params``; fill in defaults.

        Raises:
            SpecError: unknown or missing keys, wrong value types.
        """
        known = {p.name: p for p in cls.params}
        if raw is None:
            raw = {}
        elif not isinstance(raw, dict):
            if cls.primary is None:
                raise SpecError(
                    f"'{cls.type_name}' takes no shorthand value, got {describe(raw)}",
                    loc,
                    kind="value",
                    help=f"write its parameters as a mapping: {cls.type_name}: {{...}}"
                    if cls.params else f"write it bare: - {cls.type_name}",
                )
            raw_locs = {cls.primary: loc}
            raw = {cls.primary: raw}
        values: dict[str, Any] = {}
        locs: dict[str, Loc] = {}
        for key, value in raw.items():
            key_loc = raw_locs.get(key, loc)
            if key not in known:
                hint = suggestion(str(key), known, f"parameters of {cls.type_name}") if known \
                    else f"{cls.type_name} takes no parameters"
                raise SpecError(
                    f"unknown parameter '{key}' for {cls.type_name}", key_loc,
                    kind="spec", help=hint,
                )
            value_loc = raw.val_loc(key) if isinstance(raw, YMap) else key_loc
            values[key] = known[key].kind.parse(value, ndim, value_loc, key)
            locs[key] = value_loc
        for p in cls.params:
            if p.name not in values:
                if p.required:
                    raise SpecError(
                        f"{cls.type_name} needs '{p.name}'", type_loc, kind="spec",
                        help=f"add {p.name}: ... ({p.doc})" if p.doc else None,
                    )
                values[p.name] = None if p.default is None else p.kind.parse(
                    p.default, ndim, type_loc, p.name)
        return values, locs

    # -- analysis (override) --------------------------------------------------

    def setup(self, in_shapes: list[Shape], ref_shapes: Sequence[Shape] = ()) -> Shape:
        """Check the input shapes, store derived geometry, return the output shape."""
        raise NotImplementedError  # pragma: no cover

    def param_shapes(self) -> dict[str, Shape]:
        """Learnable tensors in PyTorch's names and layouts (after setup)."""
        return {}

    def buffer_shapes(self) -> dict[str, Shape]:
        """Non-learnable state (batch-norm running statistics)."""
        return {}

    def macs(self) -> int:
        """Multiply-accumulates per sample (convolution-like and linear layers)."""
        return 0

    flops_formula: ClassVar[str] = ""  # how flops_term() counts, as explain writes it

    def flops_term(self) -> Term | None:
        """The FLOPs per sample as a :class:`Term` (a number with its arithmetic), for a type
        that writes them so: :meth:`flops` and explain's FLOPs step both come from it."""
        return None

    def flops(self) -> int:
        """Floating-point operations per sample, per docs/conventions.md."""
        term = self.flops_term()
        return 0 if term is None else term.value

    def flops_step(self) -> Step:
        """Explain's FLOPs step: the Term with its formula, else the figure and its rule's place."""
        term = self.flops_term()
        if term is None:
            return Step("flops", f"{self.type_name}: per docs/conventions.md", "", f"{self.flops():,}")
        return Step.of("flops", self.flops_formula, term)

    # -- execution (cnncalc/execute.py) ------------------------------------------

    def forward(self, xs: list, w: dict, ctx) -> Any:
        """Output (N, *out_shape) from the inputs (N, *in_shape) and the tensors
        of :meth:`param_shapes` / :meth:`buffer_shapes` in ``w`` (after setup)."""
        raise NotImplementedError(f"{self.type_name} has no forward pass")  # pragma: no cover

    def backward(self, xs: list, w: dict, out: Any, g: Any, ctx) -> tuple[list, dict]:
        """Gradients (one per input, one per learnable tensor) from dLoss/dOutput ``g``."""
        raise NotImplementedError(f"{self.type_name} has no backward pass")  # pragma: no cover

    def explain(self) -> list[Step]:
        """The lecture formulas behind this layer's figures, with the numbers put in.

        Default: the shape rule of the type, the tensors behind the parameter count,
        and the FLOPs (whose per-type rule docs/conventions.md tabulates).
        """
        steps = [Step("output_shape", self.shape_rule, "", fmt_shape(self.out_shape))]
        shapes = self.param_shapes()
        if shapes:
            steps.append(Step.calc("params", " + ".join(f"{k} {fmt_shape(v)}" for k, v in shapes.items()),
                                   " + ".join("·".join(map(str, v)) for v in shapes.values())))
        steps.append(self.flops_step())
        return steps

    def backward_workspace(self) -> int:
        """Elements per sample of the temporaries the executor's backward pass holds at
        once, beyond the gradients it returns (cnncalc.memory.executor_estimate)."""
        return self.workspace()

    def workspace(self) -> int:
        """Elements per sample of the largest temporary the forward pass allocates."""
        return numel(self.out_shape)

    def unit_maps(self) -> list[UnitMap | None] | None:
        """Per spatial axis of the output, how its units draw on the data input.

        None: the output has no spatial axes (flatten, reshape). An entry None:
        every input position reaches every unit along that axis (global pooling,
        linear on that axis). Default: elementwise (identity on every axis).
        """
        return default_maps(self.out_shape, self.ndim)

    def facts(self) -> Facts:
        """The immutable record of this layer's figures (after :meth:`setup`)."""
        params = dict(self.param_shapes())
        maps = self.unit_maps()
        before = self.input_maps()
        return Facts(
            type=self.type_name, family=self.family, in_shapes=tuple(self.in_shapes),
            out_shape=tuple(self.out_shape), params=params, buffers=dict(self.buffer_shapes()),
            bias=tuple(k for k in self.bias_names if k in params), macs=self.macs(),
            flops=self.flops(), bias_flops=self.bias_flops(), windows=self.windows(),
            maps=None if maps is None else tuple(maps),
            input_maps=None if before is None else tuple(tuple(m) for m in before),
            data_dependent_field=self.data_dependent_field, mixes_axes=self.mixes_axes,
            last_axis_only=self.last_axis_only, saved=tuple(self.saved_for_backward()),
            aliases_input=self.view or bool(self.p.get("inplace")), layer=self,
        )

    def saved_for_backward(self) -> list[Saved]:
        """The tensors its backward pass keeps (from :attr:`saves`; override for others)."""
        out = []
        for token in self.saves:
            if token in ("input", "input:weight"):
                out.append(Saved("input0", self.in_shapes[0], for_weight=token == "input:weight"))
            elif token == "inputs":
                out += [Saved(f"input{i}", s) for i, s in enumerate(self.in_shapes)]
            elif token == "output":
                out.append(Saved("output", self.out_shape))
            elif token == "indices":
                out.append(Saved("indices", self.out_shape, "int64"))
            elif token == "mask":
                out.append(Saved("mask", self.out_shape, "bool"))
            else:  # pragma: no cover - a declaration error in a layer class
                raise AssertionError(f"unknown saved-tensor token {token!r}")
        return out

    def bias_flops(self) -> int:
        """Of :meth:`flops`, the additions of the filter biases: one per output element."""
        params = self.param_shapes()
        return numel(self.out_shape) if any(k in params for k in self.bias_names) else 0

    def probe_values(self, axis: int, values: dict[str, Any]) -> dict[str, Any]:
        """The parameters of this layer's one-axis, one-channel copy that ``verify`` probes
        along ``axis`` (per-axis values already restricted to that axis)."""
        return values

    def windows(self) -> tuple[Window, ...] | None:
        """The window slid along each spatial axis, or None (no sliding window)."""
        return None

    def input_maps(self) -> list[list[UnitMap]] | None:
        """Per input, per spatial axis, a unit map applied to that input's field before
        the inputs are joined (a broadcast operand: :data:`cnncalc.rf.BROADCAST`).
        None: every input is taken as it is (the default)."""
        return None

    # -- helpers ----------------------------------------------------------------

    @property
    def in_shape(self) -> Shape:
        return self.in_shapes[0]

    def fail(self, message: str, help: str | None = None, param: str | None = None,
             kind: str = "shape") -> SpecError:
        """A SpecError at the parameter's location if known, else the node's."""
        loc = self.param_locs.get(param) if param else None
        return SpecError(message, loc, help=help, kind=kind)

    def need_spatial(self) -> Shape:
        """The spatial sizes of the input; error if the input has no spatial axes."""
        shape = self.in_shape
        if len(shape) != self.ndim + 1:
            raise self.fail(
                f"{self.type_name} needs a [C, {', '.join('DHW'[3 - self.ndim:])}] input, "
                f"got {fmt_shape(shape)}",
                help="it cannot follow flatten, linear or reshape; move it before them",
            )
        return shape[1:]

    def check_in_channels(self, key: str = "in_channels") -> int:
        channels = self.in_shape[0]
        given = self.p.get(key)
        if given is not None and given != channels:
            raise self.fail(
                f"{key} is {given} but the input has {channels} channels",
                help=f"remove {key} (it is inferred) or fix the layer before", param=key,
            )
        return channels


def default_maps(shape: Shape, ndim: int) -> list[UnitMap | None] | None:
    from ..rf import IDENTITY

    if len(shape) != ndim + 1:
        return None
    return [IDENTITY] * ndim


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
        """A step whose result is computed from ``substituted`` (cnncalc.expr.arithmetic)."""
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
    from ..expr import arithmetic

    value = arithmetic(text)
    return value.numerator if value.denominator == 1 else value


def fmt_number(value: int | Fraction) -> str:
    """``117,600``; a fraction as ``p/q``."""
    value = Fraction(value)
    if value.denominator == 1:
        return f"{value.numerator:,}"
    return f"{value.numerator}/{value.denominator}"


DILATED = "F_d = d(k - 1) + 1"  # the dilated kernel extent, in explain


def size_steps(layer: Layer, rule: str, sizes, keffs, strides, pads, outs, ceil: bool = False,
               kernels=None, dilations=None) -> list[Step]:
    """Steps for O = floor((W - F + P_b + P_a) / S) + 1 per axis, with the note when
    the division is not exact (Dumoulin and Visin 2016, relationship 6; dilated
    F = d(k - 1) + 1, relationship 15)."""
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
        note = ""
        if span % s:
            dropped = span % s
            note = (f"not exact: ({w} - {f} + {b + a}) = {span} is not divisible by {s}; "
                    + (f"the last window reaches {s - dropped} pixel(s) past the padded input"
                       if ceil else f"the last {dropped} pixel(s) of the padded input are never read"))
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


SAVED_DTYPE_BYTES = {"int64": 8, "bool": 1, "float32": 4}


@dataclass(frozen=True)
class Facts:
    """Everything one layer does to its input shapes, computed once (:meth:`Layer.facts`).

    Per sample: ``out_shape`` (channels first), ``macs`` and ``flops``
    (docs/conventions.md), of which ``bias_flops`` are the additions of the filter
    biases. ``params``/``buffers``: tensor name -> shape in PyTorch's names and
    layouts; ``bias``: the names of the params that are filter biases (a course that
    does not count biases drops these, never a normalization's shift). ``windows``:
    one :class:`Window` per spatial axis where the layer slides a window, else None.
    ``maps``/``input_maps``: receptive-field unit maps (cnncalc.rf). The flags are the
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
    saved: tuple[Saved, ...] = ()
    aliases_input: bool = False  # the output is its input's storage (a view, or in place)
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

    @property
    def bias_count(self) -> int:
        return sum(numel(self.params[k]) for k in self.bias)

    @cached_property
    def steps(self) -> tuple[Step, ...]:
        """The lecture formulas behind the figures, with the numbers put in (explain)."""
        return tuple(self.layer.explain())


REGISTRY: dict[str, type[Layer]] = {}


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


# -- window geometry shared by convolution and pooling ------------------------


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
