"""CC112 data-dependent-receptive-field: A deformable convolution makes the receptive field data-dependent.

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC112/.
"""

from __future__ import annotations

from collections.abc import Iterator

from cnncalc.lint.base import Context, Finding, Rule, finding


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC112 in one analysed network."""
    for node in ctx.net.nodes:
        if node.facts.data_dependent_field:
            yield finding(node, "CC112", "its offsets make the receptive field data-dependent; the "
                           "regular grid's extent is reported", "")


RULE = Rule("CC112", "data-dependent-receptive-field", "info",
            "A deformable convolution makes the receptive field data-dependent.",
            "Its offsets move every tap by an amount predicted from the input (Dai et al. 2017), so the "
            "receptive field of this layer and every layer after it depends on the image; cnncalc reports "
            "the regular grid's extent (offsets zero), which is what it is at initialisation.",
            "Nothing to fix; read the reported receptive fields after it as the regular grid's.",
            example="deform_conv: {out_channels: 2, kernel_size: 3}",
            limits="Reports the layer only; the receptive fields after it are the regular grid's.",
            check=check)
