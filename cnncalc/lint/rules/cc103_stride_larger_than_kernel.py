"""CC103 stride-larger-than-kernel: The stride is larger than the kernel: input positions between windows are skipped.

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC103/.
"""

from __future__ import annotations

from collections.abc import Iterator

from cnncalc.lint.base import Context, Finding, Rule, axis_name, finding, windowed


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC103 in one analysed network."""
    for node, geometry in windowed(ctx):
        for axis, (k, s) in enumerate(geometry):
            if s > k:
                yield finding(node, "CC103", f"stride {s} is larger than the kernel extent {k} on axis "
                               f"{axis_name(axis, len(geometry))}: {s - k} of every {s} positions are skipped",
                               "use a kernel at least as large as the stride")
                break


RULE = Rule("CC103", "stride-larger-than-kernel", "warning",
            "The stride is larger than the kernel: input positions between windows are skipped.",
            "With stride S > F (dilated extent), S - F positions between consecutive windows are read by no "
            "output: information is discarded, not pooled. CentraleSupelec (lecture 4, good practices): "
            "avoid \"really high strides\"; typical values are s = 1 or 2.",
            "Use a kernel at least as large as the stride, or pool before subsampling.",
            default=False,
            example="conv: {out_channels: 256, kernel_size: 1, stride: 2}   # ResNet's projection shortcut",
            limits="Opinionated, so opt-in: standard architectures subsample on purpose (torchvision's ResNet projection shortcut, Xception's); select it with --extend-select CC103.",
            check=check)
