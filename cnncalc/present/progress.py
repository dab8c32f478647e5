"""Progress on stderr for long runs (run, verify); rich's progress module is imported
only by the commands that run the executor."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import Progress as RichProgress


class Progress:
    """Progress on stderr, called as ``progress(done, total, name)`` by the executor and
    by verify: a bar once a run has lasted a second, on a terminal; with ``lines``, when
    stderr is not a terminal (a log, CI), a line every few seconds once the run has lasted
    two ("verifying: receptive fields, axis 0: 120/515 layer3.4.conv2 (4 s)"), so that
    stdout stays clean (JSON stays parseable)."""

    LINE_AFTER, LINE_EVERY = 2.0, 3.0  # seconds

    def __init__(self, what: str, lines: bool = False) -> None:
        self.what, self.start, self.bar, self.task = what, time.monotonic(), None, None
        self.total = 0
        self.lines, self.next_line = lines, self.start + self.LINE_AFTER

    def __call__(self, done: int, total: int, name: str) -> None:
        now = time.monotonic()
        if not sys.stderr.isatty():
            if self.lines and now >= self.next_line:
                self.next_line = now + self.LINE_EVERY
                sys.stderr.write(f"{self.what}: {done}/{total} {name} ({now - self.start:.0f} s)\n")
                sys.stderr.flush()
            return
        if self.bar is None:
            if now - self.start < 1.0:
                return
            self.bar = RichProgress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=total)
        self.bar.update(self.task, completed=done, total=total, description=f"{self.what} {name}")

    def close(self) -> None:
        """Remove the bar, if one was shown."""
        if self.bar is not None:
            self.bar.stop()
