"""tests/data/counters/ (what the FLOP counters report, issue #23) still describes the specs.

The files are measured in PyTorch by benchmarks/measure_counters.py; these tests need no
PyTorch: they check that each file's model is its spec's network (same parameter count,
same input) and that cnncalc's figures stored beside the counters' are current, so a
changed spec shows up as stale data. The small U-Net the files compare the counters on
is checked by hand here.
"""

from __future__ import annotations

import json

import pytest

import cnncalc
from tests.conftest import ROOT, SPECS

DATA = ROOT / "tests" / "data" / "counters"
FILES = sorted(p.name for p in DATA.glob("*.json"))
COUNTERS = {"fvcore", "ptflops-pytorch", "ptflops-aten", "thop", "torchinfo", "calflops",
            "flop-counter", "deepspeed"}


def test_every_net_of_the_issue_is_there():
    nets = {"resnet18", "resnet50", "vgg16", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0",
            "densenet121", "convnext_tiny", "shufflenet_v2_x1_0", "squeezenet1_0", "googlenet",
            "inception_v3", "alexnet_torchvision", "regnet_y_400mf", "unet_small"}
    attention = {"vit_b_16", "nonlocal_resnet50"}  # the attention issue's two nets
    assert {f.removesuffix(".json") for f in FILES} == nets | attention


@pytest.mark.parametrize("file", FILES)
def test_file_matches_its_spec(file):
    doc = json.loads((DATA / file).read_text())
    assert doc["spec"] == f"specs/{file.removesuffix('.json')}.yaml"
    report = cnncalc.analyze(cnncalc.load(ROOT / doc["spec"]))
    # the torch model measured has exactly the spec's parameters and input
    assert doc["params"] == report.totals.params == doc["cnncalc"]["params"]
    assert doc["input"] == [1, *report.input_shape]
    assert doc["cnncalc"]["macs"] == report.totals.macs
    assert COUNTERS <= set(doc["counters"])
    for name in COUNTERS:
        assert "value" in doc["counters"][name], (name, doc["counters"][name].get("error"))


def test_resnet50_reproduces_the_issue():
    # issue #23's figures for torchvision's ResNet-50 at 224x224
    counters = json.loads((DATA / "resnet50.json").read_text())["counters"]
    assert counters["fvcore"]["value"] == 4_111_512_576
    assert counters["ptflops-pytorch"]["value"] == 4_132_436_968
    assert counters["ptflops-aten"]["value"] == 4_089_185_256
    assert counters["thop"]["value"] == 4_133_742_592.0
    assert counters["torchinfo"]["value"] == 4_089_238_376
    assert counters["calflops"]["value"] == 8_211_108_352
    assert counters["flop-counter"]["value"] == 8_178_368_512


def test_unet_small_by_hand():
    report = cnncalc.analyze(cnncalc.load(SPECS / "unet_small.yaml"))
    # 3x64x64 in; 'same' 3x3 convolutions without bias; levels 64, 32, 16 pixels a side
    conv3 = {  # name: (out_channels, in_channels, side)
        "enc1.conv1": (8, 3, 64), "enc1.conv2": (8, 8, 64),
        "enc2.conv1": (16, 8, 32), "enc2.conv2": (16, 16, 32),
        "bottom.conv1": (32, 16, 16), "bottom.conv2": (32, 32, 16),
        "dec2.conv1": (16, 32, 32), "dec2.conv2": (16, 16, 32),
        "dec1.conv1": (8, 16, 64), "dec1.conv2": (8, 8, 64),
    }
    macs = {name: o * s * s * i * 9 for name, (o, i, s) in conv3.items()}
    macs["upconv2"] = 32 * 16 * 16 * 16 * 2 * 2  # on the input grid: 32x16x16 in, 16 out, 2x2 taps
    macs["reduce1"] = 8 * 64 * 64 * 16            # 1x1, 16 -> 8 at 64x64
    macs["head"] = 2 * 64 * 64 * 8                # 1x1, 8 -> 2 at 64x64
    for name, m in macs.items():
        assert report.layer(name).macs == m, name
    assert report.totals.macs == sum(macs.values()) == 25_591_808
    weights = sum(o * i * 9 for o, i, _ in conv3.values()) + 32 * 16 * 2 * 2 + 16 * 8 + 8 * 2
    biases = 16 + 8 + 2                           # upconv2, reduce1, head
    bn = 2 * (8 + 8 + 16 + 16 + 32 + 32 + 16 + 16 + 8 + 8)   # weight and bias of ten batch norms
    assert report.totals.params == weights + biases + bn == 29_250
    assert report.totals.buffers == bn            # running mean and variance
    assert report.layer("up1").output_shape == (16, 64, 64)
    assert report.layer("head").output_shape == (2, 64, 64)


def test_unet_small_verifies():
    assert cnncalc.verify(cnncalc.load(SPECS / "unet_small.yaml")).ok
