"""The MCP SDK's request span, made only when spans are recorded (`core.tracing`).

The SDK ships its `OpenTelemetryMiddleware` on every server: a span per message, its parent the trace
context of the request's `_meta`. With no SDK configured that span records nothing, so it is not made;
the caller's trace context still reaches Twill, carried by the call's `Credentials` (its `_meta`
traceparent, else its HTTP header's), as the attempt span's parent or as it came.
"""

from __future__ import annotations

from typing import Any

from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import Server

from twill_mcp.core import tracing


class TraceContext:
    def __init__(self, spans: OpenTelemetryMiddleware) -> None:
        self._spans = spans

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if tracing.recording():
            return await self._spans(ctx, call_next)
        return await call_next(ctx)


def spans_when_recorded(server: Server[Any]) -> None:
    """The SDK's span middleware in `server`'s chain behind `TraceContext` (where the SDK put it: first)."""
    server.middleware[:] = [
        TraceContext(middleware) if isinstance(middleware, OpenTelemetryMiddleware) else middleware
        for middleware in server.middleware
    ]
