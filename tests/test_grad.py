"""cnncalc grad: backpropagation as the lectures teach it, against finite differences (issue 15)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import cnncalc
from cnncalc.measure.execute import forward
from cnncalc.measure.grad import gradients, unit_region, upstream_seeds
from tests.conftest import SPECS
from tests.test_cli import run as cli

EXERCISES = SPECS / "exercises"
BACKWARD = ["cs5242_conv1d_backward", "ceng403_conv_maxpool_backward", "cs5242_conv2d_backward",
            "strided_avgpool_backward", "cs5242_conv1d", "cs5242_conv2d_4x4", "dumoulin_5x5_3x3"]


def loss(net, x, weights, seeds) -> float:
    """L = sum over the outputs of upstream * output: its gradient is the upstream."""
    values = forward(net, x, weights, dtype=np.float64, checked=True).values
    return float(sum((seeds[o] * values[o]).sum() for o in net.outputs))


def finite_differences(net, exe, seeds, key, eps=1e-6):
    """Central differences of L with respect to the input ("input") or a weight tensor."""
    x, weights = exe.values["input"].copy(), {k: v.copy() for k, v in exe.weights.items()}
    target = x if key == "input" else weights[key]
    grad = np.zeros_like(target)
    for i in np.ndindex(*target.shape):
        old = target[i]
        target[i] = old + eps
        up = loss(net, x, weights, seeds)
        target[i] = old - eps
        down = loss(net, x, weights, seeds)
        target[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("name", BACKWARD)
def test_gradients_match_finite_differences(name):
    net = cnncalc.load(EXERCISES / f"{name}.yaml")
    result = gradients(net)
    exe = forward(net, None, dtype=np.float64)
    seeds, _ = upstream_seeds(net, exe)
    if name == "cs5242_conv2d_backward":
        # the lecture's data tie in the first pooling window (conv[0,0] = conv[1,0] = 2): the loss
        # is not differentiable there, so check the convolution alone with the routed gradient
        conv = next(r for r in result.layers if r.name == "conv")
        seeds = {"conv": conv.dy}
        text = (EXERCISES / f"{name}.yaml").read_text()
        text = re.sub(r"upstream:.*?\]\]\]\n", "", text, flags=re.S)
        net = cnncalc.loads(text.replace("  - {maxpool: {kernel_size: 2, stride: 1}, name: pool}\n", ""),
                            "conv_only.yaml")
    np.testing.assert_allclose(result.input_gradient, finite_differences(net, exe, seeds, "input"),
                               atol=1e-6)
    for row in result.layers:
        for key, value in row.dw.items():
            fd = finite_differences(net, exe, seeds, f"{row.name}.{key}")
            np.testing.assert_allclose(value, fd, atol=1e-6)


def layer(result, name):
    return next(r for r in result.layers if r.name == name)


def test_cs5242_1d_backward_numbers():
    # dL/dy = 1 1 1 1: dw_i = sum_t x_(t+i) = 1+0+2+2, 0+2+2+3, 2+2+3+1; dx = full conv with flip(w)
    result = gradients(cnncalc.load(EXERCISES / "cs5242_conv1d_backward.yaml"), explain=True)
    conv = layer(result, "conv")
    assert conv.dw["weight"].reshape(-1).tolist() == [1 + 0 + 2 + 2, 0 + 2 + 2 + 3, 2 + 2 + 3 + 1]
    assert result.input_gradient.reshape(-1).tolist() == [3, 3 + 2, 3 + 2 + 2, 3 + 2 + 2, 2 + 2, 2]
    titles = [i.title for i in conv.identities]
    assert titles == ["input gradient = full convolution of dL/dy with the flipped kernel",
                      "weight gradient = correlation of the input with dL/dy",
                      "CS5242's implementation (im2col, then col2im)"]
    lines = conv.identities[0].lines
    # CENG 403: dL/da_3 = dL/dt_1 w_3 + dL/dt_2 w_2 + dL/dt_3 w_1 (0-based: dx[2])
    assert "dx[2] = dy[0]·w[2] + dy[1]·w[1] + dy[2]·w[0] = 1·2 + 1·2 + 1·3 = 7" in lines
    assert any("dx[t·s + i] += dx_hat[i, t]" in t and "[3 5 7 7 4 2]" in t
               for t in conv.identities[2].lines)


def test_ceng403_switches_and_plus_equals():
    result = gradients(cnncalc.load(EXERCISES / "ceng403_conv_maxpool_backward.yaml"), explain=True)
    pool = layer(result, "pool")
    # max{7, 8, 16} = 16 and max{8, 16, 14} = 16: both windows' switch is t[2]
    assert [(s.unit, s.winner, s.value) for s in pool.switches] == [((0, 0), (0, 2), 16.0),
                                                                     ((0, 1), (0, 2), 16.0)]
    assert pool.dx[0].reshape(-1).tolist() == [0, 0, 1 + 1, 0]
    assert any('"+=": x[0, 2] won 2 windows' in t for t in pool.identities[0].lines)
    conv = layer(result, "conv")
    assert result.input_gradient.reshape(-1).tolist() == [0, 0, 2 * 3, 2 * 2, 2 * 2, 0]
    assert conv.dw["weight"].reshape(-1).tolist() == [2 * 2, 2 * 2, 2 * 3]


def test_cs5242_2d_backward_numbers():
    result = gradients(cnncalc.load(EXERCISES / "cs5242_conv2d_backward.yaml"), explain=True)
    assert result.upstream == "spec"
    pool = layer(result, "pool")
    # the first maximum of each window (PyTorch): conv[0,0] (a tie with conv[1,0]), conv[0,2],
    # conv[2,0], conv[1,2]
    assert [s.winner[1:] for s in pool.switches] == [(0, 0), (0, 2), (2, 0), (1, 2)]
    conv = layer(result, "conv")
    assert conv.dy[0, 0].tolist() == [[1, 0, 2], [0, 0, 4], [3, 0, 0]]
    # dw[a,b] = sum_t dconv[t] x[t + (a,b)]
    assert conv.dw["weight"][0, 0].tolist() == [[1 * 1 + 2 * 3 + 4 * 2 + 3 * 1, 1 * 2 + 2 * 2 + 4 * 5 + 3 * 2],
                                                [1 * 2 + 2 * 2 + 4 * 2 + 3 * 0, 1 * 3 + 2 * 5 + 4 * 1 + 3 * 2]]


def test_strides_insert_zeros_and_average_spreads():
    result = gradients(cnncalc.load(EXERCISES / "strided_avgpool_backward.yaml"), explain=True)
    pool = layer(result, "pool")
    assert pool.dx[0].reshape(-1).tolist() == [1 / 2 ** 2] * 4  # 1/K^2, K = 2
    assert pool.identities[0].title == "average pooling spreads the gradient"
    conv = layer(result, "conv")
    zeros = conv.identities[0].lines
    i = zeros.index("strides insert zeros (s = 2, 2):")
    assert zeros[i + 1:i + 4] == ["  [0.25    0 0.25]", "  [   0    0    0]", "  [0.25    0 0.25]"]
    x = np.array(cnncalc.load(EXERCISES / "strided_avgpool_backward.yaml").input_values[0])[0]
    expected = [[0.25 * (x[a, b] + x[a, b + 2] + x[a + 2, b] + x[a + 2, b + 2]) for b in range(3)]
                for a in range(3)]
    np.testing.assert_allclose(conv.dw["weight"][0, 0], expected)


def test_identities_hold_for_padding_stride_dilation_and_channels():
    # a random network: the identities are only stated when they reproduce the executor
    values = np.random.default_rng(1).normal(size=(2, 9, 8)).round(3).tolist()
    spec = ("input: {shape: [2, 9, 8], values: " + str(values) + "}\nlayers:\n"
            "  - {conv: {out_channels: 3, kernel_size: 3, stride: 2, padding: 2, dilation: 2}, name: c1}\n"
            "  - {conv: {out_channels: 2, kernel_size: [2, 3], padding: same}, name: c2}\n"
            "  - {avgpool: {kernel_size: 2, stride: 1}, name: p}\n")
    net = cnncalc.loads(spec, "rand.yaml")
    result = gradients(net, explain=True)
    for name in ("c1", "c2"):
        titles = [i.title for i in layer(result, name).identities]
        assert titles[:2] == ["input gradient = full convolution of dL/dy with the flipped kernel",
                              "weight gradient = correlation of the input with dL/dy"]
    exe = forward(net, None, dtype=np.float64)
    seeds, _ = upstream_seeds(net, exe)
    np.testing.assert_allclose(result.input_gradient, finite_differences(net, exe, seeds, "input"),
                               atol=1e-6)


def test_unit_region_is_the_receptive_field():
    # LeNet-5 conv2 sees 14x14 (6 + (5 - 1)*2); unit (5, 5) starts at 5*2*2 = 20 - ... rows 10..23
    net = cnncalc.load(SPECS / "lenet5.yaml")
    region = unit_region(net, "conv2", (5, 5))
    assert region.bounds == ((5 * 2, 5 * 2 + 14 - 1),) * 2
    assert region.mask.sum() == 14 * 14 and region.analysed == (14, 14)
    region = unit_region(cnncalc.load(EXERCISES / "dilated_stack.yaml"), "F3", (16, 16))
    assert region.bounds == ((16 - 7, 16 + 7),) * 2 and region.mask.sum() == 15 * 15  # Yu and Koltun


def test_grad_cli(capsys, tmp_path):
    code, out, _ = cli(capsys, "grad", EXERCISES / "cs5242_conv1d_backward.yaml", "--explain")
    assert code == 0
    assert "dL/dx = [3 5 7 7 4 2]" in out and "dL/dweight = [5 7 8]" in out
    assert "dx[t·s + i] += dx_hat[i, t]" in out
    code, out, _ = cli(capsys, "grad", EXERCISES / "cs5242_conv2d_backward.yaml", "-f", "json")
    data = json.loads(out)
    assert data["upstream"] == "spec"
    # window rows 1..2, columns 0..1 of the conv output: 2, -1, 3, -1: one maximum, no tie
    assert data["layers"][1]["switches"][2] == {"unit": [0, 1, 0], "winner": [0, 2, 0],
                                                "window": [[1, 2], [0, 1]], "value": 3.0, "ties": 0}
    code, out, _ = cli(capsys, "grad", SPECS / "lenet5.yaml", "--unit", "conv2:5,5")
    assert code == 0 and "14x14, rows 10..23, columns 10..23" in out
    assert out.count("#") == 14 * 14
    np.save(tmp_path / "g.npy", np.array([[1.0, 0.0, 0.0, 0.0]]))
    code, out, _ = cli(capsys, "grad", EXERCISES / "cs5242_conv1d_backward.yaml", "--upstream",
                       tmp_path / "g.npy")
    assert code == 0 and "dL/dx = [3 2 2 0 0 0]" in out  # one unit: w itself


def test_grad_errors_are_located(capsys, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("input: {shape: [1, 4], values: [[1, 2, 3, 4]]}\nupstream: [[1, 2]]\n"
                    "layers:\n  - {conv1d: {out_channels: 1, kernel_size: 2}, name: c}\n")
    code, _, err = cli(capsys, "grad", spec)
    assert code == 2
    assert "bad.yaml:2:11" in err and "has shape [1, 2], but the output is [1, 3]" in err
    spec.write_text("input: {shape: [1, 4], values: [[1, 2, 3, 4]]}\nupstream: {cc: [[1, 2, 3]]}\n"
                    "layers:\n  - {conv1d: {out_channels: 1, kernel_size: 2}, name: c}\n")
    code, _, err = cli(capsys, "grad", spec)
    assert code == 2 and "did you mean 'c'" in err
    code, _, err = cli(capsys, "grad", SPECS / "lenet5.yaml")
    assert code == 2 and "--data" in err
    code, _, err = cli(capsys, "grad", SPECS / "lenet5.yaml", "--unit", "conv2:99,1")
    assert code == 2 and "not a position" in err
