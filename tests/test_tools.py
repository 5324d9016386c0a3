"""Every tool against the emulator, through a real MCP client: a success, a documented error, argument validation.

The table must name every compiled tool, so a new operation without a case fails here.
"""

from __future__ import annotations

import base64
import io
import tarfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import mcp_types as types
import pytest
from jsonschema import Draft202012Validator
from mcp import Client

from tests.conftest import serving
from twill_mcp.core.config import Settings
from twill_mcp.emulator import DEMO_KEY, DemoData, EmulatorServer, EmulatorState, FaultPlan, seed_demo
from twill_mcp.spec.compiler import CompiledTool, compile_spec
from twill_mcp.spec.openapi import load_bundled_spec

pytestmark = pytest.mark.anyio

TOOLS = {tool.name: tool for tool in compile_spec(load_bundled_spec())}
Args = Callable[[DemoData], dict[str, Any]]


def job_of(demo: DemoData, slug: str) -> str:
    return demo.task(slug).job_ids[-1]


def schedule(demo: DemoData) -> str:
    return demo.scheduled_tasks[0].id


@dataclass(frozen=True)
class Case:
    success: Args
    check: Callable[[Any], bool]
    error: Args | None = None
    """Arguments that make Twill answer its documented 404; None: a bad key's 401 is the documented error."""


CASES: dict[str, Case] = {
    "get_current_user": Case(lambda d: {}, lambda r: bool(r["workspaceId"])),
    "list_repositories": Case(lambda d: {}, lambda r: len(r["repositories"]) == 2),
    "list_tasks": Case(lambda d: {"limit": 2}, lambda r: len(r["tasks"]) == 2 and r["nextCursor"]),
    "create_task": Case(lambda d: {"command": "Fix the footer"}, lambda r: r["task"]["id"] and r["job"]["id"]),
    "get_task": Case(
        lambda d: {"taskIdOrSlug": "demo-2"},
        lambda r: r["task"]["slug"] == "demo-2",
        lambda d: {"taskIdOrSlug": "no-such-task"},
    ),
    "send_message": Case(
        lambda d: {"taskIdOrSlug": "demo-2", "message": "Also add a test"},
        lambda r: r["job"]["id"],
        lambda d: {"taskIdOrSlug": "no-such-task", "message": "hi"},
    ),
    "list_task_jobs": Case(
        lambda d: {"taskIdOrSlug": "demo-2"}, lambda r: len(r["jobs"]) == 1, lambda d: {"taskIdOrSlug": "nope"}
    ),
    "approve_plan": Case(
        lambda d: {"taskIdOrSlug": "demo-3"}, lambda r: r["success"] is True, lambda d: {"taskIdOrSlug": "nope"}
    ),
    "approve_criteria": Case(
        lambda d: {"taskIdOrSlug": "demo-3"}, lambda r: r["success"] is True, lambda d: {"taskIdOrSlug": "nope"}
    ),
    "cancel_task": Case(
        lambda d: {"taskIdOrSlug": "demo-1"}, lambda r: r["success"] is True, lambda d: {"taskIdOrSlug": "nope"}
    ),
    "archive_task": Case(
        lambda d: {"taskIdOrSlug": "demo-4"}, lambda r: r["success"] is True, lambda d: {"taskIdOrSlug": "nope"}
    ),
    "export_claude_teleport_session": Case(
        lambda d: {"taskIdOrSlug": "demo-1"}, lambda r: r["fileCount"] == 1, lambda d: {"taskIdOrSlug": "nope"}
    ),
    "stream_job_logs": Case(
        lambda d: {"jobId": job_of(d, "demo-2")},
        lambda r: r["complete"] and r["status"] == "completed",
        lambda d: {"jobId": "no-such-job"},
    ),
    "cancel_job": Case(
        lambda d: {"jobId": job_of(d, "demo-1")}, lambda r: r["success"] is True, lambda d: {"jobId": "nope"}
    ),
    "list_scheduled_tasks": Case(lambda d: {}, lambda r: len(r["scheduledTasks"]) == 1),
    "create_scheduled_task": Case(
        lambda d: {"title": "Nightly", "message": "Run the checks", "cronExpression": "0 2 * * *"},
        lambda r: r["scheduledTask"]["enabled"] is True,
    ),
    "get_scheduled_task": Case(
        lambda d: {"scheduledTaskId": schedule(d)},
        lambda r: r["scheduledTask"]["title"] == "Daily triage",
        lambda d: {"scheduledTaskId": "nope"},
    ),
    "update_scheduled_task": Case(
        lambda d: {"scheduledTaskId": schedule(d), "title": "Weekly triage", "agentProviderId": None},
        lambda r: r["scheduledTask"]["title"] == "Weekly triage",
        lambda d: {"scheduledTaskId": "nope", "title": "x"},
    ),
    "delete_scheduled_task": Case(
        lambda d: {"scheduledTaskId": schedule(d)}, lambda r: r["success"] is True, lambda d: {"scheduledTaskId": "x"}
    ),
    "pause_scheduled_task": Case(
        lambda d: {"scheduledTaskId": schedule(d)},
        lambda r: r["scheduledTask"]["enabled"] is False,
        lambda d: {"scheduledTaskId": "nope"},
    ),
    "resume_scheduled_task": Case(
        lambda d: {"scheduledTaskId": schedule(d)},
        lambda r: r["scheduledTask"]["enabled"] is True,
        lambda d: {"scheduledTaskId": "nope"},
    ),
}


