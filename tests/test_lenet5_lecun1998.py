"""LeNet-5 as the paper built it (issue 21, item 4): LeCun, Bottou, Bengio and Haffner,
"Gradient-based learning applied to document recognition", Proc. IEEE 86(11), 1998,
section II.B and Table I; beside specs/lenet5.yaml, the lectures' full-connection variant."""

from __future__ import annotations

from pathlib import Path

import cnncalc

SPECS = Path(__file__).resolve().parents[1] / "specs"
# Table I: the S2 maps (rows) each C3 map (column) takes
TABLE_I = [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 0], [5, 0, 1],
           [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 0], [4, 5, 0, 1], [5, 0, 1, 2],
           [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5], [0, 1, 2, 3, 4, 5]]


def report():
    return cnncalc.analyze(cnncalc.load(SPECS / "lenet5_lecun1998.yaml"))


def test_c3_has_the_papers_1516_parameters_and_151600_connections():
    rows = [r for r in report().layers if r.name.startswith("C3.") and r.type == "conv"]
    # each map: (inputs · 5·5 + 1), over Table I's subsets
    assert [r.params for r in rows] == [len(maps) * 25 + 1 for maps in TABLE_I]
    assert sum(r.params for r in rows) == 1516  # "C3 has 1,516 trainable parameters"
    # "and 151,600 connections": every parameter at each of the 10x10 positions; MACs leave out
    # the bias, one per unit: 151,600 - 16·100
    assert sum(r.macs for r in rows) == 151_600 - 16 * 100
    assert all(r.output_shape == (1, 10, 10) for r in rows)


def test_the_other_layers_have_the_papers_counts():
    by_name = {r.name: r for r in report().layers}
    # C1 156 parameters, 122,304 connections (156 · 28·28); S2 12; S4 32; C5 48,120; F6 10,164
    assert by_name["C1"].params == 156 and by_name["C1"].macs + 6 * 28 * 28 == 122_304
    assert by_name["S2"].params == 12 and by_name["S4"].params == 32
    assert by_name["C5"].params == 48_120 and by_name["F6"].params == 10_164
    assert by_name["C5"].output_shape == (120, 1, 1)


def test_sixty_thousand_trainable_and_the_fixed_rbf():
    totals = report().totals
    # 156 + 12 + 1,516 + 32 + 48,120 + 10,164 = 60,000: the paper's "60,000 trainable parameters"
    assert totals.trainable_params == 156 + 12 + 1516 + 32 + 48_120 + 10_164 == 60_000
    # the output RBF's 84·10 parameters, "chosen by hand and kept fixed"
    assert totals.params - totals.trainable_params == 84 * 10


def test_the_lecture_variant_differs_only_where_the_spec_says():
    lecture = cnncalc.analyze(cnncalc.load(SPECS / "lenet5.yaml")).totals
    # full C3 (16·(6·25 + 1) = 2,416 instead of 1,516), no pooling coefficients (-44),
    # and a trainable output layer with bias (850 instead of 840 fixed): 61,706
    assert lecture.params == 60_000 - 1516 + 2416 - 12 - 32 + 850 == 61_706
