"""Errors that cnncalc reports to users.

Inner code raises :class:`SpecError` with a short reason and, where it knows
one, a location; the loader and the analyzer attach the file name and the
location of the YAML item once, so every message reads like a compiler's::

    net.yaml:14:5: error[shape]: conv 'conv3': kernel 7x7 does not fit input 5x5 (padding 0)
      help: use padding: 3, or a smaller kernel_size
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


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
            ``value``, ``shape``, ``name``, ``limit``.
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
        return text

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
