"""The ``cnncalc`` command: parses arguments, calls the core, renders, picks the exit code.

Exit codes: 0 ok; 1 findings (a check or lint that found something); 2 bad
input or usage (the message names file, line and column); 3 an internal error
(a bug in cnncalc: please report it with the spec).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer

from . import __version__
from .errors import SpecError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Exact per-layer arithmetic of convolutional networks written as YAML.",
)


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


class DType(str, Enum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    float64 = "float64"
    int8 = "int8"


def _version(value: bool) -> None:
    if value:
        print(f"cnncalc {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Exact per-layer arithmetic of convolutional networks written as YAML."""


def _console():
    from rich.console import Console

    # piped output keeps whole rows instead of folding to 80 columns
    return Console(width=None if sys.stdout.isatty() else 240, highlight=False)


def _parse_input(text: str | None) -> tuple[int, ...] | None:
    from .spec import parse_shape_text

    if text is None:
        return None
    try:
        return parse_shape_text(text)
    except ValueError:
        raise SpecError(
            f"--input '{text}' is not a shape", kind="usage",
            help="channels first, without batch: --input 3x227x227",
        ) from None


@app.command()
def analyze(
    spec: Path = typer.Argument(..., help="The network spec (YAML)."),
    format: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    input: str = typer.Option(None, "--input", "-i",
                              help="Override the input shape, channels first: 3x227x227."),
    batch: int = typer.Option(None, "--batch", "-b", min=1, help="Override the batch size."),
    dtype: DType = typer.Option(DType.float32, "--dtype", help="Element type for byte counts."),
    max_layers: int = typer.Option(100_000, "--max-layers", min=1,
                                   help="Refuse specs that expand to more layers."),
    depth: int = typer.Option(None, "--depth", "-d", min=1,
                              help="Group rows deeper than N dotted levels into their block "
                                   "(table, markdown, csv; JSON always lists every layer)."),
) -> None:
    """Per layer: output shape, parameters, MACs, FLOPs, activation memory, receptive field."""
    from . import render
    from .analyze import analyze as run_analysis
    from .spec import load

    net = load(spec, input_shape=_parse_input(input), batch=batch, max_nodes=max_layers)
    report = run_analysis(net, dtype=dtype.value)
    if format is Format.json:
        sys.stdout.write(render.to_json(report))
    elif format is Format.markdown:
        sys.stdout.write(render.to_markdown(report, depth))
    elif format is Format.csv:
        sys.stdout.write(render.to_csv(report, depth))
    else:
        render.to_table(report, _console(), depth)


@app.command()
def layers() -> None:
    """List the layer types with their parameters and defaults."""
    from rich.table import Table
    from rich.text import Text

    from .layers import REGISTRY
    from .layers.base import REQUIRED

    table = Table(title="cnncalc layer types")
    for col in ("type", "family", "what", "parameters (default)"):
        table.add_column(col)
    for name, cls in REGISTRY.items():
        params = ", ".join(
            p.name + ("" if p.default is REQUIRED else f" ({p.default})") for p in cls.params
        )
        suffix = " (+1d/2d/3d)" if cls.spatial else ""
        table.add_row(Text(name + suffix), Text(cls.family), Text(cls.summary), Text(params))
    _console().print(table)


def main() -> None:
    """Console entry point: maps errors to exit codes, never shows a traceback."""
    try:
        app()
    except SpecError as exc:
        sys.stderr.write(exc.format() + "\n")
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.stderr.write("cnncalc: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(EXIT_OK)
    except Exception as exc:  # a bug: say so plainly instead of a traceback
        sys.stderr.write(
            f"cnncalc: internal error: {type(exc).__name__}: {exc}\n"
            "  please report it with the spec that caused it\n"
        )
        sys.exit(EXIT_INTERNAL)
