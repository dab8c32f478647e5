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
    "resnet18.yaml": (11_689_512, "1.81"),
    "resnet34.yaml": (21_797_672, "3.66"),
    "resnet50.yaml": (25_557_032, "4.09"),
    "resnet101.yaml": (44_549_160, "7.80"),
    "resnet152.yaml": (60_192_808, "11.51"),
    "densenet121.yaml": (7_978_856, "2.83"),
    "googlenet.yaml": (6_624_904, "1.50"),
    "mobilenet_v2.yaml": (3_504_872, "0.30"),
    "squeezenet1_0.yaml": (1_248_424, "0.82"),
    "vit_b_16.yaml": (86_567_656, "17.56"),  # 17.564; exactly 17,563,828,224 (tests/test_attention.py)
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
    # 1,369,738 = 1.37 M: the paper's Table 3 gives "1.4 M" (tests/test_lectures.py, ALLCNN),
    # its Table 4 (comparison with the state of the art) "1.3 M"
    assert report.totals.params == expected


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


def test_resnet50_and_densenet121_exact_macs():
    # the figures (torchvision's 4.09 and 2.83 GFLOPS, unrounded)
    assert analyze("resnet50.yaml").totals.macs == 4_089_184_256
    assert analyze("densenet121.yaml").totals.macs == 2_834_161_664


def test_resnet_structure_names_and_shapes():
    report = analyze("resnet50.yaml")
    # He et al. 2016, Table 1: conv2_x .. conv5_x output 56, 28, 14, 7
    outs = {g: report.layer(report.groups[g][0]).output_shape for g in
            ("layer1", "layer2", "layer3", "layer4")}
    assert outs == {"layer1": (256, 56, 56), "layer2": (512, 28, 28),
                    "layer3": (1024, 14, 14), "layer4": (2048, 7, 7)}
    first = report.layer("layer2.bottleneck1.residual1.shortcut.conv1")  # the projection
    assert first.params == 256 * 512  # 1x1, 256 -> 512, no bias


def test_resnet18_last_stage_receptive_field():
    # Araujo et al. 2019, Table 1: ResNet-18 (torchvision) last stage r = 435, S = 32
    report = analyze("resnet18.yaml")
    last = report.layer(report.groups["layer4"][0])
    assert last.receptive_field.size == (435, 435)
    assert last.receptive_field.stride == (32, 32)
    assert last.receptive_field.misaligned is False


def test_densenet121_channels():
    # Huang et al. 2017, Table 1 with k = 32: 64 + 6k, then halved, + 12k, ...
    report = analyze("densenet121.yaml")
    ch = [report.layer(report.groups[f"denseblock{i}"][0]).output_shape[0] for i in (1, 2, 3, 4)]
    assert ch == [64 + 6 * 32, 128 + 12 * 32, 256 + 24 * 32, 512 + 16 * 32]


def test_googlenet_inception_outputs():
    # Szegedy et al. 2015, Table 1: 3a 28x28x256, 3b 480, 4a 14x14x512, 4e 832, 5b 7x7x1024
    report = analyze("googlenet.yaml")
    out = {g: report.layer(report.groups[g][0]).output_shape
           for g in ("inception3a", "inception3b", "inception4a", "inception4e", "inception5b")}
    assert out == {"inception3a": (64 + 128 + 32 + 32, 28, 28), "inception3b": (480, 28, 28),
                   "inception4a": (512, 14, 14), "inception4e": (832, 14, 14),
                   "inception5b": (1024, 7, 7)}


def test_unet_original():
    # Ronneberger et al. 2015, Fig. 1: 572x572 in, 388x388x2 out; the skip from the
    # 568x568 map is cropped to 392; the bottom is 28x28x1024
    report = analyze("unet_original.yaml")
    assert report.layers[-1].output_shape == (2, 388, 388)
    assert report.layer("dec1.crop").output_shape == (64, 392, 392)
    assert report.layer(report.groups["bottom"][0]).output_shape == (1024, 28, 28)
    enc = [(1, 64), (64, 128), (128, 256), (256, 512), (512, 1024)]
    dec = [(1024, 512), (512, 256), (256, 128), (128, 64)]
    params = sum(a * b * 9 + b + b * b * 9 + b for a, b in enc)  # two 3x3 convs per level
    params += sum(a * b * 4 + b + a * b * 9 + b + b * b * 9 + b for a, b in dec)  # up-conv + two convs
    params += 64 * 2 + 2  # the 1x1 output layer
    assert report.totals.params == params
    assert report.layer("logits").receptive_field.misaligned is False


def test_unet_padded_keeps_size():
    report = analyze("unet_padded.yaml")
    assert report.layers[-1].output_shape == (2, 256, 256)
    assert report.layer("dec1.cat").output_shape == (64 + 64, 256, 256)


def test_mobilenet_v1_keras_and_paper():
    # keras.applications.MobileNet(alpha=1.0): 4,231,976 trainable and 21,888 non-trainable
    # parameters; Howard et al. 2017, Table 8: 569 million mult-adds, 4.2 million parameters
    report = analyze("mobilenet_v1.yaml")
    assert report.totals.params == 4_231_976
    assert report.totals.buffers == 21_888
    assert round(report.totals.macs / 1e6) == 569
    assert report.layer(report.groups["block13"][0]).output_shape == (1024, 7, 7)


def test_xception_entry_flow():
    # Chollet 2017, Fig. 5: 299x299x3 -> 19x19x728
    report = analyze("xception_entry.yaml")
    assert report.layers[-1].output_shape == (728, 19, 19)
    sep = lambda m, n: m * 9 + m * n  # noqa: E731  depthwise 3x3 + pointwise, no bias
    bn = lambda c: 2 * c  # noqa: E731
    expected = (3 * 32 * 9 + bn(32) + 32 * 64 * 9 + bn(64)
                + sep(64, 128) + bn(128) + sep(128, 128) + bn(128) + 64 * 128 + bn(128)
                + sep(128, 256) + bn(256) + sep(256, 256) + bn(256) + 128 * 256 + bn(256)
                + sep(256, 728) + bn(728) + sep(728, 728) + bn(728) + 256 * 728 + bn(728))
    assert report.totals.params == expected


def test_deepface_locally_connected():
    # Taigman et al. 2014, Fig. 2: 142, 71, 63, 55, 25, 21
    report = analyze("deepface.yaml")
    assert [report.layer(n).output_shape[1] for n in ("C1", "M2", "C3", "L4", "L5", "L6")] == [
        142, 71, 63, 55, 25, 21]
    lc = 55 * 55 * 16 * (16 * 81 + 1) + 25 * 25 * 16 * (16 * 49 + 1) + 21 * 21 * 16 * (16 * 25 + 1)
    total = 32 * (3 * 121 + 1) + 16 * (32 * 81 + 1) + lc + (21 * 21 * 16 * 4096 + 4096) + (4096 * 4030 + 4030)
    assert report.totals.params == total == 118_923_774  # "more than 120 million" in the paper
