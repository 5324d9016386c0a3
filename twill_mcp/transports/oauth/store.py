"""What every process serving tokens must agree on: codes used, families revoked, refresh generations.

Everything else is in the sealed tokens. Only ids are kept (a code's jti, a grant family's id),
never a key or a token. `MemoryStore` keeps them in this process, which is right for exactly one
process: start-up refuses `--workers > 1` in OAuth mode (a shared store is not built yet).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

SWEEP_EVERY = 256


class GrantStore(Protocol):
    def claim(self, jti: str, ttl: float) -> bool:
        """Use the code `jti` up: True the first time, False ever after (within `ttl`)."""
        ...

    def rotate(self, family: str, generation: int, grace: float, ttl: float) -> int | None:
        """The generation of the refresh token to issue for one presented with `generation`, or None: a
        replay of an older one, which revokes the family."""
        ...

    def revoke(self, family: str, ttl: float) -> None: ...

    def revoked(self, family: str) -> bool: ...


class MemoryStore:
    """`GrantStore` in this process; entries expire, so it stays as small as the grants in use."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._used: dict[str, float] = {}
        self._revoked: dict[str, float] = {}
        # family -> (newest generation issued, when it was, expiry of the entry)
        self._generations: dict[str, tuple[int, float, float]] = {}
        self._writes = 0

    def claim(self, jti: str, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            if self._used.get(jti, 0) > now:
                return False
            self._used[jti] = now + ttl
            self._wrote(now)
            return True

    def rotate(self, family: str, generation: int, grace: float, ttl: float) -> int | None:
        with self._lock:
            now = self._clock()
            if self._revoked.get(family, 0) > now:
                return None
            known = self._generations.get(family)
            if known is None or known[2] <= now or generation == known[0]:
                # Unknown here (first refresh, or this process restarted): the presented one is the newest.
                self._generations[family] = (generation + 1, now, now + ttl)
                self._wrote(now)
                return generation + 1
            newest, rotated_at, _ = known
            if generation == newest - 1 and now - rotated_at <= grace:
                # A parallel refresh of the same token (claude.ai sends them from two addresses): both win.
                return newest
            self._revoked[family] = now + ttl
            self._wrote(now)
            return None

    def revoke(self, family: str, ttl: float) -> None:
        with self._lock:
            now = self._clock()
            self._revoked[family] = now + ttl
            self._wrote(now)

    def revoked(self, family: str) -> bool:
        # A read of one dict entry: a GIL-atomic lookup needs no lock on the per-request path.
        return self._revoked.get(family, 0) > self._clock()

    def _wrote(self, now: float) -> None:
        self._writes += 1
        if self._writes % SWEEP_EVERY:
            return
        self._used = {k: v for k, v in self._used.items() if v > now}
        self._revoked = {k: v for k, v in self._revoked.items() if v > now}
        self._generations = {k: v for k, v in self._generations.items() if v[2] > now}
