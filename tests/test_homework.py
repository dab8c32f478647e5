"""Homework mode: check answers, explain derivations, solve, sizes (issue 6)."""

from __future__ import annotations

import json

import pytest

import cnncalc
from cnncalc import SpecError
from cnncalc.homework.answers import Conventions, check
from cnncalc.homework.explain import explain, render_explanations
from cnncalc.homework.solve import sizes, solve_output, solve_padding, solve_stride
from tests.conftest import ROOT, SPECS
from tests.test_cli import run as cli

EXERCISES = SPECS / "exercises"


def judged(spec, answers: str, **conv):
    net = cnncalc.load(spec, dilation_base=conv.get("dilation_base", 1))
    return {(j.layer, j.field): j for j in check(net, answers, "answers.yaml", Conventions(**conv))}


def test_32x32_problem_right_and_wrong():
    # Goodfellow et al. ch. 9 lecture: one 32x32 channel, 6 filters 5x5, padding 2 -> 32x32x6
    # with 6*(5*5 + 1) parameters; 2x2 pooling -> 16x16x6; a 10-unit fc layer has
    # (16*16*6 + 1)*10 weights
    res = judged(EXERCISES / "lecture_32x32.yaml",
                 "layout: hwc\nlayers:\n"
                 "  conv1: {output_shape: 32x32x6, params: 156}\n"
                 "  pool1: {output_shape: [16, 16, 6]}\n"
                 "  fc1: {params: 15370}\n")
    assert all(j.ok for j in res.values())
    assert res[("fc1", "params")].correct == (16 * 16 * 6 + 1) * 10
    res = judged(EXERCISES / "lecture_32x32.yaml",
                 "layout: hwc\nlayers:\n"
                 "  conv1: {output_shape: 28x28x6, params: 150}\n")  # forgot the padding and the bias
    shape, params = res[("conv1", "output_shape")], res[("conv1", "params")]
    assert not shape.ok and shape.correct == (6, 32, 32)
    assert any("floor((32 - 5 + 2·2) / 1) + 1" in s.substituted for s in shape.derivation)
    assert not params.ok and params.correct == (5 * 5 * 1 + 1) * 6
    assert params.derivation[0].substituted == "(5·5·1 + 1)·6"


def test_lenet5_answers():
    # the lectures' LeNet-5 (LeCun et al. 1998's sizes, full C3): C1 28x28x6 with 156 parameters;
    # C3 10x10x16; totals 61,706 (the paper's C3 table gives 60,000: specs/lenet5_lecun1998.yaml)
    res = judged(SPECS / "lenet5.yaml",
                 "layers:\n  conv1: {output_shape: [6, 28, 28], params: 156, receptive_field: 5}\n"
                 "  conv2: {output_shape: 16x10x10, receptive_field: 14, stride: 2}\n"
                 "  linear1: {params: 48120, macs: 48000}\n"
                 "totals: {params: 61706, macs: 416520}\n")
    assert all(j.ok for j in res.values()), [k for k, j in res.items() if not j.ok]
    res = judged(SPECS / "lenet5.yaml", "layers:\n  conv2: {receptive_field: 10}\n")
    j = res[("conv2", "receptive_field")]
    assert not j.ok and j.correct == (14, 14)
    assert j.derivation[0].substituted == "6 + (5 - 1)·2"  # r = r_in + (F - 1) j_in


def test_alexnet_227_vs_224():
    # with the paper's 224, conv1 gives floor((224 - 11)/4) + 1 = 54, not the 55 of Fig. 2
    net = cnncalc.load(SPECS / "alexnet.yaml", input_shape=(3, 224, 224))
    res = {(j.layer, j.field): j for j in check(net, "layers:\n  conv1: {output_shape: 55x55x96}\n",
                                                "a.yaml")}
    j = res[("conv1", "output_shape")]
    assert not j.ok and j.correct == (96, 54, 54)
    assert "not exact" in " ".join(s.note for s in j.derivation)
    assert all(j.ok for j in judged(SPECS / "alexnet.yaml",
                                    "layers:\n  conv1: {output_shape: [96, 55, 55]}\n").values())


