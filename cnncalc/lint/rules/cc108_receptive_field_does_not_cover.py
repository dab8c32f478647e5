"""CC108 receptive-field-does-not-cover: The last spatial layer's units do not see the whole input before the spatial axes go

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC108/.
"""

from __future__ import annotations

from collections.abc import Iterator

from cnncalc.layers.base import fmt_axes
from cnncalc.lint.base import Context, Finding, Rule, finding, heads


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC108 in one analysed network."""
    sizes = ctx.net.input_shape[1:]
    for node, rf, head in heads(ctx):
        if any(r < s for r, s in zip(rf.size, sizes)):
            yield finding(node, "CC108", f"its units see {fmt_axes(rf.size)} of the {fmt_axes(sizes)} "
                           f"input before {head.type} '{head.name}' combines every position",
                           "add depth, stride or dilation before the head")


RULE = Rule("CC108", "receptive-field-does-not-cover", "info",
            "The last spatial layer's units do not see the whole input before the spatial axes go "
            "(global pooling, flatten, linear).",
            "A classifier whose final feature map has a receptive field smaller than the input cannot relate "
            "opposite corners: what each unit sees is local, and global pooling only averages local views. "
            "CentraleSupelec (lecture 4): \"make sure that your receptive field is not extremely small or "
            "large in relation with the input\"; in most state-of-the-art networks it covers the whole "
            "input.",
            "Add depth, stride or dilation before the head, or accept it for texture-like tasks.",
            default=False,
            example="input: [1, 32, 32], conv: {kernel_size: 3} then global_avgpool: each unit sees 3x3",
            limits="Opinionated (most classifiers, VGG and LeNet included, see less than the whole input), so opt-in; compares the theoretical receptive field, not the effective one.",
            check=check)
