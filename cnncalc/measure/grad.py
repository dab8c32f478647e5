"""Backpropagation as the lectures teach it: ``cnncalc grad``.

For a network with its input (written in the spec or given) and an upstream
gradient dL/d(output) (written in the spec as ``upstream:``, given, or ones,
that is L = the sum of the outputs), this module runs the executor's forward
and backward passes (:func:`cnncalc.measure.execute.forward`, :func:`cnncalc.measure.execute.backward`)
and reports, per layer, its input, output, upstream gradient dL/dy, its own
contribution dL/dx to the gradient of each of its inputs, and dL/dw for each
learnable tensor.

It also recognises, from the layers' own backward passes, the cases the
lectures work by hand, and states each identity with the exercise's numbers
only after checking that it reproduces the executor's gradient:

- max pooling keeps *switches* (CENG 403; CMU 11-785 "pidx"): each output unit's
  gradient goes to the one input that won its window (the first maximum, as in
  PyTorch), and "+=" where windows overlap;
- average pooling spreads dy/|window| (1/K^2 for a K x K window) over each window
  (CentraleSupelec lecture 4; CMU 11-785);
- convolution (cross-correlation y_t = sum_i w_i x_(t s + i d)): the input gradient
  is the *full* convolution of the upstream gradient with the flipped kernel
  (CENG 403: dL/da_i = sum_j dL/dt_(i-j+1) w_j; CMU: "zero padded with K - 1 zeros
  on every side ... by the flipped filter"), after inserting s - 1 zeros between
  the upstream gradient's elements where the stride is s (CMU: "the upsampling
  performed during backprop when forward convolution uses stride > 1"); the weight
  gradient is the correlation of the input with the (zero-inserted) upstream
  gradient, dL/dw_ij = sum_rc dL/dy_rc x_(r+i, c+j) for the cross-correlation computed
  here (x_(rs+id, cs+jd) with stride s and dilation d; CentraleSupelec's
  x_(r-i, c-j) is the same identity for a true, flipped-kernel convolution); for a 1-D
  single-channel layer also CS5242's im2col form, dx_hat = w^T dy and
  ``dx[t+i] += dx_hat[i, t]``.

:func:`unit_region` gives the input region that reaches one unit, from the
support of its gradient (CMU 11-785: the receptive field "estimated by
backpropagation"), with positive weights and the probe mode of the executor so
that no gradient cancels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cnncalc.analysis.analyze import analyze
from cnncalc.core.errors import SpecError, suggestion
from cnncalc.core.graph import INPUT, Network, tensor_key
from cnncalc.core.kernels import Context
from cnncalc.io.spec import nested_shape
from cnncalc.measure.execute import backward, executor_layer, forward, index_weights, init_weights

MAX_LOCAL_UNITS = 1024  # switches / averaging are read from a layer's Jacobian up to this size
MAX_LOCAL_INPUT = 4096
MAX_EXPLAINED = 64  # element-by-element sums are written out up to this many elements
MAX_IDENTITY_WEIGHTS = 4096  # convolution identities are recomputed for layers up to this size
MAX_IDENTITY_INPUT = 65536


@dataclass
class Switch:
    """One output unit of a max-pooling layer and the input that won its window.

    unit: output index (channel, *spatial), batch sample 0.
    winner: input index (channel, *spatial).
    window: per spatial axis, the [first, last] input positions of the window
        (clipped to the input; padding is never a winner).
    value: the winning (and output) value.
    ties: how many other inputs of the window hold the same maximum (the first of them
        wins, in PyTorch's row-major order; the gradient goes to it alone).
    """

    unit: tuple[int, ...]
    winner: tuple[int, ...]
    window: tuple[tuple[int, int], ...]
    value: float
    ties: int = 0


@dataclass
class Identity:
    """A lecture identity shown with the exercise's numbers (checked to hold)."""

    title: str
    formula: str
    lines: list[str] = field(default_factory=list)


@dataclass
class LayerGradient:
    """One layer's forward values and gradients (batch first, as the executor's)."""

    name: str
    type: str
    inputs: list[str]
    x: list[np.ndarray]
    y: np.ndarray
    dy: np.ndarray
    dx: list[np.ndarray]
    dw: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    switches: list[Switch] = field(default_factory=list)
    identities: list[Identity] = field(default_factory=list)


@dataclass
class GradResult:
    """The result of :func:`gradients`: per layer in forward order, and dL/d(input)."""

    name: str
    upstream: str  # where the upstream gradient came from: "spec", "given" or "ones"
    layers: list[LayerGradient]
    input_gradient: np.ndarray


# -- the upstream gradient ------------------------------------------------------------------


def _nested(value, what: str, loc) -> np.ndarray:
    nested_shape(value, loc, what)  # located errors for ragged lists and non-numbers
    return np.asarray(value, dtype=np.float64)


def upstream_seeds(net: Network, exe, given: dict[str, np.ndarray] | np.ndarray | None = None
                   ) -> tuple[dict[str, np.ndarray], str]:
    """dL/d(output) for every network output: ``given`` (an array for a single
    output, or output name -> array), else the spec's ``upstream:``, else ones.
    Arrays are one sample (C, ...) or a batch (N, C, ...).

    Raises:
        SpecError: an unknown output name (with the closest), a ragged list, or a
            shape that is not the output's, located in the spec where written there.
    """
    source, loc = "ones", None
    if given is not None:
        values, source = given, "given"
    elif net.upstream is not None:
        values, loc = net.upstream
        source = "spec"
    else:
        values = None
    if values is None:
        return {o: np.ones_like(exe.values[o]) for o in net.outputs}, source
    try:
        return _seeds(net, exe, values, loc), source
    except SpecError as exc:
        raise exc.located(file=net.file if source == "spec" else None) from None


def _seeds(net: Network, exe, values, loc) -> dict[str, np.ndarray]:
    seeds: dict[str, np.ndarray] = {}
    if isinstance(values, dict):
        items = dict(values)
        for key in items:
            if key not in net.outputs:
                where = values.key_loc(key) if hasattr(values, "key_loc") else loc
                raise SpecError(f"upstream: '{key}' is not an output of the network", where,
                                kind="name", help=suggestion(str(key), net.outputs, "outputs"))
    else:
        if len(net.outputs) != 1:
            raise SpecError(f"upstream: the network has {len(net.outputs)} outputs "
                            f"({', '.join(net.outputs)}): map each output's name to its values",
                            loc, kind="value")
        items = {net.outputs[0]: values}
    for name in net.outputs:
        if name not in items:
            seeds[name] = np.ones_like(exe.values[name])
            continue
        raw = items[name]
        where = values.val_loc(name) if hasattr(values, "val_loc") and isinstance(values, dict) else loc
        array = np.asarray(raw, dtype=np.float64) if isinstance(raw, np.ndarray) else \
            _nested(raw, f"upstream gradient of '{name}'", where)
        want = exe.values[name].shape
        if array.shape == want[1:]:
            array = np.broadcast_to(array, want).copy()
        if array.shape != want:
            raise SpecError(f"upstream gradient of '{name}' has shape {list(array.shape)}, but the "
                            f"output is {list(want[1:])} per sample", where, kind="shape",
                            help="give one sample [C, ...] (or a batch [N, C, ...]) of the output's shape")
        seeds[name] = array
    return seeds


# -- gradients --------------------------------------------------------------------------------


def gradients(net: Network, x: np.ndarray | None = None, weights: dict | None = None,
              upstream: dict[str, np.ndarray] | np.ndarray | None = None, seed: int = 0,
              explain: bool = False) -> GradResult:
    """Forward, then backward from the upstream gradient; per-layer gradients.

    Args:
        net: from :func:`cnncalc.load`.
        x: input (N, C, ...); default: the values written in the spec.
        weights: ``"<layer>.<tensor>"`` -> array (PyTorch's layouts); tensors written
            in the spec are used, the rest drawn from ``seed``.
        upstream: dL/d(output): see :func:`upstream_seeds`.
        explain: also recognise the lectures' identities (switches are always given).

    Returns:
        A :class:`GradResult`; every array in float64, batch first.

    Raises:
        SpecError: no input values, or a malformed upstream gradient.
    """
    if x is None and net.input_values is None:
        raise SpecError("grad needs the input's values: write them in the spec or give --data",
                        kind="usage", help="input: {shape: [1, 6], values: [[1, 0, 2, 2, 3, 1]]}")
    if x is not None:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == len(net.input_shape):
            x = x[None]
    exe = forward(net, x, weights, seed, dtype=np.float64)
    seeds, source = upstream_seeds(net, exe, upstream)
    grads = backward(net, exe, seeds, outputs=True)
    weights_of = index_weights(exe.weights, {n.name for n in net.nodes})
    consumers: dict[str, int] = {}
    for node in net.nodes:
        for name in node.inputs:
            consumers[name] = consumers.get(name, 0) + 1
    layers = []
    for node in net.nodes:
        if node.name not in grads:
            continue  # no path to an output with a gradient
        dy = grads[node.name]
        if all(consumers.get(i, 0) == 1 for i in node.inputs) and len(set(node.inputs)) == len(node.inputs):
            dx = [grads[i] for i in node.inputs]  # the only consumer: the total is its own part
        else:  # several consumers: backpropagate this layer's part alone
            own = backward(net, exe, {node.name: dy}, outputs=True)
            dx = [own[i] for i in node.inputs]
        w = weights_of.get(node.name, {})
        learnable = node.facts.params
        dw = {k: grads[tensor_key(node.name, k)] for k in learnable if tensor_key(node.name, k) in grads}
        row = LayerGradient(node.name, node.type, list(node.inputs), [exe.values[i] for i in node.inputs],
                            exe.values[node.name], dy, dx, dw, {k: w[k] for k in learnable if k in w})
        _local(node, row, w, explain)
        if explain and "weight" in learnable and len(node.inputs) == 1:
            row.identities += _conv_identities(node, row)
        layers.append(row)
    return GradResult(net.name, source, layers, grads[INPUT])


def _local(node, row: LayerGradient, w: dict, explain: bool) -> None:
    """Switches and averaging, read from the layer's local Jacobian: the layer's own
    backward pass run once on a batch of one-hot upstream gradients."""
    if node.facts.params or len(row.x) != 1 or node.facts.geometry is None:
        return
    x, y = row.x[0][:1], row.y[:1]
    units, size = y[0].size, x[0].size
    if units > MAX_LOCAL_UNITS or size > MAX_LOCAL_INPUT or y.ndim != x.ndim:
        return
    eye = np.eye(units, dtype=np.float64).reshape(units, *y.shape[1:])
    xs = np.broadcast_to(x, (units, *x.shape[1:])).copy()
    ys = np.broadcast_to(y, (units, *y.shape[1:])).copy()
    (jac,), _ = executor_layer(node).backward([xs], w, ys, eye, Context())
    jac = np.asarray(jac).reshape(units, size)
    nonzero = jac != 0
    counts = nonzero.sum(axis=1)
    xflat = x[0].reshape(-1)
    if np.all(counts == 1) and np.allclose(jac[nonzero], 1.0):
        winners = nonzero.argmax(axis=1)
        if not np.allclose(xflat[winners], y[0].reshape(-1)):
            return
        geometry, pads = node.facts.geometry, node.facts.pads
        for u in range(units):
            unit = np.unravel_index(u, y.shape[1:])
            window = ()
            if pads is not None:
                window = tuple((int(max(o * s - b, 0)), int(min(o * s - b + k - 1, n - 1)))
                               for o, (k, s), (b, _), n in zip(unit[1:], geometry, pads, x.shape[2:]))
            ties = 0
            if window:
                region = x[0][(unit[0], *(slice(a, b + 1) for a, b in window))]
                ties = int(np.count_nonzero(region == xflat[winners[u]])) - 1
            row.switches.append(Switch(tuple(int(i) for i in unit),
                                       tuple(int(i) for i in np.unravel_index(winners[u], x.shape[1:])),
                                       window, float(y[0].reshape(-1)[u]), ties))
        if explain:
            row.identities.append(_switch_identity(row))
        return
    if explain and np.all(counts > 0):
        shares = [np.unique(np.round(jac[u][nonzero[u]], 12)) for u in range(units)]
        if all(len(s) == 1 and math.isclose(s[0] * c, 1.0, rel_tol=1e-9) for s, c in zip(shares, counts)):
            row.identities.append(_average_identity(node, row, counts))


def _fmt(v: float) -> str:
    v = float(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def _sample(a: np.ndarray) -> np.ndarray:
    return a[0]


def _grid(a: np.ndarray) -> list[str]:
    """Rows of a 1-D or 2-D array (one channel) as text."""
    a = np.asarray(a)
    if a.ndim == 1:
        return ["[" + " ".join(_fmt(v) for v in a) + "]"]
    if a.ndim == 2:
        texts = [[_fmt(v) for v in r] for r in a]
        width = max(len(t) for r in texts for t in r)
        return ["[" + " ".join(t.rjust(width) for t in r) + "]" for r in texts]
    return [np.array2string(a, precision=6, suppress_small=True)]


def _switch_identity(row: LayerGradient) -> Identity:
    out = Identity("max pooling: switches",
                   "dL/dx[p] = sum of dL/dy[u] over the units u whose window p won (0 elsewhere)")
    dy = _sample(row.dy)
    for sw in row.switches[:MAX_EXPLAINED]:
        where = " x ".join(f"{a}..{b}" for a, b in sw.window)
        tie = (f" (a tie with {sw.ties} other input(s) of the window: the first maximum in row-major "
               "order wins, as in PyTorch, and takes the whole gradient)") if sw.ties else ""
        out.lines.append(f"y{list(sw.unit)} = max(window {where}) = {_fmt(sw.value)} at x{list(sw.winner)}"
                         f"{tie}: dx{list(sw.winner)} += {_fmt(dy[sw.unit])}")
    won: dict[tuple, int] = {}
    for sw in row.switches:
        won[sw.winner] = won.get(sw.winner, 0) + 1
    shared = [k for k, n in won.items() if n > 1]
    if shared:
        out.lines.append("\"+=\": " + ", ".join(f"x{list(k)} won {won[k]} windows" for k in shared)
                         + " (overlapping windows, CMU 11-785)")
    return out


def _average_identity(node, row: LayerGradient, counts) -> Identity:
    k = node.facts.geometry
    kk = math.prod(a for a, _ in k)
    out = Identity("average pooling spreads the gradient",
                   f"dL/dx[p] = sum over the windows holding p of dL/dy[u] / |window| "
                   f"(1/{kk} for the full {'x'.join(str(a) for a, _ in k)} window)")
    dy = _sample(row.dy).reshape(-1)
    for u in range(min(len(dy), MAX_EXPLAINED)):
        out.lines.append(f"unit {u}: {_fmt(dy[u])}/{int(counts[u])} = {_fmt(dy[u] / counts[u])} to each "
                         f"of its {int(counts[u])} inputs")
    out.lines.append("dL/dx =")
    out.lines += ["  " + t for t in _channel_grids(_sample(row.dx[0]))]
    return out


def _channel_grids(a: np.ndarray) -> list[str]:
    if a.shape[0] == 1:
        return _grid(a[0])
    lines = []
    for c in range(a.shape[0]):
        lines.append(f"channel {c}:")
        lines += ["  " + t for t in _grid(a[c])]
    return lines


# -- convolution ------------------------------------------------------------------------------


def _conv_geometry(node, row: LayerGradient):
    """(kernel, dilation, stride, pads) of a plain convolution layer, or None."""
    w = row.weights.get("weight")
    x = row.x[0]
    geometry, pads = node.facts.geometry, node.facts.pads
    if w is None or geometry is None or pads is None or w.ndim != x.ndim or w.shape[1] != x.shape[1]:
        return None
    kernel = w.shape[2:]
    dilation = []
    for k, (keff, _) in zip(kernel, geometry):
        if k == 1:
            dilation.append(1)
        elif (keff - 1) % (k - 1):
            return None
        else:
            dilation.append((keff - 1) // (k - 1))
    return tuple(kernel), tuple(dilation), tuple(int(s) for _, s in geometry), [tuple(p) for p in pads]


def _insert_zeros(dy: np.ndarray, stride) -> np.ndarray:
    """dy (N, C, *o) with s - 1 zeros between neighbours along each axis."""
    shape = (*dy.shape[:2], *((o - 1) * s + 1 for o, s in zip(dy.shape[2:], stride)))
    up = np.zeros(shape, dtype=dy.dtype)
    up[(slice(None), slice(None), *(slice(None, None, s) for s in stride))] = dy
    return up


def _dilate_kernel(w: np.ndarray, dilation) -> np.ndarray:
    shape = (*w.shape[:2], *((k - 1) * d + 1 for k, d in zip(w.shape[2:], dilation)))
    out = np.zeros(shape, dtype=w.dtype)
    out[(slice(None), slice(None), *(slice(None, None, d) for d in dilation))] = w
    return out


def _correlate(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Valid cross-correlation over the trailing axes: out[p] = sum_j a[p + j] k[j]
    (a and k of equal rank, summed over every tap)."""
    out_shape = tuple(n - m + 1 for n, m in zip(a.shape, k.shape))
    out = np.zeros(out_shape, dtype=np.float64)
    for tap in np.ndindex(*k.shape):
        if k[tap] == 0:
            continue
        out += k[tap] * a[tuple(slice(t, t + o) for t, o in zip(tap, out_shape))]
    return out


def full_convolution_input_gradient(dy: np.ndarray, w: np.ndarray, stride, dilation, pads,
                                    sizes) -> tuple[np.ndarray, np.ndarray]:
    """dL/dx of y = correlate(pad(x), w) (stride s, dilation d), the lectures' way:
    insert s - 1 zeros into dy, pad it with k_ext - 1 zeros on every side, correlate
    with the flipped kernel (a full convolution), then drop the padding.

    dy: (N, C_out, *o); w: (C_out, C_in, *k). Returns (dx (N, C_in, *sizes), the
    zero-inserted dy).
    """
    up = _insert_zeros(dy, stride)
    wd = _dilate_kernel(w, dilation)
    keff = wd.shape[2:]
    nd = len(keff)
    padded = np.pad(up, [(0, 0), (0, 0), *((k - 1, k - 1) for k in keff)])
    flipped = wd[(slice(None), slice(None), *(slice(None, None, -1),) * nd)]
    n, cin = dy.shape[0], w.shape[1]
    full_len = tuple(u + k - 1 for u, k in zip(up.shape[2:], keff))
    total = tuple(s + b + a for s, (b, a) in zip(sizes, pads))
    dxp = np.zeros((n, cin, *total))
    for b in range(n):
        for c in range(cin):
            acc = np.zeros(full_len)
            for o in range(w.shape[0]):
                acc += _correlate(padded[b, o], flipped[o, c])
            dxp[(b, c, *(slice(0, m) for m in full_len))] = acc
    dx = dxp[(slice(None), slice(None), *(slice(p[0], p[0] + s) for p, s in zip(pads, sizes)))]
    return dx, up


def correlation_weight_gradient(x: np.ndarray, dy: np.ndarray, kernel, stride, dilation, pads) -> np.ndarray:
    """dL/dw[o, c, i] = sum_t dy[o, t] x_pad[c, t s + i d]: the correlation of the
    (padded) input with the zero-inserted upstream gradient, read at lags i d."""
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    up = _insert_zeros(dy, stride)
    dw = np.zeros((dy.shape[1], x.shape[1], *kernel))
    for b in range(x.shape[0]):
        for o in range(dy.shape[1]):
            for c in range(x.shape[1]):
                for tap in np.ndindex(*kernel):
                    start = [t * d for t, d in zip(tap, dilation)]
                    window = xp[(b, c, *(slice(s0, s0 + u) for s0, u in zip(start, up.shape[2:])))]
                    if window.shape != up.shape[2:]:
                        window = np.pad(window, [(0, u - m) for u, m in zip(up.shape[2:], window.shape)])
                    dw[(o, c, *tap)] += float((window * up[b, o]).sum())
    return dw


def _conv_identities(node, row: LayerGradient) -> list[Identity]:
    geo = _conv_geometry(node, row)
    if geo is None:
        return []
    kernel, dilation, stride, pads = geo
    x, dy, w = row.x[0], row.dy, row.weights["weight"]
    if w.size > MAX_IDENTITY_WEIGHTS or x.size > MAX_IDENTITY_INPUT:
        return []  # the identities are recomputed tap by tap: for hand-sized layers
    try:
        dx, up = full_convolution_input_gradient(dy, w, stride, dilation, pads, x.shape[2:])
        dw = correlation_weight_gradient(x, dy, kernel, stride, dilation, pads)
    except ValueError:
        return []
    out = []
    single = w.shape[0] == 1 and w.shape[1] == 1 and x.shape[0] == 1
    if np.allclose(dx, row.dx[0], rtol=1e-9, atol=1e-9):
        ident = Identity("input gradient = full convolution of dL/dy with the flipped kernel",
                         "dL/dx = crop_P( pad_(k-1)( dL/dy with s - 1 zeros inserted ) ⋆ flip(w) )")
        if single:
            ident.lines += ["dL/dy ="] + ["  " + t for t in _grid(dy[0, 0])]
            if any(s > 1 for s in stride):
                ident.lines += [f"strides insert zeros (s = {', '.join(map(str, stride))}):"]
                ident.lines += ["  " + t for t in _grid(up[0, 0])]
            wd = _dilate_kernel(w, dilation)[0, 0]
            flipped = wd[(slice(None, None, -1),) * wd.ndim]
            ident.lines += ["flip(w) ="] + ["  " + t for t in _grid(flipped)]
            if any(b or a for b, a in pads):
                ident.lines.append("padding " + ", ".join(f"[{b}, {a}]" for b, a in pads)
                                   + " is cropped from the full result")
            ident.lines += _elementwise_dx(x.shape[2:], dy[0, 0], w[0, 0], stride, dilation, pads)
        ident.lines += ["dL/dx ="] + ["  " + t for t in _channel_grids(dx[0])]
        out.append(ident)
    if np.allclose(dw, row.dw.get("weight", np.nan), rtol=1e-9, atol=1e-9):
        ident = Identity("weight gradient = correlation of the input with dL/dy",
                         "dL/dw[i] = sum_t dL/dy[t] · x[t·s + i·d]")
        if single:
            ident.lines += _elementwise_dw(x[0, 0], dy[0, 0], kernel, stride, dilation, pads)
        ident.lines += ["dL/dw ="] + ["  " + t for t in _grid(dw[0, 0] if single else dw.reshape(-1))]
        if "bias" in row.dw:
            ident.lines.append(f"dL/db = sum of dL/dy = {', '.join(_fmt(v) for v in row.dw['bias'])}")
        out.append(ident)
    if single and x.ndim == 3 and dilation == (1,) and np.allclose(dx, row.dx[0]):
        out.append(_cs5242_form(x[0, 0], dy[0, 0], w[0, 0], stride[0], pads[0]))
    return out


def _terms(pairs) -> str:
    return " + ".join(f"{_fmt(a)}·{_fmt(b)}" for a, b in pairs) or "0"


def _elementwise_dx(sizes, dy, w, stride, dilation, pads) -> list[str]:
    """dL/dx[p] = sum of dL/dy[t]·w[i] over t s + i d = p + pad (CENG 403's sum)."""
    if math.prod(sizes) > MAX_EXPLAINED:
        return []
    lines = []
    for p in np.ndindex(*sizes):
        pairs = []
        for t in np.ndindex(*dy.shape):
            for i in np.ndindex(*w.shape):
                if all(tt * s + ii * d == pp + b for tt, s, ii, d, pp, (b, _)
                       in zip(t, stride, i, dilation, p, pads)):
                    pairs.append((dy[t], w[i], t, i))
        value = sum(a * b for a, b, _, _ in pairs)
        names = " + ".join(f"dy{list(t)}·w{list(i)}" for _, _, t, i in pairs) or "0"
        lines.append(f"dx{list(p)} = {names} = {_terms([(a, b) for a, b, _, _ in pairs])} = {_fmt(value)}")
    return lines


def _elementwise_dw(x, dy, kernel, stride, dilation, pads) -> list[str]:
    if math.prod(kernel) > MAX_EXPLAINED or dy.size > MAX_EXPLAINED:
        return []
    xp = np.pad(x, pads)
    lines = []
    for i in np.ndindex(*kernel):
        pairs = [(xp[tuple(tt * s + ii * d for tt, s, ii, d in zip(t, stride, i, dilation))], dy[t])
                 for t in np.ndindex(*dy.shape)]
        lines.append(f"dw{list(i)} = {_terms(pairs)} = {_fmt(sum(a * b for a, b in pairs))}")
    return lines


def _cs5242_form(x, dy, w, stride, pad) -> Identity:
    """CS5242 lecture 5: dw = dy x_hat^T, dx_hat = w^T dy, then dx[t s + i] += dx_hat[i, t]."""
    k, o = len(w), len(dy)
    dx_hat = np.outer(w, dy)  # (k, o)
    total = len(x) + pad[0] + pad[1]
    dx = np.zeros(total)
    lines = ["dx_hat = w^T · dy (rows i = kernel taps, columns t = outputs):"]
    lines += ["  " + t for t in _grid(dx_hat)]
    for t in range(o):
        for i in range(k):
            dx[t * stride + i] += dx_hat[i, t]
    lines.append("for t in range(o): for i in range(k): dx[t·s + i] += dx_hat[i, t]  ->  "
                 + _grid(dx)[0] + (f", then drop the padding {list(pad)}" if any(pad) else ""))
    return Identity("CS5242's implementation (im2col, then col2im)",
                    "dw = dot(dy, x_hat.T); dx_hat = dot(w.T, dy); dx[t+i] += dx_hat[i, t]", lines)


# -- the receptive field of one unit, from its gradient's support ----------------------------


@dataclass
class UnitRegion:
    """The input positions whose gradient reaches one unit (positive weights and
    input, max pooling routing to every tap: nothing cancels).

    layer, unit: the unit (spatial index in the layer's output).
    mask: per-sample input support (spatial axes), bool.
    bounds: per axis, (first, last) input position reached.
    analysed: the analyzer's receptive-field size per axis (None if global).
    """

    layer: str
    unit: tuple[int, ...]
    mask: np.ndarray
    bounds: tuple[tuple[int, int], ...]
    analysed: tuple | None


def parse_unit(text: str, net: Network) -> tuple[str, tuple[int, ...]]:
    """'conv3:4,4' -> ('conv3', (4, 4)). Raises SpecError for a bad form or name."""
    name, sep, rest = text.rpartition(":")
    names = [n.name for n in net.nodes]
    if not sep or not name:
        raise SpecError(f"--unit '{text}' is not LAYER:i,j", kind="usage", help="e.g. --unit conv3:4,4")
    if name not in names:
        raise SpecError(f"--unit: no layer named '{name}'", kind="usage", help=suggestion(name, names, "layers"))
    try:
        index = tuple(int(p) for p in rest.replace("x", ",").split(","))
    except ValueError:
        raise SpecError(f"--unit '{text}': '{rest}' is not a position", kind="usage",
                        help="one integer per spatial axis: --unit conv3:4,4") from None
    return name, index


def unit_region(net: Network, layer: str, unit: tuple[int, ...], seed: int = 0) -> UnitRegion:
    """The input region that reaches ``unit`` of ``layer`` (CMU 11-785: the receptive
    field "estimated by backpropagation"), from the support of its gradient.

    Raises:
        SpecError: a unit outside the layer's output, or a layer without spatial axes.
    """
    node = net.node(layer)
    out_shape = node.facts.out_shape
    if len(out_shape) != net.ndim + 1:
        raise SpecError(f"--unit: '{layer}' has no spatial axes (shape {list(out_shape)})", kind="usage",
                        help="choose a convolution or pooling layer")
    if len(unit) != net.ndim or any(not 0 <= u < n for u, n in zip(unit, out_shape[1:])):
        raise SpecError(f"--unit: {list(unit)} is not a position of '{layer}', whose output is "
                        f"{'x'.join(map(str, out_shape[1:]))}", kind="usage",
                        help=f"{net.ndim} index(es), each from 0 to the size - 1")
    weights = init_weights(net, seed, np.float64, positive=True)  # positive, even where written
    x = np.random.default_rng(seed).uniform(1.0, 2.0, (1, *net.input_shape))
    exe = forward(net, x, weights, seed, dtype=np.float64, checked=True, probe=True)
    g = np.zeros_like(exe.values[layer])
    g[(0, slice(None), *unit)] = 1.0
    support = np.abs(backward(net, exe, {layer: g}, probe=True)[INPUT][0]).sum(axis=0) > 0
    where = np.nonzero(support)
    bounds = tuple((int(a.min()), int(a.max())) for a in where) if support.any() else ()
    rf = analyze(net).layer(layer).receptive_field
    return UnitRegion(layer, unit, support, bounds, None if rf is None else tuple(rf.size))


def region_grid(region: UnitRegion, limit: int = 64) -> list[str] | None:
    """'#' for the positions that reach the unit, '.' for the rest; None if too large."""
    mask = region.mask
    if mask.ndim > 2 or any(n > limit for n in mask.shape):
        return None
    if mask.ndim == 1:
        return ["".join("#" if m else "." for m in mask)]
    return ["".join("#" if m else "." for m in row) for row in mask]


# -- JSON ---------------------------------------------------------------------------------


def to_dict(result: GradResult) -> dict:
    """The JSON form of :class:`GradResult` (arrays as nested lists, sample 0 dropped
    of its batch axis when the batch is one)."""
    def arr(a):
        a = np.asarray(a)
        return (a[0] if a.shape[0] == 1 else a).tolist()

    return {
        "network": result.name,
        "upstream": result.upstream,
        "layers": [{
            "name": r.name, "type": r.type, "inputs": r.inputs,
            "input": [arr(v) for v in r.x], "output": arr(r.y), "upstream_gradient": arr(r.dy),
            "input_gradient": {i: arr(v) for i, v in zip(r.inputs, r.dx)},
            "weight_gradient": {k: np.asarray(v).tolist() for k, v in r.dw.items()},
            "switches": [{"unit": list(s.unit), "winner": list(s.winner),
                          "window": [list(w) for w in s.window], "value": s.value, "ties": s.ties}
                         for s in r.switches],
            "identities": [{"title": i.title, "formula": i.formula, "lines": i.lines} for i in r.identities],
        } for r in result.layers],
        "input_gradient": arr(result.input_gradient),
    }


# -- text ---------------------------------------------------------------------------------


def _block(label: str, a: np.ndarray, indent: str = "  ") -> list[str]:
    """A labelled array: one sample (the batch axis dropped when it is one), leading
    axes of size one dropped for display."""
    a = np.asarray(a)
    sample = a[0] if a.shape[0] == 1 else a
    while sample.ndim > 1 and sample.shape[0] == 1:
        sample = sample[0]
    if sample.ndim <= 2:
        grids = _grid(sample)
    elif sample.ndim == 3:
        grids = _channel_grids(sample)
    else:
        grids = np.array2string(sample, precision=6, suppress_small=True, threshold=200).split("\n")
    if len(grids) == 1:
        return [f"{indent}{label} = {grids[0]}"]
    return [f"{indent}{label} ="] + [f"{indent}  {g}" for g in grids]


def render(result: GradResult, explain: bool = False) -> str:
    """The text of ``cnncalc grad``: per layer x, y, dL/dy, dL/dx, dL/dw, switches,
    and with ``explain`` the identities with the numbers."""
    source = {"ones": "ones (L = sum of the outputs)", "spec": "written in the spec (upstream:)",
              "given": "given (--upstream)"}[result.upstream]
    lines = [f"{result.name}: backpropagation; upstream gradient dL/d(output): {source}", ""]
    for row in result.layers:
        ins = ", ".join(row.inputs)
        lines.append(f"{row.name} ({row.type}), from {ins}")
        for name, x in zip(row.inputs, row.x):
            lines += _block(f"x ({name})" if len(row.inputs) > 1 else "x", x)
        for key, value in row.weights.items():
            lines += _block(key, value[None])
        lines += _block("y", row.y)
        lines += _block("dL/dy", row.dy)
        for name, dx in zip(row.inputs, row.dx):
            lines += _block(f"dL/dx ({name})" if len(row.inputs) > 1 else "dL/dx", dx)
        for key, value in row.dw.items():
            lines += _block(f"dL/d{key}", value[None])
        if row.switches and not explain:
            lines.append("  switches (output unit <- winning input): " + "; ".join(
                f"{list(s.unit)} <- {list(s.winner)}" + (f" (first of {s.ties + 1} tied)" if s.ties else "")
                for s in row.switches[:MAX_EXPLAINED]))
        if explain:
            for ident in row.identities:
                lines.append(f"  * {ident.title}")
                lines.append(f"    {ident.formula}")
                lines += [f"      {t}" for t in ident.lines]
        lines.append("")
    lines += _block("dL/d(input)", result.input_gradient, indent="")
    return "\n".join(lines) + "\n"


def render_region(region: UnitRegion) -> str:
    axes = ("rows", "columns") if len(region.bounds) == 2 else ("positions",) if len(region.bounds) == 1 \
        else ("depth", "rows", "columns")
    extent = "x".join(str(b - a + 1) for a, b in region.bounds)
    where = ", ".join(f"{name} {a}..{b}" for name, (a, b) in zip(axes, region.bounds))
    lines = [f"{region.layer}{list(region.unit)}: the input region that reaches it (gradient support): "
             f"{extent}, {where}; {int(region.mask.sum())} of {region.mask.size} input positions"]
    if region.analysed is not None:
        lines.append(f"analysis: receptive field {'x'.join(str(s) for s in region.analysed)} "
                     "(the part inside the input is what the support shows)")
    grid = region_grid(region)
    if grid is not None:
        lines += grid
    return "\n".join(lines) + "\n"
