"""``cnncalc sweep`` (issue 24, item 3): one network at many input sizes, each row derived
from the published figures and the way each figure scales with the input."""

from __future__ import annotations

import csv
import io
import json
import xml.dom.minidom
from fractions import Fraction

import pytest

import cnncalc
from cnncalc.analysis.sweep import expand, parse_sizes, sweep
from cnncalc.analysis.tiling import exact_tiling
from cnncalc.present.sweep_text import sweep_csv, sweep_svg
from tests.conftest import SPECS
from tests.test_cli import run


def test_patterns_expand():
    # 224, 256, ..., 512: (512 - 224) / 32 + 1 = 10 sizes, on both spatial axes
    shapes = expand("3x{224..512..32}", 2)
    assert len(shapes) == (512 - 224) // 32 + 1 == 10
    assert shapes[0] == (3, 224, 224) and shapes[-1] == (3, 512, 512)
    assert expand("3x{224..300..32}", 2)[-1] == (3, 288, 288)  # STOP not reached: 288 is the last
    assert expand("3x224x{224..256..32}", 2) == [(3, 224, 224), (3, 224, 256)]
    assert expand("1x{8..10}", 1) == [(1, 8), (1, 9), (1, 10)]
    assert parse_sizes("224, 256", 3, 2) == [(3, 224, 224), (3, 256, 256)]


@pytest.mark.parametrize("pattern, words", [
    ("3x{512..224..32}", "empty or not ascending"),
    ("3xabc", "neither a size nor a range"),
    ("3x224x224x224", "has 3 spatial axes; the network has 2"),
    ("3x{1..4}x{1..8}", "different lengths"),
    ("3x{1..100000}", "more than 1,000"),
])
def test_bad_patterns_say_what_is_wrong(pattern, words):
    with pytest.raises(cnncalc.SpecError) as info:
        expand(pattern, 2)
    assert words in info.value.message and info.value.kind == "usage"


def test_resnet_rows_scale_as_derived():
    # torchvision's ResNet-50: 25,557,032 parameters and 4,089,184,256 MACs at 224. At 448
    # every feature map is twice as wide and high (448/32 = 14 against 7), so every
    # convolution does 4 times the MACs; the fc layer (2048 -> 1000, after global pooling)
    # does not change. The inference peak under the graph policy (all activations, no
    # kernel temporaries, whose weight copies do not grow with the input) grows by 4 as well.
    sw = sweep(SPECS / "resnet50.yaml", expand("3x{224..448..224}", 2), policy="graph")
    at224, at448 = sw.rows
    fc = 2048 * 1000
    assert at224.params == at448.params == 25_557_032
    assert at224.macs == 4_089_184_256
    assert at448.macs == 4 * (4_089_184_256 - fc) + fc
    assert at448.inference_peak_bytes == 4 * at224.inference_peak_bytes
    assert at224.tiles and at224.output_shapes == ((1000,),)


def test_resnet18_coverage_is_its_published_field_over_the_input():
    # README: ResNet-18's last stage sees 435 pixels; at 224 that is 435/224 of the input,
    # and the field does not depend on the input size
    sw = sweep(SPECS / "resnet18.yaml", parse_sizes("224,448", 3, 2))
    assert [r.coverage for r in sw.rows] == [(Fraction(435, 224),) * 2, (Fraction(435, 448),) * 2]
    assert sw.rows[0].rf_layer.startswith("layer4")


def test_unet_tiles_every_16_and_refuses_what_it_cannot_take():
    # Ronneberger et al. 2015: 572 -> 388; four 2x2 poolings on valid 3x3 convolutions tile
    # exactly every 2^4 = 16 pixels (572, 588, ...; `cnncalc sizes` finds the same)
    sw = sweep(SPECS / "unet_original.yaml", expand("1x{560..600..4}", 2) + [(1, 16, 16)])
    tiling = [r.shape[1] for r in sw.rows if r.tiles]
    assert tiling == [572, 588]
    assert sw.rows[[r.shape[1] for r in sw.rows].index(572)].output_shapes == ((2, 388, 388),)
    refused = sw.rows[-1]
    assert refused.error is not None and "does not fit" in refused.error and refused.macs is None
    # a refused size is a row in every format
    rows = list(csv.DictReader(io.StringIO(sweep_csv(sw))))
    assert rows[-1]["error"] == refused.error and rows[-1]["macs"] == ""
    svg = sweep_svg(sw)
    xml.dom.minidom.parseString(svg)  # well-formed
    ok = sum(r.error is None for r in sw.rows)
    assert svg.count("<circle") == 3 * ok  # MACs, inference peak, training: one marker each
    assert "refused: " in svg


def test_cli(capsys):
    code, out, err = run(capsys, "sweep", SPECS / "lenet5.yaml", "-i", "1x{28..36..4}", "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    # LeNet-5 at its own 32x32: 61,706 parameters (README). At 28: conv1 (5x5) 24, pool 12,
    # conv2 8, pool 4: flatten 16·4·4 = 256 features instead of 16·5·5 = 400, so the first
    # linear layer (120 outputs) has (400 - 256)·120 fewer weights
    assert [r["input_shape"] for r in doc["rows"]] == [[1, 28, 28], [1, 32, 32], [1, 36, 36]]
    assert doc["rows"][1]["params"] == 61_706
    assert doc["rows"][0]["params"] == 61_706 - (16 * 5 * 5 - 16 * 4 * 4) * 120
    code, out, err = run(capsys, "sweep", SPECS / "lenet5.yaml")
    assert code == 2 and "--input '3x{224..512..32}' or --sizes" in err
    # bash turns an unquoted --input 1x{28..32..4} into --input 1x28 1x32: the same sweep
    code, out, err = run(capsys, "sweep", SPECS / "lenet5.yaml", "--input", "1x28", "1x32", "-f", "json")
    assert code == 0 and [r["input_shape"] for r in json.loads(out)["rows"]] == [[1, 28, 28], [1, 32, 32]]


def test_a_tiling_problem_is_listed_once_per_axis_and_names_it():
    # the original U-Net at 570x570: maxpool2 gets 279 = (570 - 4)/2 - 4 pixels a side and
    # (279 - 2) mod 2 = 1 is left unread on each axis; one text per axis, naming H and W
    net = cnncalc.load(SPECS / "unet_original.yaml", input_shape=(1, 570, 570))
    problems = exact_tiling(net, cnncalc.analyze(net))
    assert len(problems) == len(set(problems))
    assert "maxpool2: the last 1 input pixel(s) of 279 along H are never read " \
           "((279 + 0 - 2) mod 2 = 1)" in problems
    assert any(p.startswith("maxpool2:") and "along W" in p for p in problems)
