"""Scheduled tasks through the API."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.emulator.conftest import FakeClock, client_for, make_app
from tests.emulator.schemas import assert_error
from twill_mcp.emulator import EmulatorState

pytestmark = pytest.mark.anyio

BODY = {"title": "Weekday triage", "message": "Review issues", "cronExpression": "30 9 * * MON-FRI"}


async def create(client: httpx2.AsyncClient, **extra: Any) -> dict[str, Any]:
    response = await client.post("/scheduled-tasks", json={**BODY, **extra})
    assert response.status_code == 200, response.text
    scheduled: dict[str, Any] = response.json()["scheduledTask"]
    return scheduled


async def test_create_fills_every_field(client: httpx2.AsyncClient, state: EmulatorState) -> None:
    scheduled = await create(client, timezone="America/New_York")
    assert scheduled["workspaceId"] == state.workspace_id
    assert scheduled["createdById"] == state.user_id
    assert scheduled["enabled"] is True
    assert scheduled["agentProviderId"] is None
    assert scheduled["lastRunAt"] is None
    # The clock is Thu 2026-01-01 00:00Z = Wed 19:00 in New York; next weekday 09:30 there is Thu 14:30Z.
    assert scheduled["nextRunAt"] == "2026-01-01T14:30:00.000Z"
    assert (await create(client))["timezone"] == "UTC"


async def test_lifecycle(client: httpx2.AsyncClient, clock: FakeClock) -> None:
    scheduled = await create(client, agentProviderId="claude-code/sonnet")
    sid = scheduled["id"]
    listed = (await client.get("/scheduled-tasks")).json()["scheduledTasks"]
    assert listed[0]["id"] == sid
    clock.advance(5)
    patched = (await client.patch(f"/scheduled-tasks/{sid}", json={"agentProviderId": None, "title": "New"})).json()
    assert patched["scheduledTask"]["agentProviderId"] is None
    assert patched["scheduledTask"]["title"] == "New"
    assert patched["scheduledTask"]["updatedAt"] == "2026-01-01T00:00:05.000Z"
    paused = (await client.post(f"/scheduled-tasks/{sid}/pause", json={})).json()["scheduledTask"]
    assert (paused["enabled"], paused["nextRunAt"]) == (False, None)
    assert (await client.post(f"/scheduled-tasks/{sid}/pause")).json()["scheduledTask"]["enabled"] is False
    resumed = (await client.post(f"/scheduled-tasks/{sid}/resume", json={})).json()["scheduledTask"]
    assert resumed["enabled"] is True
    assert resumed["nextRunAt"] == "2026-01-01T09:30:00.000Z"
    assert (await client.delete(f"/scheduled-tasks/{sid}")).json() == {"success": True}
    gone = await client.get(f"/scheduled-tasks/{sid}")
    assert gone.status_code == 404
    assert_error(gone.json(), "not_found")
    assert (await client.delete(f"/scheduled-tasks/{sid}")).status_code == 404


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"cronExpression": "every day"}, "cronExpression"),
        ({"cronExpression": "61 * * * *"}, "cronExpression"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"title": "t" * 201}, "title"),
        ({"title": " "}, "title"),
        ({"agentProviderId": "codex"}, "agentProviderId"),
        ({"message": None}, "message"),
    ],
)
async def test_invalid_fields_are_400(extra: dict[str, Any], field: str, client: httpx2.AsyncClient) -> None:
    response = await client.post("/scheduled-tasks", json={**BODY, **extra})
    assert response.status_code == 400
    assert_error(response.json(), "validation_error")
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]


async def test_patch_validates_too(client: httpx2.AsyncClient) -> None:
    sid = (await create(client))["id"]
    response = await client.patch(f"/scheduled-tasks/{sid}", json={"title": None})
    assert response.status_code == 400
    response = await client.patch(f"/scheduled-tasks/{sid}", json={"cronExpression": "* * *"})
    assert response.status_code == 400


async def test_plan_without_schedules_is_403(clock: FakeClock) -> None:
    state = EmulatorState(clock, scheduled_tasks_allowed=False)
    async with client_for(make_app(state)) as client:
        response = await client.post("/scheduled-tasks", json=BODY)
    assert response.status_code == 403
    assert_error(response.json(), "forbidden")
