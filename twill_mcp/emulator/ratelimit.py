"""Per-key sliding-window rate limiting on the injectable clock."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Sequence

from twill_mcp.emulator.times import Clock


class RateLimiter:
    """Every window must have room for a request to pass; rejected requests do not count."""

    def __init__(self, clock: Clock, windows: Sequence[tuple[int, float]]) -> None:
        self.clock = clock
        self.windows = [(limit, seconds) for limit, seconds in windows if limit > 0]
        self._hits: dict[tuple[str, float], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> int | None:
        """Record a request; None when allowed, else the whole seconds to wait (for Retry-After)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            logs = []
            for limit, seconds in self.windows:
                log = self._hits.setdefault((key, seconds), deque())
                while log and log[0] <= now - seconds:
                    log.popleft()
                if len(log) >= limit:
                    wait = max(wait, log[0] + seconds - now)
                logs.append(log)
            if wait > 0:
                return max(1, math.ceil(wait))
            for log in logs:
                log.append(now)
        return None

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