def test_transposed_convolution_sizes():
    spec = ("input: [1, 16, 16]\nlayers:\n"
            "  - {conv_transpose: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1}, name: up}\n"
            "  - {conv_transpose: {out_channels: 1, kernel_size: 3, stride: 2, padding: 1, "
            "output_padding: 1}, name: up2}\n")
    net = cnncalc.loads(spec, "t.yaml")
    res = {(j.layer, j.field): j for j in check(
        net, "layout: hwc\nlayers:\n  up: {output_shape: 31x31x1}\n  up2: {output_shape: 60x60x1}\n",
        "a.yaml")}
    assert res[("up", "output_shape")].ok  # (16 - 1)*2 - 2 + 3 = 31
    wrong = res[("up2", "output_shape")]
    assert not wrong.ok and wrong.correct == (1, 62, 62)  # (31 - 1)*2 - 2 + 3 + 1 = 62
    assert wrong.derivation[0].substituted == "(31 - 1)·2 - 2·1 + 3 + 1"


def test_1d_convolution_outputs():
    res = judged(EXERCISES / "conv1d.yaml", "layers:\n  out: {output_shape: [1, 6], params: 2}\n")
    assert all(j.ok for j in res.values())


def test_conventions():
    # multiplications only: FLOPs = MACs; without bias: weights only
    res = judged(EXERCISES / "lecture_32x32.yaml",
                 "layers:\n  conv1: {flops: 153600, params: 150}\n", flops="mult", bias=False)
    assert res[("conv1", "flops")].ok  # 32*32*6 outputs x 25 multiplications = 153,600
    assert res[("conv1", "params")].ok  # 5*5*1*6
    res = judged(EXERCISES / "lecture_32x32.yaml", "layers:\n  conv1: {flops: 307200}\n")
    assert res[("conv1", "flops")].ok  # 32*32*6 x (2*25 - 1 + 1) = 307,200
    # cs231n writes dilation 0-based: dilation 1 there is PyTorch's 2 (k_eff = 5)
    net = cnncalc.loads("input: [1, 9]\nlayers:\n  - conv1d: {out_channels: 1, kernel_size: 3, dilation: 1}\n",
                        "d.yaml", dilation_base=0)
    assert net.nodes[0].facts.out_shape == (1, 9 - 5 + 1)
    assert "dilation 0-based" in Conventions(dilation_base=0).describe()


def test_wrong_hwc_answer_is_corrected_in_hwc(capsys, tmp_path):
    answers = tmp_path / "a.yaml"
    answers.write_text("layout: hwc\nlayers:\n  conv1: {output_shape: 28x28x6}\n")
    code, out, _ = cli(capsys, "check", EXERCISES / "lecture_32x32.yaml", answers)
    assert code == 1 and "correct: 32x32x6" in out  # height x width x channels, as answered


def test_answer_errors_are_located():
    net = cnncalc.load(SPECS / "lenet5.yaml")
    with pytest.raises(SpecError) as info:
        check(net, "layers:\n  cnv1: {params: 1}\n", "a.yaml")
    assert (info.value.line, info.value.column) == (2, 3)
    assert "did you mean 'conv1'" in info.value.help
    with pytest.raises(SpecError) as info:
        check(net, "layers:\n  conv1: {parms: 1}\n", "a.yaml")
    assert "did you mean 'params'" in info.value.help
    with pytest.raises(SpecError) as info:
        check(net, "layers:\n  conv1: {output_shape: 6 by 28}\n", "a.yaml")
    assert info.value.file == "a.yaml"


def test_check_cli_exit_codes_and_json(capsys, tmp_path):
    answers = tmp_path / "a.yaml"
    answers.write_text("layers:\n  conv1: {params: 156, macs: 1}\n")
    code, out, _ = cli(capsys, "check", SPECS / "lenet5.yaml", answers)
    assert code == 1
    assert "Score: 1/2" in out and "correct: 117,600" in out
    code, out, _ = cli(capsys, "check", SPECS / "lenet5.yaml", answers, "--format", "json")
    data = json.loads(out)
    assert (data["score"], data["total"]) == (1, 2)
    assert data["answers"][1]["derivation"][0]["substituted"] == "28·28·6 · 5·5·1"
    code, _, _ = cli(capsys, "check", EXERCISES / "lecture_32x32.yaml",
                     ROOT / "examples" / "lecture_32x32_answers.yaml")
    assert code == 0


