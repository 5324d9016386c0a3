"""A Server-Sent Events endpoint as a bounded tool call.

A log stream can run for hours; a tool call must end well inside the host's ~60 s.
So the stream is followed until its `complete` event, a time window or an event
count, whichever comes first, and summarised: final status if reached, counts per
event type, and the last few events. Each event is reported as MCP progress when
the client asked for progress.
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2

from twill_mcp.upstream import RawResponse, TwillHttp, parse_json

Progress = Callable[[float, str], Awaitable[None]]
LAST_EVENTS = 10
# A followed stream ends this long before the call deadline, so its summary still gets out.
STREAM_MARGIN_SECONDS = 3.0
_TOO_LARGE = object()
EVENT_PREVIEW_CHARS = 400


@dataclass
class StreamSummary:
    events: int = 0
    types: Counter[str] = field(default_factory=Counter)
    last: deque[Any] = field(default_factory=lambda: deque(maxlen=LAST_EVENTS))
    status: str | None = None
    trace_url: str | None = None
    stopped_by: str = "stream_ended"
    seconds: float = 0.0

    def as_result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "complete": self.stopped_by == "complete",
            "status": self.status,
            "stoppedBy": self.stopped_by,
            "events": self.events,
            "eventTypes": dict(self.types),
            "seconds": round(self.seconds, 1),
            "lastEvents": list(self.last),
        }
        if self.trace_url:
            result["traceUrl"] = self.trace_url
        return result


async def follow_events(
    http: TwillHttp,
    response: httpx2.Response,
    *,
    max_seconds: float,
    max_events: int,
    max_bytes: int,
    deadline: float,
    progress: Progress | None,
) -> StreamSummary | RawResponse:
    """Consume an event stream within the bounds; a non-2xx answer is returned whole for error handling.

    The window is cut to what is left of the call's deadline, less a margin, so that the
    summary still gets out after retries or waits have used part of it.
    """
    if not 200 <= response.status_code < 300:
        return await http.read_capped(response)
    summary = StreamSummary()
    started = time.monotonic()
    window_seconds = max(min(max_seconds, deadline - anyio.current_time() - STREAM_MARGIN_SECONDS), 0.5)
    with anyio.move_on_after(window_seconds) as window:
        async for event in _events(response, max_bytes):
            if event is _TOO_LARGE:
                summary.stopped_by = "max_bytes"
                break
            summary.events += 1
            kind = str(event.get("type", "message")) if isinstance(event, dict) else "message"
            summary.types[kind] += 1
            summary.last.append(_preview(event))
            if isinstance(event, dict):
                if kind == "trace_url" and isinstance(event.get("url"), str):
                    summary.trace_url = event["url"]
                if kind == "complete":
                    summary.status = event.get("status") if isinstance(event.get("status"), str) else None
            if progress is not None:
                await progress(summary.events, kind)
            if kind == "complete":
                summary.stopped_by = "complete"
                break
            if summary.events >= max_events:
                summary.stopped_by = "max_events"
                break
    if window.cancelled_caught:
        summary.stopped_by = "max_seconds"
    summary.seconds = time.monotonic() - started
    return summary


async def _events(response: httpx2.Response, max_bytes: int) -> Any:
    """Each event's data (JSON-decoded where it is JSON), per the SSE line format; `_TOO_LARGE` past the cap."""
    data: list[str] = []
    size = 0
    async for line in response.aiter_lines():
        size += len(line) + 1
        if size > max_bytes:
            yield _TOO_LARGE
            return
        if line == "":
            if data:
                yield _decode("\n".join(data))
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        # `event:`, `id:`, `retry:` and `:` comments carry nothing the summary needs.
    if data:
        yield _decode("\n".join(data))


def _decode(text: str) -> Any:
    try:
        return parse_json(text)
    except ValueError:
        return text


def _preview(event: Any) -> Any:
    text = json.dumps(event, ensure_ascii=False)
    return event if len(text) <= EVENT_PREVIEW_CHARS else text[: EVENT_PREVIEW_CHARS - 1] + "…"
