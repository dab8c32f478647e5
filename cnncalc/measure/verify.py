"""``cnncalc verify``: run the network and hold every reported figure against a measurement.

Every figure of the report is measured without the analyzer's formulas
(docs/executor.md, "What verify measures"):

- output shape: the shape of the array the forward pass produced; each layer's
  forward pass derives its output size from its input arrays and its window
  mechanics (every stride-th window of the sliding view), never from the analysis;
- parameters and buffers: the elements of the tensors each layer asked the
  executor for, by the shapes it derived from its input arrays (buffers: the
  tensors it asked for as buffers, such as running statistics);
- MACs: the multiply-accumulates of the contractions the forward pass ran
  (kernels.Context.mm), times the batch;
- activation bytes: the elements of the output array per sample, times the batch
  and the report's bytes per element;
- receptive fields, per spatial axis: from the support of output units' gradients
  on a *probe*, the network restricted to that axis with one channel per
  convolution, positive weights and inputs, max pooling routing the gradient to
  every tap of its window, and the geometry the network resolved (its padding,
  adaptive windows and crops as at the network's own size). The supports are
  measured layer by layer, linearly in depth: each layer's local support by its
  own backward pass (output units seeded in coded rows, decoded exactly), composed
  forward as bit sets over the probe input. For every layer 16 (where they show
  no period up to 5: 64) consecutive units around the centre of the output are
  probed; the units whose support reaches the border of no tensor are *interior*
  (not clipped). From those: the period P and shift M of the supports (the
  smallest P for which unit o + P sees the support of unit o shifted by M), so
  the effective stride M / P; the centre of unit 0 from an interior unit of the
  same phase, shifted back by the measured periodicity; the size, the largest
  support over the phases. A field reported as global ("every input position
  reaches every unit") is confirmed when the probed units' supports cover the
  whole probe input at two probe sizes, through a layer that reads every
  position of a tensor at once. Probe lengths are chosen without the report
  (the network's, then what the measured local supports suggest, else 4x), and a
  length fits when the executor runs it.

A figure the method cannot measure by design (a documented refusal: a layer
that mixes positions across axes, a probe above the memory limit, ...;
docs/executor.md "Not measured") is reported as "not measured" with the reason
(counted in the summary); it is neither a pass nor a failure. A probe that
raises is a failure: its figures are "failed" ("could not measure rf_size[0]:
ValueError: ...") and the verification is not ok.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from cnncalc.analysis.analyze import DTYPE_BYTES, Report, analyze, exact_number
from cnncalc.core.errors import SpecError
from cnncalc.core.figures import VERIFIED_LABELS
from cnncalc.core.graph import INPUT, Network, Node
from cnncalc.core.kernels import Context
from cnncalc.measure.execute import (
    DEFAULT_MAX_MEMORY,
    forward,
    guard_memory,
    index_weights,
    layer_backward,
)

PROBE_UNITS = 16  # units probed per layer; a period is measured from two runs of it among them
WIDE_UNITS = 64  # probed again with as many where 16 interior units show no period up to 5
ATTEMPTS = 8  # probe lengths tried per axis (growing 4x: up to 4**7 times the network's)
GROWTH = 4  # the next probe length, times the last, when the local supports suggest none
MAX_GROWTH = 64  # the longest next length the local supports may suggest, times the last
FIT_TRIES = 64  # consecutive probe lengths tried for one at which the executor runs the probe
DENSE_UNITS = 48  # a layer with at most this many output units is seeded one unit a row
CHUNK_ELEMENTS = 1 << 21  # elements of one batch of seeded rows (the widest tensor of the layer)
GLOBAL = "global"

OK, MISMATCH, NOT_MEASURED, FAILED = "ok", "mismatch", "not measured", "failed"
# The documented refusals (docs/executor.md, "Not measured"): a figure is "not measured"
# only with a reason that contains one of these; anything else that stops a measurement
# is a failure
REFUSALS = {
    "mixes_axes": "mixes positions across axes (no per-axis probe)",
    "memory": "more than the limit of",
    "no_period": "show no period up to",
    "not_interior": "have supports clear of the borders",
    "one_size": "measured at one probe size only",
}
LABELS = VERIFIED_LABELS  # the figures verify measures and their labels (cnncalc.core.figures)


@dataclass
class Figure:
    """One reported figure of one layer: as analysed, as measured, and the verdict.

    ``name``: output_shape, params, buffers, macs, activation_bytes, rf_size,
    rf_stride or rf_center; ``axis``: the spatial axis of a receptive-field figure
    (0 = the first spatial axis). ``analysed``/``measured``: ints, shape tuples,
    Fractions, None (a unit that sees no input), or ``"global"``. ``status``: ok,
    mismatch, not measured (a documented refusal; ``reason`` says which) or failed
    (the measurement raised; ``reason`` names the figure and the error).
    """

    name: str
    analysed: Any
    measured: Any = None
    status: str = OK
    reason: str = ""
    axis: int | None = None

    @property
    def label(self) -> str:
        """``params``, ``rf_size[0]``: how the figure is named in rows and JSON."""
        return self.name if self.axis is None else f"{self.name}[{self.axis}]"

    def to_dict(self) -> dict[str, Any]:
        return {"figure": self.name, "axis": self.axis, "analysed": _json(self.analysed),
                "measured": _json(self.measured), "status": self.status,
                **({"reason": self.reason} if self.reason else {})}


def _json(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Fraction):
        return exact_number(value)
    return value


def _compare(name: str, analysed: Any, measured: Any, axis: int | None = None) -> Figure:
    return Figure(name, analysed, measured, OK if analysed == measured else MISMATCH, axis=axis)


@dataclass
class Row:
    """One layer: each reported figure as analysed and as measured."""

    name: str
    type: str
    figures: list[Figure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No figure disagrees and none failed to be measured (figures not measured,
        the documented refusals, do not count against it)."""
        return not self.mismatched and not self.failed

    @property
    def mismatched(self) -> list[Figure]:
        return [f for f in self.figures if f.status == MISMATCH]

    @property
    def failed(self) -> list[Figure]:
        """Figures whose measurement raised (each reason names the figure and the error)."""
        return [f for f in self.figures if f.status == FAILED]

    @property
    def not_measured(self) -> list[Figure]:
        return [f for f in self.figures if f.status == NOT_MEASURED]

    def figure(self, label: str) -> Figure:
        """The figure by its label (``macs``, ``rf_size[1]``); KeyError if the layer has none."""
        for f in self.figures:
            if f.label == label:
                return f
        raise KeyError(label)

    def _pair(self, label: str) -> tuple[Any, Any]:
        f = self.figure(label)
        return f.analysed, f.measured

    @property
    def shape(self) -> tuple:
        return self._pair("output_shape")

    @property
    def params(self) -> tuple[int, int]:
        return self._pair("params")

    @property
    def buffers(self) -> tuple[int, int]:
        return self._pair("buffers")

    @property
    def macs(self) -> tuple[int, int]:
        return self._pair("macs")

    @property
    def activation_bytes(self) -> tuple[int, int]:
        return self._pair("activation_bytes")

    @property
    def rf(self) -> list[tuple[Any, Any] | None]:
        """Per spatial axis (analysed, measured) RF size; None where not measured or absent."""
        sizes = {f.axis: f for f in self.figures if f.name == "rf_size"}
        return [None if a not in sizes or sizes[a].status in (NOT_MEASURED, FAILED)
                else (sizes[a].analysed, sizes[a].measured) for a in range(max(sizes, default=-1) + 1)]

    @property
    def rf_ok(self) -> bool:
        return not any(f.name.startswith(("rf_", "local_rf_")) for f in self.mismatched)

    @property
    def note(self) -> str:
        """What disagrees, what failed to be measured, or what was not measured and why."""
        if self.mismatched or self.failed:
            parts = [f"{f.label}: analysed {value_text(f.analysed)}, measured {value_text(f.measured)}"
                     for f in self.mismatched]
            reasons = dict.fromkeys(f.reason for f in self.mismatched if f.reason)
            failed = list(dict.fromkeys(f.reason for f in self.failed))
            return "; ".join(parts + failed[:1]) + "".join(f" ({r})" for r in reasons) + (
                f" (and {len(failed) - 1} more failed)" if len(failed) > 1 else "")
        reasons: dict[str, list[str]] = {}
        for f in self.not_measured:
            reasons.setdefault(f.reason, []).append(f.label)
        return "; ".join(f"{', '.join(labels)} not measured: {reason}" for reason, labels in reasons.items())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "ok": self.ok,
                "figures": [f.to_dict() for f in self.figures]}


