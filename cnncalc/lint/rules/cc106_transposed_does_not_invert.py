"""CC106 transposed-does-not-invert: A transposed convolution does not restore the size its mirrored downsampling had.

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC106/.
"""

from __future__ import annotations

from collections.abc import Iterator

from cnncalc.layers.base import fmt_axes
from cnncalc.lint.base import Context, Finding, Rule, finding


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC106 in one analysed network."""
    nodes = ctx.net.nodes
    for i, node in enumerate(nodes):
        up = node.facts.windows
        if not up or not up[0].transposed:
            continue
        out = node.facts.out_shape[1:]
        strides = tuple(w.stride for w in up)
        for down in reversed(nodes[:i]):
            windows = down.facts.windows
            if not windows or windows[0].transposed:
                continue
            if tuple(down.facts.out_shape[1:]) == tuple(node.facts.in_shapes[0][1:]) and \
                    tuple(w.stride for w in windows) == strides and max(strides) > 1:
                target = down.facts.in_shapes[0][1:]
                if tuple(target) != tuple(out):
                    need = [t - o for t, o in zip(target, out)]
                    hint = (f"add output_padding: {need[0] if len(set(need)) == 1 else need}"
                            if all(0 < n + w.output_padding < max(w.stride, w.dilation)
                                   for n, w in zip(need, up))
                            else "change the kernel, stride or padding")
                    yield finding(node, "CC106", f"gives {fmt_axes(out)}, but '{down.name}', the "
                                   f"downsampling it mirrors, took {fmt_axes(target)}", hint)
                break


RULE = Rule("CC106", "transposed-does-not-invert", "warning",
            "A transposed convolution does not restore the size its mirrored downsampling had.",
            "A stride-S convolution maps S sizes to the same output; the transposed convolution returns only "
            "one of them. Without output_padding it misses the size the encoder had, and the skip "
            "connection of a decoder no longer matches.",
            "Add the output_padding cnncalc names, or use an input size that divides exactly.",
            example="conv1d: {kernel_size: 3, stride: 2, padding: 1} on 17 samples, then conv_transpose1d with the same geometry: 17 -> 9 -> 17 only with output_padding: 0; on 18 it needs output_padding: 1",
            limits="Pairs a transposed convolution with the nearest earlier downsampling whose output size and stride match; a decoder that mirrors another layer is not recognised.",
            check=check)
