"""Branches, merges, structures and blocks (docs/spec-format.md, 'Structure')."""

from __future__ import annotations

from fractions import Fraction as Fr

import pytest

import cnncalc
from tests.conftest import error_of, report_of

# -- merges ------------------------------------------------------------------------


def test_add_with_and_from():
    rep = report_of(
        "input: [4, 8, 8]\nlayers:\n"
        "  - {conv: {out_channels: 4, kernel_size: 3, padding: 1}, name: a}\n"
        "  - {conv: {out_channels: 4, kernel_size: 1}, name: b}\n"
        "  - add: {with: a}\n"
        "  - {add, from: [a, b]}\n"
    )
    assert rep.layer("add1").inputs == ("b", "a")  # the previous output first, then 'with'
    assert rep.layer("add2").inputs == ("a", "b")
    assert rep.layer("add1").output_shape == (4, 8, 8)
    assert rep.layer("add1").flops == 4 * 8 * 8  # one addition per element


def test_multiply_broadcasts_squeeze_and_excitation():
    # Hu et al. 2018, Fig. 2: scale [C, H, W] by [C, 1, 1]
    rep = report_of(
        "input: [16, 8, 8]\nlayers:\n"
        "  - {identity, name: x}\n"
        "  - global_avgpool\n"
        "  - conv: {out_channels: 4, kernel_size: 1}\n"
        "  - relu\n"
        "  - conv: {out_channels: 16, kernel_size: 1}\n"
        "  - sigmoid\n"
        "  - multiply: {with: x}\n"
    )
    row = rep.layer("multiply1")
    assert row.output_shape == (16, 8, 8)
    assert row.flops == 16 * 8 * 8
    assert row.receptive_field is None  # every input position reaches it through the pooling


def test_concat_channels():
    rep = report_of(
        "input: [3, 8, 8]\nlayers:\n"
        "  - {conv: {out_channels: 5, kernel_size: 1}, name: a}\n"
        "  - {conv: {out_channels: 7, kernel_size: 3, padding: 1}, from: input}\n"
        "  - concat: {with: a}\n"
    )
    assert rep.layer("concat1").output_shape == (7 + 5, 8, 8)
    # the union of a 1x1 path and a 3x3 path, both centred on the same pixel
    assert rep.layer("concat1").receptive_field.size == (3, 3)
    assert rep.layer("concat1").receptive_field.misaligned is False


def test_merge_mismatch_names_both_paths():
    err = error_of(
        "input: [4, 8, 8]\nlayers:\n"
        "  - {conv: {out_channels: 4, kernel_size: 3, stride: 2, padding: 1}, name: down}\n"
        "  - {add: {with: input}, name: sum}\n"
    )
    assert (err.line, err.column) == (4, 6)
    text = err.format()
    assert "add 'sum': add needs shapes that agree or broadcast" in text
    assert "[4, 4, 4] from 'down'" in text
    assert "[4, 8, 8] from 'input'" in text


def test_concat_mismatch_suggests_crop():
    err = error_of(
        "input: [4, 8, 8]\nlayers:\n"
        "  - {conv: {out_channels: 4, kernel_size: 3}, name: a}\n"
        "  - concat: {with: input}\n"
    )
    assert "[4, 6, 6] from 'a'" in err.format()
    assert "crop" in err.help


def test_merge_needs_two_inputs():
    err = error_of("input: [4, 8]\nlayers:\n  - add\n")
    assert "add needs at least 2 inputs" in err.message
    assert (err.line, err.column) == (3, 5)


# -- structures ------------------------------------------------------------------


def test_residual_identity_and_projection():
    rep = report_of(
        "input: [8, 16, 16]\nlayers:\n"
        "  - residual:\n"
        "      body:\n"
        "        - conv: {out_channels: 8, kernel_size: 3, padding: 1}\n"
        "  - {residual: {body: [conv: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1}],\n"
        "                shortcut: [conv: {out_channels: 16, kernel_size: 1, stride: 2}]}, name: down}\n"
    )
    names = [r.name for r in rep.layers]
    assert names == ["residual1.conv1", "residual1.add1", "down.conv1", "down.shortcut.conv1",
                     "down.add1"]
    assert rep.layer("residual1.add1").inputs == ("input", "residual1.conv1")
    assert rep.layer("down.add1").inputs == ("down.shortcut.conv1", "down.conv1")
    assert rep.layer("down.add1").output_shape == (16, 8, 8)
    # union of the 1x1 (size 1) and 3x3 (size 3) paths, same stride and centre
    assert rep.layer("residual1.add1").receptive_field.size == (3, 3)


def test_residual_concat_like_densenet():
    rep = report_of(
        "input: [64, 8, 8]\nlayers:\n"
        "  - {residual: {body: [conv: {out_channels: 32, kernel_size: 3, padding: 1}], merge: concat},"
        " repeat: 3, name: block}\n"
    )
    assert rep.layer("block.2.concat1").output_shape == (64 + 3 * 32, 8, 8)  # k0 + l*k channels
    assert rep.outputs == ("block.2.concat1",)


