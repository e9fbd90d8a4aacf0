"""Progress output on stderr for long work (quiet when stderr is not a terminal unless asked)."""

from __future__ import annotations

import sys
import time


class StderrProgress:
    """``progress(stage, done, total)`` callback that prints at most a few updates per second.

    On a terminal each update overwrites the line (``\\r`` and clear to end of line); elsewhere
    (a log file, a pipe) every update is a line of its own.
    """

    def __init__(self, enabled: bool | None = None, interval: float = 0.5) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.interval = interval
        self._last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done == total or now - self._last >= self.interval:
            self._last = now
            text = f"{stage}: {done}/{total}"
            if sys.stderr.isatty():
                end = "\n" if done == total else ""
                print(f"\r{text}\x1b[K", end=end, file=sys.stderr, flush=True)
            else:
                print(text, file=sys.stderr, flush=True)
