"""``cnncalc diff`` (issue 24, item 4): layers matched by name and structure, the changes
derived from the two architectures, and ``--fail-on`` budgets for CI."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

import cnncalc
import cnncalc.analysis.diff as diff_module
from cnncalc.analysis.diff import diff, parse_budgets
from tests.conftest import ROOT, SPECS
from tests.test_cli import run


def diff_of(a: str, b: str, fail_on: str | None = None):
    def report(s):
        return cnncalc.analyze(cnncalc.load(s if "/" in s else SPECS / f"{s}.yaml"))
    return diff(report(a), report(b),
                parse_budgets(fail_on) if fail_on else None)


def counts(d):
    return d.to_dict()["matched"]


def test_vgg16_against_vgg16_bn():
    # VGG-16-BN adds a batch norm after each of the 13 convolutions (torchvision's vgg16_bn):
    # per channel a weight and a bias (parameters) and a running mean and variance (buffers).
    # Channels: 2·64 + 2·128 + 3·256 + 3·512 + 3·512 = 4,224
    channels = 2 * 64 + 2 * 128 + 3 * 256 + 3 * 512 + 3 * 512
    d = diff_of("vgg16", "vgg16_bn")
    before, after = d.before, d.after
    assert after["params"] - before["params"] == 2 * channels == 138_365_992 - 138_357_544
    assert after["buffers"] - before["buffers"] == 2 * channels
    assert after["macs"] == before["macs"]  # batch norm does no multiply-accumulates
    # every layer of VGG-16 finds its counterpart (the convolutions by structure: the
    # names differ), and the 13 batch norms are added
    c = counts(d)
    assert c["removed"] == 0 and c["added"] == 13
    assert c["name"] + c["structure"] == 40
    assert all(p.b.type == "batchnorm" for p in d.pairs if p.rule == "added")
    convs = [p for p in d.pairs if p.a is not None and p.a.type == "conv"]
    assert len(convs) == 13 and all(p.rule == "structure" and not p.changed for p in convs)


def test_resnet18_against_resnet34():
    # torchvision: 11,689,512 and 21,797,672 parameters. ResNet-34's stages have 3-4-6-3
    # basic blocks against 2-2-2-2: 8 more blocks of 7 layers (conv, bn, relu, conv, bn,
    # add, relu); ResNet-18's every layer keeps its name
    d = diff_of("resnet18", "resnet34")
    assert d.after["params"] - d.before["params"] == 21_797_672 - 11_689_512
    c = counts(d)
    assert c == {"name": 69, "structure": 0, "removed": 0, "added": (3 + 4 + 6 + 3 - 8) * 7}
    doc = d.to_dict()
    assert doc["totals"]["macs"]["change"] == d.b.totals.macs - d.a.totals.macs


def test_resnet50_against_se_resnet50_and_budgets():
    # Hu et al. 2018: an SE module per bottleneck, C -> C/16 -> C with biases (timm's
    # seresnet50): 2·C²/16 + C/16 + C parameters, C = 256, 512, 1024, 2048 in 3, 4, 6, 3 blocks
    def se(c):
        return 2 * c * c // 16 + c // 16 + c
    added = 3 * se(256) + 4 * se(512) + 6 * se(1024) + 3 * se(2048)
    d = diff_of("resnet50", "se_resnet50", "params>+5%,macs>+10%")
    assert d.after["params"] - d.before["params"] == added == 28_088_024 - 25_557_032
    relative = Fraction(added, 25_557_032) * 100  # 9.90%: over the 5% budget
    assert relative > 5
    # the SE modules' MACs: two fully connected layers per block, C·C/16 each, on a pooled
    # vector: 2 · C²/16 per block, 0.06% of ResNet-50's
    macs = 2 * (3 * 256 ** 2 + 4 * 512 ** 2 + 6 * 1024 ** 2 + 3 * 2048 ** 2) // 16
    assert d.after["macs"] - d.before["macs"] == macs
    assert [b.text for b in d.broken] == ["params>+5%"]  # +9.90% breaks it; +0.06% MACs do not
    # every ResNet-50 layer keeps its name in SE-ResNet-50
    assert counts(d)["name"] == len(d.a.layers) and counts(d)["removed"] == 0


def test_a_spec_against_its_onnx_export_with_folded_batch_norm():
    pytest.importorskip("onnx", reason="reading ONNX files needs the optional extra "
                                       "(pip install 'cnncalc[onnx]')")
    # tests/data/onnx/resnet18.torchscript.onnx was exported with batch norm folded into the
    # convolutions: the 20 batch norms (4,800 channels: weight, bias, running mean and
    # variance each) are removed and each convolution gains a bias of its output channels
    d = diff_of("resnet18", str(ROOT / "tests/data/onnx/resnet18.torchscript.onnx"))
    channels = 64 + 4 * 64 + 4 * 128 + 4 * 256 + 4 * 512 + 128 + 256 + 512
    assert channels == 4_800
    assert d.after["params"] - d.before["params"] == -2 * channels + channels
    assert d.after["buffers"] == 0 and d.after["macs"] == d.before["macs"]
    assert counts(d)["removed"] == 20


@pytest.mark.parametrize("text, before, after, broken", [
    ("params>+5%", 100, 105, False), ("params>+5%", 100, 106, True),
    ("params>=+5%", 100, 105, True), ("peak>+0", 10, 10, False), ("peak>+0", 10, 11, True),
    ("macs<-10%", 100, 89, True), ("macs<-10%", 100, 90, False),
    ("training>1000", 0, 1001, True), ("params>+1%", 0, 1, True), ("params>+1%", 0, 0, False),
])
def test_budget_grammar(text, before, after, broken):
    (budget,) = parse_budgets(text)
    assert budget.broken(before, after) == broken


@pytest.mark.parametrize("text, words", [
    ("params>+5%,mac>+10%", "term 2 'mac>+10%': no figure 'mac'"),
    ("params=5", "term 1 'params=5' is not FIGURE OP CHANGE"),
    ("params>5%%", "is not FIGURE OP CHANGE"),
])
def test_bad_budgets_point_at_the_term(text, words):
    with pytest.raises(cnncalc.SpecError) as info:
        parse_budgets(text)
    assert words in info.value.message


def test_cli_exit_codes_and_markdown(capsys):
    code, out, err = run(capsys, "diff", SPECS / "resnet50.yaml", SPECS / "se_resnet50.yaml",
                         "--fail-on", "params>+5%,macs>+10%", "-f", "markdown")
    assert code == 1
    assert "| parameters | 25,557,032 | 28,088,024 | +2,530,992 | +9.90% |" in out
    assert "budget broken: params>+5%" in out and "macs>+10%" not in out.split("budget broken")[-1]
    code, out, err = run(capsys, "diff", SPECS / "resnet50.yaml", SPECS / "se_resnet50.yaml",
                         "--fail-on", "macs>+10%", "-f", "json")
    assert code == 0 and json.loads(out)["budgets"] == [
        {"term": "macs>+10%", "figure": "macs", "broken": False}]
    code, out, err = run(capsys, "diff", SPECS / "resnet50.yaml", SPECS / "se_resnet50.yaml",
                         "--fail-on", "parms>1")
    assert code == 2 and "did you mean 'params'" in err


@pytest.mark.parametrize("a, b", [("resnet18", "resnet34"), ("resnet50", "se_resnet50")])
def test_large_networks_split_at_matching_names_give_the_same_rows(monkeypatch, a, b):
    # beyond MAX_CELLS the alignment is cut at the names that match in order; where every
    # gap is small, that is the whole alignment's answer
    whole = [(p.rule, p.a and p.a.name, p.b and p.b.name) for p in diff_of(a, b).pairs]
    monkeypatch.setattr(diff_module, "MAX_CELLS", 400)
    split = [(p.rule, p.a and p.a.name, p.b and p.b.name) for p in diff_of(a, b).pairs]
    assert split == whole


def test_an_onnx_side_compares_inference_peaks_under_the_graph_policy(capsys):
    pytest.importorskip("onnx", reason="reading ONNX files needs the optional extra "
                                       "(pip install 'cnncalc[onnx]')")
    # an ONNX graph has no module structure (docs/conventions.md, "Memory"), so the eager
    # peak of the flat export is not the spec's; under the graph policy both sides are the
    # same largest live set, which the spec's own graph-policy analysis gives
    code, out, err = run(capsys, "diff", SPECS / "resnet18.yaml",
                         ROOT / "tests/data/onnx/resnet18.torchscript.onnx", "-f", "json")
    assert code == 0 and "graph memory policy" in err
    graph = cnncalc.analyze(cnncalc.load(SPECS / "resnet18.yaml"), memory_policy="graph")
    peak = json.loads(out)["totals"]["peak"]
    assert peak["a"] == peak["b"] == graph.totals.memory.inference_peak_bytes
    assert peak["change"] == 0


@pytest.mark.parametrize("text, k", [("", 1), (",", 1), ("params>+5%,,macs>+1%", 2)])
def test_an_empty_budget_term_is_refused(text, k):
    # a --fail-on that checks nothing would let every change through: exit 2, naming the term
    with pytest.raises(cnncalc.SpecError, match=f"term {k} is empty"):
        parse_budgets(text)
