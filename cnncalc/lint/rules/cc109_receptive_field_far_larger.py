"""CC109 receptive-field-far-larger: The last spatial layer's receptive field is more than 4 times the input.

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC109/.
"""

from __future__ import annotations

from collections.abc import Iterator

from cnncalc.layers.base import fmt_axes
from cnncalc.lint.base import Context, Finding, Rule, finding, heads


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC109 in one analysed network."""
    sizes = ctx.net.input_shape[1:]
    for node, rf, _ in heads(ctx):
        if any(r > 4 * s for r, s in zip(rf.size, sizes)):
            yield finding(node, "CC109", f"its receptive field {fmt_axes(rf.size)} is more than 4 times "
                           f"the {fmt_axes(sizes)} input", "use a larger input or fewer stages")


RULE = Rule("CC109", "receptive-field-far-larger", "info",
            "The last spatial layer's receptive field is more than 4 times the input.",
            "Most of each unit's receptive field then lies in padding: the effective receptive field (the "
            "part with real weight) is much smaller than the theoretical one, and the extra depth adds cost "
            "rather than context. CentraleSupelec (lecture 4): the receptive field should not be "
            "\"extremely small or large in relation with the input\".",
            "Use a larger input, or fewer or smaller downsampling stages.",
            default=False,
            example="input: [1, 4, 4] and two 9x9 convolutions: a 17x17 receptive field",
            limits="Opinionated (ResNet-101 and DenseNet exceed 4x at 224), so opt-in; the factor 4 is a rule of thumb.",
            check=check)
