"""What every process serving tokens must agree on: codes used, families revoked, refresh generations.

Everything else is in the sealed tokens. Only ids are kept (a code's jti, a grant family's id),
never a key or a token. `MemoryStore` keeps them in this process, which is right for exactly one
process; `RedisStore` (`TWILL_MCP_REDIS_URL`, the `redis` extra) in Redis, for workers and replicas.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from pydantic import SecretStr

from twill_mcp.core import store

SWEEP_EVERY = 256


class StoreUnavailable(Exception):
    """The shared store did not answer: nothing can be decided that it must agree on."""


class GrantStore(Protocol):
    async def claim(self, jti: str, ttl: int) -> bool:
        """Use the code `jti` up: True the first time, False ever after (within `ttl`)."""
        ...

    async def rotate(self, family: str, generation: int, grace: int, ttl: int) -> int | None:
        """The generation of the refresh token to issue for one presented with `generation`, or None: a
        replay of an older one, which revokes the family."""
        ...

    async def revoke(self, family: str, ttl: int) -> None: ...

    async def revoked(self, family: str) -> bool: ...


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

    async def claim(self, jti: str, ttl: int) -> bool:
        with self._lock:
            now = self._clock()
            if self._used.get(jti, 0) > now:
                return False
            self._used[jti] = now + ttl
            self._wrote(now)
            return True

    async def rotate(self, family: str, generation: int, grace: int, ttl: int) -> int | None:
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

    async def revoke(self, family: str, ttl: int) -> None:
        with self._lock:
            now = self._clock()
            self._revoked[family] = now + ttl
            self._wrote(now)

    async def revoked(self, family: str) -> bool:
        # A read of one dict entry: atomic under the GIL, so the per-request path takes no lock.
        return self._revoked.get(family, 0) > self._clock()

    def _wrote(self, now: float) -> None:
        self._writes += 1
        if self._writes % SWEEP_EVERY:
            return
        self._used = {k: v for k, v in self._used.items() if v > now}
        self._revoked = {k: v for k, v in self._revoked.items() if v > now}
        self._generations = {k: v for k, v in self._generations.items() if v[2] > now}


# Rotation in one step, so two replicas refreshing the same token at once cannot both advance it.
# KEYS: the family's generation, its revocation. ARGV: presented generation, now, grace, ttl.
# Returns the generation to issue, or -1 (a replay: the family is revoked).
ROTATE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local presented, now, grace, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local known = redis.call('GET', KEYS[1])
local newest, at = nil, nil
if known then
  local sep = string.find(known, ':')
  newest, at = tonumber(string.sub(known, 1, sep - 1)), tonumber(string.sub(known, sep + 1))
end
if not known or presented == newest then
  redis.call('SET', KEYS[1], (presented + 1) .. ':' .. ARGV[2], 'EX', ttl)
  return presented + 1
end
if presented == newest - 1 and now - at <= grace then return newest end
redis.call('SET', KEYS[2], '1', 'EX', ttl)
return -1
"""
PREFIX = store.KEY_PREFIX + "oauth:"


class RedisStore:
    """`GrantStore` in Redis: what replicas and workers share. Keys are ids only; values hold no key or token."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        # Imported here: redis is an optional extra, needed only with TWILL_MCP_REDIS_URL.
        import redis

        self._errors = (redis.RedisError, OSError)
        # The client every user of the fleet's Redis gets (core.store): its timeouts and pool decided once.
        self._redis = store.connect(SecretStr(url))
        self._rotate = self._redis.register_script(ROTATE)
        self._clock = clock

    async def claim(self, jti: str, ttl: int) -> bool:
        try:
            return bool(await self._redis.set(f"{PREFIX}code:{jti}", 1, nx=True, ex=ttl))
        except self._errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None

    async def rotate(self, family: str, generation: int, grace: int, ttl: int) -> int | None:
        keys = [f"{PREFIX}fam:{family}:gen", f"{PREFIX}fam:{family}:revoked"]
        try:
            issued = int(await self._rotate(keys=keys, args=[generation, f"{self._clock():.3f}", grace, ttl]))
        except self._errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None
        return None if issued < 0 else issued

    async def revoke(self, family: str, ttl: int) -> None:
        try:
            await self._redis.set(f"{PREFIX}fam:{family}:revoked", 1, ex=ttl)
        except self._errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None

    async def revoked(self, family: str) -> bool:
        try:
            return bool(await self._redis.exists(f"{PREFIX}fam:{family}:revoked"))
        except self._errors as exc:
            raise StoreUnavailable(type(exc).__name__) from None
