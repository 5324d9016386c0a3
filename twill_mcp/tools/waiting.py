"""wait_for_task: wait, within one tool call, until a task's latest job is over.

Delegating to Twill means waiting minutes or hours, and hosts cut a tool call at about
60 s; polling with get_task costs a full agent turn each time. So one call waits as long
as the call deadline allows, learns about the end promptly and cheaply, and says how to
go on when the window closes first:

- while the latest job runs, its log stream is followed for the `complete` event
  (one request, however long), then the task is read once more for its result;
- otherwise (no job yet, or pending) the task is polled with a growing interval;
- every request goes through `TwillHttp.exchange` with the call's credentials, so the
  per-key rate budget holds; a retryable failure (a 429 included) is waited out, not
  reported, while the window lasts;
- a cancelled call stops at once: nothing here catches cancellation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types

from twill_mcp.core.credentials import Credentials
from twill_mcp.core.errors import ToolCallError
from twill_mcp.spec.compiler import Annotations, CompiledTool
from twill_mcp.tools.call import OperationCall, effect_of
from twill_mcp.tools.composed import ComposedTool
from twill_mcp.tools.events import EVENT_STREAM, STREAM_MARGIN_SECONDS, sse_events
from twill_mcp.tools.responses import Success
from twill_mcp.tools.tasks import FINAL_STATUSES, NOT_STARTED, job_status, latest_job_id
from twill_mcp.upstream.answer import Answer, Progress
from twill_mcp.upstream.budget import Sleep
from twill_mcp.upstream.http import TwillHttp
from twill_mcp.upstream.outcomes import lost
from twill_mcp.upstream.request import prepare_request

NAME = "wait_for_task"
# Twill's job statuses after which nothing more happens to the job (the stream's `complete` event, upper-cased).
DEFAULT_MAX_SECONDS = 50
ID_ARGUMENT = "taskIdOrSlug"


@dataclass(frozen=True, slots=True)
class Pacing:
    """How often Twill is asked, and the client told, while waiting."""

    first_poll: float = 2.0
    max_poll: float = 10.0
    growth: float = 1.5
    progress_every: float = 5.0
    """A progress notification at least this often, so a host sees the call is alive."""
    sleep: Sleep = anyio.sleep

    def polls(self) -> Iterator[float]:
        """Seconds before each next poll: soon at first (most runs end early or late), then sparingly."""
        interval = self.first_poll
        while True:
            yield interval
            interval = min(self.max_poll, interval * self.growth)


def wait_for_task_tool(tools: Mapping[str, CompiledTool], pacing: Pacing | None = None) -> ComposedTool:
    """The tool, built on the compiled get_task (its argument, reader and result shape) and stream_job_logs."""
    get_task, stream = tools["get_task"], tools["stream_job_logs"]
    waiter = _Waiter(get_task, stream, pacing or Pacing())
    # No `required`: an error result's `{"error": …}` must validate too, and that keeps the listing short.
    output_schema = {
        "type": "object",
        "properties": {
            "done": {"type": "boolean"},
            "status": {"type": ["string", "null"]},
            "waitedSeconds": {"type": "number"},
            "task": get_task.output_schema or {"type": "object"},
        },
    }
    return ComposedTool(
        name=NAME,
        title="Wait for task",
        description=(
            "Wait until a task's latest job finishes (COMPLETED, FAILED or CANCELLED) or maxSeconds pass, "
            "then return the task as get_task does (finalAnswer, PRs). Use it instead of repeated get_task "
            "calls after create_task or send_message. If done is false, call it again with the same id."
        ),
        input_schema={
            "type": "object",
            "properties": {
                ID_ARGUMENT: get_task.input_schema["properties"][ID_ARGUMENT],
                "maxSeconds": {"type": "number", "minimum": 1, "maximum": 600, "default": DEFAULT_MAX_SECONDS},
            },
            "required": [ID_ARGUMENT],
            "additionalProperties": False,
        },
        output_schema=output_schema,
        annotations=Annotations(
            title="Wait for task", read_only=True, destructive=False, idempotent=True, open_world=True
        ),
        toolset=get_task.toolset,
        # Its result is get_task's task with how the wait went: the same view shows it.
        ui=get_task.ui,
        action="wait for the task",
        perform=waiter,
    )


class _Waiter:
    def __init__(self, get_task: CompiledTool, stream: CompiledTool, pacing: Pacing) -> None:
        self._get_task = get_task
        self._stream = stream
        self._pacing = pacing
        self._read = OperationCall(get_task)
        self._stream_effect = effect_of(stream)

    async def __call__(
        self, http: TwillHttp, credentials: Credentials, arguments: dict[str, Any], progress: Progress | None
    ) -> Success:
        started = anyio.current_time()
        # The answer must get out before the call deadline: the last read of the task happens inside the margin.
        hard_end = started + http.call_timeout
        window = min(float(arguments.get("maxSeconds", DEFAULT_MAX_SECONDS)), http.call_timeout - STREAM_MARGIN_SECONDS)
        window_end = started + max(window, 0.0)
        watch = _Watch(progress, started)
        async with anyio.create_task_group() as group:
            if progress is not None:
                group.start_soon(watch.tick, self._pacing.progress_every)
            # Raised outside the group, so the error reaches the caller as itself, not in an exception group.
            failure: ToolCallError | None = None
            try:
                task = await self._wait(http, credentials, arguments[ID_ARGUMENT], window_end, hard_end, watch)
            except ToolCallError as error:
                failure = error
            group.cancel_scope.cancel()
        if failure is not None:
            raise failure
        status = job_status(task)
        done = status in FINAL_STATUSES
        waited = round(anyio.current_time() - started, 1)
        body = {"done": done, "status": status, "waitedSeconds": waited, "task": task}
        text = _summary(arguments[ID_ARGUMENT], done, status, waited)
        return Success(body, [types.TextContent(type="text", text=text)])

    async def _wait(
        self, http: TwillHttp, credentials: Credentials, task_id: str, window_end: float, hard_end: float, watch: _Watch
    ) -> Any:
        polls = self._pacing.polls()
        task: Any = None
        while True:
            try:
                task = await self._read_task(http, credentials, task_id, hard_end)
            except ToolCallError as error:
                pause = error.retry_after if error.retry_after is not None else next(polls)
                if not error.is_retryable or (task is None and anyio.current_time() + pause >= window_end):
                    raise
                if anyio.current_time() >= window_end:
                    return task
                await self._sleep_until(min(anyio.current_time() + pause, window_end))
                continue
            status = job_status(task)
            await watch.saw(status)
            if status in FINAL_STATUSES or anyio.current_time() >= window_end:
                return task
            job_id = latest_job_id(task)
            if (
                job_id is not None
                and status != NOT_STARTED
                and await self._follow(http, credentials, job_id, window_end, watch)
            ):
                continue
            await self._sleep_until(min(anyio.current_time() + next(polls), window_end))

    async def _read_task(self, http: TwillHttp, credentials: Credentials, task_id: str, hard_end: float) -> Any:
        with anyio.move_on_after(max(hard_end - anyio.current_time(), 0.0)):
            success = await self._read(http, credentials, {ID_ARGUMENT: task_id}, None)
            return success.body
        raise lost(self._read.effect, f"nothing within the {http.call_timeout:g} s deadline", timed_out=True)

    async def _follow(
        self, http: TwillHttp, credentials: Credentials, job_id: str, window_end: float, watch: _Watch
    ) -> bool:
        """Follow the job's log stream until it says the job is over (True) or the window or stream ends (False)."""
        request = prepare_request(self._stream.operation, {"jobId": job_id})
        reader = _CompletionReader(window_end, watch)
        with anyio.move_on_after(max(window_end - anyio.current_time(), 0.0)):
            try:
                return await http.exchange(request, credentials, self._stream_effect, reader)
            except ToolCallError:
                # The stream is only a faster way to learn the end: without it, polling still does.
                return False
        return False

    async def _sleep_until(self, when: float) -> None:
        await self._pacing.sleep(max(when - anyio.current_time(), 0.0))