def test_parallel_branch_names_and_empty_branch():
    rep = report_of(
        "input: [3, 8, 8]\nlayers:\n"
        "  - {parallel: {branches: [[conv: {out_channels: 2, kernel_size: 1}],"
        " [conv: {out_channels: 4, kernel_size: 3, padding: 1}, relu], []]}, name: inc}\n"
    )
    names = [r.name for r in rep.layers]
    assert names == ["inc.branch1.conv1", "inc.branch2.conv1", "inc.branch2.relu1", "inc.concat1"]
    assert rep.layer("inc.concat1").inputs == ("inc.branch1.conv1", "inc.branch2.relu1", "input")
    assert rep.layer("inc.concat1").output_shape == (2 + 4 + 3, 8, 8)


def test_sequential_and_name_refers_to_output():
    rep = report_of(
        "input: [3, 8, 8]\nlayers:\n"
        "  - {sequential: [conv: {out_channels: 4, kernel_size: 3}, relu], name: stem}\n"
        "  - {identity, from: stem}\n"
    )
    assert rep.layer("identity1").inputs == ("stem.relu1",)


def test_trainable_false_on_a_structure_freezes_inside():
    rep = report_of(
        "input: [3, 8, 8]\nlayers:\n"
        "  - {sequential: [conv: {out_channels: 4, kernel_size: 3}], trainable: false}\n"
        "  - conv: {out_channels: 2, kernel_size: 1}\n"
    )
    assert rep.totals.frozen_params == 4 * 27 + 4
    assert rep.totals.trainable_params == 2 * 4 + 2


# -- blocks and ${...} ------------------------------------------------------------------

BLOCKS = """\
input: [16, 16, 16]
blocks:
  se:
    args: {ch: 64, r: 16}
    layers:
      - {identity, name: x}
      - global_avgpool
      - conv: {out_channels: "${ch // r}", kernel_size: 1}
      - relu
      - conv: {out_channels: "${ch}", kernel_size: 1}
      - sigmoid
      - multiply: {with: x}
layers:
  - {identity, name: x}
  - {se: {ch: 16, r: 4}, name: se1}
  - {se: {ch: 16, r: 2}, repeat: 2, name: more}
  - {add: {with: x}}
"""


