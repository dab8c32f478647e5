"""The five lectures of ../shared/lectures, shipped as exercises and networks (issue 15).

Every expected value is the arithmetic of the lecture (or the paper it cites),
written out; every exercise's answers file passes `check`, and a wrong answer
fails with the derivation shown.
"""

from __future__ import annotations

import numpy as np
import pytest

import cnncalc
from cnncalc.homework.answers import Conventions, check
from tests.conftest import ROOT, SPECS
from tests.test_cli import run as cli

EXERCISES = SPECS / "exercises"
EXAMPLES = ROOT / "examples"


def judged(spec, answers: str):
    net = cnncalc.load(spec)
    return {(j.layer, j.field): j for j in check(net, answers, "answers.yaml")}


def outputs(spec) -> dict[str, np.ndarray]:
    """Every node's output for the spec's inline input and weights, batch dropped."""
    return {k: v[0] for k, v in cnncalc.run(cnncalc.load(spec)).items()}


# every shipped exercise with its answers file: the right answers score full marks
ANSWERED = ["lecture_32x32", "cs5242_conv1d", "cs5242_conv2d_4x4", "dumoulin_5x5_3x3",
            "dilated_output_size", "goodfellow_76", "conv2d_5x5", "centralesupelec_5x5_binary",
            "dilated_stack", "depthwise_separable", "lrn_krizhevsky", "cs5242_conv1d_backward",
            "ceng403_conv_maxpool_backward", "cs5242_conv2d_backward", "strided_avgpool_backward",
            "transposed_output_size", "sobel_separable", "fc_200x200"]


@pytest.mark.parametrize("name", ANSWERED)
def test_answers_file_passes(name, capsys):
    code, out, _ = cli(capsys, "check", EXERCISES / f"{name}.yaml", EXAMPLES / f"{name}_answers.yaml")
    assert code == 0, out
    assert "✗" not in out


# -- Goodfellow, Bengio and Courville, ch. 9 lecture ----------------------------------------


def test_32x32_one_channel_problem():
    # the lecture's solution: (32 + 2*2 - 5)/1 + 1 = 32, 32*32*6, 6*(5*5 + 1) = 156 parameters;
    # pooling 32/2 = 16, 16*16*6, 0 parameters; fc (16*16*6 + 1)*N, N = 10 here
    res = judged(EXERCISES / "lecture_32x32.yaml",
                 "layout: hwc\nlayers:\n  conv1: {output_shape: 32x32x6, params: 156}\n"
                 "  pool1: {output_shape: 16x16x6, params: 0}\n  fc1: {params: 15370}\n")
    assert all(j.ok for j in res.values())
    assert res[("conv1", "params")].correct == 6 * (5 * 5 + 1)
    assert res[("fc1", "params")].correct == (16 * 16 * 6 + 1) * 10
    # the old, wrong reading of the problem: three channels, 6*(5*5*3 + 1) = 456
    res = judged(EXERCISES / "lecture_32x32.yaml", "layers:\n  conv1: {params: 456}\n")
    wrong = res[("conv1", "params")]
    assert not wrong.ok and wrong.correct == 156
    assert wrong.derivation[0].substituted == "(5·5·1 + 1)·6"


def test_76_parameters_per_filter():
    # "5x5x3 + 1 (bias) = 76" per filter; three filters
    res = judged(EXERCISES / "goodfellow_76.yaml", "layers:\n  conv: {params: 76}\n")
    wrong = res[("conv", "params")]
    assert not wrong.ok and wrong.correct == 3 * (5 * 5 * 3 + 1)
    assert wrong.derivation[0].substituted == "(5·5·3 + 1)·3"


