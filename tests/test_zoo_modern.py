"""The modern specs reproduce torchvision's published parameter counts and GFLOPS.

torchvision 0.28, torchvision/models/*.py, each model's Weights meta: "num_params"
and "_ops" (GFLOPS, which count multiply-accumulates of the convolutions and linear
layers), rounded there to 3 decimals; the documentation's table rounds to 2.
"""

from __future__ import annotations

import pytest

import cnncalc
from cnncalc.core.weights import tensor_shapes
from tests.conftest import SPECS


def analyze(name: str) -> cnncalc.Report:
    return cnncalc.analyze(cnncalc.load(SPECS / name))


def output_of(report: cnncalc.Report, name: str):
    """The row of a structure's or block's output (``Mixed_6e``, ``stage2``)."""
    return report.layer(report.groups[name][0] if name in report.groups else name)


PUBLISHED = {
    # spec: (num_params, _ops), from the Weights entry named in the comment
    "mobilenet_v3_large.yaml": (5_483_032, 0.217),   # MobileNet_V3_Large_Weights.IMAGENET1K_V1
    "efficientnet_b0.yaml": (5_288_548, 0.386),      # EfficientNet_B0_Weights.IMAGENET1K_V1
    "convnext_tiny.yaml": (28_589_128, 4.456),       # ConvNeXt_Tiny_Weights.IMAGENET1K_V1
    "shufflenet_v2_x1_0.yaml": (2_278_604, 0.145),   # ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1
    "regnet_y_400mf.yaml": (4_344_144, 0.402),       # RegNet_Y_400MF_Weights.IMAGENET1K_V1
    "resnext50_32x4d.yaml": (25_028_904, 4.23),      # ResNeXt50_32X4D_Weights.IMAGENET1K_V1
    "vgg16_bn.yaml": (138_365_992, 15.47),           # VGG16_BN_Weights.IMAGENET1K_V1
}


@pytest.mark.parametrize("spec, published", sorted(PUBLISHED.items()))
def test_torchvision_params_and_gflops(spec, published):
    params, gflops = published
    report = analyze(spec)
    assert report.totals.params == params
    assert round(report.totals.macs / 1e9, 3) == gflops


def test_inception_v3_with_aux_head():
    # Inception_V3_Weights.IMAGENET1K_V1: num_params 27,161,264 (aux head included),
    # _ops 5.713: torchvision runs AuxLogits only in training, so its GFLOPS are the
    # main path's. The aux head (InceptionAux on 17x17x768): avg_pool 5 stride 3 -> 5x5,
    # conv0 1x1 768 -> 128, conv1 5x5 128 -> 768 (1x1 output), fc 768 -> 1000.
    report = analyze("inception_v3.yaml")
    assert report.totals.params == 27_161_264
    aux = [row for row in report.layers if row.name.startswith("AuxLogits.")]
    aux_macs = 5 * 5 * 128 * 768 + 1 * 1 * 768 * (128 * 5 * 5) + 768 * 1000
    assert sum(row.macs for row in aux) == aux_macs
    assert round((report.totals.macs - aux_macs) / 1e9, 3) == 5.713
    # two outputs: the classifier and the auxiliary classifier
    assert report.layer("fc").output_shape == (1000,)
    assert report.layer("AuxLogits.fc").output_shape == (1000,)
    assert output_of(report, "Mixed_6e").output_shape == (768, 17, 17)  # Szegedy et al. 2016, Table 1
    assert output_of(report, "Mixed_7c").output_shape == (2048, 8, 8)


def test_mobilenet_v3_se_widths():
    # torchvision: squeeze_channels = _make_divisible(expanded // 4, 8); 72 // 4 = 18 rounds
    # to 16, less than 0.9 * 18, so 24 (the rule of the TF reference implementation)
    report = analyze("mobilenet_v3_large.yaml")
    fc1 = [row for row in report.layers if row.name.endswith("se.fc1")]
    assert [row.output_shape[0] for row in fc1] == [24, 32, 32, 120, 168, 168, 240, 240]


def test_efficientnet_b0_squeeze_and_stochastic_depth():
    report = analyze("efficientnet_b0.yaml")
    # MBConv SE squeezes to max(1, block input // 4): the first stage-6 block has input 112
    fc1 = [row for row in report.layers if row.name.endswith("se.fc1")]
    assert fc1[11].output_shape[0] == 112 // 4
    # stochastic depth: identity at inference, 0 FLOPs, no parameters
    sd = [row for row in report.layers if row.type == "stochastic_depth"]
    assert len(sd) == 9  # the blocks with stride 1 and equal widths: 1 + 1 + 2 + 2 + 3 of 16
    assert all(row.params == row.flops == row.macs == 0 for row in sd)


def test_convnext_tiny_layer_scale():
    # torchvision CNBlock: layer_scale (dim, 1, 1) in each of 3 + 3 + 9 + 3 blocks
    report = analyze("convnext_tiny.yaml")
    scales = [row for row in report.layers if row.type == "layer_scale"]
    assert sum(row.params for row in scales) == 3 * 96 + 3 * 192 + 9 * 384 + 3 * 768
    assert scales[0].param_shapes == {"": (96, 1, 1)}  # the layer's own tensor
    # its weight key is the layer's name, torchvision's CNBlock attribute name
    net = cnncalc.load(SPECS / "convnext_tiny.yaml")
    keys = tensor_shapes(net)
    first = next(n.name for n in net.nodes if n.type == "layer_scale")
    assert first.endswith(".layer_scale") and keys[first] == (96, 1, 1)


def test_shufflenet_v2_split_and_shuffle():
    # Ma et al. 2018, Table 5 (1x): output sizes 56 (stage2), 28, 14, 7
    report = analyze("shufflenet_v2_x1_0.yaml")
    assert output_of(report, "stage2").output_shape == (116, 28, 28)
    assert output_of(report, "stage3").output_shape == (232, 14, 14)
    assert output_of(report, "stage4").output_shape == (464, 7, 7)
    chunks = [row for row in report.layers if row.type == "chunk"]
    assert len(chunks) == 2 * (3 + 7 + 3)  # two halves in every stride-1 unit


def test_se_resnet50_params():
    # ResNet-50 (torchvision: 25,557,032) plus, per block of C = 4 * width output channels,
    # an SE module of two 1x1 convs with bias: C * C/16 + C/16 + C/16 * C + C
    # (Hu et al. 2018, Fig. 3, r = 16); timm's seresnet50 has 28,088,024
    se = sum(n * (2 * c * (c // 16) + c // 16 + c) for n, c in [(3, 256), (4, 512), (6, 1024), (3, 2048)])
    report = analyze("se_resnet50.yaml")
    assert report.totals.params == 25_557_032 + se == 28_088_024
    # the SE convolutions act on 1x1 maps: C * C/16 MACs each, twice per block
    se_macs = sum(n * 2 * c * (c // 16) for n, c in [(3, 256), (4, 512), (6, 1024), (3, 2048)])
    assert report.totals.macs == 4_089_184_256 + se_macs  # ResNet-50's MACs, tests/test_zoo.py
