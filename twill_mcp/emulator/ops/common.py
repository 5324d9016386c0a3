"""What every operation handler receives and returns."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from twill_mcp.emulator.errors import field_error, not_found
from twill_mcp.emulator.models import Job, ScheduledTask, Task
from twill_mcp.emulator.state import EmulatorState


@dataclass(frozen=True)
class EmulatorSettings:
    sse_interval: float = 0.2
    """Seconds between live log events of a running job's stream."""
    sse_max_seconds: float = 30.0
    """Real seconds after which a live stream ends with an `error` event."""
    legacy_endpoints: bool = False
    """Serve approve-plan / approve-criteria as the old docs describe instead of 404."""


@dataclass
class Reply:
    body: dict[str, Any]
    status: int | None = None
    """None means the operation's documented success status."""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    state: EmulatorState
    settings: EmulatorSettings
    params: dict[str, str]
    query: dict[str, Any]
    body: dict[str, Any] | None
    api_key: str
    closing: threading.Event
    """Set when the server is stopping; long-lived responses should end."""

    def task(self) -> Task:
        task = self.state.find_task(self.params["taskIdOrSlug"])
        if task is None:
            raise not_found("Task not found")
        return task

    def job(self) -> Job:
        job = self.state.jobs.get(self.params["jobId"])
        if job is None:
            raise not_found("Job not found")
        return job

    def scheduled_task(self) -> ScheduledTask:
        scheduled = self.state.scheduled_tasks.get(self.params["scheduledTaskId"])
        if scheduled is None:
            raise not_found("Scheduled task not found")
        return scheduled

    def field(self, name: str, default: Any = None) -> Any:
        return (self.body or {}).get(name, default)


Handler = Callable[[Ctx], Awaitable[Reply | Response]]


def harness(agent: str) -> str:
    return agent.split("/", 1)[0]


def check_agent(name: str, agent: str | None) -> None:
    # SKILL v1.4: a bare provider such as "codex" is rejected; a full provider/model id is required.
    if agent is not None and (not harness(agent) or "/" not in agent or not agent.split("/", 1)[1]):
        raise field_error(name, "Expected a complete provider/model id, e.g. claude-code/sonnet")


def check_files(files: list[dict[str, Any]] | None) -> None:
    for index, item in enumerate(files or []):
        if not str(item.get("url", "")).startswith("data:"):
            raise field_error(f"files.{index}.url", "Only data: URLs are accepted")