def test_block_scoping_and_arguments():
    rep = report_of(BLOCKS)
    # a block names its inner layers in its own scope: se1.x is this use's own x
    assert rep.layer("se1.multiply1").inputs == ("se1.sigmoid1", "se1.x")
    assert rep.layer("se1.conv1").output_shape == (16 // 4, 1, 1)
    assert rep.layer("more.1.conv1").output_shape == (16 // 2, 1, 1)
    assert rep.layer("more.0.x").inputs == ("se1.multiply1",)  # the name of a use is its output
    # the top-level x, seen from outside any block
    assert rep.layer("add1").inputs == ("more.1.multiply1", "x")


def test_expressions():
    rep = report_of(
        "input: [3, 8, 8]\nblocks:\n  b:\n    args: {w: 8, s: 2}\n    layers:\n"
        "      - conv: {out_channels: '${max(w * 3 // 2, 4) + 2 ** s - w / 2 % 3}', kernel_size: 1}\n"
        "      - {relu, if: '${s > 1 and not (w == 3)}'}\n"
        "      - {tanh, if: '${s == 1}'}\n"
        "layers:\n  - b\n  - {b: {w: 4, s: 1}}\n"
    )
    # w=8, s=2: max(12, 4) + 4 - (4 % 3) = 12 + 4 - 1 = 15; w/2 is exact (4, not 4.0)
    assert rep.layer("b1.conv1").output_shape[0] == 15
    assert [r.name for r in rep.layers] == ["b1.conv1", "b1.relu1", "b2.conv1", "b2.tanh1"]
    assert rep.layer("b2.conv1").output_shape[0] == max(4 * 3 // 2, 4) + 2 ** 1 - 4 // 2 % 3


@pytest.mark.parametrize("expr, words", [
    ("__import__('os')", "not allowed"),
    ("w.real", "not allowed"),
    ("open(w)", "not allowed"),
    ("[w][0]", "not allowed"),
    ("v + 1", "'v' is not an argument of this block"),
    ("w ** 1000", "exponent 1000 is larger than 64"),
    ("w // 0", "division by zero"),
    ("w +", "invalid expression"),
])
def test_expressions_refused(expr, words):
    err = error_of(
        "input: [3, 8, 8]\nblocks:\n  b:\n    args: {w: 8}\n    layers:\n"
        f"      - conv: {{out_channels: \"${{{expr}}}\", kernel_size: 1}}\n"
        "layers:\n  - b\n"
    )
    assert words in err.message
    assert (err.line, err.column) == (6, 30)  # the value inside the block
    assert err.notes == ["in block 'b' used at line 8, column 5"]
    assert "help: note:" not in err.format()  # a note is its own line, never under help:


def test_block_argument_errors():
    err = error_of("input: [3, 8]\nblocks:\n  b:\n    args: {width: 8}\n    layers: [relu]\n"
                   "layers:\n  - b: {widht: 4}\n")
    assert "block 'b' has no argument 'widht'" in err.message
    assert "did you mean 'width'" in err.help
    assert (err.line, err.column) == (7, 9)
    err = error_of("input: [3, 8]\nblocks:\n  b:\n    layers: [{b}]\nlayers:\n  - b\n")
    assert "block 'b' uses itself (b -> b)" in err.message


def test_block_name_clash_and_unknown_type_suggests_blocks():
    err = error_of("input: [3, 8]\nblocks:\n  conv: [relu]\nlayers: [relu]\n")
    assert "is a layer type" in err.message
    err = error_of("input: [3, 8]\nblocks:\n  fire: [relu]\nlayers: [fier]\n")
    assert "did you mean 'fire'" in err.help


# -- names: dangling, cycles, duplicates -----------------------------------------------------


def test_cycle_is_a_located_error():
    err = error_of(
        "input: [3, 8]\nlayers:\n"
        "  - {add: {with: b}, name: a}\n"
        "  - {relu, from: a, name: b}\n"
    )
    assert err.message == "'b' is defined below, at line 4"
    assert (err.line, err.column) == (3, 18)
    assert "no cycles" in err.help


def test_dangling_name_inside_a_structure():
    err = error_of(
        "input: [3, 8]\nlayers:\n"
        "  - {residual: {body: [{add: {with: nowhere}}]}}\n"
    )
    assert "no layer named 'nowhere'" in err.message
    assert (err.line, err.column) == (3, 37)


def test_inner_names_are_not_visible_outside():
    err = error_of(
        "input: [3, 8]\nlayers:\n"
        "  - {sequential: [{relu, name: inner}], name: s}\n"
        "  - {tanh, from: inner}\n"
    )
    assert "no layer named 'inner'" in err.message


# -- receptive fields over several paths -------------------------------------------------------


def test_misaligned_paths_are_reported_not_fatal():
    # a 3x3 valid conv shifts the centre by one pixel against the identity path;
    # the crop restores the size but not the alignment
    rep = report_of(
        "input: [1, 16]\nlayers:\n"
        "  - {conv: {out_channels: 1, kernel_size: 3}, name: c}\n"
        "  - {crop: [[0, 2]], from: input, name: skip}\n"
        "  - {add: {with: c}}\n"
    )
    rf = rep.layer("add1").receptive_field
    assert rf.misaligned is True
    assert rf.size == (3,)  # unit 0: identity sees {0}, conv sees [0, 2]
    assert rep.to_dict()["layers"][-1]["receptive_field"]["aligned"] is False


def test_paths_with_different_strides():
    # the identity (stride 1) against a 1x1 stride-2 conv padded back to size 8 (stride 2)
    rep = report_of(
        "input: [1, 8]\nlayers:\n"
        "  - {conv: {out_channels: 1, kernel_size: 1, stride: 2}, name: half}\n"
        "  - {pad: [[0, 4]], name: padded}\n"
        "  - {add: {with: input}}\n"
    )
    rf = rep.layer("add1").receptive_field
    assert rf.misaligned is True
    # unit o sees input o (identity) and 2o (the strided path; padded units continue it,
    # since receptive fields are unclipped): extent o + 1, largest at o = 7: 8
    assert rf.size == (7 + 1,)
    assert rf.center == (0,)
    # centres (o + 2o)/2 = 3o/2: mean spacing (c(7) - c(0)) / 7 = 3/2
    assert rf.stride == (Fr(3, 2),)


def test_several_outputs():
    rep = cnncalc.analyze(cnncalc.load("specs/multitask.yaml"))
    assert rep.outputs == ("classes", "boxes")
    assert rep.layer("boxes").output_shape == (3 * 4, 8, 8)
    assert rep.layer("boxes").inputs == ("trunk",)


def test_depth_groups_rows():
    rep = cnncalc.analyze(cnncalc.load("specs/resnet18.yaml"))
    rows = rep.grouped(1)
    layer1 = next(r for r in rows if r.name == "layer1")
    members = [r for r in rep.layers if r.name.startswith("layer1.")]
    assert layer1.type == "stage"
    assert layer1.params == sum(r.params for r in members)
    assert layer1.macs == sum(r.macs for r in members)
    assert layer1.output_shape == (64, 56, 56)
    assert layer1.inputs == ("maxpool",)
    assert sum(r.params for r in rows) == rep.totals.params
