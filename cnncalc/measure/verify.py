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
  adaptive windows and crops as at the network's own size). For every layer 16
  (where they show no period up to 5: 64) consecutive units around the centre of the output are seeded; the units whose
  gradient reaches the border of no tensor are *interior* (their support is not
  clipped). From those: the period P and shift M of the supports (the smallest P
  for which unit o + P sees the support of unit o shifted by M), so the effective
  stride M / P; the centre of unit 0 from an interior unit of the same phase,
  shifted back by the measured periodicity; the size, the largest support over
  the phases. A field reported as global ("every input position reaches every
  unit") is confirmed when the probed units' supports cover the whole probe
  input at two probe sizes.

A figure the method cannot measure by design (a documented refusal: a layer
that mixes positions across axes, a probe above the memory limit, ...;
docs/executor.md "Not measured") is reported as "not measured" with the reason
(counted in the summary); it is neither a pass nor a failure. A probe that
raises is a failure: its figures are "failed" ("could not measure rf_size[0]:
ValueError: ...") and the verification is not ok.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from cnncalc.analysis.analyze import DTYPE_BYTES, Report, analyze, exact_number
from cnncalc.core.errors import SpecError
from cnncalc.core.graph import INPUT, Network, Node
from cnncalc.core.shapes import infer_shapes
from cnncalc.layers.base import Ints, OutputSize, PadSpec, Scale
from cnncalc.measure.execute import DEFAULT_MAX_MEMORY, backward, forward, guard_memory

PROBE_UNITS = 16  # units probed per layer; a period is measured from two runs of it among them
WIDE_UNITS = 64  # probed again with as many where 16 interior units show no period up to 5
ATTEMPTS = 5  # probe sizes tried per axis
CHANNEL_PARAMS = {"out_channels": 1, "groups": 1, "num_parameters": 1, "num_groups": 1,
                  "depth_multiplier": 1, "offset_groups": 1,
                  "in_channels": None, "num_features": None, "in_features": None}
GLOBAL = "global"

OK, MISMATCH, NOT_MEASURED, FAILED = "ok", "mismatch", "not measured", "failed"
LABELS = {"output_shape": "output shape", "params": "params", "buffers": "buffers", "macs": "MACs",
          "activation_bytes": "activation bytes", "rf_size": "RF size", "rf_stride": "RF stride",
          "rf_center": "RF centre"}


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
        return not any(f.name.startswith("rf_") for f in self.mismatched)

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


def _measure_forward(net: Network, report: Report, seed: int, max_memory: int | None,
                     progress=None) -> list[Row]:
    guard_memory(net, 1, 4, "all", max_memory)  # before the input is allocated
    x = np.random.default_rng(seed).standard_normal((1, *net.input_shape)).astype(np.float32)
    run = forward(net, x, None, seed, keep="all", max_memory=max_memory, progress=progress)
    width = DTYPE_BYTES[report.dtype]
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
    return rows


# -- receptive-field probes ----------------------------------------------------------


def _axis_values(layer, axis: int) -> dict:
    """The layer's parameters restricted to one spatial axis, with one channel, and the
    geometry the network resolved (padding ``same`` as at the network's size)."""
    values = dict(layer.p)
    pads = getattr(layer, "pads", None)
    for p in layer.params:
        value = values.get(p.name)
        if p.name in CHANNEL_PARAMS:
            values[p.name] = CHANNEL_PARAMS[p.name]
        elif value is not None and isinstance(p.kind, (Ints, Scale, OutputSize)):
            values[p.name] = (value[axis],)
        elif isinstance(value, PadSpec):
            if value.pairs is not None:
                values[p.name] = PadSpec(pairs=(value.pairs[axis],))
            elif pads is not None:
                values[p.name] = PadSpec(pairs=(tuple(pads[axis]),))
    return layer.probe_values(axis, values)


def probe_network(net: Network, axis: int, nodes: list[Node], length: int,
                  count: int = PROBE_UNITS) -> Network:
    """A 1-D, one-channel copy of ``nodes`` (closed under inputs) along ``axis``."""
    copies = []
    for node in nodes:
        make = getattr(node.layer, "probe_layer", None) or type(node.layer)
        layer = make(1, _axis_values(node.layer, axis), node.layer.loc, node.layer.param_locs)
        layer.input_names = node.inputs
        copies.append(replace(node, layer=layer))
    outputs = [n.name for n in copies if not any(n.name in m.inputs + m.refs for m in copies)]
    return Network(f"{net.name} (probe, axis {axis})", (1, length), count, copies,
                   outputs, net.file)


def _separable(net: Network) -> tuple[list[Node], dict[str, str]]:
    """Nodes that a per-axis probe can hold (spatial, and nothing above them mixes
    positions across axes), and for the others why not."""
    origin: dict[str, str] = {}  # blocked node -> the layer that mixes the axes
    keep = []
    for node in net.nodes:
        upstream = next((origin[i] for i in node.inputs + node.refs if i in origin), None)
        if node.facts.mixes_axes:
            origin[node.name] = node.name
        elif upstream is not None:
            origin[node.name] = upstream
        else:
            keep.append(node)
    return keep, {name: "the layer mixes positions across axes (no per-axis probe)" if name == first
                  else f"'{first}' above it mixes positions across axes (no per-axis probe)"
                  for name, first in origin.items()}


def _valid_length(net: Network, axis: int, nodes: list[Node], start: int,
                  count: int = PROBE_UNITS) -> Network | None:
    for length in range(start, start + 1024):
        probe = probe_network(net, axis, nodes, length, count)
        try:
            infer_shapes(probe)
            return probe
        except SpecError:
            continue
    return None


@dataclass
class _Units:
    """The measured supports of the probed units of one layer at one probe size."""

    length: int  # the probe's input length
    out_len: int
    units: dict[int, tuple[int, int] | None]  # interior units -> (first, last) input position
    covers: bool  # every probed unit sees every position that reaches the layer's inputs
    count: int = PROBE_UNITS  # units probed


def _measure_units(probe: Network, run, node: Node, rng, count: int = PROBE_UNITS) -> _Units:
    out = run.values[node.name]
    n_units = out.shape[2]
    units = sorted({min(max(n_units // 2 - count // 2 + b, 0), n_units - 1) for b in range(count)})
    seed_grad = np.zeros_like(out)
    for b, o in enumerate(units):
        seed_grad[b, :, o] = rng.uniform(1.0, 2.0, out.shape[1])
    grads = backward(probe, run, {node.name: seed_grad}, probe=True, outputs=True)
    length = probe.input_shape[1]
    touches = np.zeros(count, dtype=bool)
    for name, g in grads.items():
        if "." in name or name == node.name:
            continue  # parameter gradients, and the seed itself
        reached = g.sum(axis=1) != 0  # (units, positions)
        touches |= reached[:, 0] | reached[:, -1]
    support = grads[INPUT].sum(axis=1) != 0
    measured: dict[int, tuple[int, int] | None] = {}
    for b, o in enumerate(units):
        where = np.nonzero(support[b])[0]
        if touches[b]:
            continue  # its support may be clipped by a border: not interior
        measured[o] = (int(where[0]), int(where[-1])) if where.size else None
    covers = False
    if all(v is None for v in measured.values()):  # no unit with a support clear of the borders
        # global: each probed unit sees every input position that reaches the layer's
        # inputs at all (a stride that drops the last pixels drops them for every unit)
        # A unit that reads padding alone (a padded layer after global pooling) sees no
        # input position in a gradient; under the unbounded convention it reads the field
        # beyond the border, which a measurement cannot show: it is not judged
        reach = _reach(probe, run, node)
        seen = [b for b in range(len(units)) if support[b].any()]
        covers = bool(reach.any()) and bool(seen) and all(np.array_equal(support[b], reach) for b in seen)
    return _Units(length, n_units, measured, covers, count)


def _reach(probe: Network, run, node: Node) -> np.ndarray:
    """The probe-input positions that reach any unit of the node's inputs."""
    if INPUT in node.inputs:
        return np.ones(probe.input_shape[1], dtype=bool)
    seeds = {name: np.ones_like(run.values[name]) for name in node.inputs}
    grads = backward(probe, run, seeds, probe=True)
    return grads[INPUT].sum(axis=(0, 1)) != 0


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
            if low == high:
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


def _probe_axis(net: Network, report: Report, axis: int, seed: int, max_memory: int | None,
                progress=None, count: int = PROBE_UNITS, only: set[str] | None = None,
                start: int | None = None) -> tuple[dict[str, list[_Units]], list[int], str]:
    """Measure every separable layer's probed units along one axis.

    Sizes: the network's own input length first; then a size at which the report
    expects the probed units to be interior (it only picks the size); then
    doubling, while a layer lacks a measurement; where only fields that cover their
    input wait, a smaller second size (global needs two). Returns, per layer, its
    measurements at each size tried; the sizes; and why probing stopped early ('' if not).
    """
    nodes, _ = _separable(net)
    if not nodes:
        return {}, [], ""
    rows = {r.name: r for r in report.layers}
    first = net.input_shape[1 + axis]
    need = first
    for node in nodes:
        rf = rows[node.name].receptive_field
        if rf is not None and rf.size[axis] is not None and rf.stride[axis] is not None:
            wanted = rf.size[axis] + (count + 2) * 2 * math.ceil(max(rf.stride[axis], 1))
            need = max(need, min(wanted, 64 * first + 4096))  # a wrong report cannot ask for more
    results: dict[str, list[_Units]] = {n.name: [] for n in nodes}
    done: set[str] = set() if only is None else {n.name for n in nodes} - only
    sizes: list[int] = []
    length = first if start is None else max(start, need + 2)
    for attempt in range(ATTEMPTS):
        probe = _valid_length(net, axis, nodes, length, count)
        if probe is None:
            raise ProbeError(f"no input size from {length} to {length + 1023} fits the axis-{axis} probe")
        size = probe.input_shape[1]
        if size in sizes:
            length = 2 * size + 1
            continue
        sizes.append(size)
        rng = np.random.default_rng(seed)
        x = rng.uniform(1.0, 2.0, (count, 1, size))
        try:
            run = forward(probe, x, None, seed, dtype=np.float64, max_memory=max_memory,
                          checked=True, probe=True)
        except SpecError as exc:
            if exc.kind != "limit":
                raise
            return results, sizes[:-1], f"the axis-{axis} probe of length {size} is too large ({exc.message})"
        for i, node in enumerate(probe.nodes):
            if node.name in done:
                continue
            units = _measure_units(probe, run, node, rng, count)
            results[node.name].append(units)
            finite = _field_figures(units, units.out_len) is not None
            if finite or (len(results[node.name]) >= 2 and all(u.covers for u in results[node.name])):
                done.add(node.name)
            if progress is not None:
                progress(i + 1, len(probe.nodes), node.name)
        if len(done) == len(nodes):
            break
        if all(results[n.name][-1].covers for n in nodes if n.name not in done):
            # only global fields wait for their second size: a smaller one costs less
            length = next((L for L in (sizes[0] // 2, sizes[0] + 1) if L >= 2 and L not in sizes), 2 * size + 1)
            continue
        length = max(need + 2, size + 1) if attempt == 0 else 2 * size + 1
    return results, sizes, ""


class ProbeError(Exception):
    """A receptive-field probe that could not run (no probe length fits): a failure."""


def _rf_figures(row, out_len: int, axis: int, found: list[_Units] | None, why: str,
                failure: str = "") -> list[Figure]:
    """The receptive-field figures of one layer on one axis, compared; ``failure``: the
    error of a probe that raised (every figure failed), ``why``: a documented refusal."""
    rf = row.receptive_field
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

    rows = _measure_forward(net, report, seed, max_memory, phase("forward"))
    _, blocked = _separable(net)
    probe_sizes: list[list[int]] = []
    by_axis = []
    done: dict[tuple, tuple] = {}
    for axis in range(net.ndim):
        # an axis whose probe would be identical to an earlier one (square kernels and
        # inputs) has the same receptive fields: measure it once
        signature = (net.input_shape[1 + axis],
                     *(repr(sorted(_axis_values(n.layer, axis).items())) for n in net.nodes
                       if n.name not in blocked),
                     *(repr((r.receptive_field.size[axis], r.receptive_field.stride[axis]))
                       for r in report.layers if r.receptive_field is not None))
        if signature not in done:
            try:
                done[signature] = _probe_axis(net, report, axis, seed, max_memory,
                                              progress=phase(f"receptive fields, axis {axis}:"))
                results, sizes, _ = done[signature]
                # a period longer than 8 (four up-convolutions after four poolings): more units
                wide = {name for name, found in results.items() if found
                        and len(found[-1].units) == found[-1].count
                        and _field_figures(found[-1], found[-1].out_len) is None}
                if wide:
                    more, more_sizes, _ = _probe_axis(
                        net, report, axis, seed, max_memory, count=WIDE_UNITS, only=wide,
                        progress=phase(f"receptive fields, axis {axis} ({WIDE_UNITS} units):"),
                        start=max(results[name][-1].length for name in wide))
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
    for row, node, result in zip(rows, net.nodes, report.layers):
        if len(result.output_shape) != net.ndim + 1:
            continue  # no spatial axes: no receptive field
        for axis in range(net.ndim):
            results, why, failure = by_axis[axis]
            out_len = result.output_shape[1 + axis]
            if node.name in blocked:  # a documented refusal: no per-axis probe holds it
                row.figures += _rf_figures(result, out_len, axis, None, blocked[node.name])
            else:
                row.figures += _rf_figures(result, out_len, axis, results.get(node.name), why, failure)
    return Verification(rows, probe_sizes)
