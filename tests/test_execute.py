"""The executor's forward passes against naive reference loops written from the
definitions (PyTorch's documentation), and its backward passes against finite
differences."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import cnncalc
from cnncalc import SpecError
from cnncalc.measure.execute import backward, forward, run
from tests.conftest import SPECS

RNG = np.random.default_rng(1234)


def net_of(input_shape, *layers, **kwargs):
    text = f"input: {list(input_shape)}\nlayers:\n" + "".join(f"  - {layer}\n" for layer in layers)
    return cnncalc.loads(text, "test.yaml", **kwargs)


def run_one(input_shape, layer, batch=2, weights=None):
    net = net_of(input_shape, layer)
    x = RNG.standard_normal((batch, *input_shape))
    execution = forward(net, x, weights, seed=3, dtype=np.float64)
    node = net.nodes[-1]
    w = {k.split(".", 1)[1]: v for k, v in execution.weights.items()}
    return x, w, execution.values[node.name], execution, net


# -- naive references -------------------------------------------------------------------


def ref_conv(x, weight, bias, stride, pads, dilation, groups):
    """out[n, o, p] = bias[o] + sum_{c in group(o), k} w[o, c, k] x[n, c, p*s - pad + k*d]"""
    n, c = x.shape[:2]
    o, cg = weight.shape[:2]
    kernel = weight.shape[2:]
    sizes = x.shape[2:]
    out_sizes = [(size + b + a - d * (k - 1) - 1) // s + 1
                 for size, (b, a), k, s, d in zip(sizes, pads, kernel, stride, dilation)]
    out = np.zeros((n, o, *out_sizes))
    for b_, oc in itertools.product(range(n), range(o)):
        g = oc // (o // groups)
        for pos in itertools.product(*map(range, out_sizes)):
            total = 0.0 if bias is None else bias[oc]
            for ci in range(cg):
                for tap in itertools.product(*map(range, kernel)):
                    idx = [p * s - pb + t * d for p, s, (pb, _), t, d in zip(pos, stride, pads, tap, dilation)]
                    if all(0 <= i < size for i, size in zip(idx, sizes)):
                        total += weight[(oc, ci, *tap)] * x[(b_, g * cg + ci, *idx)]
            out[(b_, oc, *pos)] = total
    return out


def ref_conv_transpose(x, weight, bias, stride, pad, dilation, groups, output_padding):
    """Scatter definition: x[n, c, i] * w[c, o, k] lands on full output i*s + k*d; crop pad."""
    n, c = x.shape[:2]
    og = weight.shape[1]
    kernel, sizes = weight.shape[2:], x.shape[2:]
    full = [(i - 1) * s + d * (k - 1) + 1 + op
            for i, s, d, k, op in zip(sizes, stride, dilation, kernel, output_padding)]
    out = np.zeros((n, og * groups, *full))
    for b_, ci in itertools.product(range(n), range(c)):
        g = ci // (c // groups)
        for pos in itertools.product(*map(range, sizes)):
            for oc in range(og):
                for tap in itertools.product(*map(range, kernel)):
                    idx = tuple(p * s + t * d for p, s, t, d in zip(pos, stride, tap, dilation))
                    out[(b_, g * og + oc, *idx)] += x[(b_, ci, *pos)] * weight[(ci, oc, *tap)]
    crop = (slice(None), slice(None), *(slice(p, f - p) for p, f in zip(pad, full)))
    out = out[crop]
    return out if bias is None else out + bias.reshape(1, -1, *(1,) * len(sizes))


def ref_pool(x, kernel, stride, pad, dilation, ceil_mode, kind, count_include_pad=True):
    """PyTorch's pooling: output size with the ceil rule; max ignores padding; avg divides by
    the window clipped to the padded input (count_include_pad) or to the input."""
    sizes = x.shape[2:]
    outs = []
    for size, k, s, p, d in zip(sizes, kernel, stride, pad, dilation):
        span = size + 2 * p - d * (k - 1) - 1
        o = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= size + p:
            o -= 1
        outs.append(o)
    out = np.zeros((*x.shape[:2], *outs))
    for b_, c in itertools.product(*map(range, x.shape[:2])):
        for pos in itertools.product(*map(range, outs)):
            values, count = [], 1
            starts = [q * s - p for q, s, p in zip(pos, stride, pad)]
            for tap in itertools.product(*map(range, kernel)):
                idx = [st + t * d for st, t, d in zip(starts, tap, dilation)]
                if all(0 <= i < size for i, size in zip(idx, sizes)):
                    values.append(x[(b_, c, *idx)])
            if kind == "max":
                out[(b_, c, *pos)] = max(values)
                continue
            for st, k, size, p in zip(starts, kernel, sizes, pad):
                end = min(st + k, size + p)
                lo, hi = (st, end) if count_include_pad else (max(st, 0), min(end, size))
                count *= hi - lo
            out[(b_, c, *pos)] = sum(values) / count
    return out


CONV_CASES = [
    ([2, 7], "conv1d: {out_channels: 3, kernel_size: 3, stride: 2, padding: 1}"),
    ([4, 6, 7], "conv: {out_channels: 6, kernel_size: [3, 2], stride: [1, 2], dilation: [2, 1],"
                " padding: [[1, 0], [2, 1]], groups: 2}"),
    ([3, 5, 5], "conv: {out_channels: 2, kernel_size: 3, padding: same, bias: false}"),
    ([2, 4, 5, 4], "conv3d: {out_channels: 2, kernel_size: 2, stride: [1, 2, 1], padding: 1}"),
    ([4, 6, 6], "conv: {out_channels: 4, kernel_size: 3, groups: 4, padding: 1}"),  # depthwise
]


@pytest.mark.parametrize("shape, layer", CONV_CASES)
def test_conv_forward_matches_loops(shape, layer):
    x, w, y, execution, net = run_one(shape, layer)
    conv = net.nodes[-1].facts.layer
    expected = ref_conv(x, w["weight"], w.get("bias"), conv.stride, conv.pads, conv.dilation,
                        conv.p["groups"])
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    # executed multiply-accumulates = the analyzer's figure (for the spec's batch of 1) x 2
    assert execution.macs[net.nodes[-1].name] == 2 * cnncalc.analyze(net).layers[-1].macs


TRANSPOSED_CASES = [
    ([2, 4], "conv_transpose1d: {out_channels: 3, kernel_size: 3, stride: 2, padding: 1, output_padding: 1}"),
    ([4, 3, 3], "conv_transpose: {out_channels: 2, kernel_size: [2, 3], stride: [2, 1], dilation: [1, 2], groups: 2}"),
    ([3, 2, 2], "conv_transpose: {out_channels: 1, kernel_size: 2, stride: 2, bias: false}"),
    ([1, 3, 2, 3], "conv_transpose3d: {out_channels: 2, kernel_size: 2, stride: 2, padding: [0, 1, 0]}"),
]


@pytest.mark.parametrize("shape, layer", TRANSPOSED_CASES)
def test_conv_transpose_forward_matches_loops(shape, layer):
    x, w, y, execution, net = run_one(shape, layer)
    layer_obj = net.nodes[-1].facts.layer
    expected = ref_conv_transpose(x, w["weight"], w.get("bias"), layer_obj.stride,
                                  [b for b, _ in layer_obj.pads], layer_obj.dilation,
                                  layer_obj.p["groups"], layer_obj.p["output_padding"])
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    assert execution.macs[net.nodes[-1].name] == 2 * cnncalc.analyze(net).layers[-1].macs


POOL_CASES = [
    ("maxpool: {kernel_size: 3, stride: 2, padding: 1}", "max", {}),
    ("maxpool: {kernel_size: 3, stride: 2, ceil_mode: true}", "max", {}),
    ("maxpool: {kernel_size: 2, stride: 1, dilation: 2, padding: 1}", "max", {}),
    ("maxpool: {kernel_size: 1, stride: 2, ceil_mode: true}", "max", {}),
    ("avgpool: {kernel_size: 3, stride: 2, padding: 1}", "avg", {}),
    ("avgpool: {kernel_size: 3, stride: 2, padding: 1, count_include_pad: false}", "avg",
     {"count_include_pad": False}),
    ("avgpool: {kernel_size: 2, stride: 2, padding: 1, ceil_mode: true}", "avg", {}),
    ("avgpool: {kernel_size: 3, stride: 2, ceil_mode: true, count_include_pad: false}", "avg",
     {"count_include_pad": False}),
]


@pytest.mark.parametrize("layer, kind, extra", POOL_CASES)
def test_pool_forward_matches_loops(layer, kind, extra):
    x, _, y, _, net = run_one([2, 9, 8], layer)
    pool = net.nodes[-1].facts.layer
    expected = ref_pool(x, pool.kernel, pool.stride, [b for b, _ in pool.pads], pool.dilation,
                        pool.p["ceil_mode"], kind, **extra)
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_adaptive_pools_match_loops():
    for kind in ("avg", "max"):
        x, _, y, _, _ = run_one([2, 10, 7], f"adaptive_{kind}pool: [4, 3]")
        for o1, o2 in itertools.product(range(4), range(3)):
            # PyTorch: start = floor(o L / O), end = ceil((o + 1) L / O)
            h = slice(o1 * 10 // 4, math.ceil((o1 + 1) * 10 / 4))
            w = slice(o2 * 7 // 3, math.ceil((o2 + 1) * 7 / 3))
            box = x[:, :, h, w]
            want = box.mean(axis=(2, 3)) if kind == "avg" else box.max(axis=(2, 3))
            np.testing.assert_allclose(y[:, :, o1, o2], want, rtol=1e-12)


def test_global_pools():
    x, _, y, _, _ = run_one([3, 4, 5], "global_avgpool")
    np.testing.assert_allclose(y, x.mean(axis=(2, 3), keepdims=True))
    x, _, y, _, _ = run_one([3, 4, 5], "global_maxpool")
    np.testing.assert_allclose(y, x.max(axis=(2, 3), keepdims=True))


def ref_source(o, in_len, out_len, scale, mode, align_corners):
    """PyTorch's area_pixel_compute_source_index (aten/src/ATen/native/UpSample.h)."""
    if mode == "nearest":
        return min(int(math.floor(o / scale)), in_len - 1), None, 0.0
    if align_corners:
        src = o * (in_len - 1) / (out_len - 1) if out_len > 1 else 0.0
    else:
        src = max((o + 0.5) / scale - 0.5, 0.0)
    i0 = min(int(math.floor(src)), in_len - 1)
    return i0, min(i0 + 1, in_len - 1), src - i0


