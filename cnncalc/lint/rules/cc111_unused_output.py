"""CC111 unused-output: A layer's output is used by nothing before the end: it is an extra network output.

The rule's catalogue entry (RULE) and its check; fixtures in tests/data/lint/CC111/.
"""

from __future__ import annotations

from collections.abc import Iterator

from cnncalc.lint.base import Context, Finding, Rule, finding


def check(ctx: Context) -> Iterator[Finding]:
    """The findings of CC111 in one analysed network."""
    last = ctx.net.nodes[-1].name
    for name in ctx.net.outputs:
        if name != last:
            node = ctx.net.node(name)
            yield finding(node, "CC111", "its output is used by nothing: it is an extra network output",
                           f"merge it (with: {name}) or remove it")


RULE = Rule("CC111", "unused-output", "info",
            "A layer's output is used by nothing before the end: it is an extra network output.",
            "A branch that ends without being merged or being the final layer is usually a forgotten skip "
            "connection; in a multi-task net it is a head on purpose.",
            "Merge it (add/concat with: NAME) or remove it; for a deliberate head, suppress the rule on its "
            "line: # cnncalc: ignore[CC111].",
            example="- {relu, name: side} then - {tanh, from: input}: 'side' is used by nothing",
            limits="Every output but the last layer's is reported; a deliberate extra head needs a suppression on its line.",
            check=check)
