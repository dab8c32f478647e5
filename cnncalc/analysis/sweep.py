"""``cnncalc sweep``: the same network at many input sizes, one row each: parameters, MACs,
inference peak, training footprint, the receptive field's coverage of the input and
whether every window tiles exactly. A size the network refuses is a row saying why.

Input patterns (``--input``): a shape whose tokens may be ranges ``{START..STOP..STEP}``
(STOP included when the steps reach it; STEP 1 when left out), ``3x{224..512..32}``; with
one spatial token for a network of several spatial axes the token is every axis's (as
``cnncalc sizes`` does). All range tokens advance together, so they must have as many
values. ``--sizes 224,256`` is the same as ``CHANNELSx{224,256}`` with the spec's channels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from cnncalc.analysis.analyze import analyze, exact_number
from cnncalc.analysis.fields import last_field
from cnncalc.analysis.memory import DEFAULT_POLICY
from cnncalc.analysis.tiling import exact_tiling
from cnncalc.core.errors import SpecError
from cnncalc.io.load import loads, read_spec

MAX_SIZES = 1000
_RANGE = re.compile(r"\{\s*(\d+)\s*\.\.\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?\}")


def _usage(message: str, help: str) -> SpecError:
    return SpecError(message, kind="usage", help=help)


def parse_range(token: str, option: str = "--input") -> range | None:
    """The sizes of one range token ``{START..STOP..STEP}`` (STOP included when the steps
    reach it; STEP 1 when left out): ``{224..512..32}`` is 224, 256, ..., 512. None: the
    token is not written with braces. Shared by ``sweep --input`` and ``sizes --range``;
    ``option`` names the option in the message.

    Raises:
        SpecError: an empty or descending range, a STEP or START below 1 (kind ``usage``).
    """
    m = _RANGE.fullmatch(token.strip())
    if m is None:
        return None
    start, stop, step = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
    if step < 1 or start < 1 or stop < start:
        raise _usage(f"{option}: the range '{token.strip()}' is empty or not ascending",
                     "write {START..STOP..STEP} with 1 <= START <= STOP and STEP >= 1")
    return range(start, stop + 1, step)


def expand(pattern: str, ndim: int) -> list[tuple[int, ...]]:
    """The input shapes (channels first, no batch) a ``--input`` pattern names, for a network
    of ``ndim`` spatial axes.

    Raises:
        SpecError: not a pattern (kind ``usage``): a bad token, an empty or too long range,
            ranges of different lengths, or a shape of the wrong rank.
    """
    help = "e.g. --input 3x{224..512..32} (224, 256, ..., 512 on every spatial axis)"
    tokens = [t.strip() for t in re.split(r"x(?![^{]*\})", pattern.strip().lower())]
    values: list[list[int] | int] = []
    for token in tokens:
        sizes = parse_range(token)
        if sizes is not None:
            values.append(list(sizes))
        elif token.isdigit() and int(token) > 0:
            values.append(int(token))
        else:
            raise _usage(f"--input '{pattern}': '{token}' is neither a size nor a range", help)
    if len(values) == 2 and ndim > 1:  # one spatial token: every spatial axis
        values = [values[0]] + [values[1]] * ndim
    if len(values) != ndim + 1:
        raise _usage(f"--input '{pattern}' has {len(values) - 1} spatial axes; the network has {ndim}",
                     help)
    lengths = {len(v) for v in values if isinstance(v, list)}
    if len(lengths) > 1:
        raise _usage(f"--input '{pattern}': its ranges have different lengths ({sorted(lengths)})",
                     "ranges advance together: give them as many values, or one range")
    count = lengths.pop() if lengths else 1
    if count > MAX_SIZES:
        raise _usage(f"--input '{pattern}' names {count:,} sizes, more than {MAX_SIZES:,}",
                     "a larger STEP or a shorter range")
    return [tuple(v[i] if isinstance(v, list) else v for v in values) for i in range(count)]


def parse_sizes(text: str, channels: int, ndim: int) -> list[tuple[int, ...]]:
    """The shapes of ``--sizes 224,256`` (each size on every spatial axis).

    Raises:
        SpecError: a size that is not a positive integer (kind ``usage``).
    """
    sizes = []
    for token in text.split(","):
        token = token.strip()
        if not token.isdigit() or int(token) < 1:
            raise _usage(f"--sizes: '{token}' is not a size", "e.g. --sizes 224,256,288")
        sizes.append((channels, *(int(token),) * ndim))
    if len(sizes) > MAX_SIZES:
        raise _usage(f"--sizes names more than {MAX_SIZES:,} sizes", "give fewer")
    return sizes


@dataclass(frozen=True)
class SweepRow:
    """One input shape. ``error``: why the network refuses it (then every figure is None).
    ``coverage``: per axis, the receptive-field size of ``rf_layer`` (the last layer that has a
    spatial field, cnncalc.analysis.fields; its local field behind a broadcast gate) over the
    input size (None when none has); ``tiles``: every window tiles exactly,
    with ``problems`` naming the layers that do not."""

    shape: tuple[int, ...]
    error: str | None = None
    params: int | None = None
    macs: int | None = None
    inference_peak_bytes: int | None = None
    training_bytes: int | None = None
    output_shapes: tuple[tuple[int, ...], ...] = ()
    rf_layer: str | None = None
    rf_local: bool = False
    rf_size: tuple[int, ...] | None = None
    coverage: tuple[Fraction, ...] | None = None
    tiles: bool | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"input_shape": list(self.shape), "error": self.error, "params": self.params,
                "macs": self.macs, "inference_peak_bytes": self.inference_peak_bytes,
                "training_bytes": self.training_bytes,
                "output_shapes": [list(s) for s in self.output_shapes],
                "rf_layer": self.rf_layer, "rf_local": self.rf_local,
                "rf_size": None if self.rf_size is None else list(self.rf_size),
                "coverage": None if self.coverage is None else [exact_number(c) for c in self.coverage],
                "tiles": self.tiles, "problems": list(self.problems)}


@dataclass(frozen=True)
class Sweep:
    """Every row of a sweep, with the settings its bytes are for."""

    name: str
    batch: int
    dtype: str
    optimizer: str
    rows: tuple[SweepRow, ...]
    policy: str = DEFAULT_POLICY

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "batch": self.batch, "dtype": self.dtype,
                "optimizer": self.optimizer, "memory_policy": self.policy,
                "rows": [r.to_dict() for r in self.rows]}


def sweep(path, shapes: list[tuple[int, ...]], batch: int | None = None, dtype: str = "float32",
          optimizer: str = "adam", policy: str = DEFAULT_POLICY) -> Sweep:
    """Analyse the spec at ``path`` at every shape of ``shapes``.

    The coverage is the receptive field of the last layer that has a spatial one (its size
    per axis over the input's size); the inference peak is the activations' (cnncalc.analysis.memory), the training
    footprint the whole step's with ``optimizer``; ``policy`` the inference peak's memory
    policy (eager or graph, cnncalc.analysis.memory).

    Raises:
        SpecError: a spec that cannot be read at its own input size.
    """
    text = read_spec(path)
    base = loads(text, str(path), batch=batch)  # a spec broken at its own size: exit 2
    rows = []
    for shape in shapes:
        try:
            net = loads(text, str(path), input_shape=shape, batch=batch)
            report = analyze(net, dtype=dtype, optimizer=optimizer, memory_policy=policy)
        except SpecError as exc:
            where = f"line {exc.loc.line}: " if getattr(exc, "loc", None) else ""
            rows.append(SweepRow(shape, error=where + exc.message))
            continue
        problems = tuple(exact_tiling(net, report))
        last = last_field(report)
        coverage = None if last is None else tuple(Fraction(s, n) for s, n in zip(last.size, shape[1:]))
        mem = report.totals.memory
        rows.append(SweepRow(
            shape, params=report.totals.params, macs=report.totals.macs,
            inference_peak_bytes=mem.inference_peak_bytes, training_bytes=mem.training.total_bytes,
            output_shapes=tuple(report.layer(o).output_shape for o in net.outputs),
            rf_layer=None if last is None else last.layer, rf_local=last is not None and last.local,
            rf_size=None if last is None else last.size, coverage=coverage,
            tiles=not problems, problems=problems))
    return Sweep(base.name, base.batch, dtype, optimizer, tuple(rows), policy)