@pytest.mark.parametrize("mode, align", [("nearest", False), ("bilinear", False), ("bilinear", True)])
def test_upsample_matches_pytorch_formulas(mode, align):
    extra = f", align_corners: {str(align).lower()}" if mode != "nearest" else ""
    x, _, y, _, _ = run_one([2, 3, 4], f"upsample: {{scale_factor: [2, 3], mode: {mode}{extra}}}")
    for o1, o2 in itertools.product(range(6), range(12)):
        h0, h1, lh = ref_source(o1, 3, 6, 2, mode, align)
        w0, w1, lw = ref_source(o2, 4, 12, 3, mode, align)
        if mode == "nearest":
            want = x[:, :, h0, w0]
        else:
            want = ((1 - lh) * ((1 - lw) * x[:, :, h0, w0] + lw * x[:, :, h0, w1])
                    + lh * ((1 - lw) * x[:, :, h1, w0] + lw * x[:, :, h1, w1]))
        np.testing.assert_allclose(y[:, :, o1, o2], want, rtol=1e-12)


@pytest.mark.parametrize("mode, numpy_mode", [("zeros", "constant"), ("reflect", "reflect"),
                                              ("replicate", "edge"), ("circular", "wrap")])
def test_pad_modes(mode, numpy_mode):
    x, _, y, _, _ = run_one([2, 4, 5], f"pad: {{padding: [[1, 2], [3, 0]], mode: {mode}}}")
    np.testing.assert_array_equal(y, np.pad(x, [(0, 0), (0, 0), (1, 2), (3, 0)], mode=numpy_mode))


