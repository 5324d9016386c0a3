"""In-memory Twill workspace: tasks, jobs, scheduled tasks and repositories.

Everything time-dependent reads the injectable clock, and job progress is
computed lazily from it, so a test can move time instead of sleeping. A lock
guards every public method because the server thread and the test thread share
one state.
"""

from __future__ import annotations

import random
import re
import threading
import time
import unicodedata
import uuid
from typing import Any, ClassVar

from twill_mcp.emulator import cron
from twill_mcp.emulator.models import (
    CANCELLED,
    COMPLETED,
    FAILED,
    JOB_STATUSES,
    PENDING,
    RUNNING,
    TASK_ACTIVE,
    TASK_CANCELLED,
    TERMINAL,
    Job,
    PullRequest,
    Repository,
    ScheduledTask,
    Task,
)
from twill_mcp.emulator.times import Clock

DEFAULT_AGENT = "claude-code/sonnet"
_SLUG_MAX = 48
_SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def kebab(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:_SLUG_MAX].rstrip("-") or "task"


def title_from_command(command: str) -> str:
    first_line = command.removeprefix("/plan").strip().splitlines()[0] if command.strip() else "Untitled task"
    if len(first_line) <= 60:
        return first_line or "Untitled task"
    return first_line[:60].rsplit(" ", 1)[0].rstrip() + "…"


def job_type_for(command: str, user_intent: str | None) -> str:
    if command.lstrip().startswith("/plan") or user_intent == "PLAN":
        return "PLAN"
    # SKILL v1.4: ASK and GOAL are legacy aliases that run as SWE.
    if user_intent in ("DEV_ENVIRONMENT", "SCHEDULE"):
        return user_intent
    return "SWE"