def test_output_size_n5_k3_s1():
    # "N = 5, K = 3, S = 1 --- output size (2 + 1 = 3)"
    res = judged(EXERCISES / "conv2d_5x5.yaml", "layers:\n  feature: {output_shape: [1, 5, 5]}\n")
    wrong = res[("feature", "output_shape")]
    assert not wrong.ok and wrong.correct == (1, (5 - 3) // 1 + 1, (5 - 3) // 1 + 1)
    assert any("floor((5 - 3 + 2·0) / 1) + 1" in s.substituted for s in wrong.derivation)


# -- NUS CS5242 lecture 5 -----------------------------------------------------------------


def test_cs5242_1d_every_padding():
    out = outputs(EXERCISES / "cs5242_conv1d.yaml")
    x, w = [1, 0, 2, 2, 3, 1], [3, 2, 2]

    def y(padded, stride=1):  # y_t = sum_i w_i x_(t s + i): cross-correlation, as the lecture says
        return [sum(w[i] * padded[t + i] for i in range(3)) for t in range(0, len(padded) - 2, stride)]

    assert y(x) == [7, 8, 16, 14]                                # valid, the slide's numbers
    assert out["valid"][0].tolist() == [7, 8, 16, 14]
    assert out["manual"][0].tolist() == y(x + [0]) == [7, 8, 16, 14, 11]
    assert out["same"][0].tolist() == y([0] + x + [0]) == [2, 7, 8, 16, 14, 11]
    assert out["stride2_exact"][0].tolist() == y(x + [0], 2) == [7, 16, 11]
    assert out["stride2_inexact"][0].tolist() == y([0] + x + [0], 2)[:3] == [2, 8, 14]
    assert out["tf_valid_s2"][0].tolist() == [7, 16]
    assert out["tf_same_s2"][0].tolist() == [7, 16, 11]


def test_cs5242_1d_sizes_and_derivations():
    res = judged(EXERCISES / "cs5242_conv1d.yaml",
                 "layers:\n  valid: {output_shape: [1, 6]}\n  stride2_exact: {output_shape: [1, 4]}\n"
                 "  stride2_inexact: {output_shape: [1, 2]}\n")
    valid = res[("valid", "output_shape")]
    assert not valid.ok and valid.correct == (1, 6 - 3 + 1)  # o = l - k + 1
    exact = res[("stride2_exact", "output_shape")]
    assert exact.correct == (1, (6 + 1 - 3) // 2 + 1)
    assert not any(s.note for s in exact.derivation if "not exact" in s.note)
    inexact = res[("stride2_inexact", "output_shape")]
    assert inexact.correct == (1, (6 + 2 - 3) // 2 + 1)  # floor(5/2) + 1 = 3
    assert "not exact" in " ".join(s.note for s in inexact.derivation)


def test_tensorflow_padding_rule():
    # p = max(s(o - 1) + k - l, 0) = max(2*(3 - 1) + 3 - 6, 0) = 1, the odd pixel after
    from cnncalc.homework.solve import solve_padding

    sol = solve_padding(6, 3, 2, 3)
    assert sol["same_total"] == max(2 * (3 - 1) + 3 - 6, 0) == 1
    assert sol["same"] == (0, 1)


def test_cs5242_4x4_by_2x2():
    out = outputs(EXERCISES / "cs5242_conv2d_4x4.yaml")["conv"][0]
    assert out.tolist() == [[2, 0, 2], [2, -1, 2], [3, -1, 0]]
    # y_00 = -1*1 + 1*2 - 1*2 + 1*3 = 2 (the first cell the slides fill)
    assert out[0, 0] == -1 * 1 + 1 * 2 - 1 * 2 + 1 * 3


# -- CentraleSupelec lecture 4 --------------------------------------------------------------


def test_dumoulin_visin_5x5_3x3():
    out = outputs(EXERCISES / "dumoulin_5x5_3x3.yaml")["conv"][0]
    assert out.tolist() == [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
    # top-left: 3*0 + 3*1 + 2*2 + 0*2 + 0*2 + 1*0 + 3*0 + 1*1 + 2*2 = 12 (no flip)
    assert out[0, 0] == 3 * 0 + 3 * 1 + 2 * 2 + 0 * 2 + 0 * 2 + 1 * 0 + 3 * 0 + 1 * 1 + 2 * 2
    # the flipped convolution of the slide's definition gives other numbers (the spec says so)
    x = np.array(cnncalc.load(EXERCISES / "dumoulin_5x5_3x3.yaml").input_values[0])[0]
    w = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]])[::-1, ::-1]
    flipped = [[int((x[i:i + 3, j:j + 3] * w).sum()) for j in range(3)] for i in range(3)]
    assert flipped == [[18, 20, 19], [10, 9, 17], [11, 8, 14]]


def test_centralesupelec_5x5_binary_output_is_smaller():
    out = outputs(EXERCISES / "centralesupelec_5x5_binary.yaml")["conv"][0]
    assert out.shape == (5 - 3 + 1, 5 - 3 + 1)
    assert out.tolist() == [[4, 4, 4], [3, 5, 4], [4, 5, 3]]  # not the transcript's 1 1 1 / 0 1 2 / 0 2 1


def test_output_size_with_dilation():
    # n_out = (n_inp + 2p - (d(k - 1) + 1))/s + 1
    res = judged(EXERCISES / "dilated_output_size.yaml",
                 "layers:\n  dilated: {output_shape: [1, 5, 5]}\n  dilated_s2_p2: {output_shape: [1, 3, 3]}\n")
    d1, d2 = res[("dilated", "output_shape")], res[("dilated_s2_p2", "output_shape")]
    assert d1.correct[1] == (7 + 2 * 0 - (2 * (3 - 1) + 1)) // 1 + 1 == 3
    assert d2.correct[1] == (7 + 2 * 2 - (2 * (3 - 1) + 1)) // 2 + 1 == 4
    assert d1.derivation[0].substituted == "2·(3 - 1) + 1"  # the dilated extent first


# -- CENG 403 week 10a -----------------------------------------------------------------------


def test_dilated_stack_3_7_15_identical_params():
    report = cnncalc.analyze(cnncalc.load(EXERCISES / "dilated_stack.yaml"))
    sizes = [report.layer(n).receptive_field.size for n in ("F1", "F2", "F3")]
    assert sizes == [(3, 3), (3 + (5 - 1), 3 + (5 - 1)), (7 + (9 - 1), 7 + (9 - 1))]  # 3, 7, 15
    assert {report.layer(n).params for n in ("F1", "F2", "F3")} == {(3 * 3 * 8 + 1) * 8}


def test_lrn_krizhevsky_values():
    a = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    k, n, alpha, beta, N = 2, 5, 1e-4, 0.75, 6  # Krizhevsky et al. 2012, section 3.3

    def b(i):
        window = range(max(0, i - n // 2), min(N - 1, i + n // 2) + 1)
        return a[i] / (k + alpha * sum(a[j] ** 2 for j in window)) ** beta

    out = outputs(EXERCISES / "lrn_krizhevsky.yaml")["lrn"].reshape(-1)
    assert out == pytest.approx([b(i) for i in range(N)], rel=1e-12)
    assert out[0] == pytest.approx(10 / 2.14 ** 0.75, rel=1e-12)


# -- CMU 11-785 ------------------------------------------------------------------------------


def test_depthwise_separable_counts():
    M, N, K = 32, 64, 3  # the slides' names: M in, N out, K x K
    report = cnncalc.analyze(cnncalc.load(EXERCISES / "depthwise_separable.yaml"))
    assert report.layer("conventional").params == N * M * K ** 2 == 18_432
    assert report.layer("separable").params == N * M + M * K ** 2 == 2_336
    assert report.layer("separable").macs == 16 * 16 * (N * M + M * K ** 2)
    res = judged(EXERCISES / "depthwise_separable.yaml", "layers:\n  separable: {params: 18432}\n")
    assert not res[("separable", "params")].ok
    assert res[("separable", "params")].derivation


# -- the lectures' named architectures (specs/) ------------------------------------------------

NETWORK_ANSWERS = [("lenet5_cmu", "lenet5_cmu"), ("alexnet_cmu", "alexnet_cmu"),
                   ("alexnet_cmu_slide", "alexnet_cmu_slide"), ("zfnet_cmu", "zfnet_cmu"),
                   ("vgg_c", "vgg")] + [
    (f"allcnn_{v}", f"allcnn_{v}") for v in
    ("model_a", "strided_a", "convpool_a", "a", "model_b", "strided_b", "convpool_b", "b",
     "model_c", "strided_c", "convpool_c", "c")]


@pytest.mark.parametrize("spec, answers", NETWORK_ANSWERS)
def test_network_answers_pass(spec, answers, capsys):
    code, out, _ = cli(capsys, "check", SPECS / f"{spec}.yaml", EXAMPLES / f"{answers}_answers.yaml")
    assert code == 0, out


def test_lenet5_cmu_sizes():
    report = cnncalc.analyze(cnncalc.load(SPECS / "lenet5_cmu.yaml"))
    # 6 28x28, 6 14x14, 16 10x10, 16 5x5 (400 values), then 120, 84, 10
    assert [report.layer(n).output_shape for n in ("conv1", "pool1", "conv2", "pool2", "flat")] == [
        (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (16 * 5 * 5,)]
    assert report.totals.params == (6 * 26 + 16 * (6 * 25 + 1) + (400 + 1) * 120 + (120 + 1) * 84
                                    + (84 + 1) * 10) == 61_706


def test_alexnet_cmu_conv2_stride():
    paper = cnncalc.analyze(cnncalc.load(SPECS / "alexnet_cmu.yaml"))
    slide = cnncalc.analyze(cnncalc.load(SPECS / "alexnet_cmu_slide.yaml"))
    assert paper.layer("conv1").output_shape == (96, (227 - 11) // 4 + 1, 55)
    # the paper's stride 1: 27 -> 27 -> 13 -> 6; the slide's stride 2: 27 -> 14 -> 6 -> 2
    assert [paper.layer(n).output_shape[1] for n in ("conv2", "pool2", "pool3")] == [27, 13, 6]
    assert [slide.layer(n).output_shape[1] for n in ("conv2", "pool2", "pool3")] == [
        (27 + 2 * 2 - 5) // 2 + 1, (14 - 3) // 2 + 1, (6 - 3) // 2 + 1]
    convs = (96 * (11 * 11 * 3 + 1) + 256 * (5 * 5 * 96 + 1) + 384 * (3 * 3 * 256 + 1)
             + 384 * (3 * 3 * 384 + 1) + 256 * (3 * 3 * 384 + 1))
    fc_tail = (4096 + 1) * 4096 + (4096 + 1) * 1000
    assert paper.totals.params == convs + (6 * 6 * 256 + 1) * 4096 + fc_tail == 62_378_344
    assert slide.totals.params == convs + (2 * 2 * 256 + 1) * 4096 + fc_tail == 28_823_912


def test_zfnet_cmu():
    report = cnncalc.analyze(cnncalc.load(SPECS / "zfnet_cmu.yaml"))
    assert report.layer("conv1").output_shape == (96, (227 - 7) // 2 + 1, 111)
    assert [report.layer(n).output_shape[0] for n in ("conv3", "conv4", "conv5")] == [512, 1024, 512]
    assert report.layer("pool3").output_shape == (512, 6, 6)


# Simonyan and Zisserman 2015, Table 2: parameters in millions
VGG_TABLE_2 = {"vgg11.yaml": 133, "vgg_a_lrn.yaml": 133, "vgg13.yaml": 133, "vgg_c.yaml": 134,
               "vgg16.yaml": 138, "vgg19.yaml": 144}


@pytest.mark.parametrize("spec, millions", VGG_TABLE_2.items())
def test_vgg_table_2(spec, millions):
    report = cnncalc.analyze(cnncalc.load(SPECS / spec))
    assert round(report.totals.params / 1e6) == millions


def test_vgg_c_and_a_lrn_exact():
    d = 138_357_544  # torchvision's vgg16 (configuration D)
    c = cnncalc.analyze(cnncalc.load(SPECS / "vgg_c.yaml")).totals.params
    assert c == d - 256 * 256 * (9 - 1) - 2 * 512 * 512 * (9 - 1) == 133_638_952
    a_lrn = cnncalc.analyze(cnncalc.load(SPECS / "vgg_a_lrn.yaml"))
    assert a_lrn.totals.params == 132_863_336  # torchvision's vgg11: LRN adds nothing
    assert sum(1 for r in a_lrn.layers if r.type == "conv" and r.params == 256 * (256 + 1)) == 0


def _allcnn(block1, block2, extra):
    """Parameters of an All-CNN model: two blocks of (k, channels) convolutions, each
    followed by ``extra`` 3x3 convolutions of the block's width, then the head."""
    layers = list(block1) + [(3, 96)] * extra + list(block2) + [(3, 192)] * extra + [
        (3, 192), (1, 192), (1, 10)]
    total, cin = 0, 3
    for k, c in layers:
        total, cin = total + (k * k * cin + 1) * c, c
    return total


ALLCNN = {  # Springenberg et al. 2015, Tables 1 and 2; Table 3's rounded count
    "allcnn_model_a.yaml": (_allcnn([(5, 96)], [(5, 192)], 0), 0.9),
    "allcnn_strided_a.yaml": (_allcnn([(5, 96)], [(5, 192)], 0), 0.9),
    "allcnn_convpool_a.yaml": (_allcnn([(5, 96)], [(5, 192)], 1), 1.28),
    "allcnn_a.yaml": (_allcnn([(5, 96)], [(5, 192)], 1), 1.28),
    "allcnn_model_b.yaml": (_allcnn([(5, 96), (1, 96)], [(5, 192), (1, 192)], 0), 1),
    "allcnn_strided_b.yaml": (_allcnn([(5, 96), (1, 96)], [(5, 192), (1, 192)], 0), 1),
    "allcnn_convpool_b.yaml": (_allcnn([(5, 96), (1, 96)], [(5, 192), (1, 192)], 1), 1.35),
    "allcnn_b.yaml": (_allcnn([(5, 96), (1, 96)], [(5, 192), (1, 192)], 1), 1.35),
    "allcnn_model_c.yaml": (_allcnn([(3, 96), (3, 96)], [(3, 192), (3, 192)], 0), 1.3),
    "allcnn_strided_c.yaml": (_allcnn([(3, 96), (3, 96)], [(3, 192), (3, 192)], 0), 1.3),
    "allcnn_convpool_c.yaml": (_allcnn([(3, 96), (3, 96)], [(3, 192), (3, 192)], 1), 1.4),
    "allcnn_c.yaml": (_allcnn([(3, 96), (3, 96)], [(3, 192), (3, 192)], 1), 1.4),
}


@pytest.mark.parametrize("spec, expected", ALLCNN.items())
def test_allcnn_table(spec, expected):
    params, paper = expected
    net = cnncalc.load(SPECS / spec)
    report = cnncalc.analyze(net)
    assert report.totals.params == params
    # "global averaging over 6 x 6 spatial dimensions": the head's maps are 6x6
    before_pool = next(r for r in reversed(report.layers) if len(r.output_shape) == 3
                       and r.output_shape[1:] != (1, 1))
    assert before_pool.output_shape == (10, 6, 6)
    # the paper's "≈" counts: said in each spec's comment where the exact count does not round to it
    text = (SPECS / spec).read_text()
    digits = len(str(paper).split(".")[1]) if "." in str(paper) else 0
    rounds = round(params / 1e6, digits) == paper
    assert rounds or "does not round" in text or spec == "allcnn_c.yaml"


def test_receptive_field_closed_form_in_explain():
    # CentraleSupelec lecture 4 (Araujo et al. 2019): r0 = sum_l (k_l - 1) prod_(i<l) s_i + 1,
    # k_l the dilated extent d(k - 1) + 1: (3 - 1) + (5 - 1) + (9 - 1) + 1 = 15
    res = judged(EXERCISES / "dilated_stack.yaml", "layers:\n  F3: {receptive_field: 9}\n")
    wrong = res[("F3", "receptive_field")]
    assert not wrong.ok and wrong.correct == (15, 15)
    closed = [s for s in wrong.derivation if s.formula.startswith("r0 =")]
    assert closed and closed[0].substituted == "(3 - 1)·1 + (5 - 1)·1 + (9 - 1)·1·1 + 1"
    assert eval(closed[0].substituted.replace("·", "*")) == int(closed[0].result) == 15
    # LeNet-5: conv 5, pool 2/2, conv 5: (5 - 1)·1 + (2 - 1)·1 + (5 - 1)·1·2 + 1 = 14
    from cnncalc.homework.explain import explain
    steps = explain(cnncalc.load(SPECS / "lenet5.yaml"), "conv2")[0].steps
    closed = [s for s in steps if s.formula.startswith("r0 =")]
    assert closed[0].substituted == "(5 - 1)·1 + (2 - 1)·1 + (5 - 1)·1·2 + 1"
    assert closed[0].result == str((5 - 1) * 1 + (2 - 1) * 1 + (5 - 1) * 1 * 2 + 1)


def test_lint_catalogue_cites_the_lectures():
    # the rules that implement the lectures' good practices say so (docs/rules.md is made from them)
    from cnncalc.lint.catalogue import RULES

    cites = {"CC101": "cannot tile to cover the input volume", "CC102": "filter larger than the input",
             "CC103": "really high strides", "CC104": "prefer odd sizes for kernels",
             "CC108": "not extremely small or", "CC109": "extremely small or large"}
    for code, text in cites.items():
        assert text in RULES[code].explanation, code
    assert "divided by 2 multiple times" in RULES["CC101"].explanation


def _wrong(value):
    """A wrong version of an answer: one more in the first number."""
    if isinstance(value, list):
        return [value[0] + 1, *value[1:]]
    if isinstance(value, str):  # 32x32x6
        first, _, rest = value.partition("x")
        return f"{int(first) + 1}x{rest}"
    return value + 1


ALL_ANSWERS = [(EXERCISES / f"{n}.yaml", EXAMPLES / f"{n}_answers.yaml") for n in ANSWERED] + [
    (SPECS / f"{s}.yaml", EXAMPLES / f"{a}_answers.yaml") for s, a in NETWORK_ANSWERS]


@pytest.mark.parametrize("spec, answers", ALL_ANSWERS, ids=[a.stem for _, a in ALL_ANSWERS])
def test_a_wrong_answer_fails_with_its_derivation(spec, answers):
    import yaml

    doc = yaml.safe_load(answers.read_text())
    section = "layers" if doc.get("layers") else "totals"
    if section == "layers":
        layer, figures = next(iter(doc["layers"].items()))
        field = next(f for f in ("params", "output_shape", "receptive_field") if f in figures)
        figures[field] = _wrong(figures[field])
        doc["layers"] = {layer: figures}
        doc.pop("totals", None)
    else:
        field = "params"
        doc["totals"] = {"params": doc["totals"]["params"] + 1}
    judgements = check(cnncalc.load(spec), yaml.safe_dump(doc), "wrong.yaml")
    wrong = [j for j in judgements if not j.ok]
    assert len(wrong) == 1 and wrong[0].field == field
    if section == "layers":  # a layer's figure is shown with its formula and numbers
        assert wrong[0].derivation and all(s.result for s in wrong[0].derivation)


def test_pooling_has_no_parameters():
    # Goodfellow et al. ch. 9 lecture: "Number of parameters = 0 (no parameters in the pooling layer)"
    res = judged(EXERCISES / "lecture_32x32.yaml", "layers:\n  pool1: {params: 6}\n")
    wrong = res[("pool1", "params")]
    assert not wrong.ok and wrong.correct == 0
    assert wrong.derivation[0].formula == "pooling has no parameters"
    # a layer whose explanation has no parameter step still shows why: LRN has no tensors
    res = judged(EXERCISES / "lrn_krizhevsky.yaml", "layers:\n  lrn: {params: 4}\n")
    assert res[("lrn", "params")].derivation[0].formula == "no learnable tensors (no weights, no bias)"


def test_transposed_convolution_d2l():
    # CENG 403: W = (O - 1)S + F - 2P; d2l's example, which the slide's figure is
    out = outputs(EXERCISES / "transposed_output_size.yaml")
    assert out["up_s1"].shape[1:] == ((2 - 1) * 1 + 2 - 0,) * 2
    assert out["up_s1"][0].tolist() == [[0, 0, 1], [0, 4, 6], [4, 12, 9]]
    assert out["up_s2"].shape[1:] == ((2 - 1) * 2 + 2 - 0,) * 2
    assert out["up_s2"][0].tolist() == [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]


def test_sobel_is_separable():
    # [-1 0 1; -2 0 2; -1 0 1] = [1 2 1]^T x [-1 0 1]: 3 + 3 weights instead of 9
    out = outputs(EXERCISES / "sobel_separable.yaml")
    assert out["row"].tolist() == out["sobel"].tolist()
    report = cnncalc.analyze(cnncalc.load(EXERCISES / "sobel_separable.yaml"))
    assert report.layer("sobel").params == 3 * 3
    assert report.layer("column").params + report.layer("row").params == 3 + 3
    assert report.layer("column").macs + report.layer("row").macs == 3 * 5 * 3 + 3 * 3 * 3


def test_200x200_dense_layer():
    # CentraleSupelec: 200x200 = 40K inputs, 1000 neurons -> 40M parameters
    net = cnncalc.load(EXERCISES / "fc_200x200.yaml")
    res = {(j.layer, j.field): j for j in check(net, "layers:\n  dense: {params: 40000000}\n", "a.yaml",
                                                 Conventions(bias=False))}
    assert res[("dense", "params")].ok and res[("dense", "params")].correct == 200 * 200 * 1000
    assert cnncalc.analyze(net).layer("conv").params == 1000 * (5 * 5 + 1)
