"""The one place that talks HTTP to Twill.

One shared `httpx2.AsyncClient` per server: a keep-alive pool, explicit timeouts, no
redirects (the key must only ever reach the configured origin), a capped body read,
and a single mapping from transport failures to the errors an agent can act on.
Whether a failed request *may have reached Twill* decides between "try again" and
"the outcome is unknown", so the request's progress is traced, not guessed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import httpx2

from twill_mcp import __version__
from twill_mcp.config import Settings
from twill_mcp.errors import MissingApiKey, OutcomeUnknown, ToolCallError, UpstreamTimeout, UpstreamUnreachable
from twill_mcp.request import PreparedRequest

logger = logging.getLogger(__name__)

USER_AGENT = f"twill-mcp/{__version__}"
T = TypeVar("T")


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
        """Send one request and hand the streaming response to `consume`, within the call deadline.

        A transport failure becomes the matching `ToolCallError`; what `consume` returns is
        returned as is.
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
        progress = _Progress()
        try:
            with anyio.fail_after(self._settings.call_timeout):
                return await self._stream(request, key.get_secret_value(), progress, consume, accept, read_timeout)
        except TimeoutError:
            if not progress.sent:
                raise UpstreamTimeout(
                    f"Could not reach Twill within the {self._settings.call_timeout:g} s deadline; nothing was sent.",
                    hint="Twill or the network may be slow or down. Calling again later is safe.",
                ) from None
            raise _lost(
                effect, f"no answer within the {self._settings.call_timeout:g} s deadline", timed_out=True
            ) from None
        except httpx2.TimeoutException:
            if not progress.sent:
                raise UpstreamTimeout(
                    f"Could not connect to Twill within {self._settings.connect_timeout:g} s; nothing was sent.",
                    hint="Twill or the network may be slow or down. Calling again later is safe.",
                ) from None
            raise _lost(effect, f"no answer within {self._settings.read_timeout:g} s", timed_out=True) from None
        except httpx2.TransportError as exc:
            if not progress.sent:
                raise UpstreamUnreachable(
                    f"Could not connect to Twill at {self._settings.base_url} ({_reason(exc)}); nothing was sent.",
                    hint="Check the network and TWILL_BASE_URL. Calling again later is safe.",
                ) from None
            raise _lost(effect, f"the connection failed mid-request ({_reason(exc)})", timed_out=False) from None

    async def _stream(
        self,
        request: PreparedRequest,
        key: str,
        progress: _Progress,
        consume: Callable[[httpx2.Response], Awaitable[T]],
        accept: str | None,
        read_timeout: float | None,
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
            return await consume(response)


def _lost(effect: Effect, why: str, *, timed_out: bool) -> ToolCallError:
    """The request was (maybe) sent, but its answer was lost."""
    if effect.read_only:
        cls = UpstreamTimeout if timed_out else UpstreamUnreachable
        return cls(f"Twill did not answer: {why}.", hint="This call changes nothing; calling again is safe.")
    again = (
        "Calling it again is safe: repeating it has no further effect."
        if effect.idempotent
        else "Check the current state before calling again: a repeat could do it twice."
    )
    return OutcomeUnknown(
        f"The request reached Twill but the answer was lost ({why}): it is unknown whether Twill did {effect.what}.",
        hint=again,
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
