"""ONNX files as PyTorch's exporters write them (issue 21): a one-input Concat, the
constant shape chains of F.pad, weights in an external data file that is present or
absent, and the notes that say what the file's figures mean. Graphs are built with
onnx.helper after what the exporters write (torch/onnx/symbolic_opset11.py)."""

from __future__ import annotations

import numpy as np
import pytest

import cnncalc

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed: pip install 'cnncalc[onnx]'")

from .onnx_graphs import ints, model, node, save, w  # noqa: E402

INT64_MAX = 2 ** 63 - 1


def analyse(m, tmp_path, name="m.onnx"):
    path = save(m, tmp_path / name)
    net = cnncalc.load(path)
    return net, cnncalc.analyze(net)


def test_one_input_concat_is_the_identity(tmp_path):
    # DenseNet-121, TorchScript exporter: torch.cat([x], 1) in the first dense layer
    m = model([node("Concat", ["x"], "c", name="/features/denseblock1/denselayer1/Concat", axis=1),
               node("Conv", ["c", "w"], "y", pads=[0, 0, 0, 0])],
              {"w": w(8, 3, 1, 1)}, [1, 3, 5, 5], "y")
    net, rep = analyse(m, tmp_path)
    assert [n.type for n in net.nodes] == ["conv"]
    assert rep.layers[-1].output_shape == (8, 5, 5)


def _torchscript_pad_chain(pads: list[int], rank: int = 4):
    """The pads of F.pad(x, pads) as the TorchScript exporter computes them
    (_prepare_onnx_paddings): extend with zeros to 2·rank, Reshape (-1, 2), flip the rows
    (Slice with step -1), Transpose, Reshape (-1), Cast; then Pad."""
    nodes = [
        node("Constant", [], "pad", value=onnx.numpy_helper.from_array(ints(*pads))),
        node("Shape", ["pad"], "pad_shape"),
        node("Gather", ["pad_shape", "zero"], "pad_len", axis=0),
        node("Constant", [], "rank", value=onnx.numpy_helper.from_array(np.array(rank, np.int64))),
        node("Constant", [], "two", value=onnx.numpy_helper.from_array(np.array(2, np.int64))),
        node("Mul", ["rank", "two"], "rank2"),
        node("Sub", ["rank2", "pad_len"], "extension"),
        node("Unsqueeze", ["extension", "axes0"], "ext1"),
        node("ConstantOfShape", ["ext1"], "zeros",
             value=onnx.numpy_helper.from_array(np.array([0], np.int64))),
        node("Concat", ["pad", "zeros"], "padded", axis=0),
        node("Reshape", ["padded", "rows"], "pairs"),
        node("Slice", ["pairs", "start", "end", "axes0", "step"], "flipped"),
        node("Transpose", ["flipped"], "columns", perm=[1, 0]),
        node("Reshape", ["columns", "flat"], "onnx_pads"),
        node("Cast", ["onnx_pads"], "pads64", to=7),
        node("Pad", ["x", "pads64"], "y", name="/Pad", mode="constant"),
    ]
    inits = {"zero": np.array(0, np.int64), "axes0": ints(0), "rows": ints(-1, 2),
             "start": ints(-1), "end": ints(-INT64_MAX), "step": ints(-1), "flat": ints(-1)}
    return nodes, inits


def test_f_pad_chain_of_the_torchscript_exporter_folds(tmp_path):
    # F.pad(x, (1, 2, 3, 4)): last axis 1 before, 2 after; the one before it 3 and 4
    nodes, inits = _torchscript_pad_chain([1, 2, 3, 4])
    net, rep = analyse(model(nodes, inits, [1, 3, 5, 6], "y"), tmp_path)
    assert [n.type for n in net.nodes] == ["pad"]
    assert rep.layers[-1].output_shape == (3, 5 + 3 + 4, 6 + 1 + 2)


