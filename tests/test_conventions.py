"""Issue 23: each FLOP counter's number, reproduced from the spec (cnncalc/analysis/conventions.py).

The ground truth is tests/data/counters/<spec stem>.json: what the installed counters print
for the same network in PyTorch, each record naming the counter's version and the command
that produced it (benchmarks/measure_counters.py, run with torch 2.14.1 and torchvision
0.29.1 on CPU: `python benchmarks/measure_counters.py --net NAME`). Every test here computes
cnncalc's reproduction from the spec and compares it with the recorded value: exactly for
the integer counters, to thop's float64 value and to torchvision's 3-decimal GFLOPS.
"""

from __future__ import annotations

import json
from fractions import Fraction
from functools import cache
from pathlib import Path

import pytest

import cnncalc
from cnncalc.analysis.conventions import COUNTERS, count_nodes, needed_by, reconcile
from cnncalc.core.errors import SpecError
from cnncalc.present.conventions_text import rules_markdown

ROOT = Path(__file__).resolve().parent.parent
DATA = sorted((ROOT / "tests/data/counters").glob("*.json"))


@cache
def record(path: Path) -> dict:
    return json.loads(path.read_text())


@cache
def network(spec: str):
    net = cnncalc.load(ROOT / spec)
    # torchvision's models run only the main output in eval mode: Inception-v3's aux head
    # (the spec's second output, AuxLogits.fc) runs in training only; its main output is fc
    nodes = needed_by(net, "fc") if len(net.outputs) > 1 else None
    return net, nodes


CASES = [(p, name) for p in DATA for name in record(p)["counters"] if name in COUNTERS]


def test_every_recorded_counter_is_reproduced():
    """Every counter the measuring script records has a table here (no record is skipped)."""
    recorded = {name for p in DATA for name in record(p)["counters"]}
    assert recorded <= set(COUNTERS), recorded - set(COUNTERS)
    assert {p.stem for p in DATA} >= {"resnet18", "resnet50", "unet_small"}


@pytest.mark.parametrize("path, name", CASES, ids=[f"{p.stem}-{n}" for p, n in CASES])
def test_counter_total_equals_the_installed_counter(path, name):
    rec = record(path)
    net, nodes = network(rec["spec"])
    assert list(rec["input"]) == [net.batch, *net.input_shape]
    r = reconcile(net, COUNTERS[name], net.batch, nodes)
    want = rec["counters"][name]["value"]
    # the recorded number, as the counter printed it (its version and call in the record)
    assert r.printed == want, (name, r.printed, want)
    if COUNTERS[name].printed == "integer":
        assert r.value == want


@pytest.mark.parametrize("path", DATA, ids=[p.stem for p in DATA])
def test_differences_by_family_add_up_to_the_difference(path):
    """For every counter, the per-family differences from cnncalc's MACs sum exactly to its
    number minus cnncalc's MACs (torchvision: its GFLOPS times 10^9, the rounding a family)."""
    rec = record(path)
    net, nodes = network(rec["spec"])
    for c in COUNTERS.values():
        r = reconcile(net, c, net.batch, nodes)
        total = Fraction(str(r.printed)) * 10**9 if c.printed == "gflops3" else r.value
        assert sum(r.by_family.values()) == total - r.macs, c.name
    if nodes is None:  # cnncalc's MACs are the report's
        assert r.macs == rec["cnncalc"]["macs"]


def _module(node: str) -> str:
    # specs/unet_small.yaml names each layer by its module's qualified name; the second
    # call of a reused module is NAME-2
    return node.removesuffix("-2")


@pytest.mark.parametrize("name", ["fvcore", "thop", "torchinfo", "calflops", "deepspeed",
                                  "flop-counter", "ptflops-pytorch"])