@dataclass
class Workspace:
    client: Client
    demo: DemoData
    server: EmulatorServer


async def connect(key: str = DEMO_KEY) -> AsyncIterator[Workspace]:
    state = EmulatorState()
    demo = seed_demo(state)
    server = EmulatorServer(state, legacy_endpoints=True, sse_interval=0.01).start()
    try:
        config = Settings.load({"TWILL_API_KEY": key, "TWILL_BASE_URL": server.origin})
        async with serving(config, list(TOOLS.values())) as client:
            yield Workspace(client, demo, server)
    finally:
        # Nothing reaches it once the client is closed: it may finish stopping on its own (~0.2 s a test).
        server.stop(wait=False)


@pytest.fixture
async def workspace() -> AsyncIterator[Workspace]:
    async for connected in connect():
        yield connected


def test_every_tool_has_a_case() -> None:
    assert set(CASES) == set(TOOLS)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_the_tool_succeeds_and_its_result_fits_its_output_schema(workspace: Workspace, name: str) -> None:
    result = await workspace.client.call_tool(name, CASES[name].success(workspace.demo))
    assert not result.is_error, result.content[0].text
    assert CASES[name].check(result.structured_content)
    schema = TOOLS[name].output_schema
    if schema is not None:
        Draft202012Validator(schema).validate(result.structured_content)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_the_tool_reports_a_documented_error(name: str) -> None:
    case = CASES[name]
    key = DEMO_KEY if case.error else "twk_not_a_key"
    async for connected in connect(key):
        result = await connected.client.call_tool(name, (case.error or case.success)(connected.demo))
    assert result.is_error
    error = result.structured_content["error"]
    assert (error["status"], error["code"]) == ((404, "not_found") if case.error else (401, "unauthorized"))


@pytest.mark.parametrize("name", sorted(CASES))
async def test_the_tool_rejects_invalid_arguments_before_sending(workspace: Workspace, name: str) -> None:
    tool: CompiledTool = TOOLS[name]
    arguments = {**CASES[name].success(workspace.demo), "notAnArgument": 1}
    required = tool.input_schema.get("required", [])
    if required:
        arguments.pop(required[0])
    before = len(workspace.server.requests)
    result = await workspace.client.call_tool(name, arguments)
    assert result.structured_content["error"]["code"] == "invalid_arguments"
    assert "notAnArgument" in result.structured_content["error"]["message"]
    assert len(workspace.server.requests) == before


