"""The receptive field a whole network is summarised by (``sweep``'s coverage, ``diff``'s
total): that of the last layer that still has a spatial one."""

from __future__ import annotations

from dataclasses import dataclass

from cnncalc.analysis.analyze import Report


@dataclass(frozen=True)
class LastField:
    """``layer``'s receptive-field ``size`` per axis; ``local``: the local field
    (docs/receptive-field.md, "The local receptive field"), used when a broadcast gate
    (squeeze-and-excitation) makes the theoretical field global."""

    layer: str
    size: tuple[int, ...]
    local: bool


def last_field(report: Report) -> LastField | None:
    """The last layer, in topological order, with a spatial receptive field (theoretical,
    else local); None when no layer has one (a network without spatial axes). A classifier's
    global pooling and head see the whole input and have none."""
    for row in reversed(report.layers):
        if row.receptive_field is not None:
            return LastField(row.name, tuple(row.receptive_field.size), False)
        if row.local_receptive_field is not None and row.global_context:
            return LastField(row.name, tuple(row.local_receptive_field.size), True)
    return None
