"""``cnncalc analyze -f html``: the same command, its report drawn as the self-contained page of
:mod:`cnncalc.present.view`. Apart from :mod:`cnncalc.commands.analyze` so that the other
formats do not import the page's renderer."""

from __future__ import annotations

from pathlib import Path

from cnncalc.commands import analyze
from cnncalc.present.view import to_html


def run(spec: Path, **options) -> None:
    """:func:`cnncalc.commands.analyze.run` with the HTML page as the renderer; ``--depth``
    holds for the page as for ``view``: it starts with the blocks of that depth collapsed."""
    depth = options.get("depth")
    analyze.run(spec, page=lambda net, report: to_html(net, report, depth=depth), **options)
