"""The specs in specs/ reproduce the figures their sources publish."""

from __future__ import annotations

from fractions import Fraction as Fr

import pytest

import cnncalc
from tests.conftest import SPECS


def analyze(name: str, **kwargs) -> cnncalc.Report:
    return cnncalc.analyze(cnncalc.load(SPECS / name, **kwargs))


def shapes(report, names):
    return [report.layer(n).output_shape for n in names]


# torchvision.models documentation, "Table of all available classification
# weights": num_params and GFLOPS (the GFLOPS column counts multiply-accumulates)
TORCHVISION = {
    "vgg11.yaml": (132_863_336, "7.61"),
    "vgg13.yaml": (133_047_848, "11.31"),
    "vgg16.yaml": (138_357_544, "15.47"),
    "vgg19.yaml": (143_667_240, "19.63"),
    "alexnet_torchvision.yaml": (61_100_840, "0.71"),
}


@pytest.mark.parametrize("spec, published", sorted(TORCHVISION.items()))
def test_torchvision_params_and_gflops(spec, published):
    params, gflops = published
    report = analyze(spec)
    assert report.totals.params == params
    assert f"{report.totals.macs / 1e9:.2f}" == gflops


def test_vgg16_exact_macs():
    # the figure: 15,470,264,320 MACs at 224x224 (torchvision: 15.47 GFLOPS)
    report = analyze("vgg16.yaml")
    assert report.totals.macs == 15_470_264_320
    # conv1_1: 224*224*64 outputs of 3*3*3 products each
    assert report.layers[0].macs == 224 * 224 * 64 * 27


def test_alexnet_torchvision_exact_macs():
    # conv: 55^2*64*3*121 + 27^2*192*64*25 + 13^2*(384*192 + 256*384 + 256*256)*9,
    # fc: 9216*4096 + 4096*4096 + 4096*1000
    expected = (55 * 55 * 64 * 3 * 121 + 27 * 27 * 192 * 64 * 25
                + 13 * 13 * (384 * 192 + 256 * 384 + 256 * 256) * 9
                + 9216 * 4096 + 4096 * 4096 + 4096 * 1000)
    assert expected == 714_188_480
    assert analyze("alexnet_torchvision.yaml").totals.macs == expected


def test_alexnet_original_two_groups():
    # Krizhevsky et al. 2012, Fig. 2: 55x55x96, 27x27x256, 13x13x384, 13x13x384, 13x13x256
    report = analyze("alexnet.yaml")
    assert shapes(report, ["conv1", "conv2", "conv3", "conv4", "conv5", "pool5"]) == [
        (96, 55, 55), (256, 27, 27), (384, 13, 13), (384, 13, 13), (256, 13, 13), (256, 6, 6)]
    conv = (96 * 3 * 11 * 11 + 96) + (256 * 48 * 25 + 256) + (384 * 256 * 9 + 384) \
        + (384 * 192 * 9 + 384) + (256 * 192 * 9 + 256)
    fc = (9216 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    # the widely quoted 60,965,224 ("60 million parameters", section 1)
    assert report.totals.params == conv + fc == 60_965_224


def test_alexnet_227_vs_224():
    # the paper says 224, but (224 - 11)/4 + 1 = 54.25: only 227 gives 55
    assert analyze("alexnet.yaml").layer("conv1").output_shape[1] == (227 - 11) // 4 + 1 == 55
    report = analyze("alexnet.yaml", input_shape=(3, 224, 224))
    assert report.layer("conv1").output_shape == (96, (224 - 11) // 4 + 1, 54)


def test_lenet5():
    # LeCun et al. 1998 section II.B: C1 6@28x28 (156 params), S2 6@14x14, C3 16@10x10,
    # S4 16@5x5, C5 120, F6 84; full C3 connectivity as in the lectures
    report = analyze("lenet5.yaml")
    assert [r.output_shape for r in report.layers if r.type in ("conv", "avgpool")] == [
        (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5)]
    assert report.layer("conv1").params == 6 * (5 * 5 + 1) == 156
    total = 156 + 16 * (6 * 25 + 1) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    assert report.totals.params == total == 61_706
    assert report.totals.macs == 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10


def test_zfnet_sizes():
    # Zeiler and Fergus 2014, Fig. 3: 110, 55, 26, 13, 13, 13, 6
    report = analyze("zfnet.yaml")
    assert [s[1] for s in shapes(report, ["conv1", "pool1", "conv2", "pool2", "conv3", "conv5",
                                          "pool5"])] == [110, 55, 26, 13, 13, 13, 6]
    assert report.layer("fc6").params == 256 * 6 * 6 * 4096 + 4096


def test_allcnn_c():
    # Springenberg et al. 2015, Table 2 (C): the last 3x3 conv leaves 6x6 maps, then 1x1s
    report = analyze("allcnn_c.yaml")
    convs = [r for r in report.layers if r.type == "conv"]
    assert [r.output_shape[1] for r in convs] == [32, 32, 16, 16, 16, 8, 6, 6, 6]
    expected = (3 * 96 * 9 + 96) + 2 * (96 * 96 * 9 + 96) + (96 * 192 * 9 + 192) \
        + 3 * (192 * 192 * 9 + 192) + (192 * 192 + 192) + (192 * 10 + 10)
    assert report.totals.params == expected  # 1.37M; Table 3 of the paper rounds to "1.3 M"


def test_nin_cifar10():
    # Lin et al. 2014: 32 -> pool 16 -> pool 8 -> global average of 10 maps
    report = analyze("nin_cifar10.yaml")
    assert shapes(report, ["pool1", "pool2", "cccp6", "gap"]) == [
        (96, 16, 16), (192, 8, 8), (10, 8, 8), (10, 1, 1)]
    assert report.layers[-1].output_shape == (10,)
    assert report.layer("gap").params == 0


def test_m5_speech_1d():
    # Dai et al. 2017, Table 1 (M5): 32000 samples, stride 4 -> 8000, four 4x pools
    report = analyze("m5_speech.yaml")
    pools = [r.output_shape for r in report.layers if r.type == "maxpool"]
    assert pools == [(128, 8000 // 4), (128, 500), (256, 125), (512, 125 // 4)]
    assert report.layers[0].output_shape == (128, 32000 // 4)
    assert report.layers[0].receptive_field.size == (80,)
    conv = (80 * 128 + 128) + (128 * 128 * 3 + 128) + (128 * 256 * 3 + 256) + (256 * 512 * 3 + 512)
    assert report.totals.params == conv + 2 * (128 + 128 + 256 + 512) + (512 * 10 + 10)
    assert report.totals.buffers == 2 * (128 + 128 + 256 + 512)


def test_vgg16_pool5_receptive_field():
    # Araujo, Norris and Sim, Distill 2019, Table 1 (VGG-16 pool5): r = 212, S = 32,
    # effective padding 90, so unit 0 spans [-90, 121] and its centre is 31/2
    report = analyze("vgg16.yaml")
    pool5 = [r for r in report.layers if r.type == "maxpool"][-1]
    assert pool5.receptive_field.size == (212, 212)
    assert pool5.receptive_field.stride == (32, 32)
    assert pool5.receptive_field.center == (Fr(-90 + 121, 2),) * 2


def test_every_spec_in_the_zoo_analyses():
    for path in sorted(SPECS.glob("*.yaml")):
        report = cnncalc.analyze(cnncalc.load(path))
        assert report.totals.params > 0, path
