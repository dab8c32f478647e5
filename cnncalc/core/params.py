"""Parameter kinds: how one YAML value of a layer's parameter is checked and converted.

Every layer type declares its parameters as :class:`Param` (PyTorch's name, a
:class:`Kind`, a default, a meaning); the loader parses a spec's values with them,
``cnncalc layers`` and the JSON Schema describe them. Per-axis values become tuples
of one value per spatial axis; ``padding`` becomes a :class:`PadSpec`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from cnncalc.core.errors import Loc, SpecError, suggestion
from cnncalc.core.yamlio import YMap  # noqa: F401 (the parsed mapping the kinds read)

REQUIRED = object()


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
    """A list of whole numbers: reshape's target shape (>= 1, -1 at most once); with
    ``shape=False`` any whole numbers (permute's dims, checked by the layer)."""

    def __init__(self, shape: bool = True) -> None:
        self.shape = shape
        self.text = "a list of whole numbers >= 1 (one may be -1)" if shape else "a list of whole numbers"

    def parse(self, value, ndim, loc, name):
        if not isinstance(value, list) or not value:
            raise self.error(name, value, loc)
        for v in value:
            if not _whole(v) or (self.shape and v < 1 and v != -1):
                raise self.error(name, value, loc)
        if self.shape and value.count(-1) > 1:
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
