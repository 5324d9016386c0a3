"""wait_for_task against the emulator through a real MCP client: done within the window, not done (and how to go on),
cancellation, a 429 mid-wait, an unknown task. Progress is checked in the legacy era: the SDK's in-process connector
for 2026-07-28 has no channel for server-to-client notifications.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from itertools import islice
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.conftest import call, error_of, server_env, serving
from tests.fake_twill import FakeTwill
from twill_mcp.core.config import Settings
from twill_mcp.emulator.models import PENDING, RUNNING
from twill_mcp.tools.catalog import all_tools
from twill_mcp.tools.waiting import Pacing

pytestmark = pytest.mark.anyio
# Fast enough that a test never waits on the schedule, slow enough to count requests.
QUICK = Pacing(first_poll=0.05, max_poll=0.05)
Serve = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def serve(fake_twill: FakeTwill) -> Serve:
    @asynccontextmanager
    async def _serve(**env: str) -> AsyncIterator[Client]:
        settings = Settings.load(server_env(fake_twill, **env))
        async with serving(settings, all_tools(QUICK, call_timeout=settings.call_timeout)) as client:
            yield client

    return _serve


def running_task(fake: FakeTwill, slug: str, status: str = RUNNING) -> str:
    """A task whose only job is pinned in `status` until the test moves it; returns the job id."""
    _, job = fake.state.create_task(f"Task {slug}", slug=slug)
    assert job is not None
    fake.state.advance(job.id, status)
    return job.id


def task_paths(fake: FakeTwill) -> list[str]:
    return [r.raw_path for r in fake.requests]


async def finish_after(fake: FakeTwill, job_id: str, seconds: float) -> None:
    await anyio.sleep(seconds)
    fake.state.finish_job(job_id, final_answer="Added the toggle.")


def test_polls_start_soon_and_grow_to_ten_seconds() -> None:
    assert list(islice(Pacing().polls(), 6)) == [2.0, 3.0, 4.5, 6.75, 10.0, 10.0]


async def test_a_running_job_that_finishes_in_the_window_is_returned_done_after_three_requests(
    fake_twill: FakeTwill, serve: Serve
) -> None:
    job = running_task(fake_twill, "dark-mode")
    async with serve() as client, anyio.create_task_group() as group:
        group.start_soon(finish_after, fake_twill, job, 0.3)
        result = await call(client, "wait_for_task", {"taskIdOrSlug": "dark-mode"})
    body = result.structured_content
    assert (body["done"], body["status"]) == (True, "COMPLETED")
    assert body["task"]["latestJob"]["finalAnswer"] == "Added the toggle."
    # The task, the job's log stream until `complete`, the task again for its result.
    assert task_paths(fake_twill) == [
        "/api/v1/tasks/dark-mode",
        f"/api/v1/jobs/{job}/logs/stream",
        "/api/v1/tasks/dark-mode",
    ]


async def test_progress_reports_each_status_the_wait_saw(fake_twill: FakeTwill) -> None:
    job = running_task(fake_twill, "progress", PENDING)
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async def start_then_finish() -> None:
        await anyio.sleep(0.2)
        fake_twill.state.advance(job, RUNNING)
        await finish_after(fake_twill, job, 0.2)

    settings = Settings.load(server_env(fake_twill))
    async with serving(settings, all_tools(QUICK), "legacy") as client, anyio.create_task_group() as group:
        group.start_soon(start_then_finish)
        result = await client.call_tool("wait_for_task", {"taskIdOrSlug": "progress"}, progress_callback=on_progress)
    assert result.structured_content["done"] is True
    statuses = [message.split(" after ")[0] for _, message in seen if message]
    assert statuses == ["PENDING", "RUNNING", "COMPLETED"]
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)


async def test_a_pending_job_is_polled_until_it_finishes(fake_twill: FakeTwill, serve: Serve) -> None:
    job = running_task(fake_twill, "queued", PENDING)
    async with serve() as client, anyio.create_task_group() as group:
        group.start_soon(finish_after, fake_twill, job, 0.3)
        result = await call(client, "wait_for_task", {"taskIdOrSlug": "queued"})
    assert result.structured_content["done"] is True
    assert set(task_paths(fake_twill)) == {"/api/v1/tasks/queued"}


async def test_a_job_still_running_at_the_deadline_returns_not_done_before_it_with_how_to_go_on(
    fake_twill: FakeTwill, serve: Serve
) -> None:
    running_task(fake_twill, "long-run")
    started = time.monotonic()
    async with serve(TWILL_MCP_CALL_TIMEOUT="4.5") as client:
        result = await call(client, "wait_for_task", {"taskIdOrSlug": "long-run"})
    elapsed = time.monotonic() - started
    body = result.structured_content
    assert (body["done"], body["status"], result.is_error) == (False, "RUNNING", False)
    assert 1.0 <= elapsed < 4.5
    assert 'call wait_for_task again with taskIdOrSlug="long-run"' in result.content[1].text


def window(tool: str, call_timeout: float | None = None) -> dict[str, Any]:
    settings = Settings.load({} if call_timeout is None else {"TWILL_MCP_CALL_TIMEOUT": str(call_timeout)})
    [listed] = [t for t in all_tools(call_timeout=settings.call_timeout) if t.name == tool]
    return listed.input_schema["properties"]["maxSeconds"]


@pytest.mark.parametrize("tool", ["wait_for_task", "stream_job_logs"])
def test_the_advertised_window_fits_inside_the_default_call_deadline(tool: str) -> None:
    # The answer must leave before the 45 s deadline, with the 3 s the tool keeps for it.
    assert window(tool)["maximum"] <= 45 - 3
    assert window(tool)["default"] <= window(tool)["maximum"]


def test_a_longer_call_deadline_advertises_a_longer_wait_up_to_the_declared_maximum() -> None:
    assert window("wait_for_task", call_timeout=120) == {"type": "number", "minimum": 1, "maximum": 117, "default": 50}
    assert window("wait_for_task", call_timeout=3600)["maximum"] == 600


async def test_a_window_longer_than_the_deadline_allows_is_refused_naming_the_maximum(serve: Serve) -> None:
    async with serve() as client:
        result = await call(client, "wait_for_task", {"taskIdOrSlug": "t1", "maxSeconds": 600})
    assert error_of(result)["code"] == "invalid_arguments"
    assert "42" in error_of(result)["message"]


async def test_max_seconds_bounds_the_wait(fake_twill: FakeTwill, serve: Serve) -> None:
    running_task(fake_twill, "bounded")
    started = time.monotonic()
    async with serve() as client:
        result = await call(client, "wait_for_task", {"taskIdOrSlug": "bounded", "maxSeconds": 1})
    assert result.structured_content["done"] is False
    assert 1.0 <= time.monotonic() - started < 2.5


async def test_a_cancelled_wait_stops_asking_twill_at_once(fake_twill: FakeTwill, serve: Serve) -> None:
    running_task(fake_twill, "cancelled-wait", PENDING)
    async with serve() as client:
        with anyio.move_on_after(0.3):
            await client.call_tool("wait_for_task", {"taskIdOrSlug": "cancelled-wait"})
        await anyio.sleep(0.1)
        asked = len(fake_twill.requests)
        await anyio.sleep(0.4)  # eight polls' worth, had it gone on
        assert len(fake_twill.requests) == asked
    assert asked >= 2


async def test_a_429_during_the_wait_is_waited_out_not_reported(fake_twill: FakeTwill, serve: Serve) -> None:
    job = running_task(fake_twill, "limited", PENDING)
    fake_twill.state.finish_job(job)
    error = {"error": {"code": "rate_limited", "message": "Too many requests"}}
    fake_twill.then_json(429, error, {"Retry-After": "1"})
    started = time.monotonic()
    async with serve(TWILL_MCP_MAX_RETRIES="0") as client:
        result = await call(client, "wait_for_task", {"taskIdOrSlug": "limited"})
    assert (result.is_error, result.structured_content["done"]) == (False, True)
    assert time.monotonic() - started >= 1.0
    assert len(fake_twill.requests) == 2


async def test_an_unknown_task_is_not_found_at_once(fake_twill: FakeTwill, serve: Serve) -> None:
    started = time.monotonic()
    async with serve() as client:
        result = await call(client, "wait_for_task", {"taskIdOrSlug": "no-such-task"})
    assert error_of(result)["code"] == "not_found"
    assert time.monotonic() - started < 1.0
    assert len(fake_twill.requests) == 1
