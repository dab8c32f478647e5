"""Arithmetic intensity per layer and the roofline lower bound on its time (``cnncalc roofline``).

Bytes moved by a layer (docs/conventions.md, "Roofline"): every input read once, its
parameters and buffers read once per pass, its output written once, all at the report's
dtype and for the whole batch; no cache reuse and no kernel workspace. A layer whose output
is a view of its input and that computes nothing (``flatten``, ``reshape``, ``identity``)
moves nothing. Intensity = MACs (or FLOPs) per byte moved.

The roofline (Williams, Waterman and Patterson 2009, "Roofline: an insightful visual
performance model for multicore architectures", CACM 52(4)): a layer takes at least
max(FLOPs / peak FLOP/s, bytes / bandwidth); it is memory-bound when the second term is the
larger. The network's bound is the sum of its layers' bounds (they run one after another):
a lower bound, never a prediction. All figures are exact fractions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from cnncalc.analysis.analyze import DTYPE_BYTES, Report, exact_number
from cnncalc.core.errors import SpecError, closest
from cnncalc.core.graph import INPUT, Network

TERA, GIGA = 10 ** 12, 10 ** 9


@dataclass(frozen=True)
class Device:
    """A device's peak dense FLOP/s at float32 and at 16-bit floats, and its memory
    bandwidth in bytes/s, with where each figure comes from."""

    name: str
    fp32: Fraction
    fp16: Fraction
    bandwidth: Fraction
    source: str

    def peak(self, dtype: str) -> Fraction:
        """Peak FLOP/s at ``dtype`` (float32; float16 and bfloat16 share the 16-bit figure).

        Raises:
            SpecError: a dtype the table has no figure for.
        """
        if dtype == "float32":
            return self.fp32
        if dtype in ("float16", "bfloat16"):
            return self.fp16
        raise SpecError(f"the device table has no {dtype} peak for {self.name}", kind="usage",
                        help="give the peak with --peak-tflops (and --bandwidth)")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "fp32_flops_per_s": exact_number(self.fp32),
                "fp16_flops_per_s": exact_number(self.fp16),
                "bandwidth_bytes_per_s": exact_number(self.bandwidth), "source": self.source}


def _t(text: str) -> Fraction:
    return Fraction(text) * TERA


# Peak dense figures (no structured sparsity); 16-bit: the tensor cores' float16 with float32
# accumulation where the vendor states it. Each row says where its figures come from.
DEVICES: dict[str, Device] = {
    "a100": Device("NVIDIA A100 SXM4 40GB", _t("19.5"), _t("312"), Fraction(1555) * GIGA,
                   "NVIDIA A100 Tensor Core GPU datasheet (nvidia-a100-datasheet-us-nvidia-1758950-r4): "
                   "FP32 19.5 TFLOPS, FP16 Tensor Core 312 TFLOPS (624 with sparsity), "
                   "1,555 GB/s HBM2"),
    "v100": Device("NVIDIA V100 SXM2", _t("15.7"), _t("125"), Fraction(900) * GIGA,
                   "NVIDIA Tesla V100 GPU datasheet: single precision 15.7 TFLOPS, tensor "
                   "performance 125 TFLOPS, 900 GB/s HBM2"),
    "t4": Device("NVIDIA T4", _t("8.1"), _t("65"), Fraction(320) * GIGA,
                 "NVIDIA T4 Tensor Core GPU datasheet: single precision 8.1 TFLOPS, mixed precision "
                 "(FP16/FP32) 65 TFLOPS, 320 GB/s GDDR6"),
    "rtx4090": Device("NVIDIA GeForce RTX 4090", _t("82.6"), _t("165.2"), Fraction(1008) * GIGA,
                      "NVIDIA Ada GPU architecture whitepaper, appendix table: peak FP32 82.6 TFLOPS, "
                      "peak FP16 Tensor TFLOPS with FP32 accumulate 165.2 (330.3 with FP16 "
                      "accumulate), 1,008 GB/s GDDR6X"),
    "h100": Device("NVIDIA H100 SXM5 80GB", _t("66.9"), _t("989.4"), Fraction(3350) * GIGA,
                   "NVIDIA H100 Tensor Core GPU architecture whitepaper (peak FP32 66.9 TFLOPS, FP16 "
                   "Tensor with FP32 accumulate 989.4 TFLOPS dense) and the H100 datasheet "
                   "(3.35 TB/s HBM3 for SXM)"),
    "m2": Device("Apple M2 (10-core GPU)", _t("3.6"), _t("3.6"), Fraction(100) * GIGA,
                 "Apple newsroom, 'Apple unveils M2' (2022-06-06): 100GB/s unified memory bandwidth; "
                 "Apple's M2 GPU figure 3.6 TFLOPS (10 cores x 128 ALUs x 2 x 1.398 GHz); Apple "
                 "publishes no separate 16-bit figure, so the same peak is used"),
    "rpi5": Device("Raspberry Pi 5 (4x Cortex-A76 CPU)", Fraction("153.6") * GIGA,
                   Fraction("307.2") * GIGA, Fraction(17068) * 10 ** 6,
                   "Raspberry Pi 5 product brief: BCM2712, 4x Arm Cortex-A76 at 2.4 GHz, 32-bit "
                   "LPDDR4X-4267 (4267 MT/s x 4 bytes = 17.068 GB/s); Arm Cortex-A76 software "
                   "optimization guide: two 128-bit ASIMD FMA pipes a core, so float32 4 cores x "
                   "2.4 GHz x 2 pipes x 4 lanes x 2 = 153.6 GFLOPS, float16 8 lanes: 307.2"),
}


@dataclass(frozen=True)
class Machine:
    """What the bound is computed for: peak FLOP/s and bandwidth in bytes/s (exact)."""

    name: str
    peak: Fraction
    bandwidth: Fraction
    source: str

    @property
    def ridge(self) -> Fraction:
        """FLOPs per byte above which a layer is compute-bound: peak / bandwidth."""
        return self.peak / self.bandwidth

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "peak_flops_per_s": exact_number(self.peak),
                "bandwidth_bytes_per_s": exact_number(self.bandwidth),
                "ridge_flops_per_byte": exact_number(self.ridge), "source": self.source}


def machine(device: str | None, dtype: str, peak_tflops: str | None = None,
            bandwidth_gbs: str | None = None) -> Machine | None:
    """The machine of ``--device`` (a DEVICES key), overridden or given by ``--peak-tflops``
    (10^12 FLOP/s) and ``--bandwidth`` (10^9 bytes/s); None when none is given.

    Raises:
        SpecError: an unknown device (listing the known ones), a figure that is not a positive
            number, or only one of the two figures without a device.
    """
    if device is None and peak_tflops is None and bandwidth_gbs is None:
        return None
    base = None
    if device is not None:
        key = device.lower().replace(" ", "").replace("-", "")
        if key not in DEVICES:
            near = closest(key, list(DEVICES))
            raise SpecError(f"unknown device '{device}'", kind="usage",
                            help=(f"did you mean '{near}'? " if near else "") + "known devices: "
                            + ", ".join(f"{k} ({d.name})" for k, d in DEVICES.items())
                            + "; or give --peak-tflops and --bandwidth")
        base = DEVICES[key]
    elif peak_tflops is None or bandwidth_gbs is None:
        raise SpecError("a roofline needs both --peak-tflops and --bandwidth (or --device)",
                        kind="usage", help="e.g. --peak-tflops 19.5 --bandwidth 1555, or --device a100")
    peak = _positive(peak_tflops, "--peak-tflops") * TERA if peak_tflops else base.peak(dtype)
    bandwidth = _positive(bandwidth_gbs, "--bandwidth") * GIGA if bandwidth_gbs else base.bandwidth
    name = base.name if base else "custom"
    if base and (peak_tflops or bandwidth_gbs):
        name += " (figures overridden)"
    source = base.source if base else "--peak-tflops and --bandwidth"
    return Machine(name, peak, bandwidth, source)


def _positive(text: str, option: str) -> Fraction:
    try:
        value = Fraction(text.strip())
    except ValueError:
        value = Fraction(0)
    if value <= 0:
        raise SpecError(f"{option} '{text}' is not a positive number", kind="usage",
                        help="--peak-tflops in 10^12 FLOP/s (e.g. 19.5), --bandwidth in GB/s, 10^9 "
                             "bytes/s (e.g. 1555)")
    return value


@dataclass(frozen=True)
class LayerRoofline:
    """One layer: bytes moved (inputs read, weights read, output written), MACs and FLOPs
    (whole batch), and with a machine the bound (seconds, exact) and what bounds it."""

    name: str
    type: str
    input_bytes: int
    weight_bytes: int
    output_bytes: int
    macs: int
    flops: int
    compute_time: Fraction | None = None
    memory_time: Fraction | None = None

    @property
    def bytes(self) -> int:
        return self.input_bytes + self.weight_bytes + self.output_bytes

    @property
    def macs_per_byte(self) -> Fraction | None:
        return Fraction(self.macs, self.bytes) if self.bytes else None

    @property
    def flops_per_byte(self) -> Fraction | None:
        return Fraction(self.flops, self.bytes) if self.bytes else None

    @property
    def bound(self) -> Fraction | None:
        """The lower bound on its time in seconds: max(compute, memory); None without a machine."""
        if self.compute_time is None:
            return None
        return max(self.compute_time, self.memory_time)

    @property
    def memory_bound(self) -> bool | None:
        """Memory-bound: moving its bytes takes longer than its FLOPs at the peak."""
        if self.compute_time is None:
            return None
        return self.memory_time > self.compute_time

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "type": self.type, "input_bytes": self.input_bytes,
               "weight_bytes": self.weight_bytes, "output_bytes": self.output_bytes,
               "bytes": self.bytes, "macs": self.macs, "flops": self.flops,
               "macs_per_byte": exact_number(self.macs_per_byte),
               "flops_per_byte": exact_number(self.flops_per_byte)}
        if self.bound is not None:
            out.update({"compute_seconds": exact_number(self.compute_time),
                        "memory_seconds": exact_number(self.memory_time),
                        "bound_seconds": exact_number(self.bound),
                        "bound_ns_floor": math.floor(self.bound * 10 ** 9),
                        "memory_bound": self.memory_bound})
        return out


@dataclass(frozen=True)
class Roofline:
    """Every layer's roofline and the network's: totals, and with a machine the lower bound
    on the whole pass (the sum of the layers' bounds)."""

    name: str
    batch: int
    dtype: str
    layers: tuple[LayerRoofline, ...]
    machine: Machine | None

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.layers)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @property
    def flops(self) -> int:
        return sum(r.flops for r in self.layers)

    @property
    def bound(self) -> Fraction | None:
        if self.machine is None:
            return None
        return sum((r.bound for r in self.layers), Fraction(0))

    @property
    def memory_bound(self) -> list[str]:
        """The layers that are memory-bound (those that move bytes; empty without a machine)."""
        return [r.name for r in self.layers if r.memory_bound and r.bytes]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "batch": self.batch, "dtype": self.dtype,
            "convention": "bytes = inputs read + weights read + output written, once each, at the "
                          "dtype; time >= max(FLOPs / peak, bytes / bandwidth): a lower bound",
            "machine": None if self.machine is None else self.machine.to_dict(),
            "layers": [r.to_dict() for r in self.layers],
            "totals": {"bytes": self.bytes, "macs": self.macs, "flops": self.flops,
                       "macs_per_byte": exact_number(Fraction(self.macs, self.bytes)) if self.bytes else None,
                       "flops_per_byte": exact_number(Fraction(self.flops, self.bytes)) if self.bytes else None}}
        if self.machine is not None:
            out["totals"].update({"bound_seconds": exact_number(self.bound),
                                  "bound_ns_floor": math.floor(self.bound * 10 ** 9),
                                  "memory_bound_layers": self.memory_bound})
        return out


def roofline(net: Network, report: Report, mach: Machine | None = None) -> Roofline:
    """The roofline of every layer of ``net`` (its ``report``'s batch and dtype), and with
    ``mach`` the lower bound on each layer's time and the pass's."""
    width = DTYPE_BYTES[report.dtype]
    batch = report.batch
    size = {INPUT: math.prod(net.input_shape)}
    for node in net.nodes:
        size[node.name] = math.prod(node.facts.out_shape)
    rows = []
    for node, row in zip(net.nodes, report.layers):
        facts = node.facts
        if facts.aliases_input and facts.flops == 0:  # a view: nothing is read or written
            inputs = weights = output = 0
        else:
            inputs = sum(size[i] for i in node.inputs) * batch * width
            weights = facts.param_count * width + facts.buffer_bytes(width)
            output = size[node.name] * batch * width
        compute = memory = None
        if mach is not None:
            compute = Fraction(row.flops) / mach.peak
            memory = Fraction(inputs + weights + output) / mach.bandwidth
        rows.append(LayerRoofline(node.name, node.type, inputs, weights, output, row.macs, row.flops,
                                  compute, memory))
    return Roofline(report.name, batch, report.dtype, tuple(rows), mach)
