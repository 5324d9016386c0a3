"""The one place that talks HTTP to Twill.

One shared `httpx2.AsyncClient` per server: a keep-alive pool, explicit timeouts, no
redirects (the key must only ever reach the configured origin), a capped body read,
and a single mapping from transport failures to the errors an agent can act on.
Whether a failed request *may have reached Twill* decides between "try again" and
"the outcome is unknown", so the request's progress is traced, not guessed.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar

import anyio
import httpx2

from twill_mcp import __version__
from twill_mcp.config import Settings
from twill_mcp.errors import (
    MissingApiKey,
    OutcomeUnknown,
    RateLimited,
    ToolCallError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from twill_mcp.request import PreparedRequest

logger = logging.getLogger(__name__)

USER_AGENT = f"twill-mcp/{__version__}"
T = TypeVar("T")
FailureKind = Literal["deadline", "timeout", "error"]

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
# A retry is only worth starting if this much of the deadline is left for it.
MIN_ATTEMPT_SECONDS = 1.0
RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: httpx2.Headers
    body: bytes
    truncated: bool
    """The body was longer than the configured cap and was cut there."""


@dataclass(frozen=True, slots=True)
class Effect:
    """What repeating or losing a request means for the operation that sent it."""

    read_only: bool
    idempotent: bool
    what: str
    """The action in words, for messages: 'cancel the task'."""


class TwillHttp:
    def __init__(self, settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._client = httpx2.AsyncClient(
            base_url=settings.base_url,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            timeout=httpx2.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.read_timeout,
                pool=settings.connect_timeout,
            ),
            follow_redirects=False,
            transport=transport,
            trust_env=False,
        )
        self._budget = RateBudget(settings.rate_limit)

    def __repr__(self) -> str:
        return f"TwillHttp(base_url={self._settings.base_url!r})"

    async def __aenter__(self) -> TwillHttp:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    @property
    def call_timeout(self) -> float:
        return self._settings.call_timeout

    @property
    def max_response_bytes(self) -> int:
        return self._settings.max_response_bytes

    def redact(self, text: str) -> str:
        """The text with the key replaced, for anything Twill (or a proxy) might have echoed back."""
        key = self._settings.api_key
        return text.replace(key.get_secret_value(), "[redacted]") if key else text

    async def send(self, request: PreparedRequest, effect: Effect) -> RawResponse:
        """Send one request and read its whole (capped) body."""
        return await self.exchange(request, effect, self.read_capped)

    async def read_capped(self, response: httpx2.Response) -> RawResponse:
        """The body up to the configured cap; past it, cut and marked truncated."""
        cap = self._settings.max_response_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                chunks.append(chunk[: len(chunk) - (size - cap)])
                return RawResponse(response.status_code, response.headers, b"".join(chunks), truncated=True)
            chunks.append(chunk)
        return RawResponse(response.status_code, response.headers, b"".join(chunks), truncated=False)

    async def exchange(
        self,
        request: PreparedRequest,
        effect: Effect,
        consume: Callable[[httpx2.Response], Awaitable[T]],
        *,
        accept: str | None = None,
        read_timeout: float | None = None,
    ) -> T:
        """Send one request, retrying what is safe to retry, and hand the response to `consume`.

        Every attempt and every wait fits in one deadline (`call_timeout`). A transport
        failure becomes the matching `ToolCallError`; what `consume` returns is returned.
        """
        key = self._settings.api_key
        if key is None:
            raise MissingApiKey(
                "No Twill API key is configured, so nothing was sent.",
                hint=(
                    "Ask the user to set TWILL_API_KEY in this MCP server's environment (a key from "
                    "Twill workspace settings → API Keys) and restart the server."
                ),
            )
        deadline = anyio.current_time() + self._settings.call_timeout
        attempt = 0
        while True:
            await self._budget.acquire(deadline)
            progress = _Progress()
            try:
                with anyio.fail_after(max(deadline - anyio.current_time(), 0.001)):
                    return await self._attempt(
                        request,
                        key.get_secret_value(),
                        progress,
                        consume,
                        accept,
                        read_timeout,
                        effect,
                        attempt,
                        deadline,
                    )
            except _Retry as retry:
                wait, why = retry.wait, retry.why
            except TimeoutError:
                # The deadline itself: nothing is left to retry with.
                raise self._failure(effect, progress, "deadline", None) from None
            except (httpx2.TransportError, httpx2.DecodingError) as exc:
                # A body that fails to decode (bad gzip) was sent and answered: the same as a lost answer.
                failure = self._failure(
                    effect, progress, "timeout" if isinstance(exc, httpx2.TimeoutException) else "error", exc
                )
                wait = self._backoff(attempt)
                if not (failure.is_retryable and self._fits(attempt, wait, deadline)):
                    raise failure from None
                why = failure.error_code
            attempt += 1
            logger.info("retrying to %s after %s, in %.1f s (retry %d)", effect.what, why, wait, attempt)
            await anyio.sleep(wait)

    async def _attempt(
        self,
        request: PreparedRequest,
        key: str,
        progress: _Progress,
        consume: Callable[[httpx2.Response], Awaitable[T]],
        accept: str | None,
        read_timeout: float | None,
        effect: Effect,
        attempt: int,
        deadline: float,
    ) -> T:
        headers = {"Authorization": f"Bearer {key}"}
        if accept:
            headers["Accept"] = accept
        timeout = self._client.timeout
        if read_timeout is not None:
            timeout = httpx2.Timeout(connect=timeout.connect, read=read_timeout, write=timeout.write, pool=timeout.pool)
        async with self._client.stream(
            request.method,
            request.path,
            params=request.params or None,
            json=request.json_body if request.has_body else None,
            headers=headers,
            timeout=timeout,
            extensions={"trace": progress.trace},
        ) as response:
            status = response.status_code
            if status == 429:
                # The API counts for every client of this key: hold everyone back, not just this call.
                self._budget.pause(retry_after_seconds(response.headers.get("retry-after")) or self._backoff(attempt))
            wait = self._status_wait(status, response.headers, effect, attempt)
            if wait is not None and self._fits(attempt, wait, deadline):
                await response.aclose()
                raise _Retry(wait, f"HTTP {status}")
            return await consume(response)

    def _status_wait(self, status: int, headers: httpx2.Headers, effect: Effect, attempt: int) -> float | None:
        """How long to wait before retrying an answer with this status; None if it must not be retried.

        A 429 provably did nothing, so any operation may retry it. A 5xx may have acted
        half-way, so only operations that are safe to repeat retry it.
        """
        if status == 429:
            return retry_after_seconds(headers.get("retry-after")) or self._backoff(attempt)
        if status in RETRYABLE_STATUSES and (effect.idempotent or effect.read_only):
            return retry_after_seconds(headers.get("retry-after")) or self._backoff(attempt)
        return None

    def _fits(self, attempt: int, wait: float, deadline: float) -> bool:
        """Another attempt is allowed, and its wait leaves time for it within the deadline."""
        return attempt < self._settings.max_retries and anyio.current_time() + wait + MIN_ATTEMPT_SECONDS < deadline

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter, so that parallel callers do not retry in lockstep."""
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
        return ceiling * random.uniform(0.5, 1.0)

    def _failure(self, effect: Effect, progress: _Progress, kind: FailureKind, exc: Exception | None) -> ToolCallError:
        """What a transport failure means for the agent, given whether the request left us."""
        if not progress.sent:
            if kind == "error" and exc is not None:
                return UpstreamUnreachable(
                    f"Could not connect to Twill at {self._settings.base_url} ({_reason(exc)}); nothing was sent.",
                    hint="Check the network and TWILL_BASE_URL. Calling again later is safe.",
                )
            limit = self._settings.call_timeout if kind == "deadline" else self._settings.connect_timeout
            return UpstreamTimeout(
                f"Could not reach Twill within {limit:g} s; nothing was sent.",
                hint="Twill or the network may be slow or down. Calling again later is safe.",
            )
        if kind == "deadline":
            return _lost(effect, f"no answer within the {self._settings.call_timeout:g} s deadline", timed_out=True)
        if kind == "timeout":
            return _lost(effect, f"no answer within {self._settings.read_timeout:g} s", timed_out=True)
        return _lost(
            effect, f"the connection failed mid-request ({_reason(exc) if exc else 'closed'})", timed_out=False
        )


