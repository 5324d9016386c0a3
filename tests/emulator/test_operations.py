"""Every operation of the bundled spec: one documented success and one documented error.

The table must name exactly the spec's operationIds, so a new operation without a
case here fails `test_every_operation_has_a_case`.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from tests.emulator.conftest import client_for, make_app
from tests.emulator.schemas import (
    assert_error,
    assert_response_body,
    documented_statuses,
    operations,
    success_status,
)
from twill_mcp.emulator import DemoData, EmulatorState

pytestmark = pytest.mark.anyio

DATA_URL = "data:text/plain;base64,SGVsbG8="
ERROR_CODES = {400: "validation_error", 401: "unauthorized", 404: "not_found", 409: "conflict"}
# Error cases the spec does not list for the operation, each with its reason.
UNDOCUMENTED_ERRORS = {("approveCriteria", 404): "removed endpoint; the spec only captured its 200"}


@dataclass
class Env:
    client: httpx2.AsyncClient
    state: EmulatorState
    demo: DemoData

    def job_of(self, slug: str) -> str:
        return self.demo.task(slug).job_ids[-1]

    @property
    def schedule_id(self) -> str:
        return self.demo.scheduled_tasks[0].id


Call = Callable[[Env], Awaitable[httpx2.Response]]


@dataclass
class Case:
    success: Call
    error: Call
    error_status: int
    media: str = "application/json"
    legacy: bool = False


def get(path: str, **kw: Any) -> Call:
    return lambda env: env.client.get(path, **kw)


def post(path: str | Callable[[Env], str], body: Any = None, **kw: Any) -> Call:
    def call(env: Env) -> Awaitable[httpx2.Response]:
        url = path(env) if callable(path) else path
        return env.client.post(url, json=body, **kw) if body is not None else env.client.post(url, **kw)

    return call


NO_AUTH = {"Authorization": ""}
BAD_KEY = {"Authorization": "Bearer twk_wrong"}

CASES: dict[str, Case] = {
    "getCurrentUser": Case(get("/auth/me"), get("/auth/me", headers=NO_AUTH), 401),
    "listRepositories": Case(get("/repositories"), get("/repositories", headers=BAD_KEY), 401),
    "createTask": Case(
        post(
            "/tasks",
            {
                "command": "Add a health check endpoint",
                "agent": "claude-code/opus",
                "userIntent": "SWE",
                "title": "Health check",
                "files": [{"filename": "spec.md", "mediaType": "text/markdown", "url": DATA_URL}],
                "reasoningEffort": "high",
            },
        ),
        post("/tasks", {"title": "no command"}),
        400,
    ),
    "listTasks": Case(get("/tasks", params={"limit": 2}), get("/tasks", params={"limit": 0}), 400),
    "getTask": Case(get("/tasks/demo-1"), get("/tasks/no-such-task"), 404),
    "sendMessage": Case(
        post("/tasks/demo-1/messages", {"message": "Use CSS variables", "userIntent": "SWE"}),
        post("/tasks/no-such-task/messages", {"message": "hi"}),
        404,
    ),
    "listTaskJobs": Case(get("/tasks/demo-2/jobs"), get("/tasks/no-such-task/jobs"), 404),
    "approvePlan": Case(
        post("/tasks/demo-3/approve-plan", {}), post("/tasks/demo-3/approve-plan", {}), 404, legacy=True
    ),
    "approveCriteria": Case(
        post("/tasks/demo-3/approve-criteria"), post("/tasks/demo-3/approve-criteria"), 404, legacy=True
    ),
    "cancelTask": Case(post("/tasks/demo-1/cancel", {}), post("/tasks/no-such-task/cancel", {}), 404),
    "archiveTask": Case(post("/tasks/demo-2/archive", {}), post("/tasks/no-such-task/archive", {}), 404),
    "exportClaudeTeleportSession": Case(
        get("/tasks/demo-1/teleport/claude"), get("/tasks/no-such-task/teleport/claude"), 404, media="application/x-tar"
    ),
    "streamJobLogs": Case(
        lambda env: env.client.get(
            f"/jobs/{env.job_of('demo-2')}/logs/stream", headers={"Accept": "text/event-stream"}
        ),
        get("/jobs/no-such-job/logs/stream"),
        404,
        media="text/event-stream",
    ),
    "cancelJob": Case(post(lambda env: f"/jobs/{env.job_of('demo-1')}/cancel", {}), post("/jobs/nope/cancel", {}), 404),
    "listScheduledTasks": Case(get("/scheduled-tasks"), get("/scheduled-tasks", headers=NO_AUTH), 401),
    "createScheduledTask": Case(
        post(
            "/scheduled-tasks",
            {
                "title": "Nightly deps",
                "message": "Bump dependencies",
                "cronExpression": "0 2 * * *",
                "timezone": "America/New_York",
                "agentProviderId": "codex/gpt-5.5",
            },
        ),
        post("/scheduled-tasks", {"title": "x" * 201, "message": "m"}),
        400,
    ),
    "getScheduledTask": Case(
        lambda env: env.client.get(f"/scheduled-tasks/{env.schedule_id}"), get("/scheduled-tasks/nope"), 404
    ),
    "updateScheduledTask": Case(
        lambda env: env.client.patch(
            f"/scheduled-tasks/{env.schedule_id}", json={"title": "Triage", "agentProviderId": None}
        ),
        lambda env: env.client.patch("/scheduled-tasks/nope", json={"title": "x"}),
        404,
    ),
    "deleteScheduledTask": Case(
        lambda env: env.client.delete(f"/scheduled-tasks/{env.schedule_id}"),
        lambda env: env.client.delete("/scheduled-tasks/nope"),
        404,
    ),
    "pauseScheduledTask": Case(
        post(lambda env: f"/scheduled-tasks/{env.schedule_id}/pause", {}), post("/scheduled-tasks/nope/pause", {}), 404
    ),
    "resumeScheduledTask": Case(
        post(lambda env: f"/scheduled-tasks/{env.schedule_id}/resume", {}),
        post("/scheduled-tasks/nope/resume", {}),
        404,
    ),
}


def test_every_operation_has_a_case() -> None:
    assert set(CASES) == set(operations())


def sse_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: ") :]) for line in text.splitlines() if line.startswith("data: ")]


ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def assert_timestamps(node: Any) -> None:
    """The validator has no date-time format checker installed, so check `...At` fields by hand."""
    if isinstance(node, list):
        for item in node:
            assert_timestamps(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("At") and value is not None:
                assert ISO.match(value), (key, value)
            assert_timestamps(value)


def check_success(op_id: str, response: httpx2.Response, media: str) -> None:
    assert response.status_code == success_status(op_id), response.text
    assert response.headers["content-type"].split(";")[0] == media
    if media == "application/json":
        assert_response_body(op_id, response.status_code, response.json())
        assert_timestamps(response.json())
    elif media == "text/event-stream":
        events = sse_events(response.text)
        for event in events:
            assert_response_body(op_id, response.status_code, event, media)
        assert events[0]["type"] == "connected"
        assert events[-1]["type"] == "complete"
    else:
        with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
            members = tar.getmembers()
            first = tar.extractfile(members[0])
            assert first is not None
            lines = first.read().decode().splitlines()
        assert int(response.headers["x-twill-file-count"]) == len(members) == 1
        assert members[0].name == f"{response.headers['x-twill-session-id']}.jsonl"
        assert all(json.loads(line)["sessionId"] == response.headers["x-twill-session-id"] for line in lines)
        assert response.headers["x-twill-job-id"]


@pytest.mark.parametrize("op_id", sorted(CASES))
async def test_success_matches_spec(op_id: str, state: EmulatorState, demo: DemoData) -> None:
    case = CASES[op_id]
    async with client_for(make_app(state, legacy_endpoints=case.legacy)) as client:
        response = await case.success(Env(client, state, demo))
    check_success(op_id, response, case.media)


@pytest.mark.parametrize("op_id", sorted(CASES))
async def test_documented_error_matches_spec(op_id: str, state: EmulatorState, demo: DemoData) -> None:
    case = CASES[op_id]
    async with client_for(make_app(state)) as client:
        response = await case.error(Env(client, state, demo))
    assert response.status_code == case.error_status, response.text
    assert case.error_status in documented_statuses(op_id) or (op_id, case.error_status) in UNDOCUMENTED_ERRORS
    assert response.headers["content-type"] == "application/json"
    assert_error(response.json(), ERROR_CODES[case.error_status])


def concrete(template: str) -> str:
    return template.replace("{taskIdOrSlug}", "demo-1").replace("{jobId}", "j").replace("{scheduledTaskId}", "s")


@pytest.mark.parametrize("op_id", sorted(CASES))
@pytest.mark.parametrize("authorization", [None, "Bearer twk_wrong", f"Basic {'x' * 8}", "Bearer"])
async def test_every_operation_requires_the_bearer_key(
    op_id: str, authorization: str | None, state: EmulatorState, demo: DemoData
) -> None:
    method, template, _ = operations()[op_id]
    headers = {} if authorization is None else {"Authorization": authorization}
    async with client_for(make_app(state), headers=headers) as client:
        response = await client.request(method, concrete(template), json={})
    assert response.status_code == 401
    assert_error(response.json(), "unauthorized")


async def test_removed_endpoints_say_so(client: httpx2.AsyncClient) -> None:
    for path in ("/tasks/demo-3/approve-plan", "/tasks/demo-3/approve-criteria"):
        response = await client.post(path, json={})
        assert response.status_code == 404
        assert "removed" in response.json()["error"]["message"]


async def test_legacy_approve_plan_needs_a_ready_plan(state: EmulatorState, demo: DemoData) -> None:
    async with client_for(make_app(state, legacy_endpoints=True)) as client:
        response = await client.post("/tasks/demo-2/approve-plan", json={})
    assert response.status_code == 400
    assert_error(response.json(), "validation_error")