async def test_a_list_result_says_how_to_fetch_the_next_page(workspace: Workspace) -> None:
    first = await workspace.client.call_tool("list_tasks", {"limit": 2})
    cursor = first.structured_content["nextCursor"]
    assert f'cursor="{cursor}"' in first.content[-1].text
    second = await workspace.client.call_tool("list_tasks", {"limit": 2, "cursor": cursor})
    assert {t["id"] for t in first.structured_content["tasks"]}.isdisjoint(
        t["id"] for t in second.structured_content["tasks"]
    )


async def test_the_teleport_archive_comes_back_as_an_embedded_tar(workspace: Workspace) -> None:
    result = await workspace.client.call_tool("export_claude_teleport_session", {"taskIdOrSlug": "demo-1"})
    [resource] = [block for block in result.content if isinstance(block, types.EmbeddedResource)]
    assert resource.resource.mime_type == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(resource.resource.blob))) as archive:
        assert len(archive.getnames()) == result.structured_content["fileCount"]


async def test_a_teleport_archive_over_the_size_cap_is_refused_not_truncated() -> None:
    state = EmulatorState()
    seed_demo(state)
    with EmulatorServer(state) as server:
        config = Settings.load({"TWILL_API_KEY": DEMO_KEY, "TWILL_BASE_URL": server.origin}, max_response_bytes=100)
        async with serving(config, list(TOOLS.values())) as client:
            result = await client.call_tool("export_claude_teleport_session", {"taskIdOrSlug": "demo-1"})
    assert result.structured_content["error"]["code"] == "bad_upstream_response"
    assert "larger than" in result.structured_content["error"]["message"]


async def test_following_a_running_job_reports_progress_per_event_and_stops_at_complete(workspace: Workspace) -> None:
    job = job_of(workspace.demo, "demo-1")
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    state = workspace.server.state
    state.finish_job(job)  # the stream replays it as finished: trace_url, historical_complete, complete
    result = await workspace.client.call_tool("stream_job_logs", {"jobId": job}, progress_callback=on_progress)
    summary = result.structured_content
    assert summary["stoppedBy"] == "complete"
    assert [p for p, _ in seen] == list(range(1, summary["events"] + 1))
    assert seen[-1][1] == "complete"


async def test_following_a_job_stops_at_max_events(workspace: Workspace) -> None:
    result = await workspace.client.call_tool(
        "stream_job_logs", {"jobId": job_of(workspace.demo, "demo-1"), "maxEvents": 2}
    )
    assert (result.structured_content["stoppedBy"], result.structured_content["events"]) == ("max_events", 2)


async def test_following_a_job_stops_at_max_seconds(workspace: Workspace) -> None:
    job = job_of(workspace.demo, "demo-1")
    result = await workspace.client.call_tool("stream_job_logs", {"jobId": job, "maxSeconds": 1, "maxEvents": 10000})
    summary = result.structured_content
    assert summary["stoppedBy"] == "max_seconds"
    assert summary["complete"] is False
    assert 1 <= summary["seconds"] <= 2


async def test_following_a_job_after_a_rate_limit_wait_still_ends_inside_the_deadline() -> None:
    state = EmulatorState()
    demo = seed_demo(state)
    faults = FaultPlan(rate_limited=1, retry_after=2, path_contains="/logs/stream")
    with EmulatorServer(state, faults=faults, sse_interval=0.05) as server:
        config = Settings.load({"TWILL_API_KEY": DEMO_KEY, "TWILL_BASE_URL": server.origin}, call_timeout=6)
        async with serving(config, list(TOOLS.values())) as client:
            started = time.monotonic()
            result = await client.call_tool("stream_job_logs", {"jobId": job_of(demo, "demo-1"), "maxSeconds": 30})
            elapsed = time.monotonic() - started
    assert not result.is_error, result.content[0].text
    assert result.structured_content["stoppedBy"] == "max_seconds"
    assert elapsed < 6