@pytest.mark.parametrize("op, inputs, attrs, expected", [
    ("Range", [np.array(1, np.int64), np.array(9, np.int64), np.array(3, np.int64)], {}, [1, 4, 7]),
    ("Expand", [ints(2), ints(3)], {}, [2, 2, 2]),
    ("Where", [np.array([True, False]), ints(5, 6), ints(7, 8)], {}, [5, 8]),
    ("Div", [ints(-7), ints(2)], {}, [-3]),  # ONNX integer Div truncates toward zero
    ("Mod", [ints(7), ints(3)], {}, [1]),
    ("Squeeze", [ints(4).reshape(1, 1), ints(0)], {}, [4]),
    ("Tile", [ints(1, 2), ints(2)], {}, [1, 2, 1, 2]),
    ("ReduceSum", [ints(1, 2, 3)], {"keepdims": 0}, 6),
    ("Less", [ints(1, 5), ints(3, 3)], {}, [True, False]),
])
def test_shape_ops_fold_on_constants(tmp_path, op, inputs, attrs, expected):
    # the folded value's sum of magnitudes becomes a Reshape target (1, total): the model's
    # input has `total` channels, so only the value the ONNX specification gives loads
    names = [f"c{i}" for i in range(len(inputs))]
    nodes = [node(op, names, "v", **attrs), node("Cast", ["v"], "v64", to=7),
             node("Abs", ["v64"], "a"),
             node("ReduceSum", ["a"], "s", keepdims=1), node("Reshape", ["s", "one"], "s1"),
             node("Concat", ["batch", "s1"], "target", axis=0),
             node("Reshape", ["x", "target"], "y")]
    total = int(np.sum(np.abs(np.asarray(expected, dtype=np.int64))))
    inits = dict(zip(names, inputs), one=ints(1), batch=ints(1))
    m = model(nodes, inits, [1, total, 1, 1], "y")
    net, rep = analyse(m, tmp_path)
    assert rep.layers[-1].output_shape == (total,)


def _external(tmp_path, m, keep: bool):
    onnx.save(m, str(tmp_path / "ext.onnx"), save_as_external_data=True, location="ext.data",
              size_threshold=0)
    if not keep:
        (tmp_path / "ext.data").unlink()
    return tmp_path / "ext.onnx"


def test_reshape_target_in_present_external_data_is_read(tmp_path):
    m = model([node("Conv", ["x", "w"], "c"), node("Reshape", ["c", "shape"], "y")],
              {"w": w(4, 3, 3, 3), "shape": ints(1, 4, 9)}, [1, 3, 5, 5], "y")
    net = cnncalc.load(_external(tmp_path, m, keep=True))
    assert cnncalc.analyze(net).layers[-1].output_shape == (4, 9)
    assert not any("absent" in n for n in net.onnx_notes)


def test_reshape_target_in_absent_external_data_uses_value_info(tmp_path):
    m = model([node("Conv", ["x", "w"], "c"), node("Reshape", ["c", "shape"], "y", name="/Reshape")],
              {"w": w(4, 3, 3, 3), "shape": ints(1, 4, 9)}, [1, 3, 5, 5], "y",
              output_shapes=[["N", 4, 9]])
    net = cnncalc.load(_external(tmp_path, m, keep=False))
    assert cnncalc.analyze(net).layers[-1].output_shape == (4, 9)
    note = next(n for n in net.onnx_notes if "absent" in n)
    assert "'/Reshape'" in note and "4x9" in note


def test_reshape_target_absent_and_unrecorded_is_a_located_error(tmp_path):
    m = model([node("Conv", ["x", "w"], "c"), node("Reshape", ["c", "shape"], "y", name="/Reshape")],
              {"w": w(4, 3, 3, 3), "shape": ints(1, 4, 9)}, [1, 3, 5, 5], "y")
    with pytest.raises(cnncalc.SpecError) as info:
        cnncalc.load(_external(tmp_path, m, keep=False))
    text = info.value.format()
    assert "'/Reshape' (Reshape)" in text and "ext.onnx" in text