class EmulatorState:
    def __init__(
        self,
        clock: Clock = time.time,
        *,
        seed: int | None = None,
        pending_seconds: float = 2.0,
        running_seconds: float = 8.0,
        auto_advance: bool = True,
        scheduled_tasks_allowed: bool = True,
    ) -> None:
        self.clock = clock
        self.pending_seconds = pending_seconds
        self.running_seconds = running_seconds
        self.auto_advance = auto_advance
        self.scheduled_tasks_allowed = scheduled_tasks_allowed
        self.lock = threading.RLock()
        self._rng = random.Random(seed)
        self._seq = 0
        self.tasks: dict[str, Task] = {}
        self.jobs: dict[str, Job] = {}
        self.scheduled_tasks: dict[str, ScheduledTask] = {}
        self.repositories: list[Repository] = []
        self.workspace_id = self.new_id()
        self.user_id = self.new_id()
        self.workspace_name = "Emulator Workspace"
        self.workspace_slug = "emulator"

    # -- primitives ---------------------------------------------------------

    def now(self) -> float:
        return self.clock()

    def new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _unique_slug(self, title: str) -> str:
        base = kebab(title)
        while True:
            suffix = "".join(self._rng.choice(_SUFFIX_ALPHABET) for _ in range(6))
            slug = f"{base}-{suffix}"
            if self.find_task(slug) is None:
                return slug

    # -- tasks --------------------------------------------------------------

    def find_task(self, id_or_slug: str) -> Task | None:
        with self.lock:
            task = self.tasks.get(id_or_slug)
            if task is not None:
                return task
            return next((t for t in self.tasks.values() if t.slug == id_or_slug), None)

    def task(self, id_or_slug: str) -> Task:
        found = self.find_task(id_or_slug)
        if found is None:
            raise KeyError(id_or_slug)
        return found

    def create_task(
        self,
        command: str,
        *,
        title: str | None = None,
        agent: str | None = None,
        user_intent: str | None = None,
        parent_id: str | None = None,
        slug: str | None = None,
        with_job: bool = True,
        task_id: str | None = None,
    ) -> tuple[Task, Job | None]:
        with self.lock:
            now = self.now()
            title = title or title_from_command(command)
            task = Task(
                id=task_id or self.new_id(),
                slug=slug or self._unique_slug(title),
                title=title,
                seq=self._next_seq(),
                created_at=now,
                updated_at=now,
                parent_id=parent_id,
            )
            self.tasks[task.id] = task
            job = self._start_job(task, command, agent or DEFAULT_AGENT, user_intent) if with_job else None
            return task, job

    def list_tasks(self, *, include_archived: bool = False) -> list[Task]:
        """Newest first."""
        with self.lock:
            tasks = [t for t in self.tasks.values() if include_archived or not t.archived]
            return sorted(tasks, key=lambda t: t.seq, reverse=True)

    def jobs_of(self, task: Task) -> list[Job]:
        """Oldest first."""
        with self.lock:
            return [self.jobs[job_id] for job_id in task.job_ids]

    def latest_job(self, task: Task) -> Job | None:
        with self.lock:
            return self.jobs[task.job_ids[-1]] if task.job_ids else None

    def task_updated_at(self, task: Task) -> float:
        now = self.now()
        latest = self.latest_job(task)
        return max(task.updated_at, latest.changed_at(now)) if latest else task.updated_at

    def send_message(
        self, task: Task, message: str, *, agent: str | None = None, user_intent: str | None = None
    ) -> Job:
        """Cancel whatever is in flight, then start a fresh run (SKILL v1.3+)."""
        with self.lock:
            now = self.now()
            self._cancel_open_jobs(task, now)
            latest = self.latest_job(task)
            agent = agent or (latest.agent_provider if latest else DEFAULT_AGENT)
            task.status = TASK_ACTIVE
            task.updated_at = now
            return self._start_job(task, message, agent, user_intent)

    def cancel_task(self, task: Task) -> list[Job]:
        with self.lock:
            now = self.now()
            cancelled = self._cancel_open_jobs(task, now)
            task.status = TASK_CANCELLED
            task.updated_at = now
            return cancelled

    def archive_task(self, task: Task) -> None:
        with self.lock:
            task.archived = True
            task.updated_at = self.now()

    def add_pr(self, task: Task, repo_full_name: str, number: int, title: str, state: str = "open") -> PullRequest:
        with self.lock:
            pr = PullRequest(repo_full_name, number, title, state)
            task.prs.append(pr)
            return pr

    # -- jobs ---------------------------------------------------------------

    def _start_job(self, task: Task, text: str, agent: str, user_intent: str | None) -> Job:
        now = self.now()
        timeline = [(now, PENDING)]
        if self.auto_advance:
            pending, running = task.run_seconds or (self.pending_seconds, self.running_seconds)
            timeline += [(now + pending, RUNNING), (now + pending + running, COMPLETED)]
        job_type = job_type_for(text, user_intent)
        job = Job(
            id=self.new_id(),
            task_id=task.id,
            seq=self._next_seq(),
            type=job_type,
            agent_provider=agent,
            input=text,
            created_at=now,
            timeline=timeline,
            final_answer=f"Done: {text.strip()[:200]}",
        )
        if job_type == "PLAN":
            job.plan = f"1. Read the relevant code.\n2. {text.removeprefix('/plan').strip()[:200]}\n3. Add tests."
            job.plan_outcome = "READY"
        self.jobs[job.id] = job
        task.job_ids.append(job.id)
        return job

    def _cancel_open_jobs(self, task: Task, now: float) -> list[Job]:
        open_jobs = [job for job in self.jobs_of(task) if not job.is_finished(now)]
        for job in open_jobs:
            job.set_status(now, CANCELLED)
        return open_jobs

    def job(self, job_id: str) -> Job:
        with self.lock:
            return self.jobs[job_id]

    def job_status(self, job_id: str) -> str:
        with self.lock:
            return self.jobs[job_id].status_at(self.now())

    def advance(self, job_id: str, status: str) -> Job:
        """Force a job into `status` now; it then stays there until told otherwise."""
        if status not in JOB_STATUSES:
            raise ValueError(f"unknown job status {status!r}; expected one of {JOB_STATUSES}")
        with self.lock:
            job = self.jobs[job_id]
            job.set_status(self.now(), status)
            return job

    def finish_job(
        self,
        job_id: str,
        status: str = COMPLETED,
        *,
        final_answer: str | None = None,
        error: str | None = None,
        plan: str | None = None,
        plan_outcome: str | None = None,
    ) -> Job:
        if status not in TERMINAL:
            raise ValueError(f"{status!r} is not a terminal status")
        with self.lock:
            job = self.advance(job_id, status)
            job.final_answer = final_answer if final_answer is not None else job.final_answer
            if error is not None:
                job.error = error
            elif status == FAILED and job.error is None:
                job.error = "Agent run failed"
            job.plan = plan if plan is not None else job.plan
            job.plan_outcome = plan_outcome if plan_outcome is not None else job.plan_outcome
            return job

    def cancel_job(self, job_id: str) -> Job:
        with self.lock:
            job = self.jobs[job_id]
            now = self.now()
            if not job.is_finished(now):
                job.set_status(now, CANCELLED)
            return job

    # -- scheduled tasks ----------------------------------------------------

    def next_run_at(self, scheduled: ScheduledTask) -> float | None:
        if not scheduled.enabled:
            return None
        expression = cron.parse_cron(scheduled.cron_expression)
        return cron.next_run(expression, cron.parse_timezone(scheduled.timezone), self.now())

    def list_scheduled_tasks(self) -> list[ScheduledTask]:
        with self.lock:
            return sorted(self.scheduled_tasks.values(), key=lambda s: s.seq, reverse=True)

    def create_scheduled_task(
        self,
        title: str,
        message: str,
        cron_expression: str,
        *,
        timezone: str = "UTC",
        agent_provider_id: str | None = None,
    ) -> ScheduledTask:
        with self.lock:
            now = self.now()
            scheduled = ScheduledTask(
                id=self.new_id(),
                seq=self._next_seq(),
                workspace_id=self.workspace_id,
                created_by_id=self.user_id,
                title=title,
                message=message,
                cron_expression=cron_expression,
                timezone=timezone,
                created_at=now,
                updated_at=now,
                agent_provider_id=agent_provider_id,
            )
            self.scheduled_tasks[scheduled.id] = scheduled
            return scheduled

    _UPDATABLE: ClassVar[dict[str, str]] = {
        "title": "title",
        "message": "message",
        "cronExpression": "cron_expression",
        "timezone": "timezone",
        "agentProviderId": "agent_provider_id",
    }

    def update_scheduled_task(self, scheduled: ScheduledTask, changes: dict[str, Any]) -> ScheduledTask:
        """`changes` uses the API's field names; unknown ones are ignored."""
        with self.lock:
            for api_name, attr in self._UPDATABLE.items():
                if api_name in changes:
                    setattr(scheduled, attr, changes[api_name])
            scheduled.updated_at = self.now()
            return scheduled

    def set_scheduled_enabled(self, scheduled: ScheduledTask, enabled: bool) -> ScheduledTask:
        with self.lock:
            if scheduled.enabled != enabled:
                scheduled.enabled = enabled
                scheduled.updated_at = self.now()
            return scheduled

    def delete_scheduled_task(self, scheduled_id: str) -> bool:
        with self.lock:
            return self.scheduled_tasks.pop(scheduled_id, None) is not None

    # -- repositories -------------------------------------------------------

    def add_repository(
        self, full_name: str, default_branch: str = "main", description: str | None = None
    ) -> Repository:
        with self.lock:
            repo = Repository(full_name, default_branch, description)
            self.repositories.append(repo)
            return repo