def test_crop_flatten_reshape():
    x, _, y, _, _ = run_one([2, 6, 5], "crop: [[1, 2], [0, 1]]")
    np.testing.assert_array_equal(y, x[:, :, 1:4, 0:4])
    x, _, y, _, _ = run_one([2, 3, 4], "reshape: [4, -1]")
    np.testing.assert_array_equal(y, x.reshape(2, 4, 6))


def test_lrn_matches_loops():
    x, _, y, _, _ = run_one([7, 3, 2], "lrn: {size: 3, alpha: 0.5, beta: 0.75, k: 2}")
    for c in range(7):
        # PyTorch: b_c = a_c / (k + alpha/n * sum of a^2 over c - n//2 .. c + (n-1)//2)^beta
        window = x[:, max(c - 1, 0): min(c + 1, 6) + 1]
        want = x[:, c] / (2 + 0.5 / 3 * (window ** 2).sum(axis=1)) ** 0.75
        np.testing.assert_allclose(y[:, c], want, rtol=1e-12)


def test_batchnorm_linear_softmax_merges():
    x, w, y, _, _ = run_one([3, 2, 2], "batchnorm")
    shape = (1, 3, 1, 1)
    want = ((x - w["running_mean"].reshape(shape)) / np.sqrt(w["running_var"].reshape(shape) + 1e-5)
            * w["weight"].reshape(shape) + w["bias"].reshape(shape))
    np.testing.assert_allclose(y, want, rtol=1e-12)
    net = net_of([3, 2, 2], "flatten", "linear: 4", "softmax")
    x = RNG.standard_normal((2, 3, 2, 2))
    ex = forward(net, x, dtype=np.float64)
    lin = ex.values["linear1"]
    np.testing.assert_allclose(lin, x.reshape(2, 12) @ ex.weights["linear1.weight"].T
                               + ex.weights["linear1.bias"])
    np.testing.assert_allclose(ex.values["softmax1"], np.exp(lin) / np.exp(lin).sum(1, keepdims=True))
    net = net_of([4, 3, 3], "{identity, name: a}", "global_avgpool", "{multiply: {with: a}}",
                 "{concat: {with: a}}", "{add, from: [a, a]}")
    x = RNG.standard_normal((2, 4, 3, 3))
    v = run(net, x, dtype=np.float64)
    np.testing.assert_allclose(v["multiply1"], x * x.mean(axis=(2, 3), keepdims=True))
    np.testing.assert_allclose(v["concat1"], np.concatenate([v["multiply1"], x], axis=1))
    np.testing.assert_allclose(v["add1"], 2 * x)


