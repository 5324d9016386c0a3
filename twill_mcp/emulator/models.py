"""Entities of the emulated workspace and their JSON views.

A job's status is not stored as a single value: a job carries a timeline of
(time, status) transitions, so its status at any instant follows from the clock
without a background thread, and "advance on demand" is just rewriting the future.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twill_mcp.emulator.times import iso, iso_or_none

PENDING = "PENDING"
RUNNING = "RUNNING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
JOB_STATUSES = (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})

TASK_ACTIVE = "ACTIVE"
TASK_CANCELLED = "CANCELLED"

TASK_URL = "https://twill.ai/tasks/{slug}"


@dataclass
class PullRequest:
    repo_full_name: str
    number: int
    title: str
    state: str = "open"

    def view(self) -> dict[str, Any]:
        return {
            "repoFullName": self.repo_full_name,
            "prNumber": self.number,
            "prUrl": f"https://github.com/{self.repo_full_name}/pull/{self.number}",
            "title": self.title,
            "state": self.state,
        }


@dataclass
class Repository:
    full_name: str
    default_branch: str = "main"
    description: str | None = None

    def view(self) -> dict[str, Any]:
        return {"fullName": self.full_name, "defaultBranch": self.default_branch, "description": self.description}


@dataclass
class Job:
    id: str
    task_id: str
    seq: int
    type: str
    agent_provider: str
    input: str | None
    created_at: float
    timeline: list[tuple[float, str]]
    final_answer: str | None = None
    plan: str | None = None
    plan_outcome: str | None = None
    error: str | None = None

    def status_at(self, now: float) -> str:
        current = PENDING
        for at, status in self.timeline:
            if at > now:
                break
            current = status
        return current

    def is_finished(self, now: float) -> bool:
        return self.status_at(now) in TERMINAL

    def _first_reached(self, now: float, statuses: frozenset[str]) -> float | None:
        return next((at for at, status in self.timeline if at <= now and status in statuses), None)

    def started_at(self, now: float) -> float | None:
        return self._first_reached(now, frozenset({RUNNING}))

    def completed_at(self, now: float) -> float | None:
        return self._first_reached(now, TERMINAL)

    def changed_at(self, now: float) -> float:
        return max((at for at, _ in self.timeline if at <= now), default=self.created_at)

    def set_status(self, now: float, status: str) -> None:
        """Pin `status` from `now` on; the planned future (automatic progress) is dropped."""
        self.timeline = [(at, s) for at, s in self.timeline if at <= now]
        self.timeline.append((now, status))

    def outputs(self, now: float) -> dict[str, str | None]:
        # Results only exist once the run is over, as a polling client would see them.
        status = self.status_at(now)
        done = status == COMPLETED
        return {
            "finalAnswer": self.final_answer if done else None,
            "plan": self.plan if done else None,
            "planOutcome": self.plan_outcome if done else None,
            "error": self.error if status == FAILED else None,
        }

    def summary_view(self, now: float) -> dict[str, Any]:
        return {"id": self.id, "status": self.status_at(now)}

    def task_job_view(self, now: float) -> dict[str, Any]:
        """A job as listTaskJobs shows it."""
        return {
            **self._results_view(now),
            "input": self.input,
            "error": self.outputs(now)["error"],
            "createdAt": iso(self.created_at),
        }

    def latest_job_view(self, now: float) -> dict[str, Any]:
        """A job as getTask's latestJob shows it."""
        return {**self._results_view(now), "startedAt": iso_or_none(self.started_at(now))}

    def _results_view(self, now: float) -> dict[str, Any]:
        out = self.outputs(now)
        return {
            "id": self.id,
            "status": self.status_at(now),
            "type": self.type,
            "agentProvider": self.agent_provider,
            "completedAt": iso_or_none(self.completed_at(now)),
            "plan": out["plan"],
            "planOutcome": out["planOutcome"],
            "finalAnswer": out["finalAnswer"],
        }


@dataclass
class Task:
    id: str
    slug: str
    title: str
    seq: int
    created_at: float
    updated_at: float
    status: str = TASK_ACTIVE
    archived: bool = False
    parent_id: str | None = None
    prs: list[PullRequest] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    run_seconds: tuple[float, float] | None = None
    """(pending, running) seconds of this task's new runs, instead of the workspace's pace: a quick demo task."""

    @property
    def url(self) -> str:
        return TASK_URL.format(slug=self.slug)

    def ref_view(self) -> dict[str, Any]:
        return {"id": self.id, "slug": self.slug, "title": self.title, "url": self.url}

    def detail_view(self, updated_at: float) -> dict[str, Any]:
        return {
            **self.ref_view(),
            "createdAt": iso(self.created_at),
            "updatedAt": iso(updated_at),
            "prs": [pr.view() for pr in self.prs],
        }

    def list_item_view(self, latest: Job | None, now: float) -> dict[str, Any]:
        item: dict[str, Any] = {**self.ref_view(), "createdAt": iso(self.created_at)}
        # JobStatus is not nullable in the spec, so a task without jobs omits the key.
        if latest is not None:
            item["latestJobStatus"] = latest.status_at(now)
        item["prs"] = [pr.view() for pr in self.prs]
        return item


@dataclass
class ScheduledTask:
    id: str
    seq: int
    workspace_id: str
    created_by_id: str
    title: str
    message: str
    cron_expression: str
    timezone: str
    created_at: float
    updated_at: float
    enabled: bool = True
    agent_provider_id: str | None = None
    last_run_at: float | None = None

    def view(self, next_run_at: float | None) -> dict[str, Any]:
        return {
            "id": self.id,
            "workspaceId": self.workspace_id,
            "createdById": self.created_by_id,
            "title": self.title,
            "message": self.message,
            "cronExpression": self.cron_expression,
            "timezone": self.timezone,
            "nextRunAt": iso_or_none(next_run_at),
            "lastRunAt": iso_or_none(self.last_run_at),
            "enabled": self.enabled,
            "agentProviderId": self.agent_provider_id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }
