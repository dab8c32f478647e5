"""The effective receptive field, by a stated protocol: ``uniform`` (deterministic, exact;
:func:`effective_fields`) or ``random`` (Luo et al.'s setting; :func:`random_fields`)
(issue 22).

Luo, Li, Urtasun and Zemel ("Understanding the Effective Receptive Field in Deep
Convolutional Neural Networks", NeurIPS 2016, section 2) define a unit's effective
receptive field as the gradient of that unit with respect to the input: how much each
input pixel moves it. Its size depends on the weights and on the data, so cnncalc reports
it under one stated, deterministic protocol (docs/receptive-field.md, "The effective
receptive field"):

``uniform``: every convolution and transposed convolution has all weights
1 / (C_in/groups * prod(kernel)) and zero bias; activations, batch norm, dropout and
stochastic depth are the identity; max pooling is the average over its window's
positions inside the input; average pooling, upsampling and the merges keep their own
definitions; broadcast gates (a squeeze-and-excitation branch) are held at 1, so the
field is the local one. For output unit ``u`` at index floor((n - 1) / 2) of every axis
of a layer's output, the gradient of the sum over channels of that unit with respect to
the input, summed over the input channels, is a non-negative map G on the input grid.
Its marginal along each axis, normalised to sum 1, is the reported distribution:
``mean`` and ``std`` (input pixels counted from the first, index 0; the population
standard deviation), ``width95`` (the fewest consecutive input pixels holding at least
95 % of the mass; a window within 1e-12 of 95 % counts, so that the rounding of float64
sums does not decide a tie) and ``ratio`` (width95 over the theoretical size of the local
receptive field on that axis).

How it is computed, exactly and in one batched pass. Under the protocol the gradient is
the same on every channel of every tensor: the seed (ones over the unit's channels) is;
a convolution's input gradient g_in[c] = sum over its group's outputs of w * sum over
taps is the same for every input channel when g_out is the same for every output
channel (for any groups); elementwise layers, pooling, upsampling, additions,
concatenations (each input takes its slice) and channel shuffles keep it so. So the
channel-summed gradient S = C * g propagates on its own: through a convolution,
S_in(j) = sum over (o, tap) reaching j of S_out(o) / prod(k) (every factor C cancels,
whatever the groups); through a concatenation, input i takes C_i / C of S; through an
addition, every input takes all of it. Layers that would break the argument (a part of
the channels, a product of two spatial operands, pixel shuffle) are refused, naming the
layer (:meth:`cnncalc.layers.base.Layer.erf_refusal`). Each layer's map is separable, a
matrix per axis from its unit maps and weights (:meth:`Layer.erf_taps`), applied to an
array (B, *spatial) that holds one row per requested layer: one backward walk over the
graph serves every layer, each row seeded when the walk reaches its layer.
``tests/test_erf.py`` holds the hand-worked 1-D stack (1, 3, 6, 7, 6, 3, 1 / 27) and
ResNet-18 against a full-channel computation in plain NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnncalc.core.errors import SpecError
from cnncalc.core.graph import INPUT, Network, Node, tensor_key
from cnncalc.core.kernels import Context
from cnncalc.core.shapes import held_gates
from cnncalc.measure.execute import forward, layer_backward

PROTOCOLS = ("uniform", "random")
MASS = 0.95
TIE = 1e-12  # a window within this of 95 % counts (float64 sums of exact fractions)


@dataclass(frozen=True)
class EffectiveField:
    """One layer's effective receptive field under a protocol (per spatial axis).

    ``unit``: the output unit probed (floor((n - 1) / 2) per axis); ``marginals``: per
    axis the normalised distribution over the input positions (sums to 1); ``mean``,
    ``std``: input pixels; ``width95``: pixels; ``theoretical``: the local receptive
    field's size; ``ratio``: width95 / theoretical.
    """

    protocol: str
    unit: tuple[int, ...]
    marginals: tuple[np.ndarray, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    width95: tuple[int, ...]
    theoretical: tuple[int, ...]
    ratio: tuple[float, ...]
    grid: np.ndarray | None = None  # the map G on the input grid (normalised to sum 1)
    # protocol random: the draws, and each figure's spread (population standard deviation
    # over the draws of the figure computed on each draw's map), per axis
    samples: int = 0
    seed: int = 0
    spread: dict[str, tuple[float, ...]] | None = None

    def to_dict(self) -> dict:
        """``layers[i].effective_receptive_field`` of the JSON report (spec-format.md);
        protocol random adds ``samples``, ``seed`` and ``spread``."""
        out = {"protocol": self.protocol, "mean": list(self.mean), "std": list(self.std),
               "width95": list(self.width95), "ratio": list(self.ratio)}
        if self.spread is not None:
            out.update(samples=self.samples, seed=self.seed,
                       spread={k: list(v) for k, v in self.spread.items()})
        return out


def width95(p: np.ndarray) -> int:
    """The fewest consecutive entries of the distribution ``p`` holding at least 95 % of
    its mass (within :data:`TIE`)."""
    c = np.concatenate([[0.0], np.cumsum(p)])
    lo, hi = 1, len(p)
    while lo < hi:  # the best window's mass grows with its width: bisect
        w = (lo + hi) // 2
        if (c[w:] - c[:-w]).max() >= MASS - TIE:
            hi = w
        else:
            lo = w + 1
    return lo


def statistics(grid: np.ndarray, protocol: str, unit: tuple[int, ...],
               theoretical: tuple[int, ...]) -> EffectiveField:
    """The reported figures of a non-negative map ``grid`` on the input (one axis per
    spatial axis).

    Raises:
        ValueError: the map is zero (no input pixel reaches the unit).
    """
    total = grid.sum()
    if not total > 0:
        raise ValueError("no input pixel reaches the unit")
    marginals, means, stds, widths, ratios = [], [], [], [], []
    for axis in range(grid.ndim):
        p = grid.sum(axis=tuple(a for a in range(grid.ndim) if a != axis)) / total
        x = np.arange(p.size, dtype=np.float64)
        mean = float((x * p).sum())
        std = math.sqrt(max(float((((x - mean) ** 2) * p).sum()), 0.0))
        w = width95(p)
        marginals.append(p)
        means.append(mean)
        stds.append(std)
        widths.append(w)
        ratios.append(w / theoretical[axis])
    return EffectiveField(protocol, unit, tuple(marginals), tuple(means), tuple(stds),
                          tuple(widths), theoretical, tuple(ratios), grid / total)


def candidates(net: Network) -> list[Node]:
    """The layers that have an effective receptive field: a spatial output whose local
    receptive field is finite on every axis."""
    return [n for n in net.nodes if len(n.facts.out_shape) == net.ndim + 1
            and n.local_field is not None and all(s is not None for s in n.local_field.size)]


@dataclass(frozen=True)
class _AxisMap:
    """One axis of a layer's linearisation, the (out_len, in_len) matrix M, for
    g_in = M^T g_out along that axis (:meth:`back`). Stored by input position: the outputs
    that reach input j (``index[j]``) and their weights (``weight[j]``, zero where j is
    reached from fewer outputs than the widest position), so that :meth:`back` costs the
    matrix's entries, not out_len * in_len (a convolution's matrix holds a few taps per
    row: ResNet's stem, 7 of 224 on each axis). A matrix with an input position reached from
    more than a quarter of the outputs (a broadcast along the axis) is kept whole
    (``dense``) and multiplied."""

    index: np.ndarray
    weight: np.ndarray
    dense: np.ndarray | None = None

    @classmethod
    def of(cls, rows: Sequence[Sequence[tuple[int, float]]], in_len: int) -> _AxisMap:
        """From :meth:`Layer.erf_taps` rows: per output, its (input, weight) entries; the
        entries of a repeated (output, input) pair add up."""
        o = np.fromiter((o for o, row in enumerate(rows) for _ in row), dtype=np.intp)
        j = np.fromiter((j for row in rows for j, _ in row), dtype=np.intp, count=o.size)
        w = np.fromiter((w for row in rows for _, w in row), dtype=np.float64, count=o.size)
        counts = np.bincount(j, minlength=in_len)
        width = int(counts.max()) if o.size else 0
        if 4 * width > len(rows):
            m = np.bincount(o * in_len + j, w, len(rows) * in_len).reshape(len(rows), in_len)
            return cls(np.zeros((in_len, 0), np.intp), np.zeros((in_len, 0)), m)
        order = np.argsort(j, kind="stable")
        o, j, w = o[order], j[order], w[order]
        slot = np.arange(o.size) - (np.cumsum(counts) - counts)[j]
        index = np.zeros((in_len, width), np.intp)
        weight = np.zeros((in_len, width))
        index[j, slot] = o
        weight[j, slot] = w
        return cls(index, weight)

    def back(self, g: np.ndarray, axis: int) -> np.ndarray:
        """g_in[..., j, ...] = sum over o of M[o, j] * g[..., o, ...], along ``axis``."""
        if self.dense is not None:
            return np.moveaxis(np.tensordot(g, self.dense, axes=([axis], [0])), -1, axis)
        shape = [1] * g.ndim
        shape[axis] = len(self.index)
        if not self.index.shape[1]:  # no output reads any input position
            return np.zeros((*g.shape[:axis], len(self.index), *g.shape[axis + 1:]))
        out = np.take(g, self.index[:, 0], axis=axis)
        out *= self.weight[:, 0].reshape(shape)
        for t in range(1, self.index.shape[1]):
            term = np.take(g, self.index[:, t], axis=axis)
            term *= self.weight[:, t].reshape(shape)
            out += term
        return out


def _matrices(node: Node, k: int, in_shape: Sequence[int]) -> list[_AxisMap | None] | None:
    """Per axis, the (out_len, in_len) matrix of the layer's linearisation for input k;
    None for an axis where it is the identity. None: no linearisation."""
    layer = node.facts.layer
    out = []
    for axis in range(len(node.facts.out_shape) - 1):
        rows = layer.erf_taps(axis, k)
        if rows is None:
            return None
        n_in = in_shape[1 + axis]
        if len(rows) == n_in and all(len(r) == 1 and r[0] == (o, 1.0) for o, r in enumerate(rows)):
            out.append(None)  # the identity
            continue
        out.append(_AxisMap.of(rows, n_in))
    return out


def _requested(net: Network, layers: Sequence[str] | None) -> list[str]:
    """The layers asked for, in graph order (default: every candidate).

    Raises:
        SpecError: an unknown layer, or one without a spatial field (kind ``usage``).
    """
    ok = {n.name for n in candidates(net)}
    if layers is None:
        return [n.name for n in net.nodes if n.name in ok]
    names = {n.name for n in net.nodes}
    for name in layers:
        if name not in names:
            raise SpecError(f"no layer '{name}' in {net.name}", kind="usage",
                            help="`cnncalc analyze SPEC` lists the layers")
        if name not in ok:
            raise SpecError(f"layer '{name}' has no spatial receptive field (its output has "
                            "no spatial axes, or every input pixel reaches it through "
                            "spatial paths), so no effective receptive field", kind="usage",
                            help="pick a layer before the global pooling or the flatten")
    order = {n.name: i for i, n in enumerate(net.nodes)}
    return sorted(dict.fromkeys(layers), key=order.__getitem__)


def random_weights(net: Network, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Protocol random's tensors, float64: every tensor of rank >= 2 Kaiming-normal,
    N(0, 2 / fan_in) with fan_in = prod(shape[1:]) (He, Zhang, Ren and Sun, "Delving Deep
    into Rectifiers", ICCV 2015, eq. 10; PyTorch's kaiming_normal_, mode fan_in); biases 0;
    other rank-1 parameters named ``weight`` 1 and ``bias`` 0 (a normalization's initial
    state); buffers ``running_mean`` 0 and ``running_var`` 1. Tensors not named so are
    left to the executor's seeded draws."""
    out: dict[str, np.ndarray] = {}
    for node in net.nodes:
        facts = node.facts
        for key, shape in facts.params.items():
            if len(shape) >= 2:
                fan_in = math.prod(shape[1:])
                out[tensor_key(node.name, key)] = rng.normal(0.0, math.sqrt(2.0 / fan_in), shape)
            elif key in facts.bias or key == "bias":
                out[tensor_key(node.name, key)] = np.zeros(shape)
            elif key == "weight":
                out[tensor_key(node.name, key)] = np.ones(shape)
        for key, shape in facts.buffers.items():
            if key in ("running_mean", "running_var"):
                out[tensor_key(node.name, key)] = (np.zeros if key == "running_mean" else np.ones)(shape)
    return out


def random_fields(net: Network, layers: Sequence[str] | None = None, samples: int = 4,
                  seed: int = 0) -> dict[str, EffectiveField | str]:
    """Protocol random (Luo et al. 2016, section 4.1: random weights, ReLU networks): the
    network as it is (every activation and pooling as defined, ReLU kept) with the
    tensors of :func:`random_weights` and an input N(0, 1), both drawn per sample from
    ``numpy.random.default_rng([seed, sample])``; broadcast gates held constant at their
    value (no gradient through them: the local path). Per requested layer, the gradient of
    the sum over channels of its unit floor((n - 1) / 2) with respect to the input, by the
    executor's own backward passes in float64 (one forward pass and one batched backward
    walk per sample, a row per layer); its magnitude summed over the input channels and
    averaged over the samples is the map whose statistics are reported, and each
    statistic's spread is its population standard deviation over the per-sample maps.

    Raises:
        SpecError: an unknown or non-spatial layer, ``samples`` < 1 (kind ``usage``).
    """
    if samples < 1:
        raise SpecError("--samples must be at least 1", kind="usage")
    wanted = _requested(net, layers)
    row = {name: b for b, name in enumerate(wanted)}
    batch = len(wanted)
    by_name = {n.name: n for n in net.nodes}
    maps = []
    for sample in range(samples):
        rng = np.random.default_rng([seed, sample])
        weights = random_weights(net, rng)
        x = rng.standard_normal((1, *net.input_shape))
        run = forward(net, x, weights, seed, dtype=np.float64, keep="all", max_memory=None)
        grads: dict[str, np.ndarray] = {}
        for node in reversed(net.nodes):
            g = grads.pop(node.name, None)
            if node.name in row:
                if g is None:
                    g = np.zeros((batch, *node.facts.out_shape))
                unit = tuple((n - 1) // 2 for n in node.facts.out_shape[1:])
                g[(row[node.name], slice(None), *unit)] += 1.0
            if g is None:
                continue
            rep = lambda a: np.repeat(a, batch, axis=0)  # noqa: E731 - the one-sample arrays, a row per layer
            ctx = Context(refs=[rep(run.values[r]) for r in node.refs])
            xs = [rep(run.values[i]) for i in node.inputs]
            gxs, _ = layer_backward(node, run, xs, rep(run.values[node.name]), g, ctx)
            held = held_gates(node)
            for k, (name, gx) in enumerate(zip(node.inputs, gxs)):
                if k not in held:
                    grads[name] = grads[name] + gx if name in grads else gx
        field = grads.get(INPUT)
        maps.append(np.zeros((batch, *net.input_shape[1:])) if field is None
                    else np.abs(field).sum(axis=1))
    result: dict[str, EffectiveField | str] = {}
    for name, b in row.items():
        node = by_name[name]
        unit = tuple((n - 1) // 2 for n in node.facts.out_shape[1:])
        theoretical = tuple(node.local_field.size)
        try:
            mean_map = np.mean([m[b] for m in maps], axis=0)
            erf = statistics(mean_map, "random", unit, theoretical)
            each = [statistics(m[b], "random", unit, theoretical) for m in maps]
        except ValueError as exc:
            result[name] = str(exc)
            continue
        spread = {key: tuple(float(np.std([getattr(e, key)[a] for e in each]))
                             for a in range(len(unit)))
                  for key in ("mean", "std", "width95", "ratio")}
        result[name] = EffectiveField("random", unit, erf.marginals, erf.mean, erf.std,
                                      erf.width95, theoretical, erf.ratio, erf.grid,
                                      samples, seed, spread)
    return result


def effective_fields(net: Network, layers: Sequence[str] | None = None,
                     protocol: str = "uniform") -> dict[str, EffectiveField | str]:
    """The effective receptive field of each requested layer (default: every layer
    :func:`candidates` lists), in one batched backward pass, float64.

    Returns:
        name -> EffectiveField, or the reason (a string) why a layer has none under the
        protocol (a layer on its way that the protocol does not linearise).

    Raises:
        SpecError: an unknown protocol or layer name, or a layer without a spatial field
            (kind ``usage``).
    """
    if protocol != "uniform":
        raise SpecError(f"no ERF protocol '{protocol}' here", kind="usage",
                        help="protocol random: random_fields(net, layers, samples, seed)")
    wanted = _requested(net, layers)
    row = {name: b for b, name in enumerate(wanted)}
    batch = len(wanted)
    failed: dict[int, str] = {}
    grads: dict[str, np.ndarray] = {}
    shapes = {INPUT: net.input_shape, **{n.name: n.facts.out_shape for n in net.nodes}}
    first = 0  # rows seeded so far form a suffix: rows[first:] (ordered as the nodes)
    for node in reversed(net.nodes):
        g = grads.pop(node.name, None)
        if node.name in row:
            b = row[node.name]
            first = b
            if g is None:
                g = np.zeros((batch, *node.facts.out_shape[1:]))
            unit = tuple((n - 1) // 2 for n in node.facts.out_shape[1:])
            g[(b, *unit)] += node.facts.out_shape[0]  # d(sum over channels)/d(unit): C ones
        if g is None:
            continue
        live = slice(first, batch)
        reached = g[first:].reshape(batch - first, -1).any(axis=1)
        active = [b for b in range(first, batch) if b not in failed and reached[b - first]]
        if not active:
            continue
        layer = node.facts.layer
        held = held_gates(node)
        refusal = layer.erf_refusal()
        shares = layer.erf_shares()
        for k, name in enumerate(node.inputs):
            if k in held:  # a broadcast gate held at 1: no gradient reaches it
                continue
            in_shape = shapes[name]
            mats = None if refusal or len(in_shape) != len(node.facts.out_shape) \
                else _matrices(node, k, in_shape)
            if mats is None:
                why = refusal or "the layer has no linearisation on this input"
                for b in active:
                    failed[b] = f"'{node.name}' ({node.type}) is on its way: {why}"
                break
            gx = g[live]
            for axis, m in enumerate(mats):
                if m is not None:
                    gx = m.back(gx, 1 + axis)
            if shares[k] != 1.0:
                gx = gx * shares[k]
            if name not in grads:
                grads[name] = np.zeros((batch, *in_shape[1:]))
            grads[name][live] += gx
    result: dict[str, EffectiveField | str] = {}
    field = grads.get(INPUT)
    by_name = {n.name: n for n in net.nodes}
    for name, b in row.items():
        if b in failed:
            result[name] = failed[b]
            continue
        node = by_name[name]
        unit = tuple((n - 1) // 2 for n in node.facts.out_shape[1:])
        try:
            if field is None:
                raise ValueError("no input pixel reaches the unit")
            result[name] = statistics(field[b], protocol, unit, tuple(node.local_field.size))
        except ValueError as exc:
            result[name] = str(exc)
    return result
