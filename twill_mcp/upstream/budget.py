"""Client-side shares of Twill's per-key rate limit, so parallel calls queue instead of collecting 429s.

Twill counts requests per key, so the budget is kept per key: one process serving many
users (the HTTP transport) never lets one user's calls hold back another's. `Budgets` is
what the request path needs of them; `RateBudgets` keeps them in this process, and
`shared_budget.SharedBudgets` in a Redis every replica shares (TWILL_MCP_REDIS_URL).
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal, Protocol

import anyio

from twill_mcp.core import metrics
from twill_mcp.core.errors import RateLimited
from twill_mcp.upstream.outcomes import MIN_ATTEMPT_SECONDS

WINDOW_SECONDS = 60.0
MAX_KEYS = 10_000

Sleep = Callable[[float], Awaitable[None]]
Kept = Literal["shared", "per-process"]
"""Where the budgets are kept right now: shared by every replica, or this process's own."""

if TYPE_CHECKING:
    from twill_mcp.core.config import Settings


class Budgets(Protocol):
    """The rate budget of every key, wherever it is kept (this process, or a store replicas share)."""

    async def acquire(self, key_id: str, deadline: float) -> None:
        """Take one request from the key's budget, waiting while the wait fits the deadline (anyio clock).

        Raises `RateLimited`, with when to retry, when it does not: nothing is sent then.
        """
        ...

    async def pause(self, key_id: str, seconds: float) -> None:
        """Hold back every request of the key for `seconds`: Twill refused one (429) and said for how long."""
        ...

    async def kept(self) -> Kept:
        """Where the budgets are kept now, for /healthz and doctor."""
        ...

    async def aclose(self) -> None: ...


def budgets_for(settings: Settings) -> Budgets:
    """The budgets a server keeps for these settings: shared through Redis when a URL is set, else its own."""
    if settings.redis_url is None:
        return RateBudgets(settings.rate_limit)
    # Imported only then: serving without Redis never loads the redis package.
    from twill_mcp.upstream.shared_budget import SharedBudgets

    return SharedBudgets(settings.redis_url, settings.rate_limit)


def refusal(wait: float) -> RateLimited:
    """What a call is told when the wait for its key's budget would not fit in its deadline."""
    metrics.recorder.budget_refused()
    return RateLimited(
        "The rate limit for this key is used up; nothing was sent.",
        retry_after=float(math.ceil(wait)),
        hint=f"Wait {math.ceil(wait)} s before calling again, or make fewer calls in parallel.",
    )


async def held_back(seconds: float) -> None:
    """A request waits for its key's budget: the one place such waits happen, so each is counted."""
    metrics.recorder.budget_waited(seconds)
    await anyio.sleep(seconds)


class RateBudget:
    """One key's budget. Twill counts requests per minute, so the whole minute's allowance may
    go out in a burst: a call waits only when the API itself would have refused it, and fails at
    once (with when to retry) when that wait would not fit in its deadline.
    """

    def __init__(self, per_minute: int, window: float = WINDOW_SECONDS) -> None:
        self._limit = per_minute
        self._window = window
        self._sent: deque[float] = deque()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold back every call of the key: Twill refused one (429) and said for how long."""
        self._paused_until = max(self._paused_until, anyio.current_time() + seconds)

    def idle(self, now: float) -> bool:
        """Nothing in the window and no pause: forgetting this budget loses nothing."""
        return self._paused_until <= now and (not self._sent or self._sent[-1] <= now - self._window)

    async def acquire(self, deadline: float) -> None:
        while True:
            now = anyio.current_time()
            while self._sent and self._sent[0] <= now - self._window:
                self._sent.popleft()
            wait = self._paused_until - now
            if self._limit and len(self._sent) >= self._limit:
                wait = max(wait, self._sent[0] + self._window - now)
            if wait <= 0:
                self._sent.append(now)
                return
            if now + wait + MIN_ATTEMPT_SECONDS > deadline:
                raise refusal(wait)
            await held_back(wait)


class RateBudgets:
    """`Budgets` kept in this process: one per key, under the key's non-reversible id; bounded in number,
    idle ones forgotten first."""

    def __init__(
        self,
        per_minute: int,
        *,
        window: float = WINDOW_SECONDS,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self._per_minute = per_minute
        self._window = window
        self._max_keys = max_keys
        self._budgets: OrderedDict[str, RateBudget] = OrderedDict()

    def __len__(self) -> int:
        return len(self._budgets)

    async def acquire(self, key_id: str, deadline: float) -> None:
        await self(key_id).acquire(deadline)

    async def pause(self, key_id: str, seconds: float) -> None:
        self(key_id).pause(seconds)

    async def kept(self) -> Kept:
        return "per-process"

    async def aclose(self) -> None:
        pass

    def __call__(self, key_id: str) -> RateBudget:
        budget = self._budgets.get(key_id)
        if budget is not None:
            self._budgets.move_to_end(key_id)
            return budget
        if len(self._budgets) >= self._max_keys:
            self._evict()
        budget = self._budgets[key_id] = RateBudget(self._per_minute, self._window)
        return budget

    def _evict(self) -> None:
        now = anyio.current_time()
        for key_id in [k for k, b in self._budgets.items() if b.idle(now)]:
            del self._budgets[key_id]
        # Still full of busy keys: drop the least recently used; Twill's own 429 still protects it.
        while len(self._budgets) >= self._max_keys:
            self._budgets.popitem(last=False)
