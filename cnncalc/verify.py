"""``cnncalc verify``: run the network and hold every analysed number against a measurement.

Measured independently of the analyzer's formulas:

- output shapes: from the arrays the forward pass produced;
- parameters: from the weight tensors the forward pass read;
- MACs: from the contractions it executed (kernels.Context.mm);
- receptive fields: from the support of output units' gradients. Spatial
  support does not depend on channel counts and is separable over the spatial
  axes, so for each axis cnncalc builds a probe: the same network restricted to
  that axis, with one channel per convolution, positive weights and inputs,
  max pooling routing the gradient to every tap of its window, and an input
  large enough that the probed units' fields lie inside it (enlarged until
  they do). For every layer it seeds 16 consecutive
  units around the centre of its output and compares each unit's support with
  the analyzer's extent for that unit, exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .analyze import Report, _axes_after, analyze, infer_shapes
from .errors import SpecError
from .execute import DEFAULT_MAX_MEMORY, backward, forward, guard_memory, init_weights
from .graph import INPUT, Network, Node
from .layers.base import Ints, OutputSize, PadSpec, Scale
from .rf import AxisField

PROBE_UNITS = 16
CHANNEL_PARAMS = {"out_channels": 1, "groups": 1, "num_parameters": 1, "num_groups": 1,
                  "depth_multiplier": 1, "offset_groups": 1,
                  "in_channels": None, "num_features": None, "in_features": None}


@dataclass
class Row:
    """One layer: analysed and measured figures, and whether they agree."""

    name: str
    type: str
    shape: tuple[tuple[int, ...], tuple[int, ...]]
    params: tuple[int, int]
    macs: tuple[int, int]
    rf: list[tuple[int, int] | None] = field(default_factory=list)  # per axis (analysed, measured)
    rf_ok: bool = True
    note: str = ""

    @property
    def ok(self) -> bool:
        return (self.shape[0] == self.shape[1] and self.params[0] == self.params[1]
                and self.macs[0] == self.macs[1] and self.rf_ok)


@dataclass
class Verification:
    """The result of :func:`verify`: one Row per layer, and the probe sizes used."""

    rows: list[Row]
    probe_sizes: list[int | None]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)


def _measure_forward(net: Network, report: Report, seed: int, max_memory: int | None,
                     progress=None) -> list[Row]:
    guard_memory(net, 1, 4, "all", max_memory)  # before the input is allocated
    x = np.random.default_rng(seed).standard_normal((1, *net.input_shape)).astype(np.float32)
    run = forward(net, x, None, seed, keep="all", max_memory=max_memory, progress=progress)
    return [
        Row(node.name, node.type,
            (tuple(row.output_shape), tuple(run.values[node.name].shape[1:])),
            (row.params, run.params_read[node.name]), (row.macs, run.macs[node.name] * net.batch))
        for node, row in zip(net.nodes, report.layers)
    ]


# -- receptive-field probes ----------------------------------------------------------


def _axis_values(layer, axis: int) -> dict:
    """The layer's parameters restricted to one spatial axis, with one channel."""
    values = dict(layer.p)
    for p in layer.params:
        value = values.get(p.name)
        if p.name in CHANNEL_PARAMS:
            values[p.name] = CHANNEL_PARAMS[p.name]
        elif value is not None and isinstance(p.kind, (Ints, Scale, OutputSize)):
            values[p.name] = (value[axis],)
        elif isinstance(value, PadSpec) and value.pairs is not None:
            values[p.name] = PadSpec(pairs=(value.pairs[axis],))
    return layer.probe_values(values, axis)


def probe_network(net: Network, axis: int, nodes: list[Node], length: int) -> Network:
    """A 1-D, one-channel copy of ``nodes`` (closed under inputs) along ``axis``."""
    copies = []
    for node in nodes:
        make = getattr(node.layer, "probe_layer", None) or type(node.layer)
        layer = make(1, _axis_values(node.layer, axis), node.layer.loc, node.layer.param_locs)
        layer.input_names = node.inputs
        copies.append(replace(node, layer=layer))
    names = {n.name for n in copies}
    outputs = [n.name for n in copies if not any(n.name in m.inputs + m.refs for m in copies)]
    probe = Network(f"{net.name} (probe, axis {axis})", (1, length), PROBE_UNITS, copies,
                    outputs, net.file)
    assert all(i in names or i == INPUT for n in copies for i in n.inputs + n.refs)
    return probe


def _probeable(net: Network, report: Report, axis: int) -> list[Node]:
    """Nodes with a receptive field on this axis and only separable layers above them."""
    blocked: set[str] = set()
    keep = []
    for node, row in zip(net.nodes, report.layers):
        if node.facts.mixes_axes or any(i in blocked for i in node.inputs + node.refs):
            blocked.add(node.name)
            continue
        rf = row.receptive_field
        if rf is None or rf.size[axis] is None:
            blocked.add(node.name)  # global on this axis: everything below sees it all
            continue
        keep.append(node)
    return keep


def _valid_length(net: Network, axis: int, nodes: list[Node], start: int) -> Network | None:
    for length in range(start, start + 1024):
        probe = probe_network(net, axis, nodes, length)
        try:
            infer_shapes(probe)
            return probe
        except SpecError:
            continue
    return None


def _touches(support: np.ndarray, length: int) -> bool:
    return bool(support.size) and (support[0] == 0 or support[-1] == length - 1)


