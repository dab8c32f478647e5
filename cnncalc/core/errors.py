"""Errors that cnncalc reports to users.

Inner code raises :class:`SpecError` with a short reason and, where it knows
one, a location; the loader and the analyzer attach the file name and the
location of the YAML item once, so every message reads like a compiler's::

    net.yaml:14:5: error[shape]: conv 'conv3': kernel 7x7 does not fit input 5x5 (padding 0)
      help: use padding: 3, or a smaller kernel_size
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

# Characters that change what a terminal shows instead of showing themselves: C0 and C1 controls
# (but newline and tab), and Unicode's bidirectional controls (U+202A-U+202E, U+2066-U+2069,
# U+200E, U+200F, U+061C), with which a name can reorder the text around it (CVE-2021-42574).
_UNSHOWN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSHOWN_KEEP_ESC = re.compile("[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\u061c\u200e\u200f"
                               "\u202a-\u202e\u2066-\u2069]")


def printable(text: str, keep_escape: bool = False) -> str:
    """``text`` with every control and bidirectional-control character written as an escape
    (``\\u202e``, ``\\x1b``), so that a name echoed to a terminal shows what it holds.

    Args:
        text: what is about to be shown.
        keep_escape: leave ESC (``\\x1b``) alone: the colours rich writes on a terminal.
    """
    pattern = _UNSHOWN_KEEP_ESC if keep_escape else _UNSHOWN
    return pattern.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                       else f"\\u{ord(m.group()):04x}", text)


@dataclass(frozen=True)
class Loc:
    """A position in a spec file: 1-based line and column."""

    line: int
    column: int


class SpecError(Exception):
    """A spec that cannot be read, validated or analysed.

    Attributes:
        message: what is wrong, in one sentence.
        file: the spec's path as the user gave it (None for in-memory text).
        loc: line and column (1-based) of the YAML item at fault, or None.
        help: how to fix it, or None.
        kind: a short category shown in brackets: ``syntax``, ``spec``,
            ``value``, ``shape``, ``name``, ``limit``, ``io``, ``input``, ``weights``,
            ``onnx``, ``usage``.
        notes: where the error was reached from (``in block 'b' used at line 8,
            column 5``), innermost first, each shown as a ``note:`` line after the help.
    """

    def __init__(
        self,
        message: str,
        loc: Loc | None = None,
        *,
        help: str | None = None,
        kind: str = "spec",
        file: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.help = help
        self.kind = kind
        self.file = file
        self.notes: list[str] = []

    @property
    def line(self) -> int | None:
        return self.loc.line if self.loc else None

    @property
    def column(self) -> int | None:
        return self.loc.column if self.loc else None

    def located(self, loc: Loc | None = None, file: str | None = None) -> SpecError:
        """Fill in the location and file where they are still unknown; return self."""
        if self.loc is None and loc is not None:
            self.loc = loc
        if self.file is None and file is not None:
            self.file = file
        return self

    def format(self) -> str:
        """The message as ``file:line:col: error[kind]: message`` plus a help line."""
        where = self.file or "<spec>"
        if self.loc is not None:
            where += f":{self.loc.line}:{self.loc.column}"
        text = f"{where}: error[{self.kind}]: {self.message}"
        if self.help:
            text += f"\n  help: {self.help}"
        for note in self.notes:
            text += f"\n  note: {note}"
        return "\n".join(printable(line) for line in text.split("\n"))

    def __str__(self) -> str:
        return self.format()


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most similar to ``name`` (difflib ratio >= 0.6), or None."""
    found = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def suggestion(name: str, candidates: Iterable[str], what: str) -> str:
    """A help text: 'did you mean X?' and the valid names."""
    candidates = sorted(set(candidates))
    near = closest(name, candidates)
    listing = ", ".join(candidates)
    if near is not None:
        return f"did you mean '{near}'? valid {what}: {listing}"
    return f"valid {what}: {listing}"
