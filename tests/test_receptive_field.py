"""Receptive fields under the contract's definitions (docs/receptive-field.md)."""

from __future__ import annotations

from fractions import Fraction as Fr

from hypothesis import given
from hypothesis import strategies as st

import cnncalc
from cnncalc.core.rf import AxisRF, linear_map, nearest_map, transposed_map, window_map
from cnncalc.lint.engine import Config, lint_network
from tests.conftest import one_layer, report_of


def test_dilated_stack_1_2_4():
    # Yu and Koltun, "Multi-scale context aggregation by dilated convolutions", ICLR 2016,
    # section 3: 3x3 convolutions with dilation 1, 2, 4 reach 3, 7, 15
    rep = report_of(
        "input: [1, 64, 64]\nlayers:\n"
        "  - conv: {out_channels: 1, kernel_size: 3, dilation: 1, padding: 1}\n"
        "  - conv: {out_channels: 1, kernel_size: 3, dilation: 2, padding: 2}\n"
        "  - conv: {out_channels: 1, kernel_size: 3, dilation: 4, padding: 4}\n"
    )
    sizes = [r.receptive_field.size[0] for r in rep.layers]
    assert sizes == [3, 3 + 2 * 2, 7 + 2 * 4] == [3, 7, 15]
    assert all(r.receptive_field.center == (0, 0) for r in rep.layers)  # 'same' padding keeps unit 0 centred at 0


def test_recurrence_r_and_j():
    # r_l = r_(l-1) + (k_l - 1) j_(l-1), j_l = j_(l-1) s_l (Araujo et al. 2019, eq. 2)
    layers = [(7, 2), (3, 2), (3, 1), (3, 2)]
    text = "input: [1, 400]\nlayers:\n" + "".join(
        f"  - conv: {{out_channels: 1, kernel_size: {k}, stride: {s}}}\n" for k, s in layers)
    rep = report_of(text)
    r, j = 1, 1
    for row, (k, s) in zip(rep.layers, layers, strict=True):
        r, j = r + (k - 1) * j, j * s
        assert row.receptive_field.size == (r,)
        assert row.receptive_field.stride == (j,)


def test_encoder_decoder_round_trip_has_stride_one():
    rep = report_of(
        "input: [1, 32]\nlayers:\n"
        "  - conv: {out_channels: 1, kernel_size: 2, stride: 2}\n"
        "  - conv_transpose: {out_channels: 1, kernel_size: 2, stride: 2}\n"
    )
    # unit o reads conv unit floor(o/2), which reads inputs 2*floor(o/2) .. +1
    assert rep.layers[-1].receptive_field.size == (2,)
    assert rep.layers[-1].receptive_field.stride == (1,)
    assert rep.layers[-1].receptive_field.center == (Fr(1, 2),)


def test_transposed_with_gaps_leaves_units_without_input():
    # k=1, s=2: odd outputs receive no input (only the bias); the even ones one each
    ax = AxisRF.input().compose(transposed_map(2, 0, 1, 1))
    assert ax.at(0) == (0, 0)
    assert ax.at(1) == (None, None)
    assert ax.at(4) == (2, 2)
    assert ax.size(10) == 1
    # a following 3-tap convolution sees inputs only through the even units
    ax2 = ax.compose(window_map(1, 1, 3, 1))
    assert ax2.at(1) == (0, 1)  # units 0, 1, 2 -> inputs 0 and 1
    assert ax2.at(2) == (1, 1)  # units 1, 2, 3 -> only unit 2 sees input (1)


def test_upsample_then_stride_two_is_stride_one():
    rep = report_of(
        "input: [1, 16, 16]\nlayers:\n  - upsample: 2\n"
        "  - conv: {out_channels: 1, kernel_size: 2, stride: 2}\n"
    )
    assert rep.layers[-1].receptive_field.stride == (1, 1)
    assert rep.layers[-1].receptive_field.size == (1, 1)


def test_upsample_by_three_stride_is_a_third():
    rep = report_of("input: [1, 5]\nlayers:\n  - upsample: 3\n")
    assert rep.layers[-1].receptive_field.stride == (Fr(1, 3),)
    assert rep.to_dict()["layers"][0]["receptive_field"]["stride"] == ["1/3"]


def test_json_numbers_are_exact():
    rep = report_of("input: [1, 8]\nlayers:\n  - upsample: 2\n  - avgpool: 2\n  - upsample: 4\n")
    d = rep.to_dict()["layers"]
    assert d[0]["receptive_field"]["stride"] == [0.5]  # 1/2 is exact in binary
    assert d[2]["receptive_field"]["stride"] == [0.25]
    assert isinstance(d[1]["receptive_field"]["stride"][0], int)


# property: the periodic form agrees with direct enumeration through the chain

_MAPS = st.one_of(
    st.builds(window_map, st.integers(1, 3), st.integers(0, 2), st.integers(1, 4), st.integers(1, 3)),
    st.builds(transposed_map, st.integers(1, 3), st.integers(0, 2), st.integers(1, 4),
              st.integers(1, 3)),
    st.builds(nearest_map, st.sampled_from([Fr(1, 2), Fr(1, 3), Fr(2, 3), Fr(3, 2)])),
    st.builds(linear_map, st.sampled_from([Fr(1, 2), Fr(1, 3), Fr(2, 5)]), st.booleans()),
)