def test_textbook_exercises():
    # UFLDL's 5x5 image and 3x3 kernel; d2l's [0..6] * [1, 2] (sources in the specs)
    out = run(cnncalc.load(SPECS / "exercises" / "conv2d_5x5.yaml"))
    np.testing.assert_array_equal(out["feature"][0, 0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    out = run(cnncalc.load(SPECS / "exercises" / "conv1d.yaml"))
    np.testing.assert_array_equal(out["out"][0, 0], [2, 5, 8, 11, 14, 17])


# -- gradients against finite differences -----------------------------------------------

GRAD_CASES = {
    "conv": ([2, 5, 4], "conv: {out_channels: 4, kernel_size: [3, 2], stride: [2, 1], padding: 1, dilation: [1, 2], groups: 2}"),
    "conv_transpose": ([2, 3, 3], "conv_transpose: {out_channels: 4, kernel_size: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}"),
    "maxpool": ([2, 5, 5], "maxpool: {kernel_size: 3, stride: 2, padding: 1, ceil_mode: true}"),
    "avgpool": ([2, 5, 5], "avgpool: {kernel_size: 2, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false}"),
    "global_avgpool": ([2, 3, 3], "global_avgpool"),
    "global_maxpool": ([2, 3, 3], "global_maxpool"),
    "adaptive_avgpool": ([2, 7, 5], "adaptive_avgpool: [3, 2]"),
    "adaptive_maxpool": ([2, 7, 5], "adaptive_maxpool: [3, 2]"),
    "upsample": ([2, 3, 4], "upsample: {scale_factor: [2, 3], mode: bilinear}"),
    "pad": ([2, 4, 4], "pad: {padding: [[2, 1], 1], mode: reflect}"),
    "crop": ([2, 5, 5], "crop: [[1, 0], 2]"),
    "flatten": ([2, 2, 2], "flatten"),
    "reshape": ([2, 2, 3], "reshape: [3, 4]"),
    "batchnorm": ([3, 2, 2], "batchnorm"),
    "lrn": ([5, 2, 2], "lrn: {size: 3, alpha: 0.3, beta: 0.75, k: 1.5}"),
    "linear": ([3, 2, 2], "linear: 3"),
    "prelu": ([3, 2, 2], "prelu: 3"),
    "softmax": ([4, 2, 2], "softmax"),
    "depthwise_conv": ([3, 5, 4], "depthwise_conv: {kernel_size: 3, depth_multiplier: 2, padding: 1, stride: [2, 1]}"),
    "separable_conv": ([3, 5, 4], "separable_conv: {out_channels: 2, kernel_size: 3, padding: 1}"),
    "locally_connected": ([2, 5, 4], "locally_connected: {out_channels: 3, kernel_size: [3, 2], stride: [2, 1]}"),
    "tiled_conv": ([2, 5, 5], "tiled_conv: {out_channels: 2, kernel_size: 2, tiles: [2, 3]}"),
    "deform_conv": ([4, 6, 5], "deform_conv: {out_channels: 2, kernel_size: 2, padding: 1, offset_groups: 2, modulated: true}"),
    "add_coords": ([2, 3, 4], "add_coords: {with_r: true}"),
    "lppool": ([2, 5, 5], "lppool: {kernel_size: 2, norm_type: 2}"),
    "sumpool": ([2, 5, 5], "sumpool: {kernel_size: 3, stride: 2, padding: 1}"),
    "instancenorm": ([3, 3, 3], "instancenorm: {affine: true}"),
    "groupnorm": ([4, 2, 3], "groupnorm: 2"),
    "layernorm": ([3, 2, 3], "layernorm"),
    "chunk": ([5, 2, 3], "chunk: {chunks: 2, index: 1}"),
    "chunk:spatial": ([2, 3, 5], "chunk: {chunks: 2, index: 0, dim: 3}"),
    "split": ([5, 2, 3], "split: {sizes: [1, 3, 1], index: 1}"),
    "channel_shuffle": ([6, 2, 2], "channel_shuffle: 3"),
    "pixel_shuffle": ([8, 2, 3], "pixel_shuffle: 2"),
    "pixel_unshuffle": ([2, 4, 6], "pixel_unshuffle: 2"),
    "layer_scale": ([3, 2, 3], "layer_scale: 1.0e-6"),
    "stochastic_depth": ([3, 2, 3], "stochastic_depth: {p: 0.2, mode: batch}"),
}
SMOOTH = ["identity", "dropout", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu",
          "hardswish", "sigmoid", "tanh", "hardsigmoid", "hardtanh", "mish", "softplus", "swish",
          "softplus: {beta: 3, threshold: 2}", "hardtanh: {min_val: -0.5, max_val: 2}"]


def _finite_difference_check(net, x, eps=1e-6):
    ex = forward(net, x, seed=5, dtype=np.float64)
    name = net.nodes[-1].name
    upstream = RNG.standard_normal(ex.values[name].shape)
    grads = backward(net, ex, {name: upstream})

    def loss(x_, weights):
        return float((forward(net, x_, weights, dtype=np.float64).values[name] * upstream).sum())

    for key, target in [("input", x), *ex.weights.items()]:
        if key.endswith(("running_mean", "running_var")) or target.dtype.kind != "f":
            continue  # statistics, and integer buffers (a relative position index): no gradient
        for index in itertools.islice(np.ndindex(*target.shape), 0, None, max(target.size // 12, 1)):
            plus, minus = target.copy(), target.copy()
            plus[index] += eps
            minus[index] -= eps
            if key == "input":
                numeric = (loss(plus, ex.weights) - loss(minus, ex.weights)) / (2 * eps)
            else:
                numeric = (loss(x, {**ex.weights, key: plus}) - loss(x, {**ex.weights, key: minus})) / (2 * eps)
            assert grads[key][index] == pytest.approx(numeric, rel=1e-5, abs=1e-7), (key, index)


@pytest.mark.parametrize("type_name", sorted(GRAD_CASES))
def test_backward_matches_finite_differences(type_name):
    shape, layer = GRAD_CASES[type_name]
    net = net_of(shape, layer)
    assert net.nodes[-1].type == type_name.split(":")[0]
    x = RNG.standard_normal((2, *shape))
    if type_name in ("maxpool", "global_maxpool", "adaptive_maxpool"):
        x = x + np.arange(x.size).reshape(x.shape) * 1e-3  # distinct values: a unique switch
    _finite_difference_check(net, x)


@pytest.mark.parametrize("type_name", SMOOTH)
def test_elementwise_backward(type_name):
    # |x| in [0.1, 2.5]: away from the kinks at 0, +-3 and 6
    x = RNG.uniform(0.1, 2.5, (2, 3, 4)) * RNG.choice([-1.0, 1.0], (2, 3, 4))
    _finite_difference_check(net_of([3, 4], type_name), x)


@pytest.mark.parametrize("merge", ["add: {with: a}", "multiply: {with: a}", "concat: {with: a}"])
def test_merge_backward(merge):
    net = net_of([3, 4], "{identity, name: a}", "{conv1d: {out_channels: 3, kernel_size: 1}, name: b}", f"{{{merge}}}")
    _finite_difference_check(net, RNG.standard_normal((2, 3, 4)))


# -- the API: weights, dtypes, memory ------------------------------------------------------


def test_weights_in_pytorch_layout_and_errors():
    net = net_of([2, 4], "{conv1d: {out_channels: 3, kernel_size: 2}, name: c}")
    weight = RNG.standard_normal((3, 2, 2))
    out = run(net, np.ones((1, 2, 4)), {"c.weight": weight, "c.bias": np.zeros(3)}, dtype=np.float64)
    np.testing.assert_allclose(out["c"][0, :, 0], weight.sum(axis=(1, 2)))
    with pytest.raises(SpecError) as info:
        run(net, np.ones((1, 2, 4)), {"c.weight": np.ones((3, 2, 3))})
    assert "node 'c' needs [3, 2, 2]" in info.value.message
    with pytest.raises(SpecError) as info:
        run(net, np.ones((1, 2, 4)), {"c.wieght": weight})
    assert "did you mean 'c.weight'" in info.value.help
    # PyTorch's batch-norm step counter is accepted and ignored
    bn = net_of([2, 4], "{batchnorm, name: bn}")
    run(bn, np.ones((1, 2, 4)), {"bn.num_batches_tracked": np.array(5)})


def test_a_pointwise_conv_written_as_linear_takes_nn_linears_weight_layout():
    # torch: Linear (ConvNeXt's pwconv, nn.Linear on channels-last): nn.Linear's weight is
    # (out, in); cnncalc's 1x1 conv weight (out, in, 1, 1) holds the same elements in the same
    # order, so either layout gives y[o, p] = sum_c W[o, c] x[c, p] + b[o]
    net = net_of([2, 3, 3], "{conv: {out_channels: 4, kernel_size: 1}, name: fc, torch: Linear}")
    weight, x = RNG.standard_normal((4, 2)), RNG.standard_normal((1, 2, 3, 3))
    want = np.einsum("oc,nchw->nohw", weight, x)
    for given in (weight, weight.reshape(4, 2, 1, 1)):
        out = run(net, x, {"fc.weight": given, "fc.bias": np.zeros(4)}, dtype=np.float64)
        np.testing.assert_allclose(out["fc"], want)
    with pytest.raises(SpecError) as info:  # the transposed layout is still refused
        run(net, x, {"fc.weight": weight.T})
    assert "needs [4, 2, 1, 1]" in info.value.message
    # torch: Linear on a convolution nn.Linear cannot compute is refused where it is written
    with pytest.raises(SpecError) as info:
        net_of([2, 3, 3], "{conv: {out_channels: 4, kernel_size: 3}, torch: Linear}")
    assert "needs a 1x1 convolution" in info.value.message and info.value.loc.line == 3
    # without torch: Linear only cnncalc's (PyTorch's Conv2d) layout is taken
    plain = net_of([2, 3, 3], "{conv: {out_channels: 4, kernel_size: 1}, name: fc}")
    with pytest.raises(SpecError):
        run(plain, x, {"fc.weight": weight})


def test_dtype_and_input_shape():
    net = net_of([1, 4], "relu")
    assert run(net, np.ones((3, 1, 4), dtype=np.float32))["relu1"].dtype == np.float32
    assert run(net, np.ones((3, 1, 4)))["relu1"].dtype == np.float64
    with pytest.raises(SpecError) as info:
        run(net, np.ones((1, 4)))
    assert "batch first" in info.value.message


def test_memory_limit_refuses_before_running():
    net = cnncalc.load(SPECS / "vgg16.yaml")
    with pytest.raises(SpecError) as info:
        run(net, np.zeros((64, 3, 224, 224), dtype=np.float32))
    assert "more than the limit of 2,147,483,648" in info.value.message
    assert info.value.kind == "limit"


def test_inline_weight_errors_are_located():
    with pytest.raises(SpecError) as info:
        cnncalc.loads("input: [1, 4]\nlayers:\n  - conv1d: {out_channels: 1, kernel_size: 2}\n"
                      "    weights: {weight: [[[1, 2, 3]]]}\n", "x.yaml")
    assert (info.value.line, info.value.column) == (4, 23)
    assert "weight has shape [1, 1, 3], needs [1, 1, 2]" in info.value.message
    with pytest.raises(SpecError) as info:
        cnncalc.loads("input: [1, 4]\nlayers:\n  - conv1d: {out_channels: 1, kernel_size: 2}\n"
                      "    weights: {weight: [[[1, 2], [3]]]}\n", "x.yaml")
    assert "ragged" in info.value.message
