"""Writing ONNX models: spec -> ONNX -> import gives the same report for every spec
in specs/, and onnxruntime computes what cnncalc's executor computes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import cnncalc

from .conftest import SPECS
from .onnx_graphs import GRAPH, same_totals

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install 'cnncalc[onnx]'")

from cnncalc.io.onnx_export import to_onnx  # noqa: E402

# specs with a layer type that has no standard ONNX op (the export says so)
# (why, what the export's error says)
NOT_EXPRESSIBLE = {
    "deepface.yaml": ("locally_connected (unshared weights) has no ONNX op", "no ONNX equivalent"),
    "lenet5_lecun1998.yaml": ("sumpool (LeCun et al. 1998's subsampling sums) is not written as "
                              "ONNX (docs/onnx.md, its refusal)", "not written as ONNX"),
    # attention (issue 26): ONNX's Attention op needs opset 23 (docs/onnx.md, the refusals)
    "nonlocal_resnet50.yaml": ("scaled_dot_product_attention is not written as ONNX", "opset 23"),
    "bot_block_relpos.yaml": ("multihead_attention (with its relative position bias) is not written "
                              "as ONNX", "opset 23"),
    "vit_b_16.yaml": ("class_token and multihead_attention are not written as ONNX", "not written as ONNX yet"),
}
# specs whose types become several ONNX ops: the import reads those as several layers
SPLIT_UP = {"xception_entry.yaml": "separable_conv is written as two Convs (depthwise, pointwise)"}

FIGURES = ("output_shape", "params", "buffers", "macs", "flops", "receptive_field")


def _round_trip(net, tmp_path, **kwargs):
    path = tmp_path / "rt.onnx"
    onnx.save(to_onnx(net, **kwargs), str(path))
    return cnncalc.load(path)


@pytest.mark.parametrize("spec", sorted(p.name for p in SPECS.glob("*.yaml")))
def test_round_trip_same_report(spec, tmp_path):
    if spec in NOT_EXPRESSIBLE:
        net = cnncalc.load(SPECS / spec)
        why, says = NOT_EXPRESSIBLE[spec]
        with pytest.raises(cnncalc.SpecError, match=says):
            to_onnx(net, graph_only=True)
        pytest.skip(why)
    net = cnncalc.load(SPECS / spec)
    back = _round_trip(net, tmp_path, graph_only=True)
    a, b = cnncalc.analyze(net, memory_policy=GRAPH).to_dict(), cnncalc.analyze(back, memory_policy=GRAPH).to_dict()
    if spec in SPLIT_UP:
        for key in ("params", "buffers", "macs"):
            assert a["totals"][key] == b["totals"][key], key
        return
    assert len(a["layers"]) == len(b["layers"])
    for x, y in zip(a["layers"], b["layers"]):
        for key in FIGURES:
            assert x[key] == y[key], (x["name"], key)
    # an eval-mode graph has no stochastic depth (ONNX Identity): its training-only mask,
    # counted in the training memory, is the one figure that cannot come back
    training = not any(r["type"] == "stochastic_depth" for r in a["layers"])
    assert same_totals(a, b, training)
    assert a["input_shape"] == b["input_shape"] and a["batch"] == b["batch"]


ort = None


def _session(model):
    global ort
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: "
                              "pip install 'cnncalc[onnxruntime]'")
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _agree(net, weights=None, seed=0):
    x = np.random.default_rng(1).standard_normal((net.batch, *net.input_shape)).astype(np.float32)
    model = to_onnx(net, weights, seed)
    ours = cnncalc.run(net, x, weights, seed)
    theirs = _session(model).run(None, {"input": x})
    for name, value in zip(net.outputs, theirs):
        assert value.shape == ours[name].shape
        np.testing.assert_allclose(value, ours[name], rtol=1e-5, atol=1e-5)


SMALL = ["lenet5.yaml", "nin_cifar10.yaml", "allcnn_c.yaml", "multitask.yaml",
         "xception_entry.yaml", "squeezenet1_0.yaml"]


@pytest.mark.parametrize("spec", SMALL)
def test_onnxruntime_agrees_with_run(spec):
    _agree(cnncalc.load(SPECS / spec))


@pytest.mark.slow
@pytest.mark.parametrize("spec", sorted(p.name for p in SPECS.glob("*.yaml")
                                        if p.name not in SMALL and p.name not in NOT_EXPRESSIBLE))
def test_onnxruntime_agrees_with_run_zoo(spec):
    _agree(cnncalc.load(SPECS / spec))


EVERY_TYPE = """
input: [4, 12, 12]
layers:
  - {conv: {out_channels: 8, kernel_size: 3, padding: [[0, 1], [2, 1]], dilation: [1, 2]}, name: c1}
  - {batchnorm, name: bn}
  - leaky_relu: {negative_slope: 0.1}
  - {depthwise_conv: {kernel_size: 3, padding: same, depth_multiplier: 2}, name: dw}
  - prelu: {num_parameters: 16}
  - conv_transpose: {out_channels: 6, kernel_size: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}
  - elu
  - selu
  - silu
  - {maxpool: {kernel_size: 3, stride: 2, ceil_mode: true}, name: mp}
  - {upsample: {scale_factor: 2, mode: bilinear}, name: up}
  - pad: {padding: [[1, 0], [0, 2]], mode: reflect}
  - crop: {cropping: [[1, 0], [0, 2]]}
  - {avgpool: {kernel_size: 3, stride: 1, padding: 1, count_include_pad: false}, name: ap}
  - {hardswish, name: hs}
  - {relu6, name: r6}
  - {sigmoid, name: sg}
  - {multiply: {with: hs}}
  - {add: {with: r6}}
  - {concat: {with: [sg]}}
  - {tanh}
  - {upsample: {scale_factor: 2}, name: near}
  - lrn: {size: 3}
  - {adaptive_avgpool: 4}
  - {dropout: 0.3}
  - identity
  - flatten
  - linear: 10
  - softmax
