"""CC104 even-kernel-same: An even kernel with padding: same shifts the output by half a pixel.

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC104/.
"""

from __future__ import annotations

from collections.abc import Iterator

from cnncalc.layers.base import fmt_axes
from cnncalc.lint.base import Context, Finding, Rule, finding


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC104 in one analysed network."""
    for node in ctx.net.nodes:
        windows = node.facts.windows
        # an even extent whose 'same' padding (or crop) resolved unequal: the output is
        # shifted by half a pixel (a transposed k4 s2 'same' crops (1, 1): nothing shifts)
        if windows and any(w.padding_mode == "same" and w.keff % 2 == 0 and w.pad_before != w.pad_after
                           for w in windows):
            kernel = [w.keff for w in windows]
            yield finding(node, "CC104", f"kernel {fmt_axes(kernel)} is even: 'same' padding shifts "
                           "the output by half a pixel", "use an odd kernel_size")


RULE = Rule("CC104", "even-kernel-same", "warning",
            "An even kernel with padding: same shifts the output by half a pixel.",
            "'same' pads (F - 1) pixels in all; with an even F that is odd, so one side gets one more "
            "(TensorFlow puts it after): output pixel o is centred at o + 1/2, not o. Features drift by half "
            "a pixel per layer, and skip connections stop lining up. CentraleSupelec (lecture 4, good "
            "practices): \"prefer odd sizes for kernels in order to avoid spatial shifting (no mid point)\"; "
            "the Goodfellow lecture's same-size padding (K - 1)/2 is whole only for odd K.",
            "Use an odd kernel, or explicit padding pairs chosen on purpose.",
            example="conv1d: {out_channels: 1, kernel_size: 4, padding: same}",
            limits="Looks at padding: same only; explicit asymmetric pairs are taken as chosen on purpose.",
            check=check)
