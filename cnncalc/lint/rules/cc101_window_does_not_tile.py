"""CC101 window-does-not-tile: A window does not tile its input: (W - F + 2P) / S is not whole, and input pixels are never seen.

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC101/.
"""

from __future__ import annotations

from collections.abc import Iterator

from cnncalc.core.window import dropped, tiles
from cnncalc.lint.base import Context, Finding, Rule, axis_name, finding, windowed


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC101 in one analysed network."""
    for node, _ in windowed(ctx):
        windows = node.facts.windows
        if any(w.ceil_mode for w in windows):
            continue
        found = {}
        for axis, w in enumerate(windows):
            size, k, s, b, a = w.size, w.keff, w.stride, w.pad_before, w.pad_after
            if tiles(size, k, s, b, a):
                continue  # padding left unread, or the regular gap of a stride > kernel: CC103
            lost = dropped(size, k, s, b, a)
            text = (f"({size} + {b + a} - {k}) = {size + b + a - k} is not a multiple of the stride "
                    f"{s}: the last {lost} input pixel(s) of {size} are never seen")
            found.setdefault(text, []).append(axis_name(axis, len(windows)))
        for text, axes in found.items():
            where = f"on ax{'is' if len(axes) == 1 else 'es'} {' and '.join(axes)}"
            yield finding(node, "CC101", f"{where}, {text}",
                           "make the division exact: cnncalc solve padding")


RULE = Rule("CC101", "window-does-not-tile", "warning",
            "A window does not tile its input: (W - F + 2P) / S is not whole, and input pixels are never seen.",
            "When (W - F + P_before + P_after) is not a multiple of the stride, the windows stop before the "
            "end of the input: its last rows or columns reach no output (the lectures' warning about "
            "strides that do not fit). cnncalc reports it only when real input pixels, not just padding, "
            "are dropped. CENG 403 (week 10a): if (W - F + 2P)/S + 1 \"is not an integer, your strides are "
            "incorrect and your neurons cannot tile to cover the input volume\"; CentraleSupelec (lecture 4, "
            "good practices): choose input sizes that \"can be divided by 2 multiple times\" (32, 64, 224, "
            "256), so that every stage's total stride divides them.",
            "Change the input size, the padding (padding: same tiles any size), the kernel or the stride "
            "so that the division is exact; `cnncalc solve padding` finds the padding.",
            example="input: [1, 12, 12] then conv: {out_channels: 1, kernel_size: 3, stride: 2}: (12 - 3) mod 2 = 1, the last row and column are never read",
            limits="Unread padding is not reported; with a stride larger than the window the regular gap S - F is left to CC103; ceil_mode pooling reads the end and is never reported (see CC105). Only layers that slide a window: resampling and cropping are not checked.",
            check=check)