def _probe_axis(net: Network, report: Report, axis: int, seed: int, max_memory: int | None = None,
                progress=None):
    nodes = _probeable(net, report, axis)
    if not nodes:
        return {}, None
    # Sizes: the network's own input first (figures that depend on it, as adaptive
    # pooling's, then match the analysis of the network as written); then a size at
    # which the analysis expects the probed units to be interior (it only picks the
    # size); then doubling. A layer's units count as interior when their gradient
    # reaches the border of no layer's output, the input's included (a measurement:
    # padding of any mode, replicate reading border pixels, cannot fake a field), and
    # the analysed field lies inside the input (a gradient never shows padding).
    # Layers whose units are interior are done; the rest are probed again, larger.
    # A field that spans its input at every size (adaptive pooling to one unit) is
    # compared at the largest size tried.
    rows = {r.name: r.receptive_field for r in report.layers}
    need = max(rows[n.name].size[axis] + (PROBE_UNITS + 2) * 2 * math.ceil(rows[n.name].stride[axis])
               for n in nodes)
    length = net.input_shape[1 + axis]
    pending = {n.name for n in nodes}
    results: dict[str, tuple] = {}
    largest = length
    for attempt in range(5):
        probe = _valid_length(net, axis, nodes, length)
        if probe is None:
            raise SpecError(f"no input size near {length} fits the axis-{axis} probe", kind="limit")
        largest = probe.input_shape[1]
        fields: dict[str, list | None] = {INPUT: [AxisField.input()]}
        for node in probe.nodes:
            fields[node.name] = _axes_after(node, fields)
        rng = np.random.default_rng(seed)
        x = rng.uniform(1.0, 2.0, (PROBE_UNITS, 1, probe.input_shape[1]))
        run = forward(probe, x, init_weights(probe, seed, np.float64, positive=True), seed,
                      dtype=np.float64, max_memory=max_memory, checked=True, probe=True)
        for i, node in enumerate(probe.nodes):
            if node.name not in pending:
                continue
            out = run.values[node.name]
            n_units = out.shape[2]
            # central units; not the first or last where there are more than two
            low, high = (1, n_units - 2) if n_units > 2 else (0, n_units - 1)
            units = [min(max(n_units // 2 - PROBE_UNITS // 2 + b, low), high) for b in range(PROBE_UNITS)]
            seed_grad = np.zeros_like(out)
            for b, o in enumerate(units):
                seed_grad[b, :, o] = rng.uniform(1.0, 2.0, out.shape[1])
            grads = backward(probe, run, {node.name: seed_grad}, probe=True, outputs=True)
            measured, expected, interior = [], [], True
            for b, o in enumerate(units):
                support = np.nonzero(grads[INPUT][b].sum(axis=0))[0]
                measured.append((int(support[0]), int(support[-1])) if support.size else (None, None))
                expected.append(fields[node.name][0].at(o))
                lo, hi = expected[-1]
                if lo is not None and (lo < 0 or hi > probe.input_shape[1] - 1):
                    interior = False  # a field reaching into padding is measured clipped
                for name, g in grads.items():
                    if "." in name or name == node.name:
                        continue  # parameter gradients, and the seed itself
                    if _touches(np.nonzero(g[b].sum(axis=0))[0], g.shape[-1]):
                        interior = False
            results[node.name] = (measured, expected, interior)
            if interior:
                pending.discard(node.name)
            if progress is not None:
                progress(i + 1, len(probe.nodes), node.name)
        if not pending:
            break
        length = max(need + 2, largest + 1) if attempt == 0 else 2 * largest + 1
    return results, largest


def _extent(pairs) -> int:
    sizes = [hi - lo + 1 for lo, hi in pairs if lo is not None]
    return max(sizes, default=0)


def verify(net: Network, seed: int = 0, max_memory: int | None = DEFAULT_MAX_MEMORY,
           progress=None) -> Verification:
    """Run the network and compare every layer's analysed figures with measured ones.

    Returns:
        Verification with one Row per layer (shape, params, MACs, receptive field
        per axis as (analysed, measured) over the probed units) and ``ok``.

    Raises:
        SpecError: the run would exceed ``max_memory`` (bytes), or no probe size fits.
    """
    report = analyze(net)
    rows = _measure_forward(net, report, seed, max_memory, progress)
    probe_sizes: list[int | None] = []
    by_axis = []
    done: dict[tuple, tuple] = {}
    for axis in range(net.ndim):
        # an axis whose probe would be identical to an earlier one (square kernels and
        # inputs) has the same receptive fields: measure it once
        signature = (net.input_shape[1 + axis],
                     *(repr(sorted(_axis_values(n.layer, axis).items())) for n in net.nodes))
        if signature not in done:
            done[signature] = _probe_axis(net, report, axis, seed, max_memory)
        results, size = done[signature]
        by_axis.append(results)
        probe_sizes.append(size)
    for row in rows:
        for axis in range(net.ndim):
            found = by_axis[axis].get(row.name)
            if found is None:
                row.rf.append(None)
                continue
            measured, expected, interior = found
            if not interior:
                # the field reaches the border at every probe size (adaptive pooling to one unit
                # after padding): padding positions cannot show in a gradient, so it is not compared
                row.rf.append(None)
                row.note = f"axis {axis}: the field spans the input's border at every size; not measured"
                continue
            row.rf.append((_extent(expected), _extent(measured)))
            if measured != expected:
                row.rf_ok = False
                bad = next(i for i, (m, e) in enumerate(zip(measured, expected)) if m != e)
                row.note = (f"axis {axis}: a probed unit sees {measured[bad]}, "
                            f"the analysis says {expected[bad]}")
    return Verification(rows, probe_sizes)

