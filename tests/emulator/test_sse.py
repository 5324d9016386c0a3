"""The job log stream: event order, live progress, and that it always ends."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest

from tests.emulator.conftest import AUTH, FakeClock, client_for, make_app
from tests.emulator.schemas import assert_response_body
from twill_mcp.emulator import DemoData, EmulatorServer, EmulatorState

pytestmark = pytest.mark.anyio


def events_of(text: str) -> list[dict[str, Any]]:
    events = [json.loads(line.removeprefix("data: ")) for line in text.splitlines() if line.startswith("data: ")]
    for event in events:
        assert_response_body("streamJobLogs", 200, event, "text/event-stream")
    return events


async def stream(client: httpx2.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/jobs/{job_id}/logs/stream", headers={"Accept": "text/event-stream"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    return events_of(response.text)


@pytest.mark.parametrize(("slug", "status"), [("demo-2", "completed"), ("demo-4", "cancelled")])
async def test_finished_job_replays_trace_then_completes(
    slug: str, status: str, client: httpx2.AsyncClient, demo: DemoData
) -> None:
    events = await stream(client, demo.task(slug).job_ids[-1])
    assert [e["type"] for e in events] == ["connected", "trace_url", "historical_complete", "complete"]
    assert events[1]["url"].startswith("https://")
    assert events[-1]["status"] == status


async def test_failed_job_completes_with_failed(
    client: httpx2.AsyncClient, demo: DemoData, state: EmulatorState
) -> None:
    job_id = demo.task("demo-1").job_ids[-1]
    state.finish_job(job_id, "FAILED")
    assert (await stream(client, job_id))[-1] == {"type": "complete", "status": "failed"}


async def test_running_job_streams_logs_until_it_finishes(
    client: httpx2.AsyncClient, demo: DemoData, state: EmulatorState
) -> None:
    job_id = demo.task("demo-1").job_ids[-1]
    result: list[dict[str, Any]] = []

    async def read() -> None:
        result.extend(await stream(client, job_id))

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        await anyio.sleep(0.08)
        state.finish_job(job_id)
    types = [e["type"] for e in result]
    assert types[:3] == ["connected", "trace_records", "historical_complete"]
    assert types.count("log") >= 2
    assert types[-2:] == ["status", "complete"]
    assert result[-1]["status"] == "completed"


async def test_stream_follows_the_fake_clock(client: httpx2.AsyncClient, clock: FakeClock) -> None:
    created = (await client.post("/tasks", json={"command": "Clocked"})).json()
    job_id = created["job"]["id"]
    result: list[dict[str, Any]] = []

    async def read() -> None:
        result.extend(await stream(client, job_id))

    async with anyio.create_task_group() as tg:
        tg.start_soon(read)
        await anyio.sleep(0.05)
        clock.advance(2)  # PENDING -> RUNNING
        await anyio.sleep(0.05)
        clock.advance(8)  # RUNNING -> COMPLETED
    statuses = [e["jobStatus"] for e in result if e["type"] == "status"]
    assert statuses == ["RUNNING", "COMPLETED"]
    assert result[-1] == {"type": "complete", "status": "completed"}


async def test_endless_job_stream_still_ends(state: EmulatorState, demo: DemoData) -> None:
    async with client_for(make_app(state, sse_max_seconds=0.1)) as client:
        events = await stream(client, demo.task("demo-1").job_ids[-1])
    assert events[-1]["type"] == "error"


def test_stream_over_a_socket_ends_with_complete(state: EmulatorState, demo: DemoData) -> None:
    job_id = demo.task("demo-1").job_ids[-1]
    lines: list[str] = []
    server = EmulatorServer(state, sse_interval=0.02)
    with (
        server,
        httpx2.Client(base_url=server.base_url, headers=AUTH) as client,
        client.stream("GET", f"/jobs/{job_id}/logs/stream", headers={"Accept": "text/event-stream"}) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            lines.append(line)
            if '"type":"log"' in line:
                state.finish_job(job_id)
    events = events_of("\n".join(lines))
    assert events[0]["type"] == "connected"
    assert events[-1] == {"type": "complete", "status": "completed"}
