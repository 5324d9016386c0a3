"""Task and job behaviour through the HTTP API (in-process)."""

from __future__ import annotations

import re
from typing import Any

import httpx2
import pytest

from tests.emulator.conftest import FakeClock
from tests.emulator.schemas import assert_error
from twill_mcp.emulator import DemoData, EmulatorState

pytestmark = pytest.mark.anyio


async def jobs_of(client: httpx2.AsyncClient, ref: str) -> list[dict[str, Any]]:
    response = await client.get(f"/tasks/{ref}/jobs", params={"limit": 100})
    assert response.status_code == 200
    jobs: list[dict[str, Any]] = response.json()["jobs"]
    return jobs


@pytest.mark.parametrize("by", ["id", "slug"])
async def test_id_and_slug_address_the_same_task(by: str, client: httpx2.AsyncClient, demo: DemoData) -> None:
    task = demo.task("demo-1")
    ref = task.id if by == "id" else task.slug
    got = (await client.get(f"/tasks/{ref}")).json()
    assert got["task"]["id"] == task.id
    assert got["task"]["slug"] == "demo-1"
    assert got["task"]["url"] == "https://twill.ai/tasks/demo-1"
    assert (await client.post(f"/tasks/{ref}/messages", json={"message": "more"})).status_code == 200
    assert len(await jobs_of(client, ref)) == 2
    assert (await client.post(f"/tasks/{ref}/cancel", json={})).json() == {"success": True, "task": {"id": task.id}}


