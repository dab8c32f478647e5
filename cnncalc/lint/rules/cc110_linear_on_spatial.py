"""CC110 linear-on-spatial: A linear layer is applied to a tensor with spatial axes: it acts on the last axis only.

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC110/.
"""

from __future__ import annotations

from collections.abc import Iterator

from cnncalc.layers.base import fmt_shape
from cnncalc.lint.base import Context, Finding, Rule, finding


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC110 in one analysed network."""
    for node in ctx.net.nodes:
        shape = node.facts.in_shapes[0]
        if node.facts.last_axis_only and len(shape) == ctx.net.ndim + 1:
            yield finding(node, "CC110", f"acts on the last axis of {fmt_shape(shape)}",
                           "insert flatten before it")


RULE = Rule("CC110", "linear-on-spatial", "warning",
            "A linear layer is applied to a tensor with spatial axes: it acts on the last axis only.",
            "PyTorch's Linear mixes only the last axis (the width): a [C, H, W] input gives [C, H, out], "
            "which is rarely what a classifier head means.",
            "Insert flatten (or global pooling) before the linear layer.",
            example="input: [3, 8, 8] then linear: 4   # gives [3, 8, 4]",
            limits="Fires on any linear layer whose input still has spatial axes, even when acting on the last axis is meant (a per-row projection).",
            check=check)