class _CompletionReader:
    """Reads a job's log stream for its `complete` event; status events become progress."""

    accept = EVENT_STREAM
    streams = True

    def __init__(self, window_end: float, watch: _Watch) -> None:
        self._window_end = window_end
        self._watch = watch

    async def success(self, answer: Answer) -> bool:
        with anyio.move_on_after(max(self._window_end - anyio.current_time(), 0.0)):
            async for event in sse_events(answer.lines(), answer.incoming):
                if not isinstance(event, dict):
                    continue
                if event.get("type") == "complete":
                    return True
                if event.get("type") == "status" and isinstance(event.get("jobStatus"), str):
                    await self._watch.saw(event["jobStatus"])
        return False


class _Watch:
    """What the client is told while the call waits: the status on each change, and the time, periodically."""

    def __init__(self, progress: Progress | None, started: float) -> None:
        self._progress = progress
        self._started = started
        self._status: str | None = None
        self._seen = False

    async def saw(self, status: str | None) -> None:
        if not self._seen or status != self._status:
            self._seen, self._status = True, status
            await self.report()

    async def report(self) -> None:
        if self._progress is None:
            return
        elapsed = anyio.current_time() - self._started
        await self._progress(round(elapsed, 1), f"{self._status or 'no job yet'} after {elapsed:.0f} s")

    async def tick(self, every: float) -> None:
        while True:
            await anyio.sleep(every)
            await self.report()


def _summary(task_id: str, done: bool, status: str | None, waited: float) -> str:
    if done:
        return f"The task's latest job is {status} (waited {waited:g} s); its result is in task.latestJob.finalAnswer."
    state = f"is still {status}" if status else "has no job yet"
    return (
        f"Not finished: the task {state} after {waited:g} s. To keep waiting, call {NAME} again with "
        f"{ID_ARGUMENT}={json.dumps(task_id)}."
    )