"""


def test_every_exportable_type_agrees_with_onnxruntime():
    _agree(cnncalc.loads(EVERY_TYPE, "every.yaml"))


def test_linear_on_spatial_tensor_is_matmul_add():
    net = cnncalc.loads("input: [3, 4, 5]\nlayers:\n  - linear: 7\n", "lin.yaml")
    model = to_onnx(net)
    assert [n.op_type for n in model.graph.node] == ["MatMul", "Add"]
    _agree(net)


def test_given_weights_are_written():
    net = cnncalc.loads("input: [1, 4]\nlayers:\n  - flatten\n  - {linear: 2, name: fc}\n", "w.yaml")
    weights = {"fc.weight": np.arange(8, dtype=np.float32).reshape(2, 4),
               "fc.bias": np.array([1, -1], np.float32)}
    model = to_onnx(net, weights)
    stored = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(stored["fc.weight"], weights["fc.weight"])
    _agree(net, weights)


def test_export_cli(tmp_path):
    out = tmp_path / "lenet.onnx"
    w = tmp_path / "w.npz"
    np.savez(w, **{"conv1.bias": np.ones(6, np.float32)})
    proc = subprocess.run([sys.executable, "-m", "cnncalc", "export", str(SPECS / "lenet5.yaml"),
                           "--to", "onnx", "-o", str(out), "--weights", str(w)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    bias = next(t for t in model.graph.initializer if t.name == "conv1.bias")
    assert onnx.numpy_helper.to_array(bias).tolist() == [1.0] * 6


def test_export_unexpressible_type_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cnncalc", "export", str(SPECS / "deepface.yaml"),
                           "--to", "onnx", "-o", str(tmp_path / "d.onnx")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "locally_connected" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("spec", sorted(p.name for p in SPECS.glob("*.yaml") if p.name not in NOT_EXPRESSIBLE))
def test_readable_import_same_figures(spec, tmp_path):
    # cnncalc import nests residuals and repeats: names and order change, figures do not
    from cnncalc.io.onnx_io import import_file

    path = tmp_path / "rt.onnx"
    onnx.save(to_onnx(cnncalc.load(SPECS / spec), graph_only=True), str(path))
    text, _ = import_file(path)
    (tmp_path / "net.yaml").write_text(text)

    def figures(rep):
        return sorted((r["type"], r["output_shape"], r["params"], r["buffers"], r["macs"],
                       r["flops"], repr(r["receptive_field"])) for r in rep["layers"])

    a = cnncalc.analyze(cnncalc.load(tmp_path / "net.yaml"), memory_policy=GRAPH).to_dict()
    b = cnncalc.analyze(cnncalc.load(path), memory_policy=GRAPH).to_dict()
    training = not any(r["type"] == "stochastic_depth" for r in a["layers"])
    assert figures(a) == figures(b) and same_totals(a, b, training)


# -- the types issue 21 added to the export: each against onnxruntime, and read back ----------

NEW_TYPES = {
    # groupnorm: GroupNormalization at opset 21 (scale and bias per channel, as PyTorch's)
    "groupnorm": "  - {groupnorm: {num_groups: 2}, name: gn}\n",
    "groupnorm_plain": "  - {groupnorm: {num_groups: 4, affine: false}, name: gn}\n",
    "instancenorm": "  - {instancenorm: {affine: true}, name: inorm}\n",
    "instancenorm_plain": "  - {instancenorm, name: inorm}\n",
    "instancenorm_running": "  - {instancenorm: {track_running_stats: true, affine: true}, name: inorm}\n",
    # PyTorch's channel order: out[c·r² + i·r + j, h, w] = in[c, h·r + i, w·r + j]
    "pixel_unshuffle": "  - {pixel_unshuffle: 2, name: pu}\n",
    "softplus_beta": "  - {softplus: {beta: 2.5}, name: sp}\n",
    "softplus_small_beta": "  - {softplus: {beta: 0.5}, name: sp}\n",
}


def _random_weights(net, seed=3):
    """Every learnable tensor and buffer drawn at random (a variance kept positive), so
    that an affine or running-statistics mistake shows in the output."""
    rng = np.random.default_rng(seed)
    out = {}
    for node in net.nodes:
        for kind in (node.facts.params, node.facts.buffers):
            for key, shape in kind.items():
                value = rng.standard_normal(shape).astype(np.float32)
                out[f"{node.name}.{key}"] = np.abs(value) + 0.5 if key == "running_var" else value
    return out


@pytest.mark.parametrize("case", sorted(NEW_TYPES))
def test_new_types_agree_with_onnxruntime_and_read_back(case, tmp_path):
    text = "input: [4, 6, 8]\nlayers:\n  - {conv: {out_channels: 8, kernel_size: 3, padding: 1}, name: c}\n" \
        + NEW_TYPES[case]
    net = cnncalc.loads(text, f"{case}.yaml")
    weights = _random_weights(net)
    _agree(net, weights)
    back = _round_trip(net, tmp_path, graph_only=True)
    # instance norm on running statistics is, at inference, batch norm: written and read so
    expected = "batchnorm" if case == "instancenorm_running" else net.nodes[-1].type
    assert [n.type for n in back.nodes] == ["conv", expected]
    a, b = cnncalc.analyze(net, memory_policy=GRAPH).to_dict(), cnncalc.analyze(back, memory_policy=GRAPH).to_dict()
    for key in FIGURES:
        assert a["layers"][-1][key] == b["layers"][-1][key], key


def test_pixel_unshuffle_is_not_space_to_depth():
    # the check that the export follows PyTorch's order, not SpaceToDepth's: channel 1 of
    # pixel_unshuffle(x, 2) is x[0, 0, 0::2, 1::2] (offset (0, 1) of input channel 0);
    # SpaceToDepth's channel 1 is input channel 1 at offset (0, 0)
    net = cnncalc.loads("input: [2, 4, 4]\nlayers:\n  - {pixel_unshuffle: 2, name: pu}\n", "pu.yaml")
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
    y = _session(to_onnx(net)).run(None, {"input": x})[0]
    np.testing.assert_array_equal(y[0, 1], x[0, 0, 0::2, 1::2])
    np.testing.assert_array_equal(y[0, 4], x[0, 1, 0::2, 0::2])


def test_softplus_with_a_low_threshold_is_refused():
    # above beta·x > threshold PyTorch returns x; softplus(beta·x)/beta is higher by
    # log(1 + e^-threshold)/beta: 0.0134 for beta 0.5 and threshold 5
    net = cnncalc.loads("input: [2, 4, 4]\nlayers:\n  - softplus: {beta: 0.5, threshold: 5}\n", "sp.yaml")
    with pytest.raises(cnncalc.SpecError, match="no threshold.*0.013"):
        to_onnx(net, graph_only=True)


@pytest.mark.parametrize("spec", ["lenet5.yaml", "squeezenet1_0.yaml"])
def test_exported_batch_is_symbolic_and_runs_any_batch(spec):
    net = cnncalc.load(SPECS / spec)
    model = to_onnx(net)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and not dims[0].HasField("dim_value")
    session = _session(model)
    for batch in (1, 3):  # onnxruntime enforces a fixed batch; a symbolic one takes both
        x = np.random.default_rng(batch).standard_normal((batch, *net.input_shape)).astype(np.float32)
        ours = cnncalc.run(net, x, None, 0)
        theirs = session.run(None, {"input": x})
        for name, value in zip(net.outputs, theirs):
            assert value.shape == (batch, *ours[name].shape[1:])
            np.testing.assert_allclose(value, ours[name], rtol=1e-5, atol=1e-5)


def test_every_type_runs_with_batch_3():
    # every Reshape, Resize and shuffle the layers write copies the batch (Reshape's 0,
    # Resize's axes): a batch of 3 runs through the EVERY_TYPE network
    net = cnncalc.loads(EVERY_TYPE, "every.yaml")
    x = np.random.default_rng(5).standard_normal((3, *net.input_shape)).astype(np.float32)
    ours = cnncalc.run(net, x, None, 0)
    theirs = _session(to_onnx(net)).run(None, {"input": x})
    for name, value in zip(net.outputs, theirs):
        np.testing.assert_allclose(value, ours[name], rtol=1e-5, atol=1e-5)
