"""``cnncalc solve padding|output|stride`` and ``cnncalc sizes``: the one-axis window
arithmetic solved for what is unknown; exit 1 when nothing fits."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cnncalc.analysis.sweep import parse_range
from cnncalc.homework import text as out
from cnncalc.homework.solve import sizes as find_sizes
from cnncalc.homework.solve import solve_output, solve_padding, solve_stride
from cnncalc.options import usage

EXIT_FINDINGS = 1


def padding(input: int, kernel: int, stride: int, output: int, dilation: int, format: str) -> None:
    """Every padding that gives ``output``; exit 1 if none does."""
    r = solve_padding(input, kernel, stride, output, dilation)
    if format == "json":
        sys.stdout.write(out.padding_json(r, input, kernel, stride, dilation, output))
    else:
        sys.stdout.write(out.padding_text(r, input, stride, output))
    if not r["totals"]:
        raise typer.Exit(EXIT_FINDINGS)


def output(input: int, kernel: int, stride: int, padding: int, dilation: int, transposed: bool,
           output_padding: int, format: str) -> None:
    """The output size of one window (or a transposed convolution)."""
    step = solve_output(input, kernel, stride, padding, dilation, transposed, output_padding)
    sys.stdout.write(out.output_json(step) if format == "json" else out.output_text(step))


def stride(input: int, kernel: int, output: int, dilation: int, format: str) -> None:
    """Stride and symmetric padding pairs that give ``output``; exit 1 if none."""
    found = solve_stride(input, kernel, output, dilation)
    sys.stdout.write(out.stride_json(found) if format == "json" else out.stride_text(found))
    if not found:
        raise typer.Exit(EXIT_FINDINGS)


def size_range(text: str) -> range:
    """The sizes of ``--range``: START:STOP (both included), or sweep's range token
    ``{START..STOP..STEP}`` (:func:`cnncalc.analysis.sweep.parse_range`); at most 100,000.

    Raises:
        SpecError: neither spelling, an empty range, or too many sizes (kind ``usage``).
    """
    sizes = parse_range(text, "--range")
    if sizes is None:
        try:
            start, stop = (int(v) for v in text.split(":"))
        except ValueError:
            raise usage("sizes", f"--range '{text}' is neither START:STOP nor {{START..STOP..STEP}}",
                        "e.g. --range 400:700 or --range '{400..700..2}'") from None
        if not 1 <= start <= stop:
            raise usage("sizes", "--range needs 1 <= START <= STOP and at most 100,000 sizes")
        sizes = range(start, stop + 1)
    if len(sizes) > 100_001:
        raise usage("sizes", "--range needs 1 <= START <= STOP and at most 100,000 sizes")
    return sizes


def sizes(spec: Path, range_: str, format: str) -> None:
    """Input sizes in ``--range`` (:func:`size_range`) at which every window tiles exactly;
    exit 1 if none."""
    tried = size_range(range_)
    found = find_sizes(spec, tried)  # a spec that cannot be read at all raises: exit 2
    if format == "json":
        sys.stdout.write(out.sizes_json(found, tried))
    else:
        sys.stdout.write(out.sizes_text(found, tried))
    if not found:
        raise typer.Exit(EXIT_FINDINGS)
