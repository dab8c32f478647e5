"""What ``cnncalc erf`` prints: per layer its theoretical receptive field beside its effective
one under the stated protocol (cnncalc.measure.erf; docs/receptive-field.md)."""

from __future__ import annotations

import json
from typing import Any

from cnncalc.analysis.analyze import LayerResult, Report, rf_to_dict
from cnncalc.measure.erf import EffectiveField
from cnncalc.present.render import GATE_NOTE, axes_text, row_rf_cells, shape_text

HEADERS = ("Layer", "Output", "RF size", "ERF width95", "width95 / RF", "ERF mean", "ERF std")


def _float(v: float, digits: int = 2) -> str:
    return f"{v:.{digits}f}"


def erf_cells(erf: EffectiveField | str | None) -> list[str]:
    """The ERF's cells: width95, ratio, mean, std (one value when every axis agrees)."""
    if erf is None:
        return ["-"] * 4
    if isinstance(erf, str):
        return ["refused"] + ["-"] * 3
    if erf.spread is not None:  # protocol random: each figure ± its spread over the draws
        def pm(key: str, digits: int) -> str:
            return axes_text([f"{v:.{digits}f} ± {d:.{digits}f}" for v, d in
                              zip(getattr(erf, key), erf.spread[key])])
        return [pm("width95", 1), pm("ratio", 3), pm("mean", 2), pm("std", 2)]
    return [axes_text(erf.width95), axes_text(erf.ratio, lambda v: _float(v, 3)),
            axes_text(erf.mean, _float), axes_text(erf.std, _float)]


def table_lines(report: Report, rows: list[LayerResult], fields: dict[str, EffectiveField | str],
                outputs: dict[str, str], protocol: str) -> list[str]:
    """The table: one row per layer (or group, named by its output layer ``outputs``)."""
    cells = []
    for row in rows:
        erf = fields.get(outputs.get(row.name, row.name))
        cells.append([row.name, shape_text(row.output_shape), row_rf_cells(row)[0], *erf_cells(erf)])
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
              for i, h in enumerate(HEADERS)]
    fmt = lambda parts: "  ".join(p.ljust(w) if i == 0 else p.rjust(w)  # noqa: E731
                                  for i, (p, w) in enumerate(zip(parts, widths))).rstrip()
    drawn = next((f for f in fields.values() if isinstance(f, EffectiveField) and f.spread), None)
    draws = "" if drawn is None else f", {drawn.samples} draws from seed {drawn.seed}"
    lines = [f"{report.name}: effective receptive field, protocol {protocol}{draws} "
             f"(unit floor((n-1)/2) of each axis; docs/receptive-field.md)", "",
             fmt(HEADERS), fmt(["-" * w for w in widths])]
    lines += [fmt(c) for c in cells]
    notes = ["RF size: the theoretical field in input pixels; width95: the fewest consecutive "
             "input pixels holding 95% of the ERF's marginal; mean and std in input pixels from "
             "pixel 0."]
    if any("+g" in c[2] for c in cells):
        notes.append(GATE_NOTE)
    reasons = {outputs.get(r.name, r.name): fields[outputs.get(r.name, r.name)] for r in rows
               if isinstance(fields.get(outputs.get(r.name, r.name)), str)}
    notes += [f"refused {name}: {why}" for name, why in reasons.items()]
    return lines + [""] + notes


def to_json(report: Report, rows: list[LayerResult], fields: dict[str, EffectiveField | str],
            outputs: dict[str, str], protocol: str) -> str:
    """``{"name", "protocol", "layers": [{"name", "output", "receptive_field",
    "local_receptive_field", "global_context", "effective_receptive_field"}]}``; a refused
    layer has ``effective_receptive_field`` null and the reason in ``erf_refused``."""
    layers: list[dict[str, Any]] = []
    for row in rows:
        name = outputs.get(row.name, row.name)
        erf = fields.get(name)
        item: dict[str, Any] = {"name": row.name, "output": name,
                                "receptive_field": rf_to_dict(row.receptive_field),
                                "local_receptive_field": rf_to_dict(row.local_receptive_field),
                                "global_context": list(row.global_context),
                                "effective_receptive_field":
                                    erf.to_dict() if isinstance(erf, EffectiveField) else None}
        if isinstance(erf, str):
            item["erf_refused"] = erf
        layers.append(item)
    return json.dumps({"name": report.name, "protocol": protocol, "layers": layers}, indent=2) + "\n"
