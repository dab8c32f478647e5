"""The registry-wide contract: for every layer type, the executor's measurements
equal the analyzer's figures (shape, parameters, MACs, receptive field), through
`cnncalc verify`'s independent measurements."""

from __future__ import annotations

from fractions import Fraction

import pytest

import cnncalc
from cnncalc.layers import REGISTRY
from cnncalc.measure.verify import verify

# one small network per layer type; the last layer is the one under test
CONTRACT = {
    "conv": ("[3, 19, 17]", ["conv: {out_channels: 4, kernel_size: [3, 5], stride: [2, 1], dilation: [1, 2], padding: same}"]),
    "conv_transpose": ("[4, 7, 6]", ["conv_transpose: {out_channels: 2, kernel_size: 3, stride: [2, 3], padding: 1, output_padding: [1, 0], groups: 2}"]),
    "maxpool": ("[2, 21, 20]", ["maxpool: {kernel_size: 3, stride: 2, padding: 1, dilation: 2, ceil_mode: true}"]),
    "avgpool": ("[2, 21, 20]", ["avgpool: {kernel_size: [3, 2], stride: 2, ceil_mode: true}"]),
    "global_avgpool": ("[2, 9, 9]", ["conv: {out_channels: 3, kernel_size: 3}", "global_avgpool"]),
    "global_maxpool": ("[2, 9, 9]", ["conv: {out_channels: 3, kernel_size: 3}", "global_maxpool"]),
    "adaptive_avgpool": ("[2, 23, 17]", ["adaptive_avgpool: [5, 4]"]),
    "adaptive_maxpool": ("[2, 23, 17]", ["adaptive_maxpool: [5, 4]"]),
    "upsample": ("[2, 9, 8]", ["conv: {out_channels: 2, kernel_size: 3}", "upsample: {scale_factor: [2, 3], mode: bilinear}"]),
    "pad": ("[2, 12, 12]", ["conv: {out_channels: 2, kernel_size: 3}", "pad: {padding: [[1, 3], 2], mode: replicate}"]),
    "crop": ("[2, 14, 14]", ["conv: {out_channels: 2, kernel_size: 3}", "crop: [[1, 2], 3]"]),
    "flatten": ("[2, 5, 5]", ["flatten"]),
    "reshape": ("[2, 4, 6]", ["reshape: [8, 6]"]),
    "linear": ("[2, 6, 6]", ["conv: {out_channels: 2, kernel_size: 3}", "flatten", "linear: 7"]),
    "batchnorm": ("[3, 8, 8]", ["batchnorm"]),
    "lrn": ("[6, 8, 8]", ["lrn: 3"]),
    "prelu": ("[3, 8, 8]", ["prelu: 3"]),
    "softmax": ("[4, 8, 8]", ["softmax"]),
    "add": ("[3, 12, 12]", ["{conv: {out_channels: 3, kernel_size: 3, padding: 1}, name: a}",
                            "conv: {out_channels: 3, kernel_size: 5, padding: 2}", "add: {with: a}"]),
    "multiply": ("[3, 12, 12]", ["{conv: {out_channels: 3, kernel_size: 3, padding: 1}, name: a}",
                                 "global_avgpool", "multiply: {with: a}"]),
    "concat": ("[3, 12, 12]", ["{conv: {out_channels: 3, kernel_size: 1}, name: a}",
                               "{conv: {out_channels: 2, kernel_size: 3, padding: 1}, from: input}",
                               "concat: {with: a}"]),
}
CONTRACT.update({
    "depthwise_conv": ("[3, 13, 12]", ["depthwise_conv: {kernel_size: 3, stride: 2, depth_multiplier: 2, padding: 1}"]),
    "separable_conv": ("[3, 13, 12]", ["separable_conv: {out_channels: 5, kernel_size: [3, 5], stride: [1, 2], dilation: 2}"]),
    "locally_connected": ("[2, 9, 8]", ["locally_connected: {out_channels: 3, kernel_size: 3, stride: [2, 1]}"]),
    "tiled_conv": ("[2, 11, 10]", ["tiled_conv: {out_channels: 3, kernel_size: 3, tiles: [2, 3], padding: 1}"]),
    "deform_conv": ("[4, 11, 10]", ["deform_conv: {out_channels: 4, kernel_size: 3, stride: 2, padding: 1, groups: 2, offset_groups: 2, modulated: true}"]),
    "add_coords": ("[2, 9, 8]", ["conv: {out_channels: 2, kernel_size: 3}", "add_coords: {with_r: true}"]),
    "lppool": ("[2, 13, 12]", ["lppool: {kernel_size: 3, stride: 2, norm_type: 2}"]),
    "sumpool": ("[2, 13, 12]", ["sumpool: {kernel_size: 3, stride: 2, padding: 1, ceil_mode: true}"]),
    "instancenorm": ("[3, 9, 8]", ["conv: {out_channels: 3, kernel_size: 3}",
                                   "instancenorm: {affine: true, track_running_stats: true}"]),
    "groupnorm": ("[4, 9, 8]", ["conv: {out_channels: 4, kernel_size: 3}", "groupnorm: 2"]),
    "layernorm": ("[4, 9, 8]", ["conv: {out_channels: 4, kernel_size: 3}", "layernorm: channels"]),
    "softmax:spatial": ("[4, 9, 8]", ["conv: {out_channels: 4, kernel_size: 3}", "softmax: 3"]),
})
CONTRACT.update({
    "chunk": ("[6, 9, 8]", ["conv: {out_channels: 5, kernel_size: 3}", "chunk: {chunks: 2, index: 1}"]),
    "chunk:spatial": ("[2, 11]", ["conv: {out_channels: 2, kernel_size: 3}", "chunk: {chunks: 3, index: 2, dim: 2}"]),
    "split": ("[6, 9, 8]", ["conv: {out_channels: 5, kernel_size: 3}", "split: {sizes: [1, 3, 1], index: 1}"]),
    "split:spatial": ("[2, 11]", ["conv: {out_channels: 2, kernel_size: 3}", "split: {sizes: [4, 5], index: 1, dim: 2}"]),
    "channel_shuffle": ("[6, 9, 8]", ["conv: {out_channels: 6, kernel_size: 3}", "channel_shuffle: 3"]),
    "pixel_shuffle": ("[2, 9, 8]", ["conv: {out_channels: 8, kernel_size: 3}", "pixel_shuffle: 2"]),
    "pixel_unshuffle": ("[2, 14, 14]", ["conv: {out_channels: 2, kernel_size: 3, stride: [1, 2]}", "pixel_unshuffle: 2"]),
    "pixel_shuffle:after_unshuffle": ("[2, 14, 14]", ["conv: {out_channels: 2, kernel_size: 3}", "pixel_unshuffle: 3",
                                                     "conv: {out_channels: 9, kernel_size: 3, padding: 1}", "pixel_shuffle: 3"]),
    "layer_scale": ("[3, 9, 8]", ["conv: {out_channels: 3, kernel_size: 3}", "layer_scale: 1.0e-6"]),
    "stochastic_depth": ("[3, 9, 8]", ["conv: {out_channels: 3, kernel_size: 3}", "stochastic_depth: {p: 0.1, mode: row}"]),
    "hardtanh": ("[2, 10, 9]", ["conv: {out_channels: 2, kernel_size: 3, stride: 2}", "hardtanh: {min_val: -2, max_val: 3}"]),
    "softplus": ("[2, 10, 9]", ["conv: {out_channels: 2, kernel_size: 3, stride: 2}", "softplus: {beta: 2, threshold: 10}"]),
})
CONTRACT.update({  # attention (issue 26, item 3): on a map's positions and on a sequence [L, E]
    "multihead_attention": ("[4, 7, 6]", ["conv: {out_channels: 6, kernel_size: 3, padding: 1}",
                                          "multihead_attention: {num_heads: 2}"]),
    "multihead_attention:sequence": ("[3, 8, 8]", ["conv: {out_channels: 6, kernel_size: 4, stride: 4}",
                                                   "reshape: [6, -1]", "permute: [0, 2, 1]",
                                                   "multihead_attention: {num_heads: 3, bias: false}"]),
    "scaled_dot_product_attention": ("[4, 7, 6]", [
        "{conv: {out_channels: 4, kernel_size: 1}, name: q}",
        "{conv: {out_channels: 4, kernel_size: 3, stride: 2, padding: 1}, name: kk, from: input}",
        "{conv: {out_channels: 6, kernel_size: 3, stride: 2, padding: 1}, name: v, from: input}",
        "{scaled_dot_product_attention: {num_heads: 2}, from: [q, kk, v]}"]),
    "permute": ("[2, 4, 6]", ["conv: {out_channels: 3, kernel_size: 3}", "reshape: [3, -1]", "permute: [0, 2, 1]"]),
    "select_index": ("[2, 4, 6]", ["conv: {out_channels: 3, kernel_size: 3}", "select_index: {dim: 2, index: -1}"]),
    "class_token": ("[2, 4, 6]", ["conv: {out_channels: 3, kernel_size: 2, stride: 2}", "reshape: [3, -1]",
                                  "permute: [0, 2, 1]", "class_token"]),
    "position_embedding": ("[2, 4, 6]", ["conv: {out_channels: 3, kernel_size: 3}", "position_embedding"]),
    "layernorm:last": ("[4, 9, 8]", ["conv: {out_channels: 4, kernel_size: 3}", "layernorm: last"]),
})
for _name in ["identity", "dropout", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu",
              "hardswish", "sigmoid", "tanh", "hardsigmoid", "mish", "swish"]:
    CONTRACT[_name] = ("[2, 10, 9]", ["conv: {out_channels: 2, kernel_size: 3, stride: 2}", _name])