def _direct(maps, o):
    """Positions reaching unit o, enumerated layer by layer (no periodicity used)."""
    units = {o}
    for um in reversed(maps):
        units = {j for u in units for j in um.contrib(u)}
    return (min(units), max(units)) if units else (None, None)


@given(st.lists(_MAPS, min_size=1, max_size=4), st.integers(-20, 40))
def test_periodic_form_equals_enumeration(maps, o):
    ax = AxisRF.input()
    for um in maps:
        ax = ax.compose(um)
    assert ax.at(o) == _direct(maps, o)


# -- broadcasting merges (squeeze-and-excitation) ------------------------------------------

_SE = """input: [8, 8, 8]
layers:
  - {{conv: {{out_channels: 8, kernel_size: 3, padding: 1}}, name: x}}
  - {pool}
  - conv: {{out_channels: 2, kernel_size: 1}}
  - relu
  - conv: {{out_channels: 8, kernel_size: 1}}
  - sigmoid
  - {{{merge}: {{with: x}}, name: gate}}
  - {{conv: {{out_channels: 8, kernel_size: 3, padding: 1}}, name: after}}
"""


def test_se_gate_sees_the_whole_input():
    # Hu et al. 2018 (SENet), eq. 2-4: the gate is computed from the global average of the
    # block's input, so every unit of x * gate is reached by every input position: global,
    # as torchvision writes it (AdaptiveAvgPool2d(1)) and as global_avgpool says
    for pool in ("adaptive_avgpool: {output_size: 1}", "global_avgpool"):
        for merge in ("multiply", "add"):
            rep = report_of(_SE.format(pool=pool, merge=merge))
            assert rep.layer("x").receptive_field.size == (3, 3)
            assert rep.layer("gate").receptive_field is None, (pool, merge)
            assert rep.layer("after").receptive_field is None


def test_adaptive_pool_to_one_is_global_pooling():
    # AdaptiveAvgPool2d(1): output unit 0 pools [floor(0*L/1), ceil(1*L/1)) = the whole axis,
    # the same operation as global average pooling (Lin et al. 2014, NiN, section 3.2)
    a = one_layer([3, 9, 7], "adaptive_avgpool: 1")
    g = one_layer([3, 9, 7], "global_avgpool")
    assert a.output_shape == g.output_shape == (3, 1, 1)
    assert a.receptive_field is None and g.receptive_field is None
    # only the axis pooled to 1 is global; [9 -> 3] keeps windows of 9/3 = 3 at stride 3
    part = one_layer([3, 9, 7], "adaptive_avgpool: [3, 1]")
    assert part.receptive_field.size == (3, None)
    assert part.receptive_field.stride == (3, None)


def test_broadcast_operand_is_not_a_misaligned_path():
    # conv k3 (no padding) on 8 -> 6 units seeing [o, o + 2]; conv k6 on those 6 -> 1 unit
    # seeing [0, 5 + 2] = [0, 7], the whole 8-pixel input. Broadcast onto the 6 units and
    # added, it reaches every unit: every input position reaches every unit (global), and
    # lint does not call the merge misaligned.
    text = ("input: [4, 8, 8]\nlayers:\n"
            "  - {conv: {out_channels: 4, kernel_size: 3}, name: k}\n"
            "  - {conv: {out_channels: 4, kernel_size: 6}, from: k, name: whole}\n"
            "  - {add: {with: k}, name: sum}\n")
    rep = report_of(text)
    assert rep.layer("whole").receptive_field.size == (3 + (6 - 1) * 1,) * 2 == (8, 8)
    assert rep.layer("sum").receptive_field is None
    findings = lint_network(cnncalc.loads(text, "t.yaml"), Config(select=("CC107",)))
    assert findings == []


def test_broadcast_operand_that_sees_part_of_the_input():
    # the same with a 10-pixel input: k3 -> 8 units [o, o + 2]; k6 -> 3 units [o, o + 7],
    # cropped to its first unit: the 1-unit operand sees [0, 7] of the 10 pixels. Added to 'k', unit o sees [0, 7] U [o, o + 2]:
    # o = 0..7 -> [0, max(7, o + 2)] = [0, 7], [0, 8], [0, 9] for o = 5, 6, 7: largest 10.
    text = ("input: [4, 10, 10]\nlayers:\n"
            "  - {conv: {out_channels: 4, kernel_size: 3}, name: k}\n"
            "  - {conv: {out_channels: 4, kernel_size: 6}, from: k}\n"
            "  - {crop: [[0, 2], [0, 2]], name: whole}\n"
            "  - {add: {with: k}, name: sum}\n")
    rep = report_of(text)
    assert rep.layer("whole").receptive_field.size == (8, 8)
    rf_sum = rep.layer("sum").receptive_field
    assert rf_sum.size == (7 + 2 + 1, 7 + 2 + 1) == (10, 10)
    assert not rf_sum.misaligned
    # centres: unit 0 sees [0, 7] -> 7/2; unit 7 sees [0, 9] -> 9/2; (9/2 - 7/2) / 7 = 1/7
    assert rf_sum.center == (Fr(7, 2), Fr(7, 2))
    assert rf_sum.stride == (Fr(1, 7), Fr(1, 7))
