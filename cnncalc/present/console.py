"""Output on a terminal through rich: the console and the analysis table.

Kept apart from :mod:`cnncalc.present.render` because importing rich's console costs about
15 ms: ``cnncalc analyze`` piped or as JSON never imports this module (docs/architecture.md).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from cnncalc.analysis.analyze import Report
from cnncalc.core.errors import printable
from cnncalc.present.render import table_blocks

PIPE_WIDTH = 240  # piped output keeps whole rows instead of folding to 80 columns


def console() -> Console:
    """A console on standard output: the terminal's width, or PIPE_WIDTH columns when piped."""
    return Console(width=None if sys.stdout.isatty() else PIPE_WIDTH, highlight=False)


def to_table(report: Report, out: Console, depth: int | None = None,
             columns: Sequence[str] | None = None) -> None:
    """Print the table view (:func:`cnncalc.present.render.table_blocks`) to a rich Console,
    fitted to its width."""
    for text, style in table_blocks(report, out.width, depth, columns):
        # laid out here already: rich neither wraps nor crops the lines
        out.print(Text(printable(text), style=style), soft_wrap=True)


def print_lines(out: Console, lines: Sequence[tuple[str, str | None]]) -> None:
    """Print (text, style) lines as rich Text: no markup is read from the text."""
    for text, style in lines:
        out.print(Text(printable(text)) if style is None else Text(printable(text), style=style))
