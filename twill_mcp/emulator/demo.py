"""A small, recognisable workspace for demos and manual testing."""

from __future__ import annotations

from dataclasses import dataclass

from twill_mcp.emulator.models import CANCELLED, RUNNING, Job, Repository, ScheduledTask, Task
from twill_mcp.emulator.state import EmulatorState

QUICK_RUN_SECONDS = (1.0, 2.0)


@dataclass(frozen=True)
class DemoData:
    tasks: list[Task]
    repositories: list[Repository]
    scheduled_tasks: list[ScheduledTask]

    def task(self, slug: str) -> Task:
        return next(t for t in self.tasks if t.slug == slug)


def _with_job(state: EmulatorState, command: str, slug: str) -> tuple[Task, Job]:
    task, job = state.create_task(command, slug=slug)
    assert job is not None
    return task, job


def seed_demo(state: EmulatorState) -> DemoData:
    """Tasks `demo-1` (running, pinned so it never finishes on its own), `demo-2` (completed, with a PR; a new
    run, from send_message, finishes within QUICK_RUN_SECONDS so a demo of wait_for_task need not wait long),
    `demo-3` (plan ready), `demo-4` (cancelled) and `demo-empty` (no jobs); two repositories; one schedule."""
    repos = [
        state.add_repository("twill-demo/web-app", "main", "Next.js front end"),
        state.add_repository("twill-demo/api-server", "develop", None),
    ]
    running, job1 = _with_job(state, "Add a dark mode toggle to the settings page", "demo-1")
    done, job2 = _with_job(state, "Fix the flaky login test", "demo-2")
    plan, job3 = _with_job(state, "/plan Move theme colours to CSS variables", "demo-3")
    cancelled, job4 = _with_job(state, "Upgrade every dependency", "demo-4")
    empty, _ = state.create_task("Empty task", slug="demo-empty", with_job=False)
    state.advance(job1.id, RUNNING)
    state.finish_job(job2.id, final_answer="Stabilised the login test by awaiting the session cookie.")
    state.add_pr(done, "twill-demo/web-app", 42, "Fix flaky login test", "merged")
    done.run_seconds = QUICK_RUN_SECONDS
    state.finish_job(job3.id)
    state.advance(job4.id, CANCELLED)
    state.cancel_task(cancelled)
    schedule = state.create_scheduled_task(
        "Daily triage", "Review urgent issues and open tasks", "0 9 * * 1-5", agent_provider_id="claude-code/sonnet"
    )
    return DemoData([running, done, plan, cancelled, empty], repos, [schedule])
