"""What ``cnncalc sweep`` prints: one row per input size (text table, JSON, CSV) and a chart
of MACs and memory against the size (a hand-written SVG, as ``view`` draws its pictures).
Formats only; the figures are :mod:`cnncalc.analysis.sweep`'s."""

from __future__ import annotations

import csv
import io
import json
from html import escape

from cnncalc.analysis.sweep import Sweep, SweepRow


def _shape(shape) -> str:
    return "x".join(map(str, shape))


def _coverage(row: SweepRow) -> str:
    if row.rf_size is None:
        return "global"
    return " ".join(f"{float(c):.2f}" for c in row.coverage)


def _cells(row: SweepRow) -> list[str]:
    if row.error is not None:
        return [_shape(row.shape), "refused: " + row.error]
    tiles = "yes" if row.tiles else f"no ({row.problems[0]}" + (
        f", +{len(row.problems) - 1} more)" if len(row.problems) > 1 else ")")
    return [_shape(row.shape), " ".join(_shape(s) for s in row.output_shapes), f"{row.params:,}",
            f"{row.macs:,}", f"{row.inference_peak_bytes:,}", f"{row.training_bytes:,}",
            f"{_shape(row.rf_size)} ({row.rf_layer}{', local' if row.rf_local else ''})" if row.rf_size else "global", _coverage(row),
            tiles]


HEAD = ["input", "output", "params", "MACs", "inference peak (B)", "training (B)", "RF size (layer)",
        "RF / input", "tiles exactly"]


def sweep_text(sw: Sweep) -> str:
    """The table: a refused size is one cell saying why."""
    rows = [_cells(r) for r in sw.rows]
    full = [r for r in rows if len(r) == len(HEAD)]
    widths = [max(len(r[i]) for r in [HEAD, *full]) for i in range(len(HEAD))]
    lines = [f"{sw.name}: at each input size (batch {sw.batch}, {sw.dtype}; inference peak under "
             f"the {sw.policy} policy; training with {sw.optimizer}; RF / input: the receptive field of the last layer that has a "
             "spatial one, over the input, per axis, to two decimals)", ""]
    for r in [HEAD, *rows]:
        if len(r) < len(HEAD):
            lines.append(f"{r[0].rjust(widths[0])}  {r[1]}")
            continue
        lines.append("  ".join(c.rjust(widths[i]) if i in (2, 3, 4, 5) else c.ljust(widths[i])
                               for i, c in enumerate(r)).rstrip())
    return "\n".join(lines) + "\n"


def sweep_json(sw: Sweep) -> str:
    return json.dumps(sw.to_dict(), indent=2) + "\n"


def sweep_csv(sw: Sweep) -> str:
    """One row per size; coverage per axis as exact numbers (p/q), joined with spaces."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["input_shape", "error", "output_shapes", "params", "macs", "inference_peak_bytes",
                "training_bytes", "rf_layer", "rf_size", "coverage", "tiles", "problems"])
    for r in sw.rows:
        d = r.to_dict()
        w.writerow([_shape(r.shape), r.error or "", " ".join(_shape(s) for s in r.output_shapes),
                    d["params"], d["macs"], d["inference_peak_bytes"], d["training_bytes"],
                    r.rf_layer or "", "" if r.rf_size is None else _shape(r.rf_size),
                    "" if r.coverage is None else " ".join(str(c) for c in d["coverage"]),
                    "" if r.tiles is None else r.tiles, "; ".join(r.problems)])
    return buf.getvalue()


# -- the chart --------------------------------------------------------------------------

W, H, LEFT, RIGHT, TOP, PANEL, GAP = 720, 520, 90, 150, 40, 180, 60
COLOURS = {"macs": "#1f77b4", "inference_peak_bytes": "#2ca02c", "training_bytes": "#d62728"}
LABELS = {"macs": "MACs", "inference_peak_bytes": "inference peak (B)",
          "training_bytes": "training footprint (B)"}


def _axis_value(v: int) -> str:
    for unit, name in ((10 ** 12, "T"), (10 ** 9, "G"), (10 ** 6, "M"), (10 ** 3, "k")):
        if v >= unit:
            return f"{v / unit:.3g}{name}"
    return str(v)


def sweep_svg(sw: Sweep) -> str:
    """Two panels against the input size (the first spatial axis): MACs, and the inference
    peak and training footprint; a size that does not tile is a hollow marker, a refused
    size a grey cross on the axis. Scales are linear from 0."""
    xs = [r.shape[1] for r in sw.rows]
    lo, hi = min(xs), max(xs)
    span = max(hi - lo, 1)

    def x_of(v: int) -> float:
        return LEFT + (v - lo) / span * (W - LEFT - RIGHT)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
           f'<title>{escape(sw.name)}: sweep over input sizes</title>',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{LEFT}" y="22" font-size="14">{escape(sw.name)}: cost against input size '
           f'(batch {sw.batch}, {escape(sw.dtype)})</text>']
    ok = [r for r in sw.rows if r.error is None]
    for panel, keys in enumerate((("macs",), ("inference_peak_bytes", "training_bytes"))):
        top = TOP + panel * (PANEL + GAP)
        bottom = top + PANEL
        ymax = max([getattr(r, k) for r in ok for k in keys] or [1]) or 1

        def y_of(v: int, bottom=bottom, ymax=ymax) -> float:
            return bottom - v / ymax * PANEL

        out.append(f'<line x1="{LEFT}" y1="{bottom}" x2="{W - RIGHT}" y2="{bottom}" stroke="#333"/>')
        out.append(f'<line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}" stroke="#333"/>')
        out.append(f'<text x="{LEFT - 6}" y="{top + 4}" text-anchor="end">{_axis_value(ymax)}</text>')
        out.append(f'<text x="{LEFT - 6}" y="{bottom + 4}" text-anchor="end">0</text>')
        for i, key in enumerate(keys):
            colour = COLOURS[key]
            points = " ".join(f"{x_of(r.shape[1]):.1f},{y_of(getattr(r, key)):.1f}" for r in ok)
            if len(ok) > 1:
                out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
            for r in ok:
                fill = colour if r.tiles else "white"
                out.append(f'<circle cx="{x_of(r.shape[1]):.1f}" cy="{y_of(getattr(r, key)):.1f}" r="3.5" '
                           f'fill="{fill}" stroke="{colour}"><title>{_shape(r.shape)}: '
                           f'{getattr(r, key):,} {escape(LABELS[key])}'
                           f'{"" if r.tiles else " (does not tile exactly)"}</title></circle>')
            out.append(f'<text x="{W - RIGHT + 10}" y="{top + 16 + 16 * i}" fill="{colour}">'
                       f'{escape(LABELS[key])}</text>')
        for r in sw.rows:
            if r.error is not None:
                x = x_of(r.shape[1])
                out.append(f'<path d="M{x - 4:.1f},{bottom - 4} l8,8 m0,-8 l-8,8" stroke="#888">'
                           f'<title>{_shape(r.shape)}: refused: {escape(r.error)}</title></path>')
    axis_y = TOP + 2 * PANEL + GAP + 20
    for v in sorted(set(xs)):
        out.append(f'<text x="{x_of(v):.1f}" y="{axis_y}" text-anchor="middle" font-size="10">{v}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{axis_y + 20}" text-anchor="middle">input size '
               '(first spatial axis); hollow: does not tile exactly; grey cross: refused</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"

