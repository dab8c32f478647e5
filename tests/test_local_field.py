"""The local receptive field (issue 22, docs/receptive-field.md "The local receptive field").

By definition the local field of a network is the exact field of the same network with
its broadcast gates removed: a gate held constant contributes nothing to a unit's field.
The four gated networks of the zoo are compared with their ungated variants, built here by
cutting the squeeze-and-excitation block down to its identity (the block's input passes
through unchanged), at every layer both networks have.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import cnncalc
from cnncalc.analysis.analyze import analyze

SPECS = Path(__file__).resolve().parent.parent / "specs"
GATED = ["efficientnet_b0", "se_resnet50", "mobilenet_v3_large", "regnet_y_400mf"]


def ungated(text: str) -> str:
    """The spec without its gates: the `se` block keeps only `{identity, name: x}` (the
    lines from the one after it through `multiply: {with: x}` are cut)."""
    out, skipping = [], False
    for line in text.splitlines():
        if re.match(r"\s*- \{identity, name: x\}", line):
            skipping = True
            out.append(line)
            continue
        if skipping:
            if "multiply: {with: x}" in line:
                skipping = False
            continue
        out.append(line)
    assert not skipping
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("name", GATED)
def test_local_field_is_the_field_without_gates(name):
    path = SPECS / f"{name}.yaml"
    text = path.read_text()
    gated = cnncalc.load(path)
    plain = cnncalc.io.spec.loads(ungated(text), str(path))
    assert len(plain.nodes) < len(gated.nodes)  # the gates are gone
    assert not any(n.facts.input_maps and len(n.inputs) > 1 and n.field is None
                   for n in plain.nodes)
    fields = {n.name: n.field for n in plain.nodes}
    common = [n for n in gated.nodes if n.name in fields]
    assert len(common) > len(plain.nodes) * 0.6
    for node in common:
        assert node.local_field == fields[node.name], node.name
    # the headline of the issue: the exact field is global almost everywhere, the local one not
    exact_global = sum(n.field is None for n in common)
    local_global = sum(n.local_field is None for n in common)
    assert exact_global > 3 * local_global


def test_efficientnet_head_local_field_and_context():
    # EfficientNet-B0's last conv: 851 pixels through the spatial paths (the ungated
    # net's field, test above); global through the 16 SE gates
    net = cnncalc.load(SPECS / "efficientnet_b0.yaml")
    report = analyze(net)
    head = next(r for r in report.layers if r.name == "head.silu1")
    assert head.receptive_field is None
    assert head.local_receptive_field.size == (851, 851)
    assert len(head.global_context) == 16  # one SE block per MBConv block (16 blocks)
    assert all(name.endswith("se.multiply1") for name in head.global_context)
    d = head.to_dict()
    assert d["receptive_field"] is None
    assert d["local_receptive_field"]["size"] == [851, 851]
    assert d["global_context"] == list(head.global_context)


def test_ungated_net_local_equals_exact():
    net = cnncalc.load(SPECS / "resnet18.yaml")
    for node in net.nodes:
        assert node.local_field == node.field
        assert node.global_context == ()


def test_stem_before_first_gate_has_no_context():
    net = cnncalc.load(SPECS / "efficientnet_b0.yaml")
    first = next(i for i, n in enumerate(net.nodes) if n.global_context)
    assert net.nodes[first].name.endswith("se.multiply1")
    assert net.nodes[first].field is None and net.nodes[first].local_field is not None
    assert all(n.local_field == n.field for n in net.nodes[:first])


SE_NET = """
name: tiny SE
input: [4, 16, 16]
layers:
  - {conv: {out_channels: 4, kernel_size: 3, padding: 1}, name: a}
  - {global_avgpool, name: squeeze}
  - {conv: {out_channels: 4, kernel_size: 1}, name: fc}
  - {sigmoid, name: gate}
  - {multiply: {with: a}, name: scale}
  - {conv: {out_channels: 4, kernel_size: 3, padding: 1}, name: b}
"""


def test_tiny_se_local_field_by_hand():
    # two 3x3 convolutions, stride 1, padding 1: r = 1 + 2 + 2 = 5, centre 0 (Araujo et al.
    # 2019's recurrence); the gate is a global average: the exact field is global
    net = cnncalc.loads(SE_NET, "se.yaml")
    b = net.nodes[-1]
    assert b.field is None
    assert b.local_field.size == (5, 5) and b.local_field.stride == (1, 1)
    assert b.local_field.center == (0, 0)
    assert b.global_context == ("scale",)
    scale = net.nodes[-2]
    assert scale.local_field.size == (3, 3) and scale.global_context == ("scale",)


def test_verify_measures_the_local_field():
    from dataclasses import replace
    from fractions import Fraction

    from cnncalc.core.rf import ReceptiveField
    from cnncalc.measure.verify import verify

    net = cnncalc.loads(SE_NET, "se.yaml")
    result = verify(net)
    assert result.ok
    row = result.rows[-1]
    assert row.figure("local_rf_size[0]").measured == 5
    assert row.figure("local_rf_size[1]").measured == 5
    assert row.figure("rf_size[0]").measured == "global"
    # a wrong local field fails, naming the figure
    report = analyze(net)
    wrong = ReceptiveField((7, 5), (Fraction(1), Fraction(1)), (Fraction(0), Fraction(0)))
    layers = (*report.layers[:-1], replace(report.layers[-1], local_receptive_field=wrong))
    bad = verify(net, report=replace(report, layers=layers))
    assert not bad.ok
    assert [f.label for f in bad.rows[-1].mismatched] == ["local_rf_size[0]"]


@pytest.mark.parametrize("name", GATED)
def test_view_draws_the_local_field_where_the_exact_one_is_global(name):
    # issue 22: no layer of a spatial stage of a gated net shows an empty picture; the page
    # carries the local field's tables there, and names those layers in "local"
    from tests.test_view import data_of, page

    net = cnncalc.load(SPECS / f"{name}.yaml")
    _, _, _, root = page(f"{name}.yaml")
    data = data_of(root)
    for node in net.nodes:
        if node.local_field is None or any(v is None for v in node.local_field.size):
            continue
        assert node.name in data["fields"], node.name
        if node.field is None:
            assert node.name in data["local"]
            tables = data["fields"][node.name]
            sizes = tuple(max(hi - lo + 1 for c in [t] for lo, hi in zip(c[2], c[3]) if lo is not None)
                          for (t,) in tables)
            assert sizes == node.local_field.size, node.name