def test_unet_per_module(name):
    """Per module of the small U-Net, the count each counter attributes to it (a reused ReLU
    module's two calls summed, as the counters do)."""
    rec = record(ROOT / "tests/data/counters/unet_small.json")
    got_rec = rec["counters"][name]
    want = dict(got_rec["by_module"])
    for module, ops in got_rec.get("functional_by_module", {}).items():  # ptflops' patched F.*
        want[module] = want.get(module, 0) + sum(ops.values())
    net, _ = network(rec["spec"])
    ours: dict[str, Fraction] = {}
    for row in count_nodes(net, COUNTERS[name]):
        if row.name in ("cat1", "cat2"):
            continue  # torch.cat in the forward: no module
        ours[_module(row.name)] = ours.get(_module(row.name), 0) + row.value
    compared = [m for m in ours if m in want]
    assert len(compared) >= 20
    assert {m: ours[m] for m in compared} == {m: want[m] for m in compared}


def test_transposed_convolution_grid_by_hand():
    """ConvTranspose2d(3, 1, 2, stride=2) on 2x2 (docs/conventions.md): 48 MACs on the input
    grid (2·2·3 inputs · 1 · 2·2 taps); thop 0.1.1 (basic_hooks.py:22, calc_func.py:28)
    counts output elements · in/groups · taps = 4·4 · 3 · 4 = 192, stride² = 4 times more."""
    net = cnncalc.loads("input: [3, 2, 2]\nlayers:\n"
                        "  - conv_transpose: {out_channels: 1, kernel_size: 2, stride: 2}\n")
    thop = reconcile(net, COUNTERS["thop"])
    assert thop.macs == 2 * 2 * 3 * 1 * 2 * 2
    assert thop.value == 4 * 4 * 3 * 2 * 2
    assert thop.by_family == {"transposed convolution (output grid)": 192 - 48}
    # fvcore 0.1.5 (jit_handles.py:149): prod(input spatial): the input grid
    assert reconcile(net, COUNTERS["fvcore"]).value == 48
    # ptflops 0.7.5 (pytorch_ops.py:76-88): the input grid + the bias on the 1x4x4 output
    assert reconcile(net, COUNTERS["ptflops-pytorch"]).value == 48 + 16
    # calflops 0.3.2 (pytorch_ops.py:128): 2·48 + the bias on a forward convolution's
    # grid, floor((2 - 2) / 2) + 1 = 1 per axis, times weight.shape[1] = 1
    assert reconcile(net, COUNTERS["calflops"]).value == 2 * 48 + 1 * 1
    # DeepSpeed 0.19.8 (profiler.py:614): the bias on the output grid
    assert reconcile(net, COUNTERS["deepspeed"]).value == 2 * 48 + 16


def test_counters_skip_and_say_unsupported():
    """fvcore warns about an op it has no handle for (max pooling, the residual add) and
    ignores ReLU by design (jit_analysis.py:28); thop has no rule for SiLU."""
    net = cnncalc.loads("input: [3, 8, 8]\nlayers:\n  - {conv: {out_channels: 4, kernel_size: 3}, name: c}\n"
                        "  - relu\n  - {maxpool: 2, name: p}\n  - silu\n")
    fv = reconcile(net, COUNTERS["fvcore"])
    assert fv.unsupported == ["aten::max_pool (1)", "aten::silu (1)"]
    assert fv.skipped == ["aten::relu (1)"]
    assert reconcile(net, COUNTERS["thop"]).unsupported == ["nn.SiLU (1)"]


def test_torch_form_is_checked_where_it_is_written():
    with pytest.raises(SpecError) as e:
        cnncalc.loads("input: [3, 8, 8]\nlayers:\n  - {relu, torch: functionl}\n")
    text = str(e.value)
    assert "torch: 'functionl' is not a PyTorch form of relu" in text and ":3:" in text
    assert "functional" in e.value.help


def test_conventions_tables_in_the_docs():
    """docs/conventions.md prints every counter's table as the code holds it."""
    page = (ROOT / "docs/conventions.md").read_text()
    assert rules_markdown() in page


def test_every_zoo_layer_macs_are_in_its_ops():
    """The ops a layer declares carry all of its MACs (else a counter's difference would not
    add up), for every spec in the zoo the data covers."""
    for path in DATA:
        net, _ = network(record(path)["spec"])
        for node in net.nodes:
            assert sum(op.macs for op in node.facts.torch_ops_as(node.torch_form)) == node.facts.macs
