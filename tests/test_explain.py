"""`cnncalc explain` is computed, not written twice: every substituted expression it
prints evaluates to the result it prints, and the params/MACs/FLOPs it derives are the
figures of the analysis (issue 11: "sumpool 98 · 9 = 784" must never be printed)."""

from __future__ import annotations

import pytest

import cnncalc
from cnncalc.core.expr import arithmetic
from cnncalc.homework.explain import explain
from tests.conftest import SPECS
from tests.test_contract import CONTRACT

SPEC_FILES = sorted(SPECS.rglob("*.yaml"))


def _nets():
    return list(_each_net())


def _each_net():
    for path in SPEC_FILES:
        yield pytest.param(lambda p=path: cnncalc.load(p), id=str(path.relative_to(SPECS)))
    for key, (shape, layers) in sorted(CONTRACT.items()):
        text = f"input: {shape}\nlayers:\n" + "".join(f"  - {x}\n" for x in layers)
        yield pytest.param(lambda t=text: cnncalc.loads(t, "c.yaml"), id=f"contract-{key}")


@pytest.mark.parametrize("make", _nets())
def test_every_step_is_true_arithmetic_and_the_analysed_figure(make):
    net = make()
    figures = {n.name: n.facts for n in net.nodes}
    checked = 0
    for item in explain(net):
        facts = figures[item.name]
        for step in item.steps:
            if not step.substituted:
                continue
            assert arithmetic(step.substituted) == step.value, (item.name, step)
            checked += 1
            expected = {"params": facts.param_count, "macs": facts.macs, "flops": facts.flops}
            if step.field in expected and not step.formula.startswith("["):  # per-axis lines excepted
                assert step.value == expected[step.field], (item.name, step)
    if not make.__defaults__[0].__class__.__name__ == "str":  # a spec file: it has convolutions
        assert checked > 0


def test_pool_flops_explained_by_the_same_expression():
    # issue 11: sumpool printed "98 · 9 = 784" and lppool "60 · 9 = 1,080"; each pooling type
    # now has one expression per window: sum (F·F - 1) additions, Lp 2·F·F (docs/conventions.md)
    for layer, per_window in (("sumpool: {kernel_size: 3, stride: 2}", 3 * 3 - 1),
                              ("lppool: {kernel_size: 3, stride: 2, norm_type: 2}", 2 * 3 * 3),
                              ("maxpool: {kernel_size: 3, stride: 2}", 3 * 3 - 1),
                              ("avgpool: {kernel_size: 3, stride: 2}", 3 * 3)):
        net = cnncalc.loads(f"input: [2, 15, 15]\nlayers:\n  - {layer}\n", "p.yaml")
        # floor((15 - 3) / 2) + 1 = 7 per axis: 2 channels * 7 * 7 windows
        assert net.nodes[0].facts.flops == 2 * 7 * 7 * per_window
        (flops,) = [s for s in explain(net)[0].steps if s.field == "flops"]
        assert flops.substituted == f"{2 * 7 * 7}·" + {8: "(9 - 1)", 18: "2·9", 9: "9"}[per_window]


def test_deform_conv_explains_its_own_parameters():
    # issue 11: deform_conv inherited Conv.explain and printed the main convolution's count.
    # Dai et al. 2017, eq. 2: the offset convolution predicts 2·3·3 offsets per group from
    # all 4 input channels (+ bias): (3·3·4/2 + 1)·4 + (3·3·4 + 1)·18 = 76 + 666 = 742
    net = cnncalc.loads("input: [4, 11, 10]\nlayers:\n  - deform_conv: {out_channels: 4, "
                        "kernel_size: 3, groups: 2}\n", "d.yaml")
    (params,) = [s for s in explain(net)[0].steps if s.field == "params"]
    assert params.value == (3 * 3 * 4 // 2 + 1) * 4 + (3 * 3 * 4 + 1) * 2 * 3 * 3 == 742
    assert net.nodes[0].facts.param_count == 742


def test_deform_conv_flops_count_the_offset_convolution_once():
    # found in review: the main convolution's FLOPs were computed from the layer's MACs,
    # which include the offset convolution's, so those were counted twice. On a 2x5x5
    # input, 4 filters 3x3 (padding 1) -> 4x5x5 = 100 outputs:
    #   main: 100 · (2·(3·3·2) - 1 + 1) = 3,600
    #   offsets: 2·3·3 = 18 maps x 25 positions, each 3·3·2 products + bias: 450 · (2·18) = 16,200
    #   sampling (Dai et al. 2017, bilinear): 25 positions · 9 taps · (1·10 + 2·7) = 5,400
    net = cnncalc.loads("input: [2, 5, 5]\nlayers:\n  - deform_conv: {out_channels: 4, kernel_size: 3, "
                        "padding: 1}\n", "d.yaml")
    assert net.nodes[0].facts.flops == 100 * (2 * 18) + 450 * (2 * 18) + 25 * 9 * (10 + 2 * 7) == 25_200
