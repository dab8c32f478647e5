"""``cnncalc view``: the network drawn as a self-contained HTML page, an SVG or a PNG."""

from __future__ import annotations

import sys
from pathlib import Path

from cnncalc.analysis.analyze import analyze
from cnncalc.core.errors import SpecError
from cnncalc.io.load import load
from cnncalc.options import depth_note, parse_input
from cnncalc.present import view as pictures

FORMATS = ("html", "svg", "png")


def run(spec: Path, output: Path | None, format: str | None, what: str, input: str | None,
        batch: int | None, dtype: str, depth: int | None, dilation_base: int,
        erf: bool = True, width: int = pictures.WRAP_WIDTH) -> None:
    """Draw ``spec``; the format is ``format``, else ``output``'s suffix, else html. A suffix
    that names no format (``-o net.pdf``) is refused, naming the formats, before anything is
    read or written. ``what`` and ``depth`` hold for every format (the page: the chart in the
    graph's place; the blocks named with ``depth`` dotted levels collapsed at first). ``erf``
    (the page only): carry and draw the centre units' effective receptive fields. ``width``
    (SVG and PNG): the pixels the graph's columns are wrapped into (0: one column)."""
    if format is None:
        suffix = output.suffix.lower().lstrip(".") if output is not None else ""
        if suffix and suffix not in FORMATS:
            raise SpecError(f"cannot tell the format from the suffix .{suffix}: the formats are "
                            + ", ".join(FORMATS), file=str(output), kind="usage",
                            help="name the file .html, .svg or .png, or give --format")
        format = suffix or "html"
    if format == "png" and output is None:
        raise SpecError("a PNG is written to a file", kind="usage", help="add -o net.png")
    net = load(spec, input_shape=parse_input(input, "view"), batch=batch, dilation_base=dilation_base)
    report = analyze(net, dtype=dtype)
    notes = [depth_note([r.name for r in report.layers], depth)]
    if format in ("png", "svg") and width:
        drawn = pictures.drawn_width(net, report, what, depth, width)
        if drawn is not None and drawn > width:
            notes.append(f"the picture is {drawn:g} pixels wide, wider than --width {width}: "
                         "one column, its narrowest drawing")
    if format == "png":
        try:
            data = pictures.to_png(net, report, what, depth, width)
        except ImportError:
            raise SpecError("PNG pictures need matplotlib, which is not installed", kind="usage",
                            help="pip install 'cnncalc[png]', or write SVG: -f svg") from None
    elif format == "svg":
        data = pictures.to_svg(net, report, what, depth, width).encode("utf-8")
    else:
        data = pictures.to_html(net, report, what, depth, erf).encode("utf-8")
    sys.stderr.write("".join(f"note: {note}\n" for note in notes if note))  # once drawn
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise SpecError(f"cannot write the picture: {exc.strerror}", file=str(output), kind="io",
                        help="check that the folder exists and can be written") from None
    sys.stderr.write(f"wrote {output} ({len(data):,} bytes)\n")
