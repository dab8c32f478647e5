"""Reading ONNX models: every mapped op and its edge cases, on graphs built with
onnx.helper (the ONNX operator specification, onnx/docs/Operators.md, for the
attribute conventions; PyTorch's formulas for the figures)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import cnncalc

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install 'cnncalc[onnx]'")

from cnncalc.layers import REGISTRY  # noqa: E402

from .onnx_graphs import ints, model, node, same_totals, save, w  # noqa: E402


def analyse(m, tmp_path, name="m.onnx", **kwargs):
    path = save(m, tmp_path / name)
    net = cnncalc.load(path, **kwargs)
    return net, cnncalc.analyze(net)


def row(rep, index=-1):
    return rep.layers[index]


def needs(type_name):
    return pytest.mark.skipif(type_name not in REGISTRY,
                              reason=f"layer type '{type_name}' is not registered yet (branch vocab)")


def one(tmp_path, op, x_shape, inits=None, extra_inputs=(), **attrs):
    m = model([node(op, ["x", *extra_inputs], "y", **attrs)], inits or {}, x_shape, "y")
    return analyse(m, tmp_path)


# -- convolutions -----------------------------------------------------------------------


def test_conv_grouped_dilated(tmp_path):
    _, rep = one(tmp_path, "Conv", [1, 8, 16, 16], {"w": w(16, 2, 3, 3), "b": w(16)}, ["w", "b"],
                 group=4, dilations=[2, 2], pads=[2, 2, 2, 2])
    r = row(rep)
    assert r.output_shape == (16, 16, 16)  # 16 + 2 + 2 - (2·(3-1)+1) + 1
    assert r.params == 16 * (8 // 4) * 3 * 3 + 16  # weight (out, in/groups, k, k) + bias
    assert r.macs == 16 * 16 * 16 * (8 // 4) * 3 * 3
    assert r.to_dict()["receptive_field"]["size"] == [5, 5]  # dilated extent d(k-1)+1


def test_conv_asymmetric_pads(tmp_path):
    # ONNX pads: [H_begin, W_begin, H_end, W_end]
    _, rep = one(tmp_path, "Conv", [1, 3, 8, 8], {"w": w(4, 3, 3, 3)}, ["w"], pads=[0, 1, 2, 3])
    assert row(rep).output_shape == (4, 8 + 0 + 2 - 3 + 1, 8 + 1 + 3 - 3 + 1)
    assert row(rep).params == 4 * 3 * 3 * 3  # no bias input


@pytest.mark.parametrize("auto_pad, centre", [
    # 4-tap kernel on 10, stride 1: total padding 3; SAME_UPPER puts 1 before, SAME_LOWER 2
    ("SAME_UPPER", -1 + (4 - 1) / 2),
    ("SAME_LOWER", -2 + (4 - 1) / 2),
])
def test_conv_auto_pad_same(tmp_path, auto_pad, centre):
    _, rep = one(tmp_path, "Conv", [1, 1, 10, 10], {"w": w(2, 1, 4, 4)}, ["w"], auto_pad=auto_pad)
    assert row(rep).output_shape == (2, 10, 10)  # ceil(10 / 1)
    assert [float(c) for c in row(rep).to_dict()["receptive_field"]["center"]] == [centre, centre]


def test_conv_same_lower_strided(tmp_path):
    # L 7, k 3, s 2: out ceil(7/2) = 4, total = (4-1)·2 + 3 - 7 = 2 -> 1 before, 1 after
    _, rep = one(tmp_path, "Conv", [1, 1, 7, 7], {"w": w(1, 1, 3, 3)}, ["w"], auto_pad="SAME_LOWER",
                 strides=[2, 2])
    assert row(rep).output_shape == (1, 4, 4)


def test_conv_valid(tmp_path):
    _, rep = one(tmp_path, "Conv", [1, 1, 7, 7], {"w": w(1, 1, 3, 3)}, ["w"], auto_pad="VALID")
    assert row(rep).output_shape == (1, 5, 5)


def test_conv_1d_and_3d(tmp_path):
    _, rep = one(tmp_path, "Conv", [1, 2, 50], {"w": w(4, 2, 5)}, ["w"], strides=[5])
    assert row(rep).output_shape == (4, (50 - 5) // 5 + 1)
    _, rep = one(tmp_path, "Conv", [1, 2, 4, 6, 6], {"w": w(3, 2, 3, 3, 3)}, ["w"])
    assert row(rep).output_shape == (3, 2, 4, 4)
    assert row(rep).params == 3 * 2 * 27


def test_conv_transpose_output_padding(tmp_path):
    # PyTorch: (L-1)·s - 2p + d(k-1) + output_padding + 1 = 4·2 - 2 + 2 + 1 + 1
    _, rep = one(tmp_path, "ConvTranspose", [1, 4, 5, 5], {"w": w(4, 2, 3, 3), "b": w(2)}, ["w", "b"],
                 strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])
    r = row(rep)
    assert r.output_shape == (2, 10, 10)
    assert r.params == 4 * 2 * 3 * 3 + 2  # weight (in, out/groups, k, k)
    # each input pixel meets every kernel tap once (not the output grid: 4x that)
    assert r.macs == 5 * 5 * 4 * 2 * 3 * 3


def test_conv_transpose_groups_output_shape(tmp_path):
    # output_shape given: the padding is derived (total = s(L-1) + k - out = 2·4 + 4 - 10 = 2)
    _, rep = one(tmp_path, "ConvTranspose", [1, 4, 5, 5], {"w": w(4, 3, 4, 4)}, ["w"],
                 strides=[2, 2], group=2, output_shape=[10, 10])
    assert row(rep).output_shape == (3 * 2, 10, 10)  # out_channels = (out/groups)·groups


# -- pooling ---------------------------------------------------------------------------


def test_maxpool_ceil_mode_pytorch_rule(tmp_path):
    # k1 s2 on 24: ceil((24-1)/2)+1 = 13, but the 13th window would start at 24, past the
    # input, so PyTorch drops it (aten Pool.h): 12. The file's value_info says 13.
    m = model([node("MaxPool", ["x"], "y", kernel_shape=[1, 1], strides=[2, 2], ceil_mode=1)],
              {}, [1, 2, 24, 24], "y", output_shapes=[[1, 2, 13, 13]])
    net, rep = analyse(m, tmp_path)
    assert row(rep).output_shape == (2, 12, 12)
    assert any("13x13" in n and "2x12x12" in n for n in net.onnx_notes)


def test_avgpool_ceil_mode_and_count_include_pad(tmp_path):
    # k4 s4 p2 on 9: ceil((9+4-4)/4)+1 = 4; the 4th window starts at 12 >= 9+2: dropped -> 3
    _, rep = one(tmp_path, "AveragePool", [1, 1, 9, 9], kernel_shape=[4, 4], strides=[4, 4],
                 pads=[2, 2, 2, 2], ceil_mode=1)
    assert row(rep).output_shape == (1, 3, 3)
    net, _ = one(tmp_path, "AveragePool", [1, 1, 9, 9], kernel_shape=[3, 3], strides=[1, 1],
                 pads=[1, 1, 1, 1])
    assert net.nodes[-1].layer.p["count_include_pad"] is False  # ONNX's default is 0
    net, _ = one(tmp_path, "AveragePool", [1, 1, 9, 9], kernel_shape=[3, 3], strides=[1, 1],
                 pads=[1, 1, 1, 1], count_include_pad=1)
    assert net.nodes[-1].layer.p["count_include_pad"] is True


def test_pool_stride_defaults_to_one(tmp_path):
    # ONNX pooling strides default to 1, PyTorch's to the kernel: 8 - 2 + 1
    _, rep = one(tmp_path, "MaxPool", [1, 1, 8, 8], kernel_shape=[2, 2])
    assert row(rep).output_shape == (1, 7, 7)


def test_global_pool_and_reduce_mean(tmp_path):
    _, rep = one(tmp_path, "GlobalAveragePool", [1, 5, 7, 7])
    assert row(rep).output_shape == (5, 1, 1)
    m = model([node("ReduceMean", ["x", "axes"], "y", keepdims=0)], {"axes": ints(2, 3)},
              [1, 5, 7, 7], "y", opset=18)
    _, rep = analyse(m, tmp_path)
    assert row(rep).output_shape == (5,)  # keepdims=0: pooled and flattened
    m = model([node("ReduceMean", ["x"], "y", axes=[-1, -2], keepdims=1)], {}, [1, 5, 7, 7], "y",
              opset=13)
    _, rep = analyse(m, tmp_path)
    assert row(rep).output_shape == (5, 1, 1)


def test_reduce_mean_over_channels_is_refused(tmp_path):
    m = model([node("ReduceMean", ["x"], "y", axes=[1])], {}, [1, 5, 7, 7], "y", opset=13)
    with pytest.raises(cnncalc.SpecError, match="ReduceMean.*spatial"):
        analyse(m, tmp_path)


# -- dense, normalization, activations ---------------------------------------------------


def _flat(x_shape, tail_nodes, inits, out="y"):
    return model([node("Flatten", ["x"], "f", axis=1), *tail_nodes], inits, x_shape, out)


def test_gemm_and_matmul_add(tmp_path):
    m = _flat([1, 4, 2, 2], [node("Gemm", ["f", "fw", "fb"], "y", transB=1)],
              {"fw": w(10, 16), "fb": w(10)})
    _, rep = analyse(m, tmp_path)
    assert row(rep).params == 16 * 10 + 10 and row(rep).macs == 16 * 10
    m = _flat([1, 4, 2, 2], [node("MatMul", ["f", "mw"], "mm"), node("Add", ["mm", "mb"], "y")],
              {"mw": w(16, 10), "mb": w(10)})
    net, rep = analyse(m, tmp_path)
    assert len(rep.layers) == 2  # flatten, linear: the Add is the linear's bias
    assert row(rep).params == 16 * 10 + 10


def test_batchnorm(tmp_path):
    _, rep = one(tmp_path, "BatchNormalization", [1, 6, 4, 4],
                 {"s": w(6), "b": w(6), "m": w(6), "v": w(6)}, ["s", "b", "m", "v"], epsilon=1e-3)
    assert row(rep).params == 2 * 6 and row(rep).buffers == 2 * 6  # γ, β; running mean, var


@pytest.mark.parametrize("op, attrs, inits, extra, expected", [
    ("Relu", {}, {}, [], "relu"),
    ("Sigmoid", {}, {}, [], "sigmoid"),
    ("Tanh", {}, {}, [], "tanh"),
    ("HardSwish", {}, {}, [], "hardswish"),
    ("LeakyRelu", {"alpha": 0.2}, {}, [], "leaky_relu"),
    ("Clip", {}, {"lo": __import__("numpy").float32(0), "hi": __import__("numpy").float32(6)},
     ["lo", "hi"], "relu6"),
    ("Clip", {}, {"lo": __import__("numpy").float32(0)}, ["lo"], "relu"),
    ("Dropout", {}, {}, [], "dropout"),
    ("Identity", {}, {}, [], "identity"),
])
def test_elementwise(tmp_path, op, attrs, inits, extra, expected):
    net, rep = one(tmp_path, op, [1, 3, 5, 5], inits, extra, **attrs)
    assert net.nodes[-1].type == expected
    assert row(rep).output_shape == (3, 5, 5)
    if op == "LeakyRelu":
        assert abs(net.nodes[-1].layer.p["negative_slope"] - 0.2) < 1e-7


@pytest.mark.skipif("hardtanh" in REGISTRY, reason="hardtanh maps Clip's other ranges")
def test_clip_other_range_is_refused(tmp_path):
    import numpy as np

    with pytest.raises(cnncalc.SpecError, match=r"Clip to \[-1.0, 1.0\]"):
        one(tmp_path, "Clip", [1, 3, 5, 5], {"lo": np.float32(-1), "hi": np.float32(1)}, ["lo", "hi"])


@needs("hardtanh")
def test_clip_other_range_is_hardtanh(tmp_path):
    import numpy as np

    net, _ = one(tmp_path, "Clip", [1, 3, 5, 5], {"lo": np.float32(-2), "hi": np.float32(1)},
                 ["lo", "hi"])
    assert net.nodes[-1].type == "hardtanh"
    assert (net.nodes[-1].layer.p["min_val"], net.nodes[-1].layer.p["max_val"]) == (-2.0, 1.0)


@needs("layer_scale")
def test_mul_by_per_channel_weight_is_layer_scale(tmp_path):
    net, rep = one(tmp_path, "Mul", [1, 6, 5, 5], {"g": w(6, 1, 1)}, ["g"])
    assert net.nodes[-1].type == "layer_scale" and row(rep).params == 6  # one γ per channel


@needs("softplus")
def test_softplus_and_mish(tmp_path):
    net, _ = one(tmp_path, "Softplus", [1, 3, 5, 5])
    assert net.nodes[-1].type == "softplus"
    m = model([node("Mish", ["x"], "y")], {}, [1, 3, 5, 5], "y", opset=18)
    net, _ = analyse(m, tmp_path)
    assert net.nodes[-1].type == "mish"


@needs("chunk")
def test_split_along_a_spatial_axis(tmp_path):
    m = model([node("Split", ["x"], ["a", "b"], axis=3, num_outputs=2)], {}, [1, 2, 4, 6], ["a", "b"],
              opset=18)
    net, rep = analyse(m, tmp_path)
    assert net.nodes[0].layer.p["dim"] == 3 and rep.layers[0].output_shape == (2, 4, 3)


@needs("hardsigmoid")
def test_hardsigmoid(tmp_path):
    net, _ = one(tmp_path, "HardSigmoid", [1, 3, 5, 5], alpha=1 / 6, beta=0.5)
    assert net.nodes[-1].type == "hardsigmoid"


def test_silu_and_se_gate(tmp_path):
    # x * sigmoid(x) is SiLU (one layer); x * sigmoid(conv(gap(x))) is an SE gate (multiply)
    m = model([
        node("Sigmoid", ["x"], "s"), node("Mul", ["x", "s"], "a"),
        node("GlobalAveragePool", ["a"], "g"), node("Conv", ["g", "w1"], "c1"),
        node("Relu", ["c1"], "r"), node("Conv", ["r", "w2"], "c2"), node("Sigmoid", ["c2"], "gate"),
        node("Mul", ["a", "gate"], "y"),
    ], {"w1": w(2, 8, 1, 1), "w2": w(8, 2, 1, 1)}, [1, 8, 6, 6], "y")
    net, rep = analyse(m, tmp_path)
    assert [n.type for n in net.nodes] == ["silu", "global_avgpool", "conv", "relu", "conv",
                                           "sigmoid", "multiply"]
    assert row(rep).output_shape == (8, 6, 6)  # the gate broadcasts over H, W
    assert rep.totals.params == 2 * 8 + 8 * 2  # two bias-free 1x1 convs


def test_add_concat_residual(tmp_path):
    m = model([
        node("Conv", ["x", "w"], "c", pads=[1, 1, 1, 1]), node("Add", ["c", "x"], "a"),
        node("Concat", ["a", "x"], "y", axis=1),
    ], {"w": w(4, 4, 3, 3)}, [1, 4, 5, 5], "y")
    net, rep = analyse(m, tmp_path)
    assert net.nodes[1].inputs == ["c", "input"]
    assert row(rep).output_shape == (4 + 4, 5, 5)


def test_torchscript_flatten_chain_folds(tmp_path):
    # x.view(x.size(0), -1) as TorchScript writes it: Shape, Gather, Unsqueeze, Concat, Reshape
    m = model([
        node("Shape", ["x"], "s"), node("Gather", ["s", "zero"], "n", axis=0),
        node("Unsqueeze", ["n", "ax0"], "nu"), node("Concat", ["nu", "m1"], "shape", axis=0),
        node("Reshape", ["x", "shape"], "y"),
    ], {"zero": ints(0).reshape(()), "ax0": ints(0), "m1": ints(-1)}, [2, 4, 3, 3], "y")
    net, rep = analyse(m, tmp_path)
    assert [n.type for n in net.nodes] == ["flatten"]
    assert row(rep).output_shape == (4 * 3 * 3,) and net.batch == 2


def test_reshape_to_per_sample_shape(tmp_path):
    m = model([node("Reshape", ["x", "shape"], "y")], {"shape": ints(0, 6, 2, 3)}, [1, 4, 3, 3], "y")
    net, rep = analyse(m, tmp_path)
    assert net.nodes[-1].type == "reshape" and row(rep).output_shape == (6, 2, 3)


def test_reshape_mixing_batch_is_refused(tmp_path):
    m = model([node("Reshape", ["x", "shape"], "y")], {"shape": ints(-1)}, [2, 4, 3, 3], "y")
    with pytest.raises(cnncalc.SpecError, match="batch"):
        analyse(m, tmp_path)


@needs("channel_shuffle")
def test_channel_shuffle_pattern(tmp_path):
    m = model([
        node("Reshape", ["x", "s1"], "r1"), node("Transpose", ["r1"], "t", perm=[0, 2, 1, 3, 4]),
        node("Reshape", ["t", "s2"], "y"),
    ], {"s1": ints(1, 2, 4, 5, 5), "s2": ints(1, 8, 5, 5)}, [1, 8, 5, 5], "y")
    net, rep = analyse(m, tmp_path)
    assert [n.type for n in net.nodes] == ["channel_shuffle"]
    assert net.nodes[0].layer.p["groups"] == 2


@needs("permute")
def test_transpose_alone_is_permute_and_moving_the_batch_refused(tmp_path):
    # issue 26: a Transpose that keeps the batch first is torch.permute (ViT's (0, 2, 1))
    net, rep = analyse(model([node("Transpose", ["x"], "y", perm=[0, 1, 3, 2])], {}, [1, 8, 5, 6], "y"),
                       tmp_path)
    assert [n.type for n in net.nodes] == ["permute"] and rep.layers[0].output_shape == (8, 6, 5)
    with pytest.raises(cnncalc.SpecError, match=r"Transpose.*keeps the batch first"):
        one(tmp_path, "Transpose", [1, 8, 5, 5], perm=[1, 0, 2, 3])


@needs("chunk")
def test_split_equal_is_chunk(tmp_path):
    m = model([node("Split", ["x"], ["a", "b"], axis=1, num_outputs=2),
               node("Concat", ["b", "a"], "y", axis=1)], {}, [1, 8, 5, 5], "y", opset=18)
    net, rep = analyse(m, tmp_path)
    assert [n.type for n in net.nodes] == ["chunk", "chunk", "concat"]
    assert rep.layers[0].output_shape == (4, 5, 5)


@needs("split")
def test_split_sizes_and_channel_slice(tmp_path):
    m = model([node("Split", ["x", "sizes"], ["a", "b"], axis=1)], {"sizes": ints(3, 5)},
              [1, 8, 5, 5], ["a", "b"], opset=13)
    _, rep = analyse(m, tmp_path)
    assert [r.output_shape for r in rep.layers] == [(3, 5, 5), (5, 5, 5)]
    m = model([node("Slice", ["x", "st", "en", "ax"], "y")],
              {"st": ints(2), "en": ints(6), "ax": ints(1)}, [1, 8, 5, 5], "y")
    _, rep = analyse(m, tmp_path)
    assert row(rep).output_shape == (6 - 2, 5, 5)


def test_spatial_slice_is_crop(tmp_path):
    m = model([node("Slice", ["x", "st", "en", "ax"], "y")],
              {"st": ints(1, 0), "en": ints(-1, 4), "ax": ints(2, 3)}, [1, 3, 8, 8], "y")
    net, rep = analyse(m, tmp_path)
    assert net.nodes[-1].type == "crop"
    assert row(rep).output_shape == (3, 8 - 1 - 1, 4)


@pytest.mark.parametrize("mode, ctm, nearest, expected_mode, align", [
    ("nearest", "asymmetric", "floor", "nearest", False),
    ("linear", "half_pixel", "round_prefer_floor", "bilinear", False),
    ("linear", "pytorch_half_pixel", "round_prefer_floor", "bilinear", False),
    ("linear", "align_corners", "round_prefer_floor", "bilinear", True),
])
def test_resize(tmp_path, mode, ctm, nearest, expected_mode, align):
    import numpy as np

    m = model([node("Resize", ["x", "", "scales"], "y", mode=mode,
                    coordinate_transformation_mode=ctm, nearest_mode=nearest)],
              {"scales": np.array([1, 1, 2, 2], np.float32)}, [1, 3, 5, 5], "y")
    net, rep = analyse(m, tmp_path)
    layer = net.nodes[-1].layer
    assert layer.p["mode"] == expected_mode and layer.p["align_corners"] is align
    assert row(rep).output_shape == (3, 10, 10)


def test_resize_sizes_and_unsupported_nearest(tmp_path):
    import numpy as np

    m = model([node("Resize", ["x", "", "", "sizes"], "y", mode="nearest",
                    coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
              {"sizes": ints(1, 3, 7, 9)}, [1, 3, 5, 5], "y")
    _, rep = analyse(m, tmp_path)
    assert row(rep).output_shape == (3, 7, 9)
    m = model([node("Resize", ["x", "", "scales"], "y", mode="nearest")],
              {"scales": np.array([1, 1, 2, 2], np.float32)}, [1, 3, 5, 5], "y")
    with pytest.raises(cnncalc.SpecError, match="half_pixel"):
        analyse(m, tmp_path)


def test_pad(tmp_path):
    import numpy as np

    m = model([node("Pad", ["x", "pads"], "y", mode="reflect")],
              {"pads": ints(0, 0, 1, 2, 0, 0, 3, 0)}, [1, 3, 5, 5], "y")
    net, rep = analyse(m, tmp_path)
    assert net.nodes[-1].layer.p["mode"] == "reflect"
    assert row(rep).output_shape == (3, 5 + 1 + 3, 5 + 2 + 0)
    m = model([node("Pad", ["x", "pads", "v"], "y")],
              {"pads": ints(0, 0, 1, 1, 0, 0, 1, 1), "v": np.float32(0)}, [1, 3, 5, 5], "y")
    net, rep = analyse(m, tmp_path)
    assert net.nodes[-1].layer.p["mode"] == "zeros" and row(rep).output_shape == (3, 7, 7)


@needs("pixel_shuffle")
def test_depth_to_space_is_pixel_shuffle(tmp_path):
    net, rep = one(tmp_path, "DepthToSpace", [1, 8, 3, 3], blocksize=2, mode="CRD")
    assert net.nodes[-1].type == "pixel_shuffle" and row(rep).output_shape == (8 // 4, 6, 6)


def test_lrn_and_softmax(tmp_path):
    net, _ = one(tmp_path, "LRN", [1, 8, 3, 3], size=5, alpha=1e-4, beta=0.75, bias=2.0)
    assert net.nodes[-1].layer.p["k"] == 2.0
    m = _flat([1, 4, 2, 2], [node("Softmax", ["f"], "y", axis=1)], {})
    net, _ = analyse(m, tmp_path)
    assert net.nodes[-1].type == "softmax"


# -- errors and notes ------------------------------------------------------------------


def test_unsupported_op_names_node_and_supported_ops(tmp_path):
    m = model([node("Cos", ["x"], "y", name="/blocks/wave/Cos")], {}, [1, 3, 5, 5], "y")
    with pytest.raises(cnncalc.SpecError) as info:
        analyse(m, tmp_path)
    text = info.value.format()
    assert "'/blocks/wave/Cos' (Cos)" in text and "no cnncalc equivalent" in text
    assert "supported ops:" in text and "Conv" in text and "Resize" in text


def test_cli_error_exit_2_no_traceback(tmp_path):
    m = model([node("Erf", ["x"], "y")], {}, [1, 3, 5, 5], "y")
    path = save(m, tmp_path / "bad.onnx")
    proc = subprocess.run([sys.executable, "-m", "cnncalc", "analyze", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "(Erf)" in proc.stderr


def test_recognised_by_content_not_extension(tmp_path):
    m = model([node("Relu", ["x"], "y")], {}, [1, 3, 5, 5], "y")
    path = save(m, tmp_path / "looks_like.yaml")
    assert cnncalc.load(path).nodes[0].type == "relu"


def test_symbolic_sizes_need_input(tmp_path):
    m = model([node("Relu", ["x"], "y")], {}, ["N", 3, "H", "W"], "y")
    path = save(m, tmp_path / "m.onnx")
    with pytest.raises(cnncalc.SpecError, match="--input"):
        cnncalc.load(path)
    net = cnncalc.load(path, input_shape=(3, 32, 32))
    assert net.input_shape == (3, 32, 32) and net.batch == 1


def test_batchnorm_folding_note(tmp_path):
    m = model([node("Conv", ["x", "w", "b"], "y")], {"w": w(4, 3, 3, 3), "b": w(4)}, [1, 3, 5, 5], "y")
    net, _ = analyse(m, tmp_path)
    assert any("folded" in n for n in net.onnx_notes)


def test_external_weights_are_not_read(tmp_path):
    import numpy as np

    m = model([node("Conv", ["x", "w"], "y")], {"w": np.ones((64, 3, 7, 7), np.float32)},
              [1, 3, 16, 16], "y")
    onnx.save(m, str(tmp_path / "ext.onnx"), save_as_external_data=True, location="ext.data")
    (tmp_path / "ext.data").unlink()  # the figures need only the graph
    _, rep = analyse(onnx.load(str(tmp_path / "ext.onnx"), load_external_data=False), tmp_path)
    assert row(rep).params == 64 * 3 * 7 * 7


def test_missing_onnx_package_says_how_to_install(tmp_path, monkeypatch):
    m = model([node("Relu", ["x"], "y")], {}, [1, 3, 5, 5], "y")
    path = save(m, tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(cnncalc.SpecError) as info:
        cnncalc.load(path)
    assert "pip install 'cnncalc[onnx]'" in info.value.format()


def test_import_command_writes_a_spec_with_the_same_figures(tmp_path):
    m = model([node("Conv", ["x", "w"], "c", name="/stem/conv/Conv", pads=[1, 1, 1, 1]),
               node("Relu", ["c"], "y", name="/stem/relu/Relu")],
              {"w": w(8, 3, 3, 3)}, [1, 3, 16, 16], "y")
    path = save(m, tmp_path / "m.onnx")
    out = tmp_path / "net.yaml"
    proc = subprocess.run([sys.executable, "-m", "cnncalc", "import", str(path), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "name: stem_conv" in text and "from" not in text  # readable: a plain sequence
    a = cnncalc.analyze(cnncalc.load(out)).to_dict()
    b = cnncalc.analyze(cnncalc.load(path)).to_dict()
    assert a["layers"] == b["layers"] and same_totals(a, b)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cnncalc", *map(str, args)], capture_output=True,
                          text=True)


def test_every_spec_command_reads_a_model(tmp_path):
    # conv k3 p1 then maxpool 2: every size that is even tiles exactly
    m = model([node("Conv", ["x", "w"], "c", name="/conv1/Conv", pads=[1, 1, 1, 1]),
               node("Relu", ["c"], "r", name="/relu/Relu"),
               node("MaxPool", ["r"], "y", name="/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2])],
              {"w": w(4, 3, 3, 3)}, [1, 3, 8, 8], "y")
    path = save(m, tmp_path / "m.onnx")
    proc = _cli("verify", path)
    assert proc.returncode == 0 and "0 mismatched" in proc.stdout, proc.stdout + proc.stderr
    proc = _cli("explain", path, "--layer", "conv1")
    assert proc.returncode == 0 and "= 8" in proc.stdout  # (8 - 3 + 2·1) / 1 + 1
    proc = _cli("sizes", path, "--range", "7:10")
    assert proc.returncode == 0 and proc.stdout.split("\n")[0].startswith("8: 4x4x4")
    proc = _cli("lint", path)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr
    proc = _cli("analyze", path, "--input", "3x16x16", "-f", "json")
    assert proc.returncode == 0
    import json
    # --input 3x16x16: conv k3 p1 keeps 16 - 3 + 2·1 + 1 = 16; max pooling 2 halves it to 8
    layers = json.loads(proc.stdout)["layers"]
    assert [r["output_shape"] for r in (layers[0], layers[-1])] == [[4, 16, 16], [4, 8, 8]]


def test_small_eps_survives_the_yaml(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-06 as a string; the generated spec writes 1.0e-06
    _, rep = one(tmp_path, "BatchNormalization", [1, 2, 3, 3],
                 {"s": w(2), "b": w(2), "m": w(2), "v": w(2)}, ["s", "b", "m", "v"], epsilon=1e-6)
    from cnncalc.io.onnx_io import import_file

    text, _ = import_file(tmp_path / "m.onnx")
    assert "eps: 1.0e-06" in text


def test_unreadable_and_empty_models_are_named(tmp_path):
    from pathlib import Path

    whole = (Path(__file__).parent / "data" / "onnx" / "resnet18.torchscript.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(whole[:3000])  # a download cut short
    proc = _cli("analyze", tmp_path / "cut.onnx")
    assert proc.returncode == 2 and "cannot read the ONNX model" in proc.stderr
    save(model([], {}, [1, 3, 4, 4], "x"), tmp_path / "empty.onnx")
    proc = _cli("analyze", tmp_path / "empty.onnx")
    assert proc.returncode == 2 and "has no layers" in proc.stderr


@needs("gelu")
@pytest.mark.parametrize("chain", ["div_first", "half_first", "half_of_sum"])
def test_gelu_chain_of_the_exporters(tmp_path, chain):
    import numpy as np

    # GELU(x) = x·0.5·(1 + erf(x/√2)) (Hendrycks and Gimpel 2016), as TorchScript writes it
    # (Div, Erf, Add, Mul, Mul) and with the half taken first (Mul by 1/√2, Mul by 0.5)
    c = {"r2": np.float32(2 ** 0.5), "ir2": np.float32(2 ** -0.5), "one": np.float32(1),
         "half": np.float32(0.5)}
    if chain == "div_first":
        nodes = [node("Div", ["x", "r2"], "d"), node("Erf", ["d"], "e"), node("Add", ["e", "one"], "p"),
                 node("Mul", ["x", "p"], "m"), node("Mul", ["m", "half"], "y")]
    elif chain == "half_first":
        nodes = [node("Mul", ["x", "half"], "h"), node("Mul", ["x", "ir2"], "d"), node("Erf", ["d"], "e"),
                 node("Add", ["e", "one"], "p"), node("Mul", ["h", "p"], "y")]
    else:  # the dynamo exporter: x · (0.5 · (1 + erf(x / √2)))
        nodes = [node("Div", ["x", "r2"], "d"), node("Erf", ["d"], "e"), node("Add", ["e", "one"], "p"),
                 node("Mul", ["half", "p"], "q"), node("Mul", ["x", "q"], "y")]
    net, rep = analyse(model(nodes, c, [1, 3, 5, 5], "y"), tmp_path)
    assert [n.type for n in net.nodes] == ["gelu"] and row(rep).output_shape == (3, 5, 5)


def test_erf_alone_is_refused(tmp_path):
    with pytest.raises(cnncalc.SpecError, match=r"\(Erf\): Erf outside the GELU chain"):
        one(tmp_path, "Erf", [1, 3, 5, 5])


@needs("layer_scale")
def test_channels_last_region_convnext_block(tmp_path):
    # ConvNeXt's block as torchvision writes it: permute to channels-last, LayerNorm, Linear
    # (a 1x1 convolution over the channels), GELU, Linear, permute back, layer scale
    nodes = [node("Transpose", ["x"], "t", perm=[0, 2, 3, 1]),
             node("LayerNormalization", ["t", "g", "b"], "n", axis=-1, epsilon=1e-6),
             node("MatMul", ["n", "w1"], "m1"), node("Add", ["m1", "b1"], "a1"),
             node("Gelu", ["a1"], "h"), node("MatMul", ["h", "w2"], "m2"), node("Add", ["m2", "b2"], "a2"),
             node("Transpose", ["a2"], "back", perm=[0, 3, 1, 2]), node("Mul", ["ls", "back"], "y")]
    inits = {"g": w(8), "b": w(8), "w1": w(8, 32), "b1": w(32), "w2": w(32, 8), "b2": w(8),
             "ls": w(8, 1, 1)}
    net, rep = analyse(model(nodes, inits, [1, 8, 7, 7], "y", opset=20), tmp_path)
    assert [n.type for n in net.nodes] == ["layernorm", "conv", "gelu", "conv", "layer_scale"]
    assert net.nodes[0].layer.p["over"] == "channels"
    assert rep.totals.params == 2 * 8 + (8 * 32 + 32) + (32 * 8 + 8) + 8
    assert rep.totals.macs == 7 * 7 * (8 * 32 + 32 * 8)  # the two 1x1 convolutions
    assert row(rep).output_shape == (8, 7, 7)


def test_dynamo_as_strided_identity_is_no_layer(tmp_path):
    import numpy as np

    # the dynamo exporter's as_strided after pooling: Reshape to 1-D, Gather of 0, 1, 2, ...
    m = model([node("GlobalAveragePool", ["x"], "g"), node("Reshape", ["g", "flat"], "r"),
               node("Gather", ["r", "idx"], "s", axis=0), node("Flatten", ["s"], "y")],
              {"flat": ints(-1), "idx": np.arange(6, dtype=np.int64).reshape(1, 6, 1, 1)},
              [1, 6, 4, 4], "y")
    net, rep = analyse(m, tmp_path)
    assert [n.type for n in net.nodes] == ["global_avgpool", "flatten"]
    assert row(rep).output_shape == (6,)


def test_sum_of_three_is_one_add(tmp_path):
    m = model([node("Relu", ["x"], "a"), node("Sigmoid", ["x"], "b"), node("Sum", ["x", "a", "b"], "y")],
              {}, [1, 3, 4, 4], "y")
    net, rep = analyse(m, tmp_path)
    assert net.nodes[-1].type == "add" and net.nodes[-1].inputs == ["input", "a", "b"]


def test_import_reports_the_recorded_shape_disagreement(tmp_path):
    m = model([node("MaxPool", ["x"], "y", kernel_shape=[1, 1], strides=[2, 2], ceil_mode=1)],
              {}, [1, 2, 24, 24], "y", output_shapes=[[1, 2, 13, 13]])
    path = save(m, tmp_path / "m.onnx")
    proc = _cli("import", path)
    assert proc.returncode == 0 and "note: the file records 2x13x13" in proc.stderr
    assert "cnncalc computes 2x12x12" in proc.stderr  # PyTorch's ceil-mode rule


@pytest.mark.parametrize("op, attrs, inits, extra, expected, opset", [
    ("Elu", {"alpha": 0.5}, {}, [], "elu", 17),
    ("Selu", {}, {}, [], "selu", 17),
    ("PRelu", {}, {"s": w(3, 1, 1)}, ["s"], "prelu", 17),
    ("GlobalMaxPool", {}, {}, [], "global_maxpool", 17),
    ("ReduceMax", {"axes": [2, 3]}, {}, [], "global_maxpool", 17),
    ("Gelu", {}, {}, [], "gelu", 20),
    ("LayerNormalization", {"axis": 1}, {"g": w(3, 5, 5), "b": w(3, 5, 5)}, ["g", "b"], "layernorm", 17),
])
def test_more_ops(tmp_path, op, attrs, inits, extra, expected, opset):
    if expected not in REGISTRY:
        pytest.skip(f"layer type '{expected}' is not registered")
    m = model([node(op, ["x", *extra], "y", **attrs)], inits, [1, 3, 5, 5], "y", opset=opset)
    net, rep = analyse(m, tmp_path)
    assert net.nodes[-1].type == expected
    if op == "PRelu":
        assert row(rep).params == 3  # one slope per channel
    if op == "LayerNormalization":
        assert row(rep).params == 2 * 3 * 5 * 5  # weight and bias over the whole sample
    if op in ("GlobalMaxPool", "ReduceMax"):
        assert row(rep).output_shape == (3, 1, 1)


def test_upsample_op_of_opset_9(tmp_path):
    import numpy as np

    m = model([node("Upsample", ["x", "scales"], "y", mode="nearest")],
              {"scales": np.array([1, 1, 2, 3], np.float32)}, [1, 3, 5, 5], "y", opset=9)
    _, rep = analyse(m, tmp_path)
    assert row(rep).output_shape == (3, 10, 15)
