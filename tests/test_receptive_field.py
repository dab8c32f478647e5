"""Receptive fields under the contract's definitions (docs/receptive-field.md)."""

from __future__ import annotations

from fractions import Fraction as Fr

from hypothesis import given
from hypothesis import strategies as st

from cnncalc.rf import AxisRF, linear_map, nearest_map, transposed_map, window_map
from tests.conftest import report_of


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
