"""CC105 ceil-window-dropped: A ceil_mode pooling window would start in the padding, and PyTorch drops it.

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC105/.
"""

from __future__ import annotations

from collections.abc import Iterator

from cnncalc.lint.base import Context, Finding, Rule, finding


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC105 in one analysed network."""
    for node in ctx.net.nodes:
        for axis, w in enumerate(node.facts.windows or ()):
            if not w.ceil_mode:
                continue
            size, keff, s, b, a, o = w.size, w.keff, w.stride, w.pad_before, w.pad_after, w.out
            span = size + b + a - keff
            if span % s and o == -(-span // s):  # one less than the rounded-up count
                yield finding(node, "CC105", f"on axis {axis} the last ceil_mode window would start at "
                               f"{o * s} >= {size} + {b} (in the padding): PyTorch drops it, giving {o}, "
                               f"not {o + 1}", "remove the padding or ceil_mode")


RULE = Rule("CC105", "ceil-window-dropped", "warning",
            "A ceil_mode pooling window would start in the padding, and PyTorch drops it.",
            "With ceil_mode the output size rounds up, but PyTorch removes a last window that would start "
            "in the right padding (the output is one smaller than ceil((W + 2P - F)/S) + 1); ONNX shape "
            "inference and other frameworks keep it, so the same spec gives different sizes.",
            "Remove the padding or ceil_mode, or change the input size so that no window starts in the "
            "padding.",
            example="input: [1, 5] then maxpool: {kernel_size: 2, stride: 2, padding: 1, ceil_mode: true}",
            limits="PyTorch's rule (aten Pool.h); frameworks that keep the window give one more output.",
            check=check)
