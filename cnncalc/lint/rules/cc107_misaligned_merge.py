"""CC107 misaligned-merge: A merge joins paths whose receptive fields are misaligned (different stride or centre).

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC107/.
"""

from __future__ import annotations

from collections.abc import Iterator

from cnncalc.core.graph import INPUT
from cnncalc.layers.base import fmt_axes
from cnncalc.lint.base import Context, Finding, Rule, finding


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC107 in one analysed network."""
    for node in ctx.net.nodes:
        if len(node.inputs) < 2:
            continue
        rf = ctx.row(node.name).receptive_field
        upstream = [ctx.row(i).receptive_field for i in node.inputs if i != INPUT]
        if rf is not None and rf.misaligned and not any(u is not None and u.misaligned for u in upstream):
            lines = []
            for name in node.inputs:
                r = ctx.row(name).receptive_field if name != INPUT else None
                if name == INPUT:
                    lines.append("input: stride 1, centre 0")
                elif r is not None:
                    lines.append(f"{name}: stride {fmt_axes(r.stride)}, centre {fmt_axes(r.center)}")
            yield finding(node, "CC107", "joins misaligned paths (" + "; ".join(lines) + ")",
                           "make the paths' padding agree, or crop by the offset")


RULE = Rule("CC107", "misaligned-merge", "warning",
            "A merge joins paths whose receptive fields are misaligned (different stride or centre).",
            "Each output unit then combines features from different places of the input (Araujo et al., "
            "Distill 2019, 'Multi-path networks'): a residual or skip connection adds shifted maps.",
            "Make the paths' padding agree (same padding on both), or crop by the offset cnncalc reports.",
            example="add of a conv (kernel 3, no padding) and a crop of the input by [0, 2]: centres 1 and 0",
            limits="Compares receptive-field stride and centre; paths aligned by a later crop are reported at the merge; after a data-dependent layer (CC112) the regular grid is compared.",
            check=check)