def test_every_registered_type_is_in_the_contract():
    assert {k.split(":")[0] for k in CONTRACT} == set(REGISTRY)


@pytest.mark.parametrize("type_name", sorted(CONTRACT))
def test_analyzer_equals_executor(type_name):
    shape, layers = CONTRACT[type_name]
    net = cnncalc.loads(f"input: {shape}\nlayers:\n" + "".join(f"  - {x}\n" for x in layers), "c.yaml")
    assert net.nodes[-1].type == REGISTRY[type_name.split(":")[0]].type_name  # swish: silu
    result = verify(net)
    for row in result.rows:
        assert row.ok, row.note
    last = result.rows[-1]
    assert not last.not_measured, last.note  # every figure of the layer under test is measured
    report = cnncalc.analyze(net).layers[-1]
    if report.receptive_field is not None:
        # every spatial axis was probed, and the measured extent is the reported size
        # (an axis every position reaches, as along a spatial softmax, is "global" in both)
        assert [r[1] for r in last.rf] == ["global" if s is None else s
                                           for s in report.receptive_field.size], last.rf


def test_verify_detects_a_wrong_analysis(monkeypatch):
    # a deliberately wrong unit map (a 3x3 conv claiming a 1x1 field) must be caught
    from cnncalc.core.rf import IDENTITY
    from cnncalc.layers.conv import Conv

    monkeypatch.setattr(Conv, "unit_maps", lambda self: [IDENTITY] * self.ndim)
    net = cnncalc.loads("input: [1, 12, 12]\nlayers:\n  - conv: {out_channels: 1, kernel_size: 3}\n", "c.yaml")
    result = verify(net)
    assert not result.ok
    size = result.rows[0].figure("rf_size[0]")
    assert (size.analysed, size.measured, size.status) == (1, 3, "mismatch")  # a 3-tap window sees 3