def value_text(value: Any) -> str:
    """A figure's value as the table and the notes show it: ``3x9x9``, ``17/4``,
    ``1,234``, ``none`` (a unit that sees no input), ``global``."""
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return "none" if value is None else str(value)


@dataclass
class Verification:
    """The result of :func:`verify`: one Row per layer, and the probe sizes used per axis."""

    rows: list[Row]
    probe_sizes: list[list[int]]

    @property
    def ok(self) -> bool:
        """Every figure agrees or is a documented refusal; none disagrees or failed."""
        return all(r.ok for r in self.rows)

    def counts(self) -> dict[str, int]:
        """Figures per status over every layer: ok, mismatch, not measured, failed."""
        out = {OK: 0, MISMATCH: 0, NOT_MEASURED: 0, FAILED: 0}
        for row in self.rows:
            for f in row.figures:
                out[f.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts()
        return {"ok": self.ok, "layers": len(self.rows),
                "mismatched_layers": sum(not r.ok for r in self.rows),
                "figures": {"ok": counts[OK], "mismatched": counts[MISMATCH],
                            "not_measured": counts[NOT_MEASURED], "failed": counts[FAILED]},
                "probe_sizes": self.probe_sizes, "rows": [r.to_dict() for r in self.rows]}


# -- the forward pass: shapes, tensors, MACs, activations ------------------------------


@dataclass(frozen=True)
class ArrayShapes:
    """The per-sample shapes (channels first) of the arrays one node read and wrote in
    the executor's forward pass at the network's own size: what a layer's probe hooks
    (``probe_values``, ``probe_layer``) resolve their geometry from, never the analysis."""

    inputs: tuple[tuple[int, ...], ...]
    refs: tuple[tuple[int, ...], ...]
    output: tuple[int, ...]


def array_shapes(net: Network, run) -> dict[str, ArrayShapes]:
    """Per node, the shapes of the arrays a forward pass (``run``, an Execution that kept
    every output) gave it and made."""
    return {node.name: ArrayShapes(tuple(run.values[i].shape[1:] for i in node.inputs),
                                   tuple(run.values[r].shape[1:] for r in node.refs),
                                   run.values[node.name].shape[1:]) for node in net.nodes}


FORWARD_FIGURES = ("output_shape", "params", "buffers", "macs", "activation_bytes")


def _forward_failed(net: Network, report: Report, where: str, exc: Exception
                    ) -> tuple[list[Row], dict[str, ArrayShapes] | None]:
    """Every figure of every layer failed: the forward pass raised at node ``where``
    (nothing downstream of it, and no receptive field, can be measured)."""
    error = f"the forward pass raised at '{where}': {type(exc).__name__}: {exc}"
    rows = []
    for node, row in zip(net.nodes, report.layers):
        analysed = {"output_shape": tuple(row.output_shape), "params": row.params,
                    "buffers": row.buffers, "macs": row.macs, "activation_bytes": row.activation_bytes}
        rows.append(Row(node.name, node.type, [
            Figure(n, analysed[n], None, FAILED, f"could not measure {n}: {error}")
            for n in FORWARD_FIGURES]))
    return rows, None


def _measure_forward(net: Network, report: Report, seed: int, max_memory: int | None,
                     progress=None) -> tuple[list[Row], dict[str, ArrayShapes] | None]:
    """The forward-pass figures of every layer, measured, and the shapes of the arrays
    each node read and wrote; a pass that raises fails every figure (shapes None)."""
    guard_memory(net, 1, 4, "all", max_memory)  # before the input is allocated
    x = np.random.default_rng(seed).standard_normal((1, *net.input_shape)).astype(np.float32)
    at = [INPUT]

    def before(node: Node, xs: list, refs: list) -> None:
        at[0] = node.name

    try:
        run = forward(net, x, None, seed, keep="all", max_memory=max_memory, progress=progress,
                      before=before)
    except SpecError:
        raise  # a refusal the user can act on (the memory limit): exit 2 with its help
    except Exception as exc:  # noqa: BLE001 - a measurement that raises fails its figures
        return _forward_failed(net, report, at[0], exc)
    width = DTYPE_BYTES[report.dtype]
    shapes = array_shapes(net, run)
    rows = []
    for node, row in zip(net.nodes, report.layers):
        out = run.values[node.name]
        per_sample = out.size // out.shape[0]
        rows.append(Row(node.name, node.type, [
            _compare("output_shape", tuple(row.output_shape), tuple(out.shape[1:])),
            _compare("params", row.params, run.params_read[node.name]),
            _compare("buffers", row.buffers, run.buffers_read[node.name]),
            _compare("macs", row.macs, run.macs[node.name] * report.batch),
            _compare("activation_bytes", row.activation_bytes, per_sample * report.batch * width),
        ]))
    return rows, shapes


# -- receptive-field probes ----------------------------------------------------------


def _axis_values(layer, axis: int, shapes: ArrayShapes) -> dict:
    """The parameters of the layer's one-axis, one-channel probe copy
    (:meth:`cnncalc.layers.base.Layer.probe_params`), size-dependent geometry resolved
    from the executor's arrays' ``shapes``."""
    return layer.probe_params(axis, shapes)


def probe_network(net: Network, axis: int, nodes: list[Node], length: int,
                  count: int, shapes: dict[str, ArrayShapes]) -> Network:
    """A 1-D, one-channel copy of ``nodes`` (closed under inputs) along ``axis``, its
    size-dependent geometry taken from the executor's arrays (``shapes``)."""
    copies = []
    for node in nodes:
        layer = node.layer.probe_layer(1, _axis_values(node.layer, axis, shapes[node.name]),
                                       node.loc, node.inputs, shapes[node.name])
        copies.append(replace(node, layer=layer, facts=None, field=None))  # nothing analysed
    read = {name for m in copies for name in m.inputs + m.refs}  # one pass: linear in depth
    outputs = [n.name for n in copies if n.name not in read]
    return Network(f"{net.name} (probe, axis {axis})", (1, length), count, copies,
                   outputs, net.file)


def held_inputs(node: Node, shapes: ArrayShapes) -> list[int]:
    """The inputs of a merge that the local field holds constant, from the arrays of the
    executor's run at the network's size (not the analysis): an input whose every spatial
    size is 1 while the output has more than one position (a broadcast gate), provided
    some input is not such (docs/receptive-field.md, "The local receptive field")."""
    if len(shapes.inputs) < 2 or len(shapes.output) < 2 or math.prod(shapes.output[1:]) <= 1:
        return []
    rank = len(shapes.output)
    held = [k for k, shape in enumerate(shapes.inputs)  # NumPy aligns shapes on the right
            if math.prod(((1,) * (rank - len(shape)) + tuple(shape))[1:]) == 1]
    return held if len(held) < len(shapes.inputs) else []


def held_attention(net: Network) -> dict[str, list[int]]:
    """Per merge, the inputs the local field holds because they come through an attention
    layer while another input does not (docs/receptive-field.md, "Attention"), from the
    layer classes' declared capability (``context_mixing``) and the graph, not from the
    analysis: a node's branch carries the attention layers on its way until a merge with
    a path free of them holds it."""
    mixing: dict[str, bool] = {INPUT: False}
    held: dict[str, list[int]] = {}
    for node in net.nodes:
        through = [k for k, name in enumerate(node.inputs) if mixing[name]]
        if len(through) == len(node.inputs):
            through = []
        held[node.name] = through
        mixing[node.name] = type(node.layer).context_mixing or any(
            mixing[name] for k, name in enumerate(node.inputs) if k not in through)
    return held


def _held(node: Node, shapes: ArrayShapes, attention: dict[str, list[int]]) -> list[int]:
    """The inputs of a node the local field holds: broadcast gates (:func:`held_inputs`) and
    attention branches (:func:`held_attention`)."""
    return sorted(set(held_inputs(node, shapes)) | set(attention.get(node.name, ())))


def _separable(net: Network) -> tuple[list[Node], dict[str, str]]:
    """Nodes that a per-axis probe can hold (spatial, and nothing above them mixes
    positions across axes), and for the others why not."""
    origin: dict[str, str] = {}  # blocked node -> the layer that mixes the axes
    keep = []
    for node in net.nodes:
        upstream = next((origin[i] for i in node.inputs + node.refs if i in origin), None)
        if node.layer.mixes_axes:  # the type's declared capability
            origin[node.name] = node.name
        elif upstream is not None:
            origin[node.name] = upstream
        else:
            keep.append(node)
    return keep, {name: "the layer mixes positions across axes (no per-axis probe)" if name == first
                  else f"'{first}' above it mixes positions across axes (no per-axis probe)"
                  for name, first in origin.items()}


@dataclass
class _Units:
    """The measured supports of the probed units of one layer at one probe size."""

    length: int  # the probe's input length
    out_len: int
    units: dict[int, tuple[int, int] | None]  # interior units -> (first, last) input position
    covers: bool  # every probed unit sees every position that reaches the layer's inputs
    count: int = PROBE_UNITS  # units probed


def _periodic(units: dict[int, tuple[int, int] | None], max_period: int) -> tuple[int, int] | None:
    """The smallest period P (with its shift M) such that every measured unit o + P sees
    the support of unit o shifted by M, with every phase seen in at least two such pairs.

    Two pairs a phase, not one: 16 units of a field of period 9 (two stride-3 transposed
    convolutions: units 19..26 see pixel 2, 27..34 pixel 3) pair up as a false period 8,
    each phase once; three runs of a period are needed to tell it from a longer one."""
    for period in range(1, max_period + 1):
        shifts, phases, fits = set(), {}, True
        for o, here in units.items():
            if o + period not in units:
                continue
            there = units[o + period]
            if (here is None) != (there is None):
                fits = False
                break
            phases[o % period] = phases.get(o % period, 0) + 1
            if here is not None:
                shifts.add((there[0] - here[0], there[1] - here[1]))
        if not fits or len(phases) < period or min(phases.values()) < 2:
            continue
        if len(shifts) == 1:
            low, high = shifts.pop()
            # a shift of 0 says only that no support moved within the probed units: a field
            # that never moves has no stride, so the true period is longer than the window
            # (two nearest x3 upsamplings then a stride-2 transposed convolution: 18 units
            # see one pixel, every other one nothing); wider probes pin it down
            if low == high != 0:
                return period, low
        elif not shifts:
            return period, 0
    return None


def _field_figures(units: _Units, out_len: int) -> dict[str, Any] | None:
    """size, stride and centre of unit 0 from measured supports, or None if the
    interior units do not pin a period down."""
    if len(units.units) < units.count:
        return None  # a period is only pinned down by a full run of interior units
    found = _periodic(units.units, units.count // 3)
    if found is None:
        return None
    period, shift = found
    size, centre, have_zero = 0, None, False
    for o, here in sorted(units.units.items()):
        if here is not None and o % period < max(min(period, out_len), 1):
            size = max(size, here[1] - here[0] + 1)
        if o % period == 0 and not have_zero:
            have_zero = True
            if here is not None:
                centre = Fraction(here[0] + here[1], 2) - shift * (o // period)
    return {"rf_size": size, "rf_stride": Fraction(shift, period), "rf_center": centre}


class _NoFit(Exception):
    """A probe length at which the executor cannot run the probe (a layer that cannot
    take the array it is given, or an empty output)."""


def _run_probe(probe: Network, x: np.ndarray, seed: int):
    """Run a probe on ``x`` (1, 1, L), float64, positive weights and support-propagating
    backward passes. Whether the probe fits at this length is the executor's own
    answer (a window that does not fit its padded input raises, an empty array is
    refused): no analysis and no shape inference decides the sizes.

    Raises:
        _NoFit: a layer cannot take its input at this length, or an output is empty.
    """
    def before(node: Node, xs: list[np.ndarray], refs: list[np.ndarray]) -> None:
        if any(a.size == 0 for a in xs):
            raise _NoFit(f"'{node.name}' receives an empty array")

    try:
        run = forward(probe, x, None, seed, dtype=np.float64, max_memory=None, checked=True,
                      probe=True, before=before)
    except (SpecError, ValueError) as exc:  # a window longer than its padded input, ...
        raise _NoFit(f"{type(exc).__name__}: {getattr(exc, 'message', exc)}") from None
    empty = next((n.name for n in probe.nodes if run.values[n.name].size == 0), None)
    if empty is not None:
        raise _NoFit(f"'{empty}' has an empty output")
    return run


def _fitting_run(net: Network, axis: int, nodes: list[Node], start: int, seed: int,
                 shapes: dict[str, ArrayShapes]):
    """The first probe length from ``start`` on at which the executor runs the axis
    probe, with the probe and its run (one sample, input U(1, 2)).

    Raises:
        ProbeError: no length of FIT_TRIES consecutive ones runs (with the last error).
    """
    last = ""
    for length in range(start, start + FIT_TRIES):
        probe = probe_network(net, axis, nodes, length, 1, shapes)
        x = np.random.default_rng(seed).uniform(1.0, 2.0, (1, 1, length))
        try:
            return probe, _run_probe(probe, x, seed)
        except _NoFit as exc:
            last = str(exc)
    raise ProbeError(f"the executor runs the axis-{axis} probe at no length from {start} to "
                     f"{start + FIT_TRIES - 1} (at {start + FIT_TRIES - 1}: {last})")


def _families(n: int) -> list[np.ndarray]:
    """Group codes of ``n`` seeded units: per family, the row of each unit. Unit u sits in
    row u mod B, in block u // B and in shifted block (u + B/2) // B (B ~ sqrt(2n)):
    about 2 sqrt(2n) rows in all, instead of one per unit."""
    b = max(2, math.isqrt(2 * n))
    u = np.arange(n)
    return [u % b, u // b, (u + b // 2) // b]


def _observe(node: Node, run, which: np.ndarray, units: np.ndarray, count: int, rng,
             tensors: dict) -> list[np.ndarray]:
    """Seed the node's output units ``units`` in rows ``which`` (one U(1, 2) gradient each;
    ``count`` rows) and run the node's own backward pass, the run's arrays repeated one
    sample a row. Returns per input the support seen: (count, input units) bool."""
    out = run.values[node.name]
    n = out[0].size
    xs = [run.values[i] for i in node.inputs]
    seen = [np.zeros((count, x[0].size), dtype=bool) for x in xs]
    widest = max([n, *(x[0].size for x in xs)])
    chunk = max(1, CHUNK_ELEMENTS // widest)
    values = rng.uniform(1.0, 2.0, units.size)
    for lo in range(0, count, chunk):
        reps = min(chunk, count - lo)
        g = np.zeros((reps, n))
        here = (which >= lo) & (which < lo + reps)
        g[which[here] - lo, units[here]] = values[here]
        gxs, _ = layer_backward(node, run, [np.repeat(x, reps, axis=0) for x in xs],
                                np.repeat(out, reps, axis=0), g.reshape(reps, *out.shape[1:]),
                                Context(probe=True), tensors)
        for s, gx in zip(seen, gxs):
            s[lo:lo + reps] = np.asarray(gx).reshape(reps, -1) != 0
    return seen


def _local_support(node: Node, run, rng, tensors: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """Which input units each output unit of the node reads, measured by the node's own
    backward pass: per input, (output units, input units) index pairs, sorted by output
    unit. Units are flat (channel, position) indices of one sample.

    Each output unit is seeded in one row of each of three families (:func:`_families`);
    an input unit q seen in the rows of family f holding units R_f(q) has as candidate
    readers the units in a seen row of every family. The true readers are candidates,
    and they hold every seen row; a candidate alone in a seen row of some family is
    therefore a true reader. Where every candidate of q is alone so, the candidates are
    exactly its readers; the others' candidates are seeded one per row (exact).
    """
    n = run.values[node.name][0].size
    if n <= DENSE_UNITS:
        seen = _observe(node, run, np.arange(n), np.arange(n), n, rng, tensors)
        return [tuple(np.nonzero(s)) for s in seen]
    families = _families(n)
    b = int(families[0].max()) + 1  # the residue modulus, and the block length
    offsets = [0]
    for fam in families:  # every row of a family holds a unit
        offsets.append(offsets[-1] + int(fam.max()) + 1)
    which = np.concatenate([off + fam for off, fam in zip(offsets, families)])
    seen = _observe(node, run, which, np.tile(np.arange(n), len(families)), offsets[-1], rng, tensors)
    decoded = []
    unsure_units: set[int] = set()
    for s in seen:  # per input: the candidate readers of each seen input unit, sparse
        m = s.shape[1]
        blocks, qs = np.nonzero(s[offsets[1]:offsets[2]])  # seen (block, input unit) pairs
        us = (blocks[:, None] * b + np.arange(b)[None, :]).ravel()  # every unit of the block
        qs = np.repeat(qs, b)
        keep = us < n
        us, qs = us[keep], qs[keep]
        keep = s[offsets[0] + families[0][us], qs] & s[offsets[2] + families[2][us], qs]
        us, qs = us[keep], qs[keep]  # candidates: in a seen row of every family
        sure = np.zeros(us.size, dtype=bool)
        for fam in families:
            key = fam[us] * m + qs
            sure |= np.bincount(key, minlength=(int(fam.max()) + 1) * m)[key] == 1
        unsure = np.zeros(m, dtype=bool)
        unsure[qs[~sure]] = True  # input units whose readers are not pinned down
        unsure_units.update(np.unique(us[unsure[qs]]).tolist())
        decoded.append((us, qs, unsure))
    single = {}
    if unsure_units:
        units = np.array(sorted(unsure_units))
        single = {"units": units, "seen": _observe(node, run, np.arange(units.size), units,
                                                   units.size, rng, tensors)}
    relations = []
    for i, (us, qs, unsure) in enumerate(decoded):
        keep = ~unsure[qs]
        us, qs = us[keep], qs[keep]
        if unsure.any():  # their candidates, each seeded alone: exact
            extra_u, extra_q = np.nonzero(single["seen"][i][:, unsure])
            us = np.concatenate([us, single["units"][extra_u]])
            qs = np.concatenate([qs, np.flatnonzero(unsure)[extra_q]])
        order = np.lexsort((qs, us))
        relations.append((us[order], qs[order]))
    return relations


@dataclass
class _Supports:
    """Per flat unit (channel, position) of one tensor of a probe run: the probe-input
    positions that reach it (packed bits), and whether its gradient, on the way back
    to the input, reaches the first or last position of some tensor (then its support
    may be clipped by a border), and whether a layer on its way reads every position
    of a tensor of two or more positions at once (global pooling: the only way a
    field grows with the input instead of being bounded)."""

    bits: np.ndarray | None  # (units, ceil(L / 8)) uint8, np.packbits' order; None: the input
    touches: np.ndarray  # (units,) bool
    positions: int  # positions along the probed axis (units = channels * positions)
    whole: np.ndarray | None = None  # (units,) bool


def _compose(relations: list[tuple[np.ndarray, np.ndarray]], inputs: list[_Supports],
             n: int, width: int) -> _Supports:
    """A node's supports from its inputs' and its measured local support: unit u sees
    the union of what the input units it reads see, and touches a border where one of
    them does or is itself the first or last position of its tensor."""
    bits = np.zeros((n, width), dtype=np.uint8)
    touches = np.zeros(n, dtype=bool)
    whole = np.zeros(n, dtype=bool)
    for (us, qs), src in zip(relations, inputs):
        if us.size == 0:
            continue
        starts = np.flatnonzero(np.r_[True, us[1:] != us[:-1]])
        owners = us[starts]
        if src.bits is None:  # the probe input: position q sees itself
            np.bitwise_or.at(bits, (us, qs // 8), (0x80 >> (qs % 8)).astype(np.uint8))
        else:
            bits[owners] |= np.bitwise_or.reduceat(src.bits[qs], starts, axis=0)
        pos = qs % src.positions
        edge = src.touches[qs] | (pos == 0) | (pos == src.positions - 1)
        touches[owners] |= np.logical_or.reduceat(edge, starts)
        whole[owners] |= np.logical_or.reduceat(src.whole[qs], starts)
        if src.positions >= 2:  # units reading every position of this input
            pairs = np.unique(us * src.positions + pos)
            per_unit = np.bincount(pairs // src.positions, minlength=n)
            whole |= per_unit == src.positions
    return _Supports(bits, touches, 0, whole)


def _probed(count: int, positions: int) -> list[int]:
    """The ``count`` consecutive positions around the centre of an output (fewer if shorter)."""
    return sorted({min(max(positions // 2 - count // 2 + b, 0), positions - 1) for b in range(count)})


def _units_of(sup: _Supports, reach: Callable[[], np.ndarray], length: int, count: int) -> _Units:
    """The probed units of one tensor (every channel at a position), from its supports."""
    channels = sup.bits.shape[0] // sup.positions
    bits = sup.bits.reshape(channels, sup.positions, -1)
    touches = sup.touches.reshape(channels, sup.positions).any(axis=0)
    units = _probed(count, sup.positions)
    whole = sup.whole.reshape(channels, sup.positions).any(axis=0)
    support = np.unpackbits(np.bitwise_or.reduce(bits[:, units], axis=0), axis=1, count=length) != 0
    measured: dict[int, tuple[int, int] | None] = {}
    for b, o in enumerate(units):
        if touches[o]:
            continue  # its support may be clipped by a border: not interior
        where = np.flatnonzero(support[b])
        measured[o] = (int(where[0]), int(where[-1])) if where.size else None
    covers = False
    if all(v is None for v in measured.values()):  # no unit with a support clear of the borders
        # global: each probed unit sees every input position that reaches the layer's
        # inputs at all (a stride that drops the last pixels drops them for every unit).
        # A unit that reads padding alone (a padded layer after global pooling) sees no
        # input position in a gradient; under the unbounded convention it reads the field
        # beyond the border, which a measurement cannot show: it is not judged
        # A unit that covers a probe shorter than its finite field is told apart by what
        # the supports show: a global field passes a layer that reads every position of
        # a tensor at once (global pooling, a broadcast of its result); a finite one
        # does not, and is probed at longer lengths until its units are interior.
        everywhere = reach()
        seen = [b for b in range(len(units)) if support[b].any()]
        covers = bool(everywhere.any()) and bool(seen) and all(
            np.array_equal(support[b], everywhere) and whole[units[b]] for b in seen)
    return _Units(length, sup.positions, measured, covers, count)


def _probe_axis(net: Network, axis: int, seed: int, max_memory: int | None,
                shapes: dict[str, ArrayShapes], progress=None, count: int = PROBE_UNITS, only: set[str] | None = None,
                start: int | None = None, local: bool = False
                ) -> tuple[dict[str, list[_Units]], list[int], str]:
    """Measure every separable layer's probed units along one axis.

    Per probe length: one forward pass of the probe (one sample); per layer, its local
    support measured by its own backward pass (:func:`_local_support`), composed
    forward with its inputs' supports (:func:`_compose`): the cost grows linearly with
    the number of layers. Lengths, chosen without the report: the network's own input
    length first (or ``start``), then, while a layer lacks a measurement, the length its
    measured local supports suggest (:func:`_extent`), else GROWTH times longer; where
    only fields that cover their input wait, a smaller second length (global needs
    two). Returns, per layer, its measurements at each length tried; the lengths; and
    why probing stopped early ('' if not: a documented refusal, the memory limit).
    With ``local``, a merge's broadcast gates (:func:`held_inputs`) are held constant:
    their supports reach no unit of the merge (the local receptive field).
    """
    nodes, _ = _separable(net)
    if not nodes:
        return {}, [], ""
    first = net.input_shape[1 + axis]
    results: dict[str, list[_Units]] = {n.name: [] for n in nodes}
    done: set[str] = set() if only is None else {n.name for n in nodes} - only
    sizes: list[int] = []
    length = first if start is None else start
    for _ in range(ATTEMPTS):
        probe, run = _fitting_run(net, axis, nodes, length, seed, shapes)
        size = probe.input_shape[1]
        if size in sizes:
            length = 2 * size + 1
            continue
        need = _probe_bytes(probe, run, size)
        if max_memory is not None and need > max_memory:
            return results, sizes, (f"the axis-{axis} probe of length {size} needs about {need:,} "
                                    f"bytes, more than the limit of {max_memory:,}")
        sizes.append(size)
        attention = held_attention(net) if local else {}
        held = {n.name: _held(n, shapes[n.name], attention) for n in nodes} if local else {}
        wanted = _measure_lengths(probe, run, size, count, results, done, seed, progress, held)
        if len(done) == len(nodes):
            break
        if all(results[n.name][-1].covers for n in nodes if n.name not in done):
            # only global fields wait for their second size: a smaller one costs less
            length = next((L for L in (sizes[0] // 2, sizes[0] + 1) if L >= 2 and L not in sizes), 2 * size + 1)
            continue
        # the length the measured local supports suggest (a guess that only picks the
        # length: a wrong one costs another length), else GROWTH times longer
        length = wanted if size < wanted <= MAX_GROWTH * size else GROWTH * size
    return results, sizes, ""


def _probe_bytes(probe: Network, run, length: int) -> int:
    """Bytes the supports of one probe length hold at most: every tensor's units' packed
    bits at once, plus the largest single-layer measurement (a row per unit, the run's
    arrays repeated)."""
    width = -(-length // 8)
    units = [run.values[n.name][0].size for n in probe.nodes]
    widest = max([length, *units])
    return (sum(units) + length) * width + 3 * CHUNK_ELEMENTS * 8 + widest * widest // 4


def _extent(relations: list[tuple[np.ndarray, np.ndarray]], positions: int,
            sources: list[tuple[float, float, int]]) -> tuple[float, float]:
    """A guess at a node's field (extent, step between units) from its measured local
    support and its inputs' guesses (extent, step, positions): the widest window read
    (in input positions) widens the field by (window - 1) input steps; the mean advance
    of the first position read per unit scales the step. Only picks a probe length."""
    extent, step = 1.0, 0.0
    for (us, qs), (r, j, p_in) in zip(relations, sources):
        if us.size == 0:
            continue
        pu, pq = us % positions, qs % p_in
        order = np.argsort(pu, kind="stable")
        pu, pq = pu[order], pq[order]
        starts = np.flatnonzero(np.r_[True, pu[1:] != pu[:-1]])
        read = pu[starts]  # output positions that read something, ascending
        lo, hi = np.minimum.reduceat(pq, starts), np.maximum.reduceat(pq, starts)
        window = float((hi - lo).max() + 1)
        # the advance between the quartile units: clear of the borders, where padding clips
        a, b = read.size // 4, (3 * read.size) // 4
        advance = (lo[b] - lo[a]) / (read[b] - read[a]) if read[b] > read[a] else 1.0
        extent = max(extent, r + (window - 1) * j)
        step = max(step, j * max(float(advance), 0.0))
    return extent, step or 1.0


def _measure_lengths(probe: Network, run, length: int, count: int,
                     results: dict[str, list[_Units]], done: set[str], seed: int, progress,
                     held: dict[str, list[int]] | None = None) -> int:
    """One probe length: every node's supports, composed in order; the probed units of
    the nodes not done yet appended to ``results``. A tensor's supports are freed once
    its last reader has composed. Returns the length at which the local supports
    suggest the nodes not done (and not covering the probe) would have interior units."""
    rng = np.random.default_rng(seed)
    width = -(-length // 8)
    # the probe input's position p sees itself alone (its bits are implicit: _compose)
    supports = {INPUT: _Supports(None, np.zeros(length, dtype=bool), length,
                                 np.zeros(length, dtype=bool))}
    readers: dict[str, int] = {}
    for node in probe.nodes:
        for name in node.inputs:
            readers[name] = readers.get(name, 0) + 1
    tensors = index_weights(run.weights, {n.name for n in probe.nodes})
    guess = {INPUT: (1.0, 1.0, length)}
    wanted = 0
    for i, node in enumerate(probe.nodes):
        out = run.values[node.name]
        relations = _local_support(node, run, rng, tensors.get(node.name, {}))
        for k in (held or {}).get(node.name, ()):  # a gate held constant reaches no unit
            relations[k] = (relations[k][0][:0], relations[k][1][:0])
        extent, step = _extent(relations, out.shape[2], [guess[name] for name in node.inputs])
        guess[node.name] = (extent, step, out.shape[2])
        sup = _compose(relations, [supports[name] for name in node.inputs], out[0].size, width)
        sup.positions = out.shape[2]
        supports[node.name] = sup
        if node.name not in done:
            def reach(node=node) -> np.ndarray:
                """The probe-input positions that reach any unit of the node's inputs."""
                kept = [name for k, name in enumerate(node.inputs)
                        if k not in (held or {}).get(node.name, ())]
                if INPUT in kept:
                    return np.ones(length, dtype=bool)
                union = np.bitwise_or.reduce(
                    np.concatenate([supports[name].bits for name in kept]), axis=0)
                return np.unpackbits(union, count=length) != 0

            units = _units_of(sup, reach, length, count)
            results[node.name].append(units)
            # done: a field pinned down, a global one confirmed at two lengths, or a full
            # run of interior units without a period up to count/3 (longer lengths show
            # the same; verify probes it again with more units)
            interior = len(units.units) == units.count
            if interior or (len(results[node.name]) >= 2 and all(u.covers for u in results[node.name])):
                done.add(node.name)
            elif not units.covers:  # the old rule, on measured guesses: field + 2 (count + 2) steps
                wanted = max(wanted, math.ceil(extent + (count + 2) * 2 * max(step, 1.0)) + 2)
        for name in node.inputs:
            readers[name] -= 1
            if readers[name] == 0:
                supports.pop(name, None)
        if readers.get(node.name, 0) == 0:
            supports.pop(node.name, None)
        if progress is not None:
            progress(i + 1, len(probe.nodes), f"{node.name} (probe length {length})")
    return wanted


class ProbeError(Exception):
    """A receptive-field probe that could not run (no probe length fits): a failure."""


def _rf_figures(row, out_len: int, axis: int, found: list[_Units] | None, why: str,
                failure: str = "", prefix: str = "") -> list[Figure]:
    """The receptive-field figures of one layer on one axis, compared; ``failure``: the
    error of a probe that raised (every figure failed), ``why``: a documented refusal;
    ``prefix`` ``local_``: the local field's figures (``local_rf_size``...)."""
    figures = _rf_figures_of(row.local_receptive_field if prefix else row.receptive_field,
                             out_len, axis, found, why, failure)
    for f in figures:
        f.name = prefix + f.name
        f.reason = f.reason.replace("could not measure rf_", f"could not measure {prefix}rf_")
    return figures


def _rf_figures_of(rf, out_len: int, axis: int, found: list[_Units] | None, why: str,
                   failure: str) -> list[Figure]:
    """:func:`_rf_figures` for the field ``rf`` (the exact one or the local one)."""
    analysed = {"rf_size": GLOBAL, "rf_stride": None, "rf_center": None} if rf is None or \
        rf.size[axis] is None else {"rf_size": rf.size[axis], "rf_stride": rf.stride[axis],
                                    "rf_center": rf.center[axis]}
    names = ("rf_size",) if analysed["rf_size"] == GLOBAL else ("rf_size", "rf_stride", "rf_center")

    def missing(reason: str) -> list[Figure]:
        return [Figure(n, analysed[n], None, NOT_MEASURED, reason, axis) for n in names]

    if failure or (not found and not why):
        error = failure or "the probe did not reach this layer"
        return [Figure(n, analysed[n], None, FAILED, f"could not measure {n}[{axis}]: {error}", axis)
                for n in names]
    if not found:
        return missing(why)
    if len(found) >= 2 and all(u.covers for u in found):
        sizes = " and ".join(str(u.length) for u in found[:2])
        measured = {"rf_size": GLOBAL, "rf_stride": None, "rf_center": None}
        figures = [_compare(n, analysed[n], measured[n], axis) for n in names]
        for f in figures:
            f.reason = (f"every probed unit sees every position that reaches the layer's input, "
                        f"at probe lengths {sizes}")
        return figures
    for units in found:
        measured = _field_figures(units, out_len)
        if measured is not None:
            if analysed["rf_size"] == GLOBAL:
                f = _compare("rf_size", GLOBAL, measured["rf_size"], axis)
                f.reason = f"probed units see {measured['rf_size']} of {units.length} positions"
                return [f]
            return [_compare(n, analysed[n], measured[n], axis) for n in names]
    if analysed["rf_size"] == GLOBAL and len(found) < 2:
        return missing("measured at one probe size only")
    if analysed["rf_size"] == GLOBAL:
        f = Figure("rf_size", GLOBAL, "partial", MISMATCH, axis=axis,
                   reason="a probed unit misses positions that reach the layer's input")
        return [f]
    last = found[-1]
    if len(last.units) < last.count:
        reason = (f"at probe lengths {', '.join(str(u.length) for u in found)} fewer than "
                  f"{last.count} probed units have supports clear of the borders")
    else:
        reason = (f"the supports of {len(last.units)} interior units show no period up to "
                  f"{last.count // 3} (a field whose extent changes along the axis)")
    return missing(why or reason)


def _measure_axes(net: Network, shapes: dict[str, ArrayShapes], seed: int,
                  max_memory: int | None, phase, blocked: dict[str, str], local: bool
                  ) -> tuple[list[tuple[dict, str, str]], list[list[int]]]:
    """Every separable layer's probed units, per spatial axis: (results, why probing
    stopped, failure) per axis and the probe lengths used. ``local``: merges' broadcast
    gates held constant (the local receptive field)."""
    what = "local receptive fields" if local else "receptive fields"
    probe_sizes: list[list[int]] = []
    by_axis = []
    done: dict[tuple, tuple] = {}
    for axis in range(net.ndim):
        # an axis whose probe would be identical to an earlier one (square kernels and
        # inputs) has the same receptive fields: measure it once (the probe alone decides)
        signature = (net.input_shape[1 + axis],
                     *(repr(sorted(_axis_values(n.layer, axis, shapes[n.name]).items())) for n in net.nodes
                       if n.name not in blocked))
        if signature not in done:
            try:
                done[signature] = _probe_axis(net, axis, seed, max_memory, shapes,
                                              progress=phase(f"{what}, axis {axis}:"), local=local)
                results, sizes, _ = done[signature]
                # a period longer than 8 (four up-convolutions after four poolings): more units
                wide = {name for name, found in results.items() if found
                        and len(found[-1].units) == found[-1].count
                        and _field_figures(found[-1], found[-1].out_len) is None}
                if wide:
                    more, more_sizes, _ = _probe_axis(
                        net, axis, seed, max_memory, shapes, count=WIDE_UNITS, only=wide,
                        progress=phase(f"{what}, axis {axis} ({WIDE_UNITS} units):"),
                        start=max(results[name][-1].length for name in wide), local=local)
                    results.update({k: v for k, v in more.items() if k in wide})
                    sizes += [s for s in more_sizes if s not in sizes]
            except SpecError as exc:
                # the probe's own run refused (a limit) or could not be set up: a failure
                done[signature] = ({}, [], "", f"SpecError: {exc.message}")
            except ProbeError as exc:
                done[signature] = ({}, [], "", str(exc))
            except Exception as exc:  # noqa: BLE001 - a probe that raises fails its figures
                # never a traceback, never "ok": every figure of the axis failed, with the cause
                done[signature] = ({}, [], "", f"{type(exc).__name__}: {exc}")
            if len(done[signature]) == 3:
                done[signature] = (*done[signature], "")
        results, sizes, why, failure = done[signature]
        by_axis.append((results, why, failure))
        probe_sizes.append(sizes)
    return by_axis, probe_sizes


# the values of a deep net on random weights may overflow float32/64: every counted figure
# stays exact (shapes, tensors, MACs, supports), so NumPy's warnings would only alarm
@np.errstate(over="ignore", invalid="ignore")
def verify(net: Network, seed: int = 0, max_memory: int | None = DEFAULT_MAX_MEMORY,
           progress=None, report: Report | None = None) -> Verification:
    """Run the network and compare every figure of a report with a measurement.

    Args:
        net: from :func:`cnncalc.load`.
        seed: weights and inputs.
        max_memory: bytes; a forward pass estimated above it is refused.
        progress: called as progress(done, total, what) after each layer of each
            phase; ``what`` names the phase and the layer ("forward conv1",
            "receptive fields, axis 0: conv1").
        report: the report to check (default: ``analyze(net)``); its layers are
            the network's nodes, in order.

    Returns:
        Verification: per layer, output shape, params, buffers, MACs, activation
        bytes, and per spatial axis the receptive field's size, effective stride
        and centre of unit 0 (or "global"), each analysed / measured with a status
        (ok, mismatch, not measured with the documented reason, or failed with
        the error of the probe that raised).

    Raises:
        SpecError: the forward pass would exceed ``max_memory``.
    """
    report = report if report is not None else analyze(net)
    if [r.name for r in report.layers] != [n.name for n in net.nodes]:
        raise SpecError("the report is not of this network (its layers differ)", kind="usage")

    def phase(what: str):
        if progress is None:
            return None
        return lambda done, total, name: progress(done, total, f"{what} {name}")

    rows, shapes = _measure_forward(net, report, seed, max_memory, phase("forward"))
    if shapes is None:  # the forward pass raised: every figure failed, nothing to probe
        return Verification(rows, [])
    _, blocked = _separable(net)
    by_axis, probe_sizes = _measure_axes(net, shapes, seed, max_memory, phase, blocked, False)
    by_axis_local = by_axis  # no gate to hold: the local field is the field, measured once
    attention = held_attention(net)
    if any(_held(n, shapes[n.name], attention) for n in net.nodes if n.name not in blocked):
        by_axis_local, _ = _measure_axes(net, shapes, seed, max_memory, phase, blocked, True)
    for row, node, result in zip(rows, net.nodes, report.layers):
        measured = shapes[node.name].output  # the executor's array, not the report's shape
        if len(measured) != net.ndim + 1:
            continue  # no spatial axes: no receptive field
        for prefix, axes in (("", by_axis), ("local_", by_axis_local)):
            for axis in range(net.ndim):
                results, why, failure = axes[axis]
                out_len = shapes[node.name].output[1 + axis]
                if node.name in blocked:  # a documented refusal: no per-axis probe holds it
                    row.figures += _rf_figures(result, out_len, axis, None, blocked[node.name],
                                               prefix=prefix)
                else:
                    row.figures += _rf_figures(result, out_len, axis, results.get(node.name), why,
                                               failure, prefix)
    return Verification(rows, probe_sizes)
