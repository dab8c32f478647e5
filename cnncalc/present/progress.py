"""A progress bar on stderr for long runs (run, verify); rich's progress module is imported
only by the commands that run the executor."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import Progress as RichProgress


class Progress:
    """A progress bar on stderr that appears only once a run has lasted a second.

    Called as ``progress(done, total, name)`` by the executor and by verify.
    """

    def __init__(self, what: str) -> None:
        self.what, self.start, self.bar, self.task = what, time.monotonic(), None, None
        self.total = 0

    def __call__(self, done: int, total: int, name: str) -> None:
        if self.bar is None:
            if time.monotonic() - self.start < 1.0 or not sys.stderr.isatty():
                return
            self.bar = RichProgress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=total)
        self.bar.update(self.task, completed=done, description=f"{self.what} {name}")

    def close(self) -> None:
        """Remove the bar, if one was shown."""
        if self.bar is not None:
            self.bar.stop()
