"""Progress output on stderr for long work (quiet when stderr is not a terminal unless asked)."""

from __future__ import annotations

import sys
import time


class StderrProgress:
    """``progress(stage, done, total)`` callback that prints at most a few lines per second."""

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
            end = "\n" if done == total else "\r"
            print(f"{stage}: {done}/{total}", end=end, file=sys.stderr, flush=True)
