"""Progress of a long call (a followed log stream) as one status line on a terminal.

Only for a person watching: when stderr is not a terminal (a pipe, a log file, a host)
nothing is written, so scripts read the same output as before.
"""

from __future__ import annotations

import time
from typing import TextIO

# Return to the line's start and clear it, so each update replaces the last.
REWRITE = "\r\033[K"


class ProgressLine:
    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream = stream
        self._label = label
        self._started = time.monotonic()
        self._shown = False

    @classmethod
    def on(cls, stream: TextIO, label: str) -> ProgressLine | None:
        return cls(stream, label) if stream.isatty() else None

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        count = f"{progress:g}" + (f"/{total:g}" if total else "")
        text = f"{self._label}: {time.monotonic() - self._started:.0f} s, {count}" + (f", {message}" if message else "")
        self._stream.write(REWRITE + text)
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        """End the status line, so what follows starts on a line of its own."""
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()
