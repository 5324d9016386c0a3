"""One rate budget per key for every replica: `Budgets` kept in the Redis they share.

Same rule as `RateBudget`, kept server-side so that N processes send at most one key's allowance a
minute between them: a whole minute's allowance may go at once, a call beyond it queues when its
wait fits its deadline, else it is refused with when to retry and nothing is sent; a 429 seen by any
replica pauses the key for all of them.

Each call is one round trip: a Lua script, atomic on the server and timed by the server's clock (the
replicas' clocks never need to agree), *reserves* the call's send time, now or later, and the call
sleeps until then without asking again. The log of send times per key is a sorted set; a send time is
the earliest moment at which sending keeps every window of the last minute within the limit. Only
the key's non-reversible id names its Redis keys, and each carries a TTL, so nothing outlives the
window it describes.

Redis down or slow (past `TIMEOUT_SECONDS`) never fails a call: the process falls back to its own
per-process budget, says so once, and tries Redis again every `RETRY_SECONDS`; when it answers,
sharing resumes and that is said once too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

import anyio
from pydantic import SecretStr
from redis.exceptions import RedisError

from twill_mcp.core import metrics
from twill_mcp.core.store import KEY_PREFIX, TIMEOUT_SECONDS, connect, shown
from twill_mcp.upstream.budget import WINDOW_SECONDS, Kept, RateBudgets, held_back, refusal
from twill_mcp.upstream.outcomes import MIN_ATTEMPT_SECONDS

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0

# KEYS: the key's send times (sorted set, ms), its pause (until when, ms).
# ARGV: limit per window (0: only pauses), window ms, the longest wait the call accepts (ms), a unique member.
# Returns {1, wait ms} with the send time reserved, or {0, wait ms} with nothing recorded.
RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local limit, window, longest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local at = now
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > at then at = paused end
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[1])
  if count >= limit then
    local nth = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
    local free = tonumber(nth[2]) + window
    if free > at then at = free end
  end
end
local wait = at - now
if wait > 0 and wait > longest then return {0, wait} end
if limit > 0 then
  redis.call('ZADD', KEYS[1], at, ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(limit + 1))
  redis.call('PEXPIRE', KEYS[1], wait + window)
end
return {1, wait}
"""

# KEYS: the key's pause. ARGV: its length, ms. Only ever lengthens a pause.
PAUSE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local length = tonumber(ARGV[1])
if now + length > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], now + length, 'PX', length)
end
return 0
"""

# What a store that is down or slow raises: the client's own errors, the socket's, and our deadline.
DOWN = (RedisError, OSError, TimeoutError)


def redis_keys(key_id: str) -> list[str]:
    """The Redis keys of one Twill key's budget. The braces keep both in one slot of a Redis Cluster."""
    return [f"{KEY_PREFIX}budget:{{{key_id}}}:sent", f"{KEY_PREFIX}budget:{{{key_id}}}:pause"]


class SharedBudgets:
    def __init__(
        self,
        url: SecretStr,
        per_minute: int,
        *,
        window: float = WINDOW_SECONDS,
        timeout: float = TIMEOUT_SECONDS,
        retry_every: float = RETRY_SECONDS,
    ) -> None:
        self._client = connect(url, timeout)
        self._where = shown(url)
        self._per_minute = per_minute
        self._window_ms = round(window * 1000)
        self._timeout = timeout
        self._retry_every = retry_every
        self._local = RateBudgets(per_minute, window=window)
        self._reserve = self._client.register_script(RESERVE)
        self._pause = self._client.register_script(PAUSE)
        self._down = False
        self._next_try = 0.0

    def __repr__(self) -> str:
        return f"SharedBudgets({self._where})"

    async def acquire(self, key_id: str, deadline: float) -> None:
        if self._worth_trying():
            longest = (deadline - anyio.current_time() - MIN_ATTEMPT_SECONDS) * 1000
            member = os.urandom(8).hex()
            try:
                with anyio.fail_after(self._timeout):
                    granted, wait_ms = await self._reserve(
                        keys=redis_keys(key_id), args=[self._per_minute, self._window_ms, int(longest), member]
                    )
            except DOWN as exc:
                await self._went_down(exc)
            else:
                self._is_up()
                wait = int(wait_ms) / 1000
                if not granted:
                    raise refusal(wait)
                if wait > 0:
                    await held_back(wait)
                return
        await self._local.acquire(key_id, deadline)

    async def pause(self, key_id: str, seconds: float) -> None:
        # Held here too: should Redis go down now, this process still honours Twill's word.
        await self._local.pause(key_id, seconds)
        if not self._worth_trying():
            return
        try:
            with anyio.fail_after(self._timeout):
                await self._pause(keys=redis_keys(key_id)[1:], args=[max(1, round(seconds * 1000))])
        except DOWN as exc:
            await self._went_down(exc)
        else:
            self._is_up()

    async def kept(self) -> Kept:
        """Asks Redis (a PING) when the last word is older than the retry interval, so /healthz sees a return."""
        if self._worth_trying():
            try:
                with anyio.fail_after(self._timeout):
                    await self._client.ping()
            except DOWN as exc:
                await self._went_down(exc)
            else:
                self._is_up()
        return "per-process" if self._down else "shared"

    async def aclose(self) -> None:
        await self._client.aclose()

    def _worth_trying(self) -> bool:
        """Up, or down long enough that one caller may try again (the others keep to the local budget meanwhile)."""
        if not self._down:
            return True
        now = time.monotonic()
        if now < self._next_try:
            return False
        self._next_try = now + self._retry_every
        return True

    async def _went_down(self, exc: BaseException) -> None:
        self._next_try = time.monotonic() + self._retry_every
        if self._down:
            return
        self._down = True
        metrics.recorder.budget_fell_back()
        reason = type(exc).__name__ if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        logger.warning(
            "Redis at %s is unreachable or slow (%s): rate budgets are per process until it answers again",
            self._where,
            reason.splitlines()[0],
        )
        # The idle pooled connections died with it: were they kept, each would fail once after Redis returns.
        # Those in use are left to the calls using them, which would otherwise fail too.
        with anyio.move_on_after(self._timeout), contextlib.suppress(*DOWN):
            await self._client.connection_pool.disconnect(inuse_connections=False)

    def _is_up(self) -> None:
        if self._down:
            self._down = False
            logger.warning("Redis at %s answers again: rate budgets are shared by every replica again", self._where)