def test_explain_golden(golden):
    net = cnncalc.load(SPECS / "lenet5.yaml")
    golden("explain_lenet5.txt", render_explanations(explain(net)))
    golden("explain_lenet5.md", render_explanations(explain(net, "conv2"), markdown=True))
    net = cnncalc.loads("input: [1, 12]\nlayers:\n  - conv1d: {out_channels: 1, kernel_size: 3, stride: 2}\n"
                        "  - upsample: 2\n  - conv1d: {out_channels: 1, kernel_size: 3}\n", "x.yaml")
    golden("explain_upsample.txt", render_explanations(explain(net)))


def test_explain_says_which_pixels_are_dropped():
    net = cnncalc.loads("input: [1, 8, 8]\nlayers:\n  - conv: {out_channels: 1, kernel_size: 3, stride: 2}\n",
                        "x.yaml")
    steps = explain(net)[0].steps
    # (8 - 3) mod 2 = 1 pixel at the end unread, and with no padding it is an input pixel
    assert any("(8 - 3 + 0) = 5 is not divisible by 2; the last 1 input pixel(s) are never read" in s.note
               for s in steps)


def test_explain_and_solve_describe_unread_pixels_in_the_same_words():
    # L = 6, F = 3, S = 2, P = 1 per side: (6 + 2 - 3) mod 2 = 1 unread pixel, and it is the
    # after-padding (core/window.dropped's docstring example): every input pixel is read
    net = cnncalc.loads("input: [1, 6]\nlayers:\n  - conv: {out_channels: 1, kernel_size: 3, stride: 2, "
                        "padding: 1}\n", "x.yaml")
    explained = next(s.note for s in explain(net)[0].steps if s.note)
    solved = solve_output(6, 3, 2, 1).note
    assert explained == solved == ("not exact: (6 - 3 + 2) = 5 is not divisible by 2, but the 1 unread "
                                   "pixel(s) at the end are padding: every input pixel is read")


def test_solve():
    # TensorFlow same: p = max(s(o - 1) + k - l, 0) = 2*111 + 7 - 224 = 5 -> 2 before, 3 after;
    # symmetric: floor((224 + 2*3 - 7)/2) + 1 = 112
    r = solve_padding(224, 7, 2, 112)
    assert r["totals"][0] == 5 and r["same"] == (2, 3) and r["symmetric"] == [3]
    assert solve_output(32, 5, 1, 2).result == "32"
    assert solve_output(16, 3, 2, 1, transposed=True, output_padding=1).result == str((16 - 1) * 2 - 2 + 3 + 1)
    assert (2, 1, True) in solve_stride(32, 3, 16)  # only padding unread (issue 14)


def test_sizes_unet_original():
    # U-Net: 4 poolings of 2 and 2 valid 3x3 convolutions per level: 572 works, and every 16th size
    found = dict(sizes(SPECS / "unet_original.yaml", range(540, 601)))
    assert list(found) == [540, 556, 572, 588]
    assert found[572] == ((2, 388, 388),)


def test_sizes_cli(capsys):
    code, out, _ = cli(capsys, "sizes", SPECS / "unet_original.yaml", "--range", "560:580")
    assert code == 0 and out.strip() == "572: 2x388x388"
    code, _, _ = cli(capsys, "sizes", SPECS / "unet_original.yaml", "--range", "573:580")
    assert code == 1