async def test_task_without_jobs_has_null_latest_job(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/tasks/demo-empty")).json()["latestJob"] is None


async def test_created_task_has_slug_title_and_pending_job(client: httpx2.AsyncClient) -> None:
    response = await client.post("/tasks", json={"command": "Add a Dark-Mode toggle to Settings!"})
    assert response.status_code == 201
    body = response.json()
    assert body["task"]["title"] == "Add a Dark-Mode toggle to Settings!"
    assert re.fullmatch(r"add-a-dark-mode-toggle-to-settings-[a-z0-9]{6}", body["task"]["slug"])
    assert body["task"]["url"] == f"https://twill.ai/tasks/{body['task']['slug']}"
    assert body["job"]["status"] == "PENDING"


async def test_job_lifecycle_follows_the_clock(client: httpx2.AsyncClient, clock: FakeClock) -> None:
    created = (await client.post("/tasks", json={"command": "Write docs"})).json()
    slug = created["task"]["slug"]

    async def latest() -> dict[str, Any]:
        job: dict[str, Any] = (await client.get(f"/tasks/{slug}")).json()["latestJob"]
        return job

    assert (await latest())["status"] == "PENDING"
    assert (await latest())["startedAt"] is None
    clock.advance(2)
    running = await latest()
    assert running["status"] == "RUNNING"
    assert running["startedAt"] == "2026-01-01T00:00:02.000Z"
    assert running["finalAnswer"] is None
    clock.advance(8)
    done = await latest()
    assert done["status"] == "COMPLETED"
    assert done["completedAt"] == "2026-01-01T00:00:10.000Z"
    assert done["finalAnswer"]
    task = (await client.get(f"/tasks/{slug}")).json()["task"]
    assert task["updatedAt"] == "2026-01-01T00:00:10.000Z"


async def test_jobs_move_on_demand(client: httpx2.AsyncClient, state: EmulatorState, clock: FakeClock) -> None:
    created = (await client.post("/tasks", json={"command": "Refactor"})).json()
    job_id = created["job"]["id"]
    state.advance(job_id, "RUNNING")
    clock.advance(3600)
    assert state.job_status(job_id) == "RUNNING"  # pinned: no automatic completion any more
    state.finish_job(job_id, "FAILED", error="tests failed")
    [job] = await jobs_of(client, created["task"]["id"])
    assert job["status"] == "FAILED"
    assert job["error"] == "tests failed"
    assert job["finalAnswer"] is None
    with pytest.raises(ValueError, match="unknown job status"):
        state.advance(job_id, "DONE")


async def test_plan_jobs_end_with_a_ready_plan(client: httpx2.AsyncClient, clock: FakeClock) -> None:
    created = (await client.post("/tasks", json={"command": "/plan Split the monolith"})).json()
    clock.advance(60)
    latest = (await client.get(f"/tasks/{created['task']['id']}")).json()["latestJob"]
    assert latest["type"] == "PLAN"
    assert latest["planOutcome"] == "READY"
    assert "Split the monolith" in latest["plan"]


async def test_cancel_cancels_every_unfinished_job(client: httpx2.AsyncClient, state: EmulatorState) -> None:
    created = (await client.post("/tasks", json={"command": "Long work"})).json()
    slug = created["task"]["slug"]
    task = state.task(slug)
    first = state.latest_job(task)
    assert first is not None
    second = state.send_message(task, "more")  # cancels `first`...
    state.advance(first.id, "RUNNING")  # ...so force two unfinished jobs at once
    response = await client.post(f"/tasks/{slug}/cancel", json={})
    assert response.status_code == 200
    assert response.json() == {"success": True, "task": {"id": task.id}}
    jobs = await jobs_of(client, slug)
    assert [(j["id"], j["status"]) for j in jobs] == [(first.id, "CANCELLED"), (second.id, "CANCELLED")]
    assert all(j["completedAt"] for j in jobs)
    assert task.status == "CANCELLED"
    again = await client.post(f"/tasks/{slug}/cancel", json={})
    assert again.status_code == 200  # idempotent


async def test_cancel_leaves_finished_jobs_alone(client: httpx2.AsyncClient) -> None:
    await client.post("/tasks/demo-2/cancel")
    [job] = await jobs_of(client, "demo-2")
    assert job["status"] == "COMPLETED"


async def test_message_cancels_the_running_job(
    client: httpx2.AsyncClient, demo: DemoData, state: EmulatorState
) -> None:
    running_id = demo.task("demo-1").job_ids[0]
    assert state.job_status(running_id) == "RUNNING"
    response = await client.post("/tasks/demo-1/messages", json={"message": "Actually, use tokens"})
    new_job = response.json()["job"]
    assert new_job["status"] == "PENDING"
    assert new_job["id"] != running_id
    old, new = await jobs_of(client, "demo-1")
    assert (old["id"], old["status"]) == (running_id, "CANCELLED")
    assert (new["id"], new["input"]) == (new_job["id"], "Actually, use tokens")
    assert (await client.get("/tasks/demo-1")).json()["latestJob"]["id"] == new_job["id"]


async def test_message_reopens_a_cancelled_task(client: httpx2.AsyncClient, state: EmulatorState) -> None:
    response = await client.post("/tasks/demo-4/messages", json={"message": "try again"})
    assert response.status_code == 200
    assert state.task("demo-4").status == "ACTIVE"


async def test_message_may_change_model_but_not_harness(client: httpx2.AsyncClient) -> None:
    ok = await client.post("/tasks/demo-1/messages", json={"message": "m", "agent": "claude-code/opus"})
    assert ok.status_code == 200
    bad = await client.post("/tasks/demo-1/messages", json={"message": "m", "agent": "codex/gpt-5.5"})
    assert bad.status_code == 400
    assert_error(bad.json(), "validation_error")
    assert bad.json()["error"]["details"][0]["field"] == "agent"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["command"]),
        ({"command": 5, "userIntent": "NOPE"}, ["command", "userIntent"]),
        ({"command": "x", "reasoningEffort": "extreme"}, ["reasoningEffort"]),
        ({"command": "   "}, ["command"]),
        ({"command": "x", "agent": "codex"}, ["agent"]),
        ({"command": "x", "files": [{"filename": "a", "mediaType": "t", "url": "https://x"}]}, ["files.0.url"]),
        ({"command": "x", "parentId": "missing"}, ["parentId"]),
    ],
)
async def test_create_task_validation_lists_fields(
    body: dict[str, Any], fields: list[str], client: httpx2.AsyncClient
) -> None:
    response = await client.post("/tasks", json=body)
    assert response.status_code == 400
    assert_error(response.json(), "validation_error")
    assert [d["field"] for d in response.json()["error"]["details"]] == fields


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]"])
async def test_create_task_rejects_missing_or_non_object_bodies(raw: bytes, client: httpx2.AsyncClient) -> None:
    response = await client.post("/tasks", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert_error(response.json(), "validation_error")


async def test_archive_hides_the_task_from_the_list_only(client: httpx2.AsyncClient) -> None:
    response = await client.post("/tasks/demo-2/archive", json={})
    assert response.json()["success"] is True
    listed = (await client.get("/tasks", params={"limit": 100})).json()["tasks"]
    assert "demo-2" not in [t["slug"] for t in listed]
    assert (await client.get("/tasks/demo-2")).status_code == 200


async def test_list_items_carry_latest_job_status_and_prs(client: httpx2.AsyncClient) -> None:
    items = {t["slug"]: t for t in (await client.get("/tasks")).json()["tasks"]}
    assert items["demo-1"]["latestJobStatus"] == "RUNNING"
    assert items["demo-2"]["prs"][0]["prUrl"] == "https://github.com/twill-demo/web-app/pull/42"
    assert "latestJobStatus" not in items["demo-empty"]


async def test_cancel_job_only_touches_that_job(client: httpx2.AsyncClient, demo: DemoData) -> None:
    job_id = demo.task("demo-1").job_ids[0]
    response = await client.post(f"/jobs/{job_id}/cancel", json={})
    assert response.json() == {"success": True, "job": {"id": job_id, "status": "CANCELLED"}}
    finished = demo.task("demo-2").job_ids[0]
    unchanged = await client.post(f"/jobs/{finished}/cancel", json={})
    assert unchanged.json()["job"]["status"] == "COMPLETED"


async def test_teleport_conflicts_once_the_job_is_finished(client: httpx2.AsyncClient, state: EmulatorState) -> None:
    assert (await client.get("/tasks/demo-1/teleport/claude")).status_code == 200
    state.finish_job(state.task("demo-1").job_ids[-1])
    for slug in ("demo-1", "demo-empty"):
        response = await client.get(f"/tasks/{slug}/teleport/claude")
        assert response.status_code == 409
        assert_error(response.json(), "conflict")


async def test_teleport_needs_a_claude_code_task(client: httpx2.AsyncClient) -> None:
    created = (await client.post("/tasks", json={"command": "x", "agent": "codex/gpt-5.5"})).json()
    response = await client.get(f"/tasks/{created['task']['id']}/teleport/claude")
    assert response.status_code == 409


async def test_unknown_routes_and_methods(client: httpx2.AsyncClient) -> None:
    for path in ("/nope", "/tasks/demo-1/unknown", "/tasks/"):
        response = await client.get(path)
        assert response.status_code == 404
        assert_error(response.json(), "not_found")
    outside = await client.get("http://twill.test/elsewhere")
    assert outside.status_code == 404
    wrong = await client.delete("/tasks/demo-1")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET"
    assert_error(wrong.json(), "method_not_allowed")