class _Retry(Exception):
    def __init__(self, wait: float, why: str) -> None:
        self.wait = wait
        self.why = why


def _lost(effect: Effect, why: str, *, timed_out: bool) -> ToolCallError:
    """The request was (maybe) sent, but its answer was lost."""
    if effect.read_only:
        cls = UpstreamTimeout if timed_out else UpstreamUnreachable
        return cls(f"Twill did not answer: {why}.", hint="This call changes nothing; calling again is safe.")
    # Only a repeat-safe operation may be retried blindly when its outcome is unknown.
    again = (
        "Calling it again is safe: repeating it has no further effect."
        if effect.idempotent
        else "Check the current state before calling again: a repeat could do it twice."
    )
    return OutcomeUnknown(
        f"The request reached Twill but the answer was lost ({why}): it is unknown whether Twill did {effect.what}.",
        hint=again,
        retryable=effect.idempotent,
    )


class _Progress:
    """Follows httpcore's trace events to learn whether any request bytes left us."""

    def __init__(self) -> None:
        self.sent = False

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith("send_request_headers.started"):
            self.sent = True


def _reason(exc: Exception) -> str:
    """A short, key-free reason: the exception type and its first line."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds from now: either delta-seconds or an HTTP date.

    Capped at an hour (Twill's longest window): an absurd value, even one that overflows
    to infinity, must not hold every call back for years.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, round(seconds, 1)))


def parse_json(text: str | bytes) -> Any:
    """`json.loads`, made safe to send on: a lone surrogate becomes U+FFFD.

    JavaScript's JSON.stringify writes a string cut mid-emoji as a lone `\\udXXX` escape;
    Python accepts it, but it cannot be encoded as UTF-8 when the result is written to
    the client, which would take the whole session down.
    """
    value = json.loads(text)
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=False)
        value = json.loads(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))
    return value


class RateBudget:
    """A client-side share of Twill's per-key limit, so parallel calls queue instead of collecting 429s.

    Twill counts requests per minute, so the whole minute's allowance may go out in a
    burst: a call waits only when the API itself would have refused it, and fails at
    once (with when to retry) when that wait would not fit in its deadline.
    """

    WINDOW_SECONDS = 60.0

    def __init__(self, per_minute: int) -> None:
        self._limit = per_minute
        self._sent: deque[float] = deque()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, anyio.current_time() + seconds)

    async def acquire(self, deadline: float) -> None:
        while True:
            now = anyio.current_time()
            while self._sent and self._sent[0] <= now - self.WINDOW_SECONDS:
                self._sent.popleft()
            wait = self._paused_until - now
            if self._limit and len(self._sent) >= self._limit:
                wait = max(wait, self._sent[0] + self.WINDOW_SECONDS - now)
            if wait <= 0:
                self._sent.append(now)
                return
            if now + wait + MIN_ATTEMPT_SECONDS > deadline:
                raise RateLimited(
                    "The rate limit for this key is used up; nothing was sent.",
                    retry_after=float(math.ceil(wait)),
                    hint=f"Wait {math.ceil(wait)} s before calling again, or make fewer calls in parallel.",
                )
            await anyio.sleep(wait)