@pytest.mark.parametrize("location", ["../outside.data", "/etc/passwd", "a/../../b"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path, location):
    m = model([node("Conv", ["x", "w"], "y")], {"w": w(4, 3, 3, 3)}, [1, 3, 5, 5], "y")
    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = onnx.TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", location
    with pytest.raises(cnncalc.SpecError) as info:
        analyse(m, tmp_path)
    assert "inside the model's folder" in info.value.message and "'w'" in info.value.message


# -- the batch-norm note: this file's figures, and only where it applies --------------------


def _folded_conv(name, w_name, b_name, out, inp):
    inputs = [inp, w_name] + ([b_name] if b_name else [])
    n = node("Conv", inputs, out, name=name, pads=[1, 1, 1, 1])
    prop = n.metadata_props.add()
    prop.key, prop.value = "pkg.onnxscript.rewriter.rule_name", "FuseBatchNormIntoConv"
    return n


def test_folding_note_states_this_files_figures(tmp_path):
    # two convolutions the dynamo exporter marks as folded: 8 channels keep their bias,
    # 4 had an all-zero bias that the exporter dropped
    m = model([_folded_conv("c1", "w1", "b1", "a", "x"), _folded_conv("c2", "w2", None, "y", "a")],
              {"w1": w(8, 3, 3, 3), "b1": w(8), "w2": w(4, 8, 3, 3)}, [1, 3, 6, 6], "y")
    net, rep = analyse(m, tmp_path)
    params = 8 * 3 * 9 + 8 + 4 * 8 * 9  # 512: weights and the one kept bias
    assert rep.totals.params == params
    (note,) = [n for n in net.onnx_notes if "folded" in n]
    # the source: conv weights + batch norm's γ and β on 8 + 4 channels = 512 - 8 + 2·12
    assert f"counts {params:,} parameters" in note and f"counted {params - 8 + 2 * 12:,}" in note
    assert "1 of them have a C-element bias" in note and "dropped the all-zero bias of the other 1" in note
    assert "ResNet-18" not in note and "11,68" not in note


def test_folding_note_never_says_bias_when_every_bias_was_dropped(tmp_path):
    m = model([_folded_conv("c1", "w1", None, "y", "x")], {"w1": w(8, 3, 3, 3)}, [1, 3, 6, 6], "y")
    net, _ = analyse(m, tmp_path)
    (note,) = [n for n in net.onnx_notes if "folded" in n]
    assert "C-element bias" not in note and "dropped the all-zero bias of the other 1 (8 channels)" in note


def test_unmarked_biases_note_states_this_files_figures(tmp_path):
    m = model([node("Conv", ["x", "w", "b"], "y")], {"w": w(4, 3, 3, 3), "b": w(4)}, [1, 3, 5, 5], "y")
    net, rep = analyse(m, tmp_path)
    (note,) = [n for n in net.onnx_notes if "batch norm" in n]
    assert "counts 112 parameters" in note and "up to 116" in note  # 4·3·9 + 4; plus γ, β − bias
    assert "ResNet-18" not in note


def test_no_folding_note_on_cnncalcs_own_export(tmp_path):
    pytest.importorskip("onnx")
    from cnncalc.io.onnx_map import export_graph

    net = cnncalc.loads("name: n\ninput: [3, 8, 8]\nlayers:\n  - conv: {out_channels: 4, kernel_size: 3}\n")
    save(export_graph(net, None), tmp_path / "own.onnx")
    back = cnncalc.load(tmp_path / "own.onnx")
    assert not any("batch norm" in n for n in back.onnx_notes)


def test_external_data_through_a_link_out_of_the_folder_is_refused(tmp_path):
    m = model([node("Conv", ["x", "w"], "c"), node("Reshape", ["c", "shape"], "y", name="/Reshape")],
              {"w": w(4, 3, 3, 3), "shape": ints(1, 4, 9)}, [1, 3, 5, 5], "y")
    folder = tmp_path / "model"
    folder.mkdir()
    path = _external(folder, m, keep=True)
    outside = tmp_path / "elsewhere.data"
    (folder / "ext.data").rename(outside)
    (folder / "ext.data").symlink_to(outside)
    with pytest.raises(cnncalc.SpecError) as info:
        cnncalc.load(path)
    assert "outside the model's folder" in info.value.message and "'/Reshape'" in info.value.message
