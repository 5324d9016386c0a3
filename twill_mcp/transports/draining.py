"""Stopping without losing an answer: requests in flight get a grace to finish, and those cut are named.

One decision for every transport. When the server is asked to stop (SIGINT/SIGTERM) or its input
ends, it reads no new request and waits for those already read, for at most a grace: the
`shutdown_grace` setting after a signal (hosts escalate to SIGKILL within seconds), never past a
call's own deadline. A request still unanswered when the grace ends is cut, and the log says
which, and for a call that may change something, that its outcome is unknown: no result will ever
tell the agent whether Twill acted. A second signal ends the process at once (exit 128 + signal).

Stdio tracks a request from the line read to the answer written (`stdio.py`); streamable HTTP,
which never sees the wire, tracks tool calls with `InFlight.middleware` and is stopped by
`transports.http.GracefulStop`.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from twill_mcp.core.config import Settings
from twill_mcp.tools.results import error_result
from twill_mcp.upstream.outcomes import Effect, lost, repeat_advice, unknown_outcome

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOPPED = "twill-mcp stopped before Twill answered"
# A tool this server does not know has no annotations to go by: assume the worst.
UNKNOWN = Effect(read_only=False, idempotent=False, action="what was asked")


def shutdown_grace(settings: Settings) -> float:
    """How long calls in flight may run on after a stop signal: the setting, never past a call's deadline."""
    return min(settings.shutdown_grace, settings.call_timeout)


@dataclass(frozen=True)
class Request:
    method: str
    tool: str | None
    effect: Effect | None
    started: float
    scope: anyio.CancelScope | None


class InFlight:
    """Requests read and not yet answered, keyed by anything unique to one request.

    `effects` says, per tool, what losing a call's answer means (its `Effect`).
    """

    def __init__(self, effects: Mapping[str, Effect]) -> None:
        self._effects = effects
        self._requests: dict[Any, Request] = {}
        # Made with the first request: an event needs the event loop, and the owner may be built before it runs.
        self._empty: anyio.Event | None = None
        self._wait: anyio.CancelScope | None = None
        self._cut: dict[Any, Request] = {}

    def __len__(self) -> int:
        return len(self._requests)

    def add(self, key: Any, method: str, tool: str | None = None, scope: anyio.CancelScope | None = None) -> None:
        effect = None if tool is None else self._effects.get(tool, UNKNOWN)
        self._requests[key] = Request(method, tool, effect, anyio.current_time(), scope)
        if self._empty is None or self._empty.is_set():
            self._empty = anyio.Event()

    def discard(self, key: Any) -> None:
        self._requests.pop(key, None)
        if not self._requests and self._empty is not None:
            self._empty.set()

    async def drain(self, grace: float) -> bool:
        """Wait until every request is answered, for at most `grace` seconds; cut and log the rest. True if none was."""
        with anyio.CancelScope(deadline=anyio.current_time() + grace) as self._wait:
            if self._requests and self._empty is not None:
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
        for key, request in list(self._requests.items()):
            logger.warning("stopping %s: %s", when, self.lost(key))
            if request.scope is not None:
                request.scope.cancel()

    def exit_at_once(self, signum: int) -> None:
        """A second stop signal: cut everything, say so, and end the process now (the host is done waiting)."""
        self.cut_all(f"at once on a second {signal_name(signum)}")
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(128 + signum)

    def lost(self, key: Any) -> str | None:
        """What was lost when this request was cut unanswered, or None if it was not cut."""
        request = self._cut.get(key)
        if request is None:
            return None
        ran = f"after {anyio.current_time() - request.started:.1f} s"
        if request.tool is None or request.effect is None:
            return f"{request.method} cut unanswered {ran}"
        unknown = unknown_outcome(request.effect)
        return (
            f"{request.tool} cut unanswered {ran}: "
            + (f"{unknown}. " if unknown else "")
            + repeat_advice(request.effect)
        )

    async def middleware(self, ctx: ServerRequestContext[Any], call_next: CallNext) -> HandlerResult:
        """A `Server.middleware` entry for transports that do not see the wire: tracks tool calls, and answers one
        cut at the grace with the error result saying what is unknown, instead of leaving its client waiting."""
        if ctx.method != "tools/call":
            return await call_next(ctx)
        key = object()
        name = (ctx.params or {}).get("name")
        with anyio.CancelScope() as scope:
            self.add(key, ctx.method, name if isinstance(name, str) else None, scope)
            try:
                return await call_next(ctx)
            finally:
                self.discard(key)
        request = self._cut[key]
        return error_result(request.tool or "tools/call", lost(request.effect or UNKNOWN, STOPPED, timed_out=False))


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name
