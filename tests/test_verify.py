"""`verify` measures every figure, never crashes, and says what it could not measure.

The figures asserted here come from the definitions: a stride-2 3-tap window
sees 3 positions and advances 2 per unit, unit 0 centred on position 1 (Araujo,
Norris and Sim, Distill 2019, eq. for r, j and the centre); global pooling makes
every unit see every position."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

import cnncalc
from cnncalc.measure.execute import forward
from cnncalc.measure.verify import verify
from tests.conftest import SPECS


def net_of(text: str):
    return cnncalc.loads(text, "v.yaml")


def test_every_figure_is_measured_and_named():
    net = net_of("input: [2, 20, 20]\nlayers:\n  - conv: {out_channels: 3, kernel_size: 3, stride: 2}\n"
                 "  - batchnorm\n  - global_avgpool\n")
    rows = verify(net).rows
    conv, bn, gap = rows
    assert conv.figure("output_shape").measured == (3, 9, 9)  # floor((20 - 3) / 2) + 1 = 9
    assert conv.figure("params").measured == 3 * (2 * 3 * 3 + 1)  # out * (in * k * k + 1)
    assert conv.figure("macs").measured == 3 * 9 * 9 * 2 * 3 * 3  # outputs * in * k * k
    assert conv.figure("activation_bytes").measured == 3 * 9 * 9 * 4  # float32
    assert (conv.figure("rf_size[0]").measured, conv.figure("rf_stride[0]").measured,
            conv.figure("rf_center[0]").measured) == (3, 2, 1)  # k, s, (k - 1) / 2
    assert bn.figure("buffers").measured == 2 * 3  # running_mean, running_var per channel
    assert bn.figure("params").measured == 2 * 3  # weight, bias per channel
    assert gap.figure("rf_size[1]").measured == "global"
    assert all(f.status == "ok" for r in rows for f in r.figures)


def test_parameters_are_counted_from_what_the_layer_asked_for(monkeypatch):
    # an analysis that lists one tensor too many is caught: the executor draws only what
    # the forward pass asks for (its shape derived from the arrays)
    from cnncalc.layers.conv import Conv

    right = Conv.param_shapes
    monkeypatch.setattr(Conv, "param_shapes", lambda self: {**right(self), "extra": (5,)})
    net = net_of("input: [1, 6, 6]\nlayers:\n  - conv: {out_channels: 2, kernel_size: 3}\n")
    row = verify(net).rows[0]
    assert row.params == (2 * (9 + 1) + 5, 2 * (9 + 1))
    assert "params" in row.note


def test_drawn_tensors_depend_on_seed_node_and_name_only():
    net = net_of("input: [2, 6, 6]\nlayers:\n  - {conv: {out_channels: 2, kernel_size: 3}, name: c}\n")
    x = np.ones((1, 2, 6, 6), np.float32)
    a, b = forward(net, x, seed=4).weights, forward(net, x, seed=4).weights
    assert set(a) == {"c.weight", "c.bias"}
    np.testing.assert_array_equal(a["c.weight"], b["c.weight"])
    other = net_of("input: [2, 6, 6]\nlayers:\n  - {conv: {out_channels: 2, kernel_size: 3}, name: d}\n"
                   "  - {conv: {out_channels: 2, kernel_size: 3}, name: c}\n")
    c = forward(other, x, seed=4).weights
    assert c["c.weight"].shape == (2, 2, 3, 3)  # the second conv reads d's 2 channels
    bound = 1 / np.sqrt(2 * 3 * 3)  # PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert np.abs(a["c.weight"]).max() <= bound and np.abs(a["c.bias"]).max() <= bound
    assert not np.array_equal(a["c.weight"], forward(net, x, seed=5).weights["c.weight"])


def test_a_report_stride_of_none_does_not_crash():
    # issue 11: math.ceil(None) on a stride it could not use (exit 3); now a compared figure
    net = net_of("input: [1, 12, 12]\nlayers:\n  - conv: {out_channels: 1, kernel_size: 3}\n")
    report = cnncalc.analyze(net)
    row = report.layers[0]
    rf = replace(row.receptive_field, stride=(None, None))
    result = verify(net, report=replace(report, layers=(replace(row, receptive_field=rf),)))
    stride = result.rows[0].figure("rf_stride[0]")
    assert (stride.analysed, stride.measured, stride.status) == (None, Fraction(1), "mismatch")


def test_what_cannot_be_measured_is_said_and_counted(capsys):
    # a linear layer acts on the last axis only: no per-axis probe holds it or what follows
    net = net_of("input: [2, 8, 8]\nlayers:\n  - linear: 8\n  - conv: {out_channels: 2, kernel_size: 3}\n")
    result = verify(net)
    assert result.ok
    conv = result.rows[1]
    # the exact field, then the local one (the same refusal: no gate, the same probe)
    assert [f.label for f in conv.not_measured] == [
        "rf_size[0]", "rf_stride[0]", "rf_center[0]", "rf_size[1]",
        "local_rf_size[0]", "local_rf_stride[0]", "local_rf_center[0]", "local_rf_size[1]"]
    assert "'linear1' above it mixes positions across axes" in conv.note
    assert result.counts()["not measured"] == 16
    from typer.testing import CliRunner

    from cnncalc.cli import app

    out = CliRunner().invoke(app, ["verify", str(SPECS / "lenet5.yaml"), "--format", "json"])
    data = json.loads(out.stdout)
    assert out.exit_code == 0 and data["ok"] and data["figures"]["not_measured"] == 0
    labels = {f"{f['figure']}" for f in data["rows"][0]["figures"]}
    assert labels == {"output_shape", "params", "buffers", "macs", "activation_bytes",
                      "rf_size", "rf_stride", "rf_center", "local_rf_size", "local_rf_stride",
                      "local_rf_center"}


def test_cli_table_names_the_wrong_figure_and_exits_1(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cnncalc.cli import app
    from cnncalc.layers.conv import Conv

    monkeypatch.setattr(Conv, "flops", lambda self: 0)  # not a verified figure: still ok
    spec = tmp_path / "n.yaml"
    spec.write_text("input: [1, 9, 9]\nlayers:\n  - conv: {out_channels: 2, kernel_size: 3}\n")
    out = CliRunner().invoke(app, ["verify", str(spec)])
    assert out.exit_code == 0, out.stdout
    for column in ("Output shape", "Params", "Buffers", "MACs", "Act. bytes", "RF size", "RF stride", "RF centre"):
        assert column in out.stdout
    monkeypatch.setattr(Conv, "macs", lambda self: 1)
    out = CliRunner().invoke(app, ["verify", str(spec)])
    assert out.exit_code == 1
    assert "MISMATCH macs" in out.stdout and "1 / 2·7·7·9".replace("2·7·7·9", f"{2 * 7 * 7 * 9:,}") in out.stdout


@pytest.mark.parametrize("text, figure, measured", [
    # ceil_mode: the last window starts inside the input: ceil((9 - 2) / 2) + 1 = 5 windows
    ("input: [1, 9]\nlayers:\n  - maxpool: {kernel_size: 2, ceil_mode: true}\n", "output_shape", (1, 5)),
    # padding same keeps ceil(L / s) = 5 at stride 2 on 9, whatever the probe's own length
    ("input: [1, 9]\nlayers:\n  - conv: {out_channels: 1, kernel_size: 4, stride: 2, padding: same}\n",
     "rf_center[0]", Fraction(1, 2)),  # total pad (5 - 1) 2 + 4 - 9 = 3, before 1: unit 0 sees -1..2
    # adaptive pooling 17 -> 4 keeps the network's windows in the probe: period 4, shift 17
    ("input: [1, 17]\nlayers:\n  - adaptive_avgpool: 4\n", "rf_stride[0]", Fraction(17, 4)),
])
def test_measured_by_the_mechanics(text, figure, measured):
    row = verify(net_of(text)).rows[-1]
    assert row.figure(figure).measured == measured, row.note
    assert row.ok


def test_a_squeeze_and_excitation_gate_is_measured_global():
    # issue 11: the [C, 1, 1] gate reaches every unit of the multiply with every input
    # position; the probe keeps adaptive pooling to 1 at one unit for any length, so the
    # broadcast survives, and the measurement says global (not 57 pixels at stride 4.5)
    net = net_of("input: [8, 8, 8]\nlayers:\n"
                 "  - {conv: {out_channels: 8, kernel_size: 3, padding: 1}, name: x}\n"
                 "  - adaptive_avgpool: {output_size: 1}\n  - conv: {out_channels: 2, kernel_size: 1}\n"
                 "  - relu\n  - conv: {out_channels: 8, kernel_size: 1}\n  - sigmoid\n"
                 "  - {multiply: {with: x}, name: se}\n  - conv: {out_channels: 8, kernel_size: 3, padding: 1}\n")
    rows = {r.name: r for r in verify(net).rows}
    for name in ("se", "conv3"):
        for axis in (0, 1):
            assert rows[name].figure(f"rf_size[{axis}]").measured == "global", rows[name].note
    assert rows["x"].figure("rf_size[0]").status == "ok"  # 3, before the gate


def test_forward_and_backward_read_no_analysis():
    # the executor convention (docs/executor.md): a layer's forward and backward passes,
    # and every method of its class they call, derive sizes from the arrays and the
    # parameters, never from what setup analysed
    import ast
    from pathlib import Path

    analysed = {"out_shape", "in_shapes", "in_shape", "param_shapes", "buffer_shapes", "macs",
                "flops", "sizes", "outs", "in_channels", "channels", "in_features", "ratios",
                "axis", "axis_len", "groups", "affine_shape"}
    found = []
    for path in sorted((Path(cnncalc.__file__).parent / "layers").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        methods = {}
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for fn in cls.body:
                if isinstance(fn, ast.FunctionDef):
                    methods.setdefault(fn.name, []).append(fn)
        todo, seen = ["forward", "backward"], set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for fn in methods.get(name, []):
                for node in ast.walk(fn):
                    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                            and node.value.id == "self":
                        if node.attr in analysed:
                            found.append(f"{path.name}:{node.lineno} {fn.name} reads self.{node.attr}")
                        elif node.attr in methods:
                            todo.append(node.attr)
    assert not found, "\n".join(found)


def test_padded_layer_after_global_pooling_is_measured_global():
    # found by the differential property test: adaptive_avgpool to 1 (global), then a 1x1
    # conv with padding 1 -> 1 + 2·1 - 1 + 1 = 3 units; units 0 and 2 read padding alone,
    # which no gradient shows; unit 1 reads the pooled unit, which every position reaches
    net = cnncalc.loads("input: [1, 6]\nlayers:\n  - adaptive_avgpool: 1\n"
                        "  - conv: {out_channels: 1, kernel_size: 1, padding: 1}\n", "g.yaml")
    assert cnncalc.analyze(net).layers[-1].receptive_field is None
    assert verify(net).ok


def test_a_long_period_is_not_mistaken_for_a_shorter_one():
    # found by the differential property test: two transposed convolutions k3 s3 give a
    # field of period 3·3 = 9 (units 9q .. 9q + 8 see input pixel q: stride 1/9); 16
    # probed units show it as a false period 8 unless each phase is seen twice
    net = cnncalc.loads("input: [1, 6]\nlayers:\n  - conv: {out_channels: 1, kernel_size: 1}\n"
                        "  - conv_transpose: {out_channels: 1, kernel_size: 3, stride: 3}\n"
                        "  - conv_transpose: {out_channels: 1, kernel_size: 3, stride: 3}\n", "t.yaml")
    assert cnncalc.analyze(net).layers[-1].receptive_field.stride == (Fraction(1, 9),)
    assert verify(net).ok


def test_summary_counts_one_layer_in_the_singular():
    # issue 14's polish: "1 layers"
    from cnncalc.present.verify_text import summary

    net = cnncalc.loads("input: [1, 8]\nlayers:\n  - relu\n", "one.yaml")
    assert summary(verify(net)).startswith("1 layer, 0 mismatched")


def test_a_probe_that_raises_fails_the_run_and_names_the_figure(tmp_path, monkeypatch):
    # issue 20: with the unit-measuring probe made to raise, ResNet-18 verified "ok" with
    # 398 figures not measured; a measurement that raises is a failure, never a pass
    from typer.testing import CliRunner

    import cnncalc.measure.verify as verify_module
    from cnncalc.cli import app

    def broken(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(verify_module, "_local_support", broken)  # measures every unit's support
    text = "input: [1, 12, 12]\nlayers:\n  - conv: {out_channels: 2, kernel_size: 3}\n"
    result = verify(net_of(text))
    assert not result.ok
    size = result.rows[0].figure("rf_size[0]")
    assert size.status == "failed"
    assert size.reason == "could not measure rf_size[0]: ValueError: boom"
    # size, stride, centre on each of 2 axes, for the exact and the local field
    assert result.counts()["failed"] == 12
    assert result.rows[0].figure("local_rf_size[0]").reason == \
        "could not measure local_rf_size[0]: ValueError: boom"
    assert result.rows[0].figure("macs").status == "ok"  # the forward pass still measured
    spec = tmp_path / "n.yaml"
    spec.write_text(text)
    out = CliRunner().invoke(app, ["verify", str(spec)])
    assert out.exit_code == 1, out.stdout
    assert "could not measure rf_size[0]: ValueError: boom" in out.stdout
    assert "FAILED rf_size[0]" in out.stdout
    out = CliRunner().invoke(app, ["verify", str(spec), "--format", "json"])
    data = json.loads(out.stdout)
    assert out.exit_code == 1 and not data["ok"] and data["figures"]["failed"] == 12


@pytest.mark.parametrize("layers", [
    "  - conv: {out_channels: 1, kernel_size: 3, stride: 2, dilation: 2, padding: 1}\n"
    "  - conv_transpose: {out_channels: 1, kernel_size: 4, stride: 3}\n",
    "  - {conv: {out_channels: 1, kernel_size: 5, padding: 2}, name: x}\n"
    "  - adaptive_avgpool: 1\n  - {multiply: {with: x}}\n",
    "  - maxpool: {kernel_size: 3, stride: 2, ceil_mode: true}\n  - upsample: {scale_factor: 3}\n",
])
def test_coded_rows_decode_to_what_one_seed_a_row_measures(layers, monkeypatch):
    # the local support of every layer, measured with about 2 sqrt(2n) coded rows and
    # decoded, equals the support measured with one seeded unit per row (the definition)
    import cnncalc.measure.verify as V
    from cnncalc.measure.execute import forward, index_weights

    net = net_of("input: [1, 150]\nlayers:\n" + layers)
    nodes, _ = V._separable(net)
    shapes = V.array_shapes(net, forward(net, np.ones((1, 1, 150))))
    probe, run = V._fitting_run(net, 0, nodes, 150, 0, shapes)
    tensors = index_weights(run.weights)
    for node in probe.nodes:
        coded = V._local_support(node, run, np.random.default_rng(1), tensors.get(node.name, {}))
        monkeypatch.setattr(V, "DENSE_UNITS", 10 ** 9)
        single = V._local_support(node, run, np.random.default_rng(1), tensors.get(node.name, {}))
        monkeypatch.setattr(V, "DENSE_UNITS", 48)
        assert run.values[node.name][0].size > V.DENSE_UNITS or node.type == "adaptive_avgpool"
        for (cu, cq), (su, sq) in zip(coded, single):
            np.testing.assert_array_equal(cu, su, err_msg=node.name)
            np.testing.assert_array_equal(cq, sq, err_msg=node.name)


def test_progress_lines_go_to_stderr_when_it_is_no_terminal(tmp_path, monkeypatch):
    # issue 20: a long run shows progress also in a log; stdout stays parseable JSON
    from typer.testing import CliRunner

    from cnncalc import cli
    from cnncalc.present.progress import Progress

    monkeypatch.setattr(Progress, "LINE_AFTER", 0.0)
    monkeypatch.setattr(Progress, "LINE_EVERY", 0.0)
    spec = tmp_path / "n.yaml"
    spec.write_text("input: [1, 12, 12]\nlayers:\n  - conv: {out_channels: 2, kernel_size: 3}\n  - relu\n")
    out = CliRunner().invoke(cli.app, ["verify", str(spec), "--format", "json"])
    assert out.exit_code == 0
    assert json.loads(out.stdout)["ok"]
    assert "verifying: 1/2 forward conv1" in out.stderr
    assert "receptive fields, axis 0: conv1 (probe length 12)" in out.stderr


def test_a_forward_pass_that_raises_fails_every_figure_and_names_the_layer(tmp_path, monkeypatch):
    # found in review (issue 20): a layer whose forward pass raised ended `cnncalc verify` as an
    # internal error (exit 3) naming no figure; it is a failed measurement like a probe's
    from typer.testing import CliRunner

    from cnncalc.cli import app
    from cnncalc.layers.pool import AvgPool

    def broken(self, xs, w, ctx):
        raise TypeError("injected")

    monkeypatch.setattr(AvgPool, "forward", broken)
    text = ("input: [1, 8, 8]\nlayers:\n  - conv: {out_channels: 2, kernel_size: 3}\n"
            "  - avgpool: 2\n  - relu\n")
    result = verify(net_of(text))
    assert not result.ok
    # 3 layers x 5 forward figures (shape, params, buffers, MACs, activation bytes), none measured
    assert result.counts() == {"ok": 0, "mismatch": 0, "not measured": 0, "failed": 15}
    assert result.rows[1].figure("output_shape").reason == (
        "could not measure output_shape: the forward pass raised at 'avgpool1': TypeError: injected")
    spec = tmp_path / "n.yaml"
    spec.write_text(text)
    out = CliRunner().invoke(app, ["verify", str(spec)])
    assert out.exit_code == 1, out.stdout
    assert "the forward pass raised at 'avgpool1': TypeError: injected" in out.stdout


def test_the_measured_field_does_not_read_the_report():
    # found in review (issue 20): the output length that picks which probed phases count came
    # from the report, so a doctored report changed the *measured* rf_size. A transposed
    # convolution k3 s2 p1 along W: units alternate between 1 and 2 input pixels, so the
    # measured field is 2 (the largest support over the phases), whatever the report says.
    net = net_of("input: [1, 1, 40]\nlayers:\n  - conv_transpose: {out_channels: 1, "
                 "kernel_size: [1, 3], stride: [1, 2], padding: [0, 1]}\n")
    report = cnncalc.analyze(net)
    doctored = replace(report, layers=[replace(report.layers[0], output_shape=(1, 1, 1))])
    for rep in (report, doctored):
        row = verify(net, report=rep).rows[0]
        assert row.figure("rf_size[1]").measured == 2
        assert row.figure("rf_stride[1]").measured == Fraction(1, 2)
    assert verify(net, report=doctored).rows[0].figure("output_shape").status == "mismatch"


def test_a_period_longer_than_sixteen_units_is_measured_not_taken_for_no_stride():
    # found by hypothesis (tests/test_hostile.py's differential test): two nearest x3
    # upsamplings then a 1x1 stride-2 transposed convolution: each divides the effective
    # stride, j = 1/3 · 1/3 · 1/2 = 1/18 input pixels per output unit, centre 0;
    # 18 output units see one pixel (every other one nothing), so 16 probed units never saw
    # the field move and the probe reported stride 0. The wider probe pins the period 18.
    net = cnncalc.loads("input: [1, 7]\nlayers:\n"
                        "  - upsample: {scale_factor: 3, mode: nearest}\n"
                        "  - upsample: {scale_factor: 3, mode: nearest}\n"
                        "  - conv_transpose: {out_channels: 1, kernel_size: 1, stride: 2}\n",
                        "period18.yaml")
    row = verify(net).rows[-1]
    assert row.figure("rf_stride[0]").measured == Fraction(1, 18)
    assert row.figure("rf_center[0]").measured == 0
    assert all(f.status == "ok" for f in row.figures)
