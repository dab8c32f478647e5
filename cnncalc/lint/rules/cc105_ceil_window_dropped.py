"""CC105 ceil-window-dropped: A ceil_mode pooling window would start in the padding, and PyTorch drops it.

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC105/.
"""

from __future__ import annotations

from collections.abc import Iterator

from cnncalc.lint.base import Context, Finding, Rule, axis_name, finding


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC105 in one analysed network."""
    for node in ctx.net.nodes:
        for axis, w in enumerate(node.facts.windows or ()):
            if not w.ceil_mode:
                continue
            size, keff, s, b, a, o = w.size, w.keff, w.stride, w.pad_before, w.pad_after, w.out
            span = size + b + a - keff
            if span % s and o == -(-span // s):  # one less than the rounded-up count
                name = axis_name(axis, len(node.facts.windows))
                if b + a:
                    where, fix = f"{size} + {b} (in the padding)", "remove the padding or ceil_mode"
                else:  # no padding: the window would start past the input's last pixel
                    where, fix = f"{size} (past the input's end)", "remove ceil_mode"
                yield finding(node, "CC105", f"on axis {name} the last ceil_mode window would start at "
                               f"{o * s} >= {where}: PyTorch drops it, giving {o}, not {o + 1}", fix)


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
