"""The effective receptive field, protocol `uniform` (issue 22; docs/receptive-field.md,
"The effective receptive field"; Luo, Li, Urtasun and Zemel, NeurIPS 2016)."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

import cnncalc
from cnncalc.core.errors import SpecError
from cnncalc.measure.erf import effective_fields, width95
from tests.conftest import SPECS

STACK = """
name: three 3-tap averages
input: [2, 21]
layers:
  - {conv: {out_channels: 3, kernel_size: 3, padding: 1}, name: a}
  - relu
  - {conv: {out_channels: 4, kernel_size: 3, padding: 1, groups: 1}, name: b}
  - {conv: {out_channels: 4, kernel_size: 3, padding: 1, groups: 2}, name: c}
"""


def test_three_averages_by_hand():
    # docs/receptive-field.md's worked example: under the uniform protocol each conv is the
    # average of 3 taps (whatever the channels and groups), so the ERF of the centre unit
    # (index floor(20/2) = 10) is the 3-fold convolution of (1, 1, 1)/3: 1, 3, 6, 7, 6, 3, 1 / 27
    # on input pixels 7..13. Mean 10; variance 3 * 2/3 = 2 (each tap uniform on -1, 0, 1);
    # width95: 6 pixels (26/27 >= 0.95 > 25/27 for 5); theoretical size 7 -> ratio 6/7.
    net = cnncalc.loads(STACK, "stack.yaml")
    erf = effective_fields(net)
    c = erf["c"]
    expected = np.zeros(21)
    expected[7:14] = np.array([1, 3, 6, 7, 6, 3, 1]) / 27
    assert np.abs(c.marginals[0] - expected).max() < 1e-16
    assert [Fraction(v).limit_denominator(27) for v in c.marginals[0][7:14] * 27] == [1, 3, 6, 7, 6, 3, 1]
    assert c.unit == (10,)
    assert c.mean == (pytest.approx(10.0, abs=1e-14),)
    assert c.std[0] == pytest.approx(math.sqrt(2), abs=1e-14)
    assert c.width95 == (6,) and c.theoretical == (7,)
    assert c.ratio == (6 / 7,)
    # one conv: (1, 1, 1)/3 on pixels 9..11; width95 3 (two pixels hold 2/3)
    a = erf["a"]
    assert np.abs(a.marginals[0][9:12] - 1 / 3).max() < 1e-16 and a.width95 == (3,)
    assert c.to_dict() == {"protocol": "uniform", "mean": [c.mean[0]], "std": [c.std[0]],
                           "width95": [6], "ratio": [6 / 7]}


def test_width95_counts_consecutive_pixels():
    assert width95(np.array([0.5, 0.0, 0.5])) == 3
    assert width95(np.array([0.0, 0.96, 0.04])) == 1
    assert width95(np.array([0.025, 0.95, 0.025])) == 1


# -- ResNet-18 against an independent full-channel computation --------------------------------
# He et al. 2016, Table 1, torchvision's layout: conv 7x7/2 p3, maxpool 3x3/2 p1, four stages of
# two basic blocks (3x3 convs; a 1x1/2 projection where the stage halves the size).
# Linearised by the protocol: every conv weight 1 / (C_in * k * k), batch norm and ReLU the
# identity, max pooling the mean over its window's taps inside the input.


def conv_adjoint(g, c_in, k, s, p, size):
    """dL/dx of a conv (c_in -> g's channels, all weights 1/(c_in k k)), full channels."""
    c_out, ho, wo = g.shape
    w = np.full((c_in, c_out), 1.0 / (c_in * k * k))
    back = (w @ g.reshape(c_out, -1)).reshape(c_in, ho, wo)  # every tap carries the same
    gp = np.zeros((c_in, size + 2 * p + s, size + 2 * p + s))
    for a in range(k):
        for b in range(k):
            gp[:, a:a + s * ho:s, b:b + s * wo:s] += back
    return gp[:, p:p + size, p:p + size]


def maxpool_adjoint(g, size, k=3, s=2, p=1):
    """The mean over the window's taps inside the input (the protocol's max pooling)."""
    c, ho, wo = g.shape
    start = np.arange(ho) * s - p
    count = np.minimum(start + k, size) - np.maximum(start, 0)
    share = g / np.multiply.outer(count, count)
    gp = np.zeros((c, size + 2 * p + s, size + 2 * p + s))
    for a in range(k):
        for b in range(k):
            gp[:, a:a + s * ho:s, b:b + s * wo:s] += share
    return gp[:, p:p + size, p:p + size]


def resnet18_map(size, stage, seed_at_stem=False):
    """The input map G of the centre unit of `layerN.basic2.relu1` (or the stem's maxpool)."""
    widths = [64, 128, 256, 512]
    sizes = [size]
    sizes.append((size + 6 - 7) // 2 + 1)  # conv1
    sizes.append((sizes[-1] + 2 - 3) // 2 + 1)  # maxpool
    stage_in = [sizes[-1]]
    for _ in range(1, 4):
        stage_in.append((stage_in[-1] + 2 - 3) // 2 + 1)
    n = sizes[2] if seed_at_stem else stage_in[stage]
    c = 64 if seed_at_stem else widths[stage]
    g = np.zeros((c, n, n))
    g[:, (n - 1) // 2, (n - 1) // 2] = 1.0  # d(sum over channels of the unit)
    if not seed_at_stem:
        for st in range(stage, -1, -1):
            w, c_prev = widths[st], (64 if st == 0 else widths[st - 1])
            n_out, n_in = stage_in[st], (sizes[2] if st == 0 else stage_in[st - 1])
            # block 2: identity shortcut
            body = conv_adjoint(conv_adjoint(g, w, 3, 1, 1, n_out), w, 3, 1, 1, n_out)
            g = body + g
            # block 1: stride 2 and a 1x1/2 projection from stage 2 on
            s = 1 if st == 0 else 2
            body = conv_adjoint(conv_adjoint(g, w, 3, 1, 1, n_out), c_prev, 3, s, 1, n_in)
            short = g if st == 0 else conv_adjoint(g, c_prev, 1, 2, 0, n_in)
            g = body + short
    g = maxpool_adjoint(g, sizes[1])
    g = conv_adjoint(g, 3, 7, 2, 3, size)
    return g.sum(axis=0)


@pytest.fixture(scope="module")
def resnet18():
    net = cnncalc.load(SPECS / "resnet18.yaml")
    return net, effective_fields(net)


@pytest.mark.parametrize("stage", [None, 0, 1, 2, 3])
def test_resnet18_matches_full_channel_numpy(resnet18, stage):
    net, erf = resnet18
    name = "maxpool" if stage is None else f"layer{stage + 1}.basic2.relu1"
    expected = resnet18_map(224, stage or 0, seed_at_stem=stage is None)
    expected = expected / expected.sum()
    got = erf[name]
    assert np.abs(got.grid - expected).max() <= 1e-12 * expected.max()
    for axis in range(2):
        p = expected.sum(axis=1 - axis)
        x = np.arange(224)
        assert got.mean[axis] == pytest.approx((x * p).sum(), abs=1e-9)
        assert got.width95[axis] == width95(p)


def test_resnet18_erf_grows_slower_than_the_theoretical_field(resnet18):
    # Luo et al. 2016, section 2.1-2.2: the ERF grows like sqrt(depth), the theoretical field
    # linearly, so the ratio width95 / size falls from stage to stage
    _, erf = resnet18
    ratios = [erf[f"layer{i}.basic2.relu1"].ratio[0] for i in range(1, 5)]
    assert ratios == sorted(ratios, reverse=True) and ratios[-1] < ratios[0]


def test_local_field_is_the_erf_path_in_gated_nets():
    # the protocol holds broadcast gates at 1: EfficientNet-B0's head has an ERF although its
    # exact field is global; its theoretical size is the local field's 851
    net = cnncalc.load(SPECS / "efficientnet_b0.yaml")
    erf = effective_fields(net, ["head.silu1"])
    head = erf["head.silu1"]
    assert head.theoretical == (851, 851)
    assert 0 < head.ratio[0] < 1


def test_refused_and_unknown_layers():
    net = cnncalc.load(SPECS / "shufflenet_v2_x1_0.yaml")
    erf = effective_fields(net)
    reasons = [v for v in erf.values() if isinstance(v, str)]
    assert reasons and "chunk along the channels" in reasons[0]
    with pytest.raises(SpecError, match="no layer 'nope'"):
        effective_fields(net, ["nope"])
    with pytest.raises(SpecError, match="no spatial receptive field"):
        effective_fields(net, ["fc"])


def test_erf_command_prints_each_stage_beside_its_field(capsys):
    from typer.testing import CliRunner

    from cnncalc.cli import app

    out = CliRunner().invoke(app, ["erf", str(SPECS / "resnet50.yaml")])
    assert out.exit_code == 0, out.stdout
    lines = out.stdout.splitlines()
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        row = next(line for line in lines if line.startswith(stage))
        assert "uniform" not in row  # the protocol is said once, in the title
    # ResNet-50's last stage: theoretical field 427 (docs/receptive-field.md's recurrence)
    assert any(line.startswith("layer4") and "427" in line for line in lines)
    assert "protocol uniform" in out.stdout
    from tests.test_cli import run

    code, _, err = run(capsys, "erf", SPECS / "resnet50.yaml", "--layer", "layer4", "-f", "json")
    assert code == 2 and "no layer 'layer4'" in err
    js = CliRunner().invoke(app, ["erf", str(SPECS / "resnet50.yaml"), "--layer",
                                  "layer4.bottleneck3.relu1", "-f", "json"])
    assert js.exit_code == 0
    data = json.loads(js.stdout)
    (row,) = data["layers"]
    assert row["name"] == "layer4.bottleneck3.relu1"
    assert row["effective_receptive_field"]["protocol"] == "uniform"
    assert row["receptive_field"]["size"] == [427, 427]


def test_analyze_erf_adds_the_json_key(capsys):
    from typer.testing import CliRunner

    from cnncalc.cli import app

    out = CliRunner().invoke(app, ["analyze", str(SPECS / "resnet18.yaml"), "--erf", "-f", "json"])
    assert out.exit_code == 0, out.stdout
    data = json.loads(out.stdout)
    rows = {r["name"]: r for r in data["layers"]}
    erf = rows["layer4.basic2.relu1"]["effective_receptive_field"]
    assert set(erf) == {"protocol", "mean", "std", "width95", "ratio"} and len(erf["mean"]) == 2
    assert "effective_receptive_field" not in rows["fc"]
    plain = CliRunner().invoke(app, ["analyze", str(SPECS / "resnet18.yaml"), "-f", "json"])
    assert "effective_receptive_field" not in plain.stdout


def test_explain_shows_the_local_recurrence_and_the_erf():
    from cnncalc.homework.explain import explain

    # SE-ResNet-50, layer2's first 3x3 conv (stride 2): its input's local field is 35 with
    # stride 4 (conv1 7/2, maxpool 3/2, three bottlenecks' 3x3: 7 + 2·2 + 3·2·4 = 35), so
    # r = 35 + (3 - 1)·4 = 43 and j = 4·2 = 8 (Araujo et al. 2019, eq. 2)
    net = cnncalc.load(SPECS / "se_resnet50.yaml")
    (item,) = explain(net, "layer2.bottleneck1.residual1.conv2")
    by = {}
    for st in item.steps:
        by.setdefault(st.field, []).append(st)
    assert by["receptive_field"][-1].result == "global"
    assert by["local_receptive_field"][0].result == "43 x 43"
    assert "se.multiply1" in by["local_receptive_field"][0].note
    assert by["local_receptive_field"][1].substituted == "35 + (3 - 1)·4"
    assert by["local_stride"][0].result == "8"
    erf = by["effective_receptive_field"]
    assert erf[0].formula.startswith("protocol uniform")
    assert "/43" in erf[1].note


def test_analyze_erf_table_and_csv(capsys):
    from tests.test_cli import run

    code, out, _ = run(capsys, "analyze", SPECS / "resnet18.yaml", "--erf", "-d", "1")
    assert code == 0
    # the analysis, then the ERF's table: layer4 beside its theoretical 435 (ResNet-18's
    # recurrence, docs/receptive-field.md)
    assert "effective receptive field, protocol uniform" in out
    assert any(line.startswith("layer4") and " 435 " in line for line in out.splitlines())
    code, _, err = run(capsys, "analyze", SPECS / "resnet18.yaml", "--erf", "-f", "csv")
    assert code == 2 and "--erf" in err


def test_random_protocol_against_an_independent_gradient():
    # protocol random on conv(1->2, k3, p1) -> relu -> conv(2->1, k3, p1), 9 pixels: the
    # gradient of b's unit 4, by hand (chain rule through the ReLU's mask), from the same
    # draws (the protocol's definition: random_weights then an N(0, 1) input, one
    # generator per sample); its magnitude averaged over the samples
    from cnncalc.measure.erf import random_fields, random_weights, statistics

    net = cnncalc.loads("""
input: [1, 9]
layers:
  - {conv: {out_channels: 2, kernel_size: 3, padding: 1}, name: a}
  - {relu, name: r}
  - {conv: {out_channels: 1, kernel_size: 3, padding: 1}, name: b}
""", "tiny.yaml")
    maps = []
    for sample in range(3):
        rng = np.random.default_rng([7, sample])
        w = random_weights(net, rng)
        x = rng.standard_normal((1, 1, 9))[0, 0]
        wa, wb = w["a.weight"], w["b.weight"]  # (2, 1, 3), (1, 2, 3); biases 0
        assert not w["a.bias"].any() and wa.std() > 0
        xp = np.pad(x, 1)
        a = np.array([[xp[j:j + 3] @ wa[c, 0] for j in range(9)] for c in range(2)])
        ga = np.zeros((2, 9))  # d b[4] / d r[c, j]: j = 4 - 1 + t for tap t
        for c in range(2):
            for t in range(3):
                ga[c, 3 + t] = wb[0, c, t]
        ga *= a > 0  # the ReLU's mask
        gx = np.zeros(9)
        for c in range(2):
            for j in range(9):
                for t in range(3):
                    i = j - 1 + t
                    if 0 <= i < 9:
                        gx[i] += ga[c, j] * wa[c, 0, t]
        maps.append(np.abs(gx))
    expected = statistics(np.mean(maps, axis=0), "random", (4,), (5,))
    got = random_fields(net, ["b"], samples=3, seed=7)["b"]
    assert np.abs(got.marginals[0] - expected.marginals[0]).max() < 1e-12
    assert got.width95 == expected.width95 and got.mean[0] == pytest.approx(expected.mean[0], abs=1e-12)
    each = [statistics(m, "random", (4,), (5,)).mean[0] for m in maps]
    assert got.spread["mean"][0] == pytest.approx(float(np.std(each)), abs=1e-12)
    assert got.to_dict()["samples"] == 3 and got.to_dict()["seed"] == 7
