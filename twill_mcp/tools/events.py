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
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from twill_mcp.spec.compiler import CompiledTool
from twill_mcp.tools.responses import Success
from twill_mcp.upstream.answer import Answer, Progress
from twill_mcp.upstream.decode import MAX_DEPTH, Incoming, TooDeep

EVENT_STREAM = "text/event-stream"
LAST_EVENTS = 10
# A followed stream ends this long before the call deadline, so its summary still gets out.
STREAM_MARGIN_SECONDS = 3.0
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


class EventStreamReader:
    """Follows one call's 2xx event stream within its bounds and summarises it."""

    accept = EVENT_STREAM
    streams = True

    def __init__(self, max_seconds: float, max_events: int, progress: Progress | None) -> None:
        self._max_seconds = max_seconds
        self._max_events = max_events
        self._progress = progress

    @staticmethod
    def binder(tool: CompiledTool) -> Callable[[Mapping[str, Any], Progress | None], EventStreamReader]:
        """The tool's reader for each call; the tool's own schema says what an omitted bound means."""
        bounds = tool.input_schema["properties"]
        seconds, events = float(bounds["maxSeconds"]["default"]), int(bounds["maxEvents"]["default"])

        def bind(arguments: Mapping[str, Any], progress: Progress | None) -> EventStreamReader:
            return EventStreamReader(
                float(arguments.get("maxSeconds", seconds)), int(arguments.get("maxEvents", events)), progress
            )

        return bind

    async def success(self, answer: Answer) -> Success:
        summary = await follow(
            answer, max_seconds=self._max_seconds, max_events=self._max_events, progress=self._progress
        )
        return Success(summary.as_result())


async def follow(answer: Answer, *, max_seconds: float, max_events: int, progress: Progress | None) -> StreamSummary:
    """Consume an event stream until `complete`, the window or the event count, whichever is first.

    The window is cut to what is left of the call's deadline, less a margin, so that the
    summary still gets out after retries or waits have used part of it.
    """
    summary = StreamSummary()
    started = time.monotonic()
    window_seconds = max(min(max_seconds, answer.deadline - anyio.current_time() - STREAM_MARGIN_SECONDS), 0.5)
    with anyio.move_on_after(window_seconds) as window:
        async for event in sse_events(answer.lines(), answer.incoming):
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
    if answer.truncated:
        summary.stopped_by = "max_bytes"
    elif window.cancelled_caught:
        summary.stopped_by = "max_seconds"
    summary.seconds = time.monotonic() - started
    return summary


async def sse_events(lines: AsyncIterator[str], incoming: Incoming) -> AsyncIterator[Any]:
    """Each event's data (JSON-decoded where it is JSON), per the SSE line format, decoded for the agent."""
    data: list[str] = []
    async for line in lines:
        if line == "":
            if data:
                yield _decode("\n".join(data), incoming)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        # `event:`, `id:`, `retry:` and `:` comments carry nothing the summary needs.
    if data:
        yield _decode("\n".join(data), incoming)


def _decode(text: str, incoming: Incoming) -> Any:
    try:
        return incoming.json(text)
    except TooDeep:
        return incoming.text(f"(an event nested deeper than {MAX_DEPTH} levels, left out)")
    except ValueError:
        return incoming.text(text)


def _preview(event: Any) -> Any:
    text = json.dumps(event, ensure_ascii=False)
    return event if len(text) <= EVENT_PREVIEW_CHARS else text[: EVENT_PREVIEW_CHARS - 1] + "…"