def test_sizes_takes_the_sweep_range_spelling(capsys):
    """`sizes --range` also takes `sweep --input`'s range token {START..STOP..STEP} (one
    parser, cnncalc.analysis.sweep.parse_range); START:STOP keeps working."""
    unet = SPECS / "unet_original.yaml"
    code, colon, _ = cli(capsys, "sizes", unet, "--range", "560:580")
    assert code == 0 and colon == "572: 2x388x388\n"  # test_sizes_cli
    code, braces, _ = cli(capsys, "sizes", unet, "--range", "{560..580}")
    assert code == 0 and braces == colon
    # the sizes that tile are every 16th from 540 (test_sizes_unet_original): with STEP 16
    # from 540 each one tried tiles; from 541 none does (541 + 16k is odd)
    code, out, _ = cli(capsys, "sizes", unet, "--range", "{540..600..16}", "-f", "json")
    data = json.loads(out)
    assert code == 0 and [s["size"] for s in data["sizes"]] == [540, 556, 572, 588]
    assert data["range"] == [540, 588] and data["step"] == 16  # 604 > 600: 588 is the last tried
    code, out, _ = cli(capsys, "sizes", unet, "--range", "{541..600..16}")
    assert code == 1 and out == "no input size in 541..589..16 tiles exactly\n"
    for bad, words in (("{600..540}", "'{600..540}' is empty or not ascending"),
                       ("{5..9..0}", "'{5..9..0}' is empty or not ascending"),
                       ("540-600", "neither START:STOP nor {START..STOP..STEP}")):
        code, _, err = cli(capsys, "sizes", unet, "--range", bad)
        assert code == 2 and words in err and "Traceback" not in err, err


def test_no_bias_drops_filter_biases_only():
    # issue 11: `check --no-bias` removed batch norm's beta (a tensor named bias) and
    # depthwise_conv dropped its bias from params but kept its additions in FLOPs.
    from cnncalc.homework.answers import Conventions, figures

    net = cnncalc.loads("input: [3, 8, 8]\nlayers:\n"
                        "  - depthwise_conv: {kernel_size: 3, padding: 1}\n"
                        "  - batchnorm\n"
                        "  - conv: {out_channels: 4, kernel_size: 1}\n", "b.yaml")
    report = cnncalc.analyze(net)
    no_bias = Conventions(bias=False)
    dw, bn, pw = (figures(report.layer(n.name), n, no_bias, 1) for n in net.nodes)
    # depthwise 3x3 on 3 channels: 3 * 3 * 3 weights (+ 3 biases, dropped); 3 * 8 * 8 outputs,
    # each 9 products and 8 additions (the bias addition dropped with the bias)
    assert dw["params"] == 3 * 3 * 3
    assert dw["flops"] == 3 * 8 * 8 * (2 * 9 - 1)
    # batch norm keeps its weight (gamma) and bias (beta): they are not a filter's bias
    assert bn["params"] == 3 + 3
    # 1x1 conv 3 -> 4: 4 * 3 weights; 4 * 8 * 8 outputs of 3 products and 2 additions
    assert pw["params"] == 4 * 3
    assert pw["flops"] == 4 * 8 * 8 * (2 * 3 - 1)


def test_wrong_totals_and_activation_bytes_show_their_derivation():
    # found in review: a wrong total or activation figure was shown without a derivation
    from cnncalc.core.expr import arithmetic
    from cnncalc.homework.answers import check

    answers = "layers:\n  tanh1: {activation_bytes: 7}\ntotals: {params: 1}\n"
    judged = {(j.layer, j.field): j
              for j in check(cnncalc.load(SPECS / "lenet5.yaml"), answers, "a.yaml")}
    act = judged[("tanh1", "activation_bytes")]
    # LeCun et al. 1998: tanh after C1 keeps 6 maps of 28x28, 4 bytes each (float32)
    assert [s.substituted for s in act.derivation] == ["6·28·28 · 1 · 4"]
    assert act.correct == 6 * 28 * 28 * 4
    total = judged[("totals", "params")].derivation[0]
    # conv1 6·(5·5·1 + 1), conv2 16·(5·5·6 + 1), then 400·120 + 120, 120·84 + 84, 84·10 + 10
    assert total.substituted == "156 + 2416 + 48120 + 10164 + 850"
    assert arithmetic(total.substituted) == 61_706


def test_check_derivation_shapes_in_the_answers_layout(capsys):
    # found in review: an hwc answer's derivation showed [6, 16, 16]; the lecture's 32x32
    # problem pools 32x32x6 by 2 to 16x16x6, written channels last as the answers are
    from cnncalc.homework.explain import shapes_in_layout

    assert shapes_in_layout("[6, 16, 16]", "hwc") == "16x16x6"
    assert shapes_in_layout("[6, 16, 16]", "chw") == "6x16x16"