def test_verify_catches_a_wrong_output_size_rule(monkeypatch):
    # the analyzer's output-size rule one too small: the executor's windows (every s-th
    # window of the sliding view) do not use it, so shape and MACs disagree
    import cnncalc.layers.base as base
    import cnncalc.layers.conv as conv

    right = base.conv_out
    monkeypatch.setattr(base, "conv_out", lambda *a: right(*a) - 1)
    monkeypatch.setattr(conv, "conv_out", lambda *a: right(*a) - 1)
    net = cnncalc.loads("input: [3, 12, 12]\nlayers:\n  - conv: {out_channels: 6, kernel_size: 3}\n", "c.yaml")
    row = verify(net).rows[0]
    assert row.shape == ((6, 9, 9), (6, 10, 10))  # 12 - 3 + 1 = 10 windows per axis
    assert row.macs == (6 * 9 * 9 * 3 * 3 * 3, 6 * 10 * 10 * 3 * 3 * 3)  # outputs * C_in * k*k: 1,350 wrong
    assert not row.ok and "output_shape" in row.note and "macs" in row.note


# -- the registry-wide mutation test: a wrong report fails, naming the figure -----------------


def _mutations(result):
    """(label, report row changed in that one figure) for every figure the row reports."""
    from dataclasses import replace

    out = []
    shape = result.output_shape
    for axis in range(len(shape)):
        for delta in (1, -1):
            if shape[axis] + delta >= 0:
                wrong = list(shape)
                wrong[axis] += delta
                out.append(("output_shape", replace(result, output_shape=tuple(wrong))))
    out.append(("params", replace(result, params=result.params + 1)))
    if result.buffers:
        out.append(("buffers", replace(result, buffers=result.buffers - 1)))
    if result.macs:
        out.append(("macs", replace(result, macs=result.macs - 1)))
    out.append(("activation_bytes", replace(result, activation_bytes=result.activation_bytes + 4)))
    rf = result.receptive_field
    if rf is None and len(shape) == 3:  # global on both axes (global pooling): claim a 1x1 field
        from cnncalc.core.rf import ReceptiveField

        out.append(("rf_size[0]", replace(result, receptive_field=ReceptiveField((1, 1), (1, 1), (0, 0)))))
    if rf is not None:
        for axis, size in enumerate(rf.size):
            if size is None:  # global on this axis: claim a finite field instead
                sizes = list(rf.size)
                sizes[axis] = 1
                out.append((f"rf_size[{axis}]", replace(result, receptive_field=replace(rf, size=tuple(sizes)))))
                continue
            for name, key, delta in (("rf_size", "size", 1), ("rf_stride", "stride", 1),
                                     ("rf_center", "center", Fraction(1, 2))):
                values = list(getattr(rf, key))
                if values[axis] is None:
                    continue
                values[axis] += delta
                out.append((f"{name}[{axis}]",
                            replace(result, receptive_field=replace(rf, **{key: tuple(values)}))))
    return out


