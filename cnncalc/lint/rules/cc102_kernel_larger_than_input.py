"""CC102 kernel-larger-than-input: A kernel is larger than its input and fits only with padding.

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC102/.
"""

from __future__ import annotations

from collections.abc import Iterator

from cnncalc.lint.base import Context, Finding, Rule, axis_name, finding, windowed


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC102 in one analysed network."""
    for node, geometry in windowed(ctx):
        for axis, (size, (k, _)) in enumerate(zip(node.facts.in_shapes[0][1:], geometry)):
            if k > size:
                yield finding(node, "CC102", f"kernel extent {k} is larger than the input ({size}) on "
                               f"axis {axis_name(axis, len(geometry))}", "use a smaller kernel_size or dilation")


RULE = Rule("CC102", "kernel-larger-than-input", "warning",
            "A kernel is larger than its input and fits only with padding.",
            "Most taps of every window then read padding: the layer learns mostly about the border, and "
            "its parameters are wasted. CentraleSupelec (lecture 4, good practices): \"avoid "
            "hyper-parameters that do not click (filter larger than the input, or really high strides)\".",
            "Use a smaller kernel, or move the layer before the downsampling that shrank its input.",
            example="input: [1, 4, 4] then conv: {out_channels: 1, kernel_size: 5, padding: 2}",
            limits="Compares the dilated extent with the unpadded input; a kernel that just fits is not reported however much padding it reads.",
            check=check)
