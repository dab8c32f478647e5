"""CC001 expectation-failed: A figure the spec promises (expect:) differs from the analysis.

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC001/.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from cnncalc.core.errors import SpecError, suggestion
from cnncalc.core.figures import answer_values
from cnncalc.layers.base import fmt_axes, fmt_shape
from cnncalc.lint.base import Context, Finding, Rule


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC001 in one analysed network."""
    for node in ctx.net.nodes:
        if node.expect:
            yield from _check_expect(node.expect, answer_values(ctx.row(node.name)), node, node.uses)
    if ctx.net.expect:
        t = ctx.report.totals
        yield from _check_expect(ctx.net.expect, {"params": t.params, "macs": t.macs, "flops": t.flops,
                                                   "trainable_params": t.trainable_params,
                                                   "buffers": t.buffers}, None, ())


def _check_expect(expect, actual, node, uses) -> Iterator[Finding]:
    for key, value in expect.items():
        loc = expect.val_loc(key)
        if key not in actual:
            raise SpecError(f"'{key}' cannot be expected here", expect.key_loc(key), kind="spec",
                            help=suggestion(str(key), actual, "figures"))
        have = actual[key]
        want = value
        if key in ("receptive_field", "stride") and have is not None and not isinstance(value, list):
            want = [value] * len(have)
        if isinstance(want, list):
            want = tuple(Fraction(str(v)) if key == "stride" and isinstance(v, (str, float)) else v
                         for v in want)
        if want != have:
            where = f"{node.type} '{node.name}'" if node else "the network's totals"
            shown = fmt_shape(have) if key == "output_shape" else (
                "global" if have is None else (fmt_axes(have) if isinstance(have, tuple) else f"{have:,}"))
            yield Finding("CC001", f"{where}: expected {key} {value}, the analysis gives {shown}", loc,
                          "fix the layer, or update the expectation if the change is intended",
                          uses=uses)


RULE = Rule("CC001", "expectation-failed", "error",
            "A figure the spec promises (expect:) differs from the analysis.",
            "Specs in CI carry `expect:` so that an edit that changes a shape, a parameter count, the MACs "
            "or a receptive field fails the build instead of passing silently.",
            "Fix the layer, or update the expectation if the change is intended.",
            example="- {conv: {out_channels: 6, kernel_size: 5}, expect: {params: 150}}   # it is 156",
            limits="Compares figures only under the analysis' conventions (bias counted, FLOPs as docs/conventions.md defines them).",
            check=check)
