"""What ``cnncalc roofline`` prints: per layer the bytes moved, MACs and FLOPs per byte, and
with a machine the lower bound on its time and whether memory bounds it (text table, JSON,
CSV). Formats only; the figures are :mod:`cnncalc.analysis.roofline`'s. Intensities are
shown to two decimals and times rounded *down* to the nanosecond (so a shown bound is still
a lower bound); the JSON keeps every figure exact."""

from __future__ import annotations

import csv
import io
import json
import math
from fractions import Fraction

from cnncalc.analysis.roofline import Roofline


def _ratio(value: Fraction | None) -> str:
    return "-" if value is None else f"{float(value):,.2f}"


def _us(seconds: Fraction) -> str:
    """Microseconds, rounded down to the nanosecond."""
    ns = math.floor(seconds * 10 ** 9)
    return f"{ns // 1000:,}.{ns % 1000:03d}"


def _rows(roof: Roofline) -> tuple[list[str], list[list[str]]]:
    head = ["layer", "type", "MACs", "bytes moved", "MACs/B", "FLOPs/B"]
    if roof.machine is not None:
        head += ["bound (us)", "bound by"]
    rows = []
    for r in roof.layers:
        row = [r.name, r.type, f"{r.macs:,}", f"{r.bytes:,}", _ratio(r.macs_per_byte),
               _ratio(r.flops_per_byte)]
        if roof.machine is not None:
            row += [_us(r.bound), "-" if not r.bytes and not r.flops else
                    "memory" if r.memory_bound else "compute"]
        rows.append(row)
    return head, rows


def roofline_text(roof: Roofline) -> str:
    """The table, then the totals and, with a machine, the bound on the whole pass."""
    head, rows = _rows(roof)
    total = Fraction(roof.macs, roof.bytes) if roof.bytes else None
    footer = ["total", "", f"{roof.macs:,}", f"{roof.bytes:,}", _ratio(total),
              _ratio(Fraction(roof.flops, roof.bytes) if roof.bytes else None)]
    if roof.machine is not None:
        footer += [_us(roof.bound), ""]
    table = [head, *rows, footer]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    lines = [f"{roof.name}: bytes moved and arithmetic intensity per layer (batch {roof.batch}, "
             f"{roof.dtype})",
             "bytes = inputs read + weights read + output written, once each (no cache reuse); "
             "docs/conventions.md \"Roofline\"", ""]
    for r in table:
        lines.append("  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i])
                               for i, c in enumerate(r)).rstrip())
    lines.append("")
    m = roof.machine
    if m is None:
        lines.append("no machine given: --device NAME, or --peak-tflops and --bandwidth, adds the "
                     "roofline's lower bound on each layer's time")
    else:
        memory = roof.memory_bound
        lines += [
            f"machine: {m.name}: peak {float(m.peak / 10 ** 12):,g} TFLOP/s at {roof.dtype}, "
            f"{float(m.bandwidth / 10 ** 9):,g} GB/s; ridge {float(m.ridge):,.2f} FLOPs/byte",
            f"  source: {m.source}",
            f"LOWER BOUND on the pass: {_us(roof.bound)} us (the sum of max(FLOPs / peak, "
            "bytes / bandwidth) per layer; not a prediction: real kernels reach neither peak)",
            f"memory-bound: {len(memory)} of {sum(1 for r in roof.layers if r.bytes)} layers that "
            f"move data" + (f": {', '.join(memory[:12])}" + (", ..." if len(memory) > 12 else "")
                            if memory else ""),
        ]
    return "\n".join(lines) + "\n"


def roofline_json(roof: Roofline) -> str:
    return json.dumps(roof.to_dict(), indent=2) + "\n"


def roofline_csv(roof: Roofline) -> str:
    """One row per layer: bytes by part, MACs, FLOPs, the intensities and (with a machine)
    the bound in seconds, exact fractions written as p/q."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["name", "type", "input_bytes", "weight_bytes", "output_bytes", "bytes", "macs", "flops",
            "macs_per_byte", "flops_per_byte"]
    if roof.machine is not None:
        head += ["bound_seconds", "bound_ns_floor", "memory_bound"]
    w.writerow(head)
    for r in roof.layers:
        d = r.to_dict()
        w.writerow([d[k] for k in head])
    return buf.getvalue()
