"""The command line's one option vocabulary, shared by every command.

Every command that takes these options declares them from here, so that an
option means the same thing everywhere (docs/cli.md):

- ``-i/--input``: always an input *shape*, channels first, without batch
  (``3x224x224``); parse it with :func:`parse_input`.
- ``--data``: a data file (``.npy``), where a command reads values.
- ``-f/--format``: the output format; each command offers only the formats it
  honours, and ``json`` on every command.

A new command declares them like this::

    from cnncalc.options import InputShape, formats, format_option, parse_input

    MyFormat = formats("table", "json")

    @app.command()
    def mine(spec: Path = typer.Argument(...),
             input: InputShape = None,
             format: MyFormat = format_option(MyFormat)) -> None:
        shape = parse_input(input, "mine")
        if format == "json": ...
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from cnncalc.core.errors import SpecError
from cnncalc.io.spec import parse_shape_text

InputShape = Annotated[str | None, typer.Option(
    "--input", "-i", help="Input shape, channels first, without batch: 3x224x224.")]

FORMAT_HELP = {
    "table": "a table for reading",
    "text": "text for reading",
    "json": "JSON for scripts",
    "markdown": "a Markdown table",
    "csv": "CSV, one row per layer",
    "github": "GitHub Actions annotations",
    "sarif": "SARIF 2.1.0 for code scanning",
}


def formats(*names: str) -> type[StrEnum]:
    """An enumeration of the formats one command honours (the first is the default)."""
    if "json" not in names:
        raise ValueError("every command offers json")
    return StrEnum("Format_" + "_".join(names), {n: n for n in names})


def format_option(choices: type[StrEnum], help: str | None = None):
    """The ``-f/--format`` option over ``choices``, defaulting to the first."""
    first = next(iter(choices))
    if help is None:
        help = "Output format: " + "; ".join(f"{c.value}, {FORMAT_HELP.get(c.value, c.value)}"
                                            for c in choices) + "."
    return typer.Option(first, "--format", "-f", help=help, case_sensitive=False)


def parse_input(text: str | None, command: str) -> tuple[int, ...] | None:
    """The shape given to ``-i/--input``, or None.

    Raises:
        SpecError: not a shape (kind ``usage``, labelled with the command).
    """
    if text is None:
        return None
    try:
        return parse_shape_text(text)
    except ValueError:
        hint = "channels first, without batch: --input 3x227x227"
        if text.lower().endswith((".npy", ".npz")):
            hint = f"--input is a shape; give a data file with --data {text}"
        raise usage(command, f"--input '{text}' is not a shape", hint) from None


def usage(command: str, message: str, help: str | None = None) -> SpecError:
    """A usage error not about a spec file: labelled ``cnncalc COMMAND``, not ``<spec>``."""
    return SpecError(message, kind="usage", help=help, file=f"cnncalc {command}")


def depth_note(names: list[str], depth: int | None) -> str | None:
    """The note for a ``--depth`` that groups nothing (``analyze``, ``view``): ``depth`` at
    least the dotted levels of the deepest layer name among ``names`` (``layer1.0.conv1``:
    3 levels, so ``--depth 3`` or more leaves every layer on its own). None when ``depth``
    is None or groups some layers."""
    if depth is None or not names:
        return None
    deepest = max(names, key=lambda n: n.count("."))
    levels = deepest.count(".") + 1
    if depth < levels:
        return None
    if levels == 1:
        return (f"--depth {depth} groups nothing: no layer name has a dotted block prefix, "
                "so every layer stands alone")
    return (f"--depth {depth} groups nothing: the deepest layer name, {deepest}, has {levels} "
            f"dotted levels, so every layer stands alone; --depth 1 to {levels - 1} group blocks")
