"""Stopping without losing an answer: requests in flight get a grace to finish, and those cut are named.

One decision for every transport. When the server is asked to stop (SIGINT/SIGTERM) or its input
ends, it reads no new request and waits for those already read, for at most a grace: the
`shutdown_grace` setting after a signal (hosts escalate to SIGKILL within seconds), never past a
call's own deadline. A request still unanswered when the grace ends is cut, and the log says
which, and for a call that may change something, that its outcome is unknown: no result will ever
tell the agent whether Twill acted.

Stdio tracks a request from the line read to the answer written (`stdio.py`); a transport that
never sees the wire, such as streamable HTTP, tracks tool calls with `InFlight.middleware`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from twill_mcp.core.config import Settings

logger = logging.getLogger(__name__)


def shutdown_grace(settings: Settings) -> float:
    """How long calls in flight may run on after a stop signal: the setting, never past a call's deadline."""
    return min(settings.shutdown_grace, settings.call_timeout)


@dataclass(frozen=True)
class Request:
    method: str
    tool: str | None
    started: float


class InFlight:
    """Requests read and not yet answered, keyed by anything unique to one request."""

    def __init__(self, read_only_tools: Collection[str]) -> None:
        self._read_only = frozenset(read_only_tools)
        self._requests: dict[Any, Request] = {}
        self._empty = anyio.Event()
        self._empty.set()
        self._wait: anyio.CancelScope | None = None
        self._cut: dict[Any, Request] = {}

    def __len__(self) -> int:
        return len(self._requests)

    def add(self, key: Any, method: str, tool: str | None = None) -> None:
        self._requests[key] = Request(method, tool, anyio.current_time())
        if self._empty.is_set():
            self._empty = anyio.Event()

    def discard(self, key: Any) -> None:
        self._requests.pop(key, None)
        if not self._requests:
            self._empty.set()

    async def drain(self, grace: float) -> bool:
        """Wait until every request is answered, for at most `grace` seconds; log those cut. True if none was."""
        with anyio.CancelScope(deadline=anyio.current_time() + grace) as self._wait:
            await self._empty.wait()
        self._wait = None
        self.cut_all(f"after the {grace:g} s grace")
        return not self._requests

    def hurry(self, grace: float) -> None:
        """Shorten a drain under way to end within `grace` seconds from now (a stop signal came)."""
        if self._wait is not None:
            self._wait.deadline = min(self._wait.deadline, anyio.current_time() + grace)

    def cut_all(self, when: str) -> None:
        """Give up on every request still in flight, and log what each loses."""
        self._cut.update(self._requests)
        for key in self._requests:
            logger.warning("stopping %s: %s", when, self.lost(key))

    def lost(self, key: Any) -> str | None:
        """What was lost when this request was cut unanswered, or None if it was not cut."""
        request = self._cut.get(key)
        if request is None:
            return None
        ran = f"after {anyio.current_time() - request.started:.1f} s"
        if request.tool is None:
            return f"{request.method} cut unanswered {ran}"
        if request.tool in self._read_only:
            return f"{request.tool} cut unanswered {ran}; it changes nothing, so calling again is safe"
        return (
            f"{request.tool} cut unanswered {ran}: outcome unknown, Twill may or may not have acted; "
            "check its state before calling again"
        )

    async def middleware(self, ctx: ServerRequestContext[Any], call_next: CallNext) -> HandlerResult:
        """A `Server.middleware` entry that tracks tool calls, for transports that do not see the wire."""
        if ctx.method != "tools/call":
            return await call_next(ctx)
        key = object()
        self.add(key, ctx.method, (ctx.params or {}).get("name"))
        try:
            return await call_next(ctx)
        finally:
            self.discard(key)