@pytest.mark.parametrize("type_name", sorted(CONTRACT))
def test_every_wrong_figure_is_caught(type_name):
    from dataclasses import replace

    shape, layers = CONTRACT[type_name]
    net = cnncalc.loads(f"input: {shape}\nlayers:\n" + "".join(f"  - {x}\n" for x in layers), "c.yaml")
    report = cnncalc.analyze(net)
    last = report.layers[-1]
    mutations = _mutations(last)
    assert len(mutations) >= 4  # each output axis +-1, params, activation bytes at least
    for label, wrong in mutations:
        result = verify(net, report=replace(report, layers=(*report.layers[:-1], wrong)))
        row = result.rows[-1]
        assert not result.ok, (type_name, label)
        assert row.figure(label).status == "mismatch", (type_name, label, row.note)
        assert label in row.note, (type_name, label, row.note)


def test_verify_measures_a_slice_along_one_spatial_axis():
    # chunk along W (dim 3) of a 2-D net: along W the probe is the crop it resolved
    # (the second half starts at 6 // 2 = 3: the field shifts by 3), along H the identity
    net = cnncalc.loads("input: [2, 8, 8]\nlayers:\n  - conv: {out_channels: 2, kernel_size: 3}\n"
                        "  - chunk: {chunks: 2, index: 1, dim: 3}\n", "c.yaml")
    result = verify(net)
    assert result.ok
    rf = cnncalc.analyze(net).layers[-1].receptive_field
    # conv unit o sees [o, o + 2] (centre o + 1); after the slice unit o is conv unit o + 3
    assert rf.center == (1, 1 + 3)
    chunk = result.rows[-1]
    assert chunk.figure("rf_center[1]").status == "ok"
