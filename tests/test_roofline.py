"""``cnncalc roofline`` (issue 24, item 5): bytes moved per layer (inputs, weights and output,
once each), MACs and FLOPs per byte, and the roofline's lower bound max(FLOPs / peak,
bytes / bandwidth) with the device table's figures."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

import cnncalc
from cnncalc.analysis.roofline import DEVICES, machine, roofline
from tests.conftest import SPECS
from tests.test_cli import run


def roof_of(spec: str, device: str | None = "a100", dtype: str = "float32", batch: int | None = None):
    net = cnncalc.load(SPECS / f"{spec}.yaml", batch=batch)
    return roofline(net, cnncalc.analyze(net, dtype=dtype), machine(device, dtype))


def test_lenet5_conv1_written_out():
    # LeNet-5 conv1: reads the 1x32x32 input (1,024 elements) and 6·(5·5 + 1) = 156 weights,
    # writes 6x28x28 = 4,704 outputs, float32: (1,024 + 156 + 4,704)·4 = 23,536 bytes;
    # 117,600 MACs and 235,200 FLOPs (docs/conventions.md)
    row = roof_of("lenet5").layers[0]
    assert (row.input_bytes, row.weight_bytes, row.output_bytes) == (1024 * 4, 156 * 4, 4704 * 4)
    assert row.bytes == 23_536
    assert row.macs_per_byte == Fraction(117_600, 23_536)
    # A100 (datasheet): 19.5 TFLOP/s float32, 1,555 GB/s. Compute 235,200 / 19.5e12 s is less
    # than memory 23,536 / 1.555e12 s: memory-bound, and the bound is the memory time
    assert row.compute_time == Fraction(235_200, 195 * 10 ** 11)
    assert row.memory_time == Fraction(23_536, 1555 * 10 ** 9)
    assert row.memory_bound and row.bound == row.memory_time


def test_vgg16_fc6_reads_its_weights_once_a_batch():
    # VGG-16's first fully connected layer: 25,088 -> 4,096, 25,088·4,096 + 4,096 weights
    # (Simonyan and Zisserman 2015, Table 2's 7x7x512 input). At batch 1 it does about a
    # quarter of a MAC per byte; at batch 64 the weights are read once for 64 samples
    roof1, roof64 = roof_of("vgg16"), roof_of("vgg16", batch=64)
    fc1, fc64 = roof1.layers[[r.name for r in roof1.layers].index("linear1")], \
        roof64.layers[[r.name for r in roof64.layers].index("linear1")]
    weights = (25_088 * 4_096 + 4_096) * 4
    assert fc1.bytes == (25_088 + 4_096) * 4 + weights
    assert fc1.macs_per_byte == Fraction(25_088 * 4_096, (25_088 + 4_096) * 4 + weights)
    assert fc64.bytes == 64 * (25_088 + 4_096) * 4 + weights
    assert fc64.macs == 64 * 25_088 * 4_096
    assert fc1.memory_bound  # on every device of the table: 0.25 MAC/B is far below each ridge
    for key in DEVICES:
        assert Fraction(fc1.flops, fc1.bytes) < DEVICES[key].peak("float32") / DEVICES[key].bandwidth


def test_views_move_nothing():
    # flatten and dropout at inference are views of their input (docs/conventions.md)
    roof = roof_of("vgg16")
    moved = {r.name: r.bytes for r in roof.layers}
    assert moved["flatten1"] == moved["dropout1"] == 0


@pytest.mark.parametrize("spec", ["resnet50", "mobilenet_v2", "unet_padded", "densenet121"])
@pytest.mark.parametrize("device", ["a100", "t4", "rpi5"])
def test_the_roofline_identities_on_the_zoo(spec, device):
    roof = roof_of(spec, device)
    m = roof.machine
    for r in roof.layers:
        # a layer is memory-bound exactly when its FLOPs per byte fall below the ridge
        if r.bytes:
            assert r.memory_bound == (Fraction(r.flops, r.bytes) < m.ridge), r.name
        assert r.bound == max(Fraction(r.flops) / m.peak, Fraction(r.bytes) / m.bandwidth)
    # the pass's bound: the sum of the layers', at least each of the two whole-pass terms
    assert roof.bound == sum(r.bound for r in roof.layers)
    assert roof.bound >= max(Fraction(roof.flops) / m.peak, Fraction(roof.bytes) / m.bandwidth)
    # the totals are the report's
    report = cnncalc.analyze(cnncalc.load(SPECS / f"{spec}.yaml"))
    assert (roof.macs, roof.flops) == (report.totals.macs, report.totals.flops)


def test_half_precision_uses_the_16_bit_peak_and_two_bytes():
    f32, f16 = roof_of("resnet18", "h100"), roof_of("resnet18", "h100", "float16")
    assert f16.machine.peak == Fraction("989.4") * 10 ** 12  # H100 whitepaper, FP16 tensor dense
    assert f16.bytes * 2 == f32.bytes


def test_device_figures_are_the_datasheets():
    # NVIDIA A100 datasheet; T4 datasheet; Raspberry Pi 5: 4 cores x 2.4 GHz x 2 FMA pipes x
    # 4 float32 lanes x 2 FLOPs, and 4267 MT/s x 4 bytes
    assert (DEVICES["a100"].fp32, DEVICES["a100"].bandwidth) == (19_500 * 10 ** 9, 1_555 * 10 ** 9)
    assert (DEVICES["t4"].fp16, DEVICES["t4"].bandwidth) == (65 * 10 ** 12, 320 * 10 ** 9)
    assert DEVICES["rpi5"].fp32 == 4 * Fraction(24, 10) * 10 ** 9 * 2 * 4 * 2
    assert DEVICES["rpi5"].bandwidth == 4267 * 10 ** 6 * 4
    assert all(d.source for d in DEVICES.values())


def test_cli(capsys):
    code, out, err = run(capsys, "roofline", SPECS / "lenet5.yaml", "--device", "a100")
    assert code == 0, err
    assert "LOWER BOUND" in out and "memory-bound:" in out
    code, out, err = run(capsys, "roofline", SPECS / "lenet5.yaml", "--peak-tflops", "1",
                         "--bandwidth", "100", "-f", "json")
    doc = json.loads(out)
    assert doc["machine"]["ridge_flops_per_byte"] == 10  # 10^12 / 10^11
    assert doc["totals"]["bytes"] == sum(r["bytes"] for r in doc["layers"])
    code, out, err = run(capsys, "roofline", SPECS / "lenet5.yaml", "--device", "a10")
    assert code == 2 and "did you mean 'a100'" in err and "rpi5" in err
    code, out, err = run(capsys, "roofline", SPECS / "lenet5.yaml", "-f", "csv")
    assert code == 0 and out.splitlines()[0].startswith("name,type,input_bytes")
