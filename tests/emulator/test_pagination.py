"""Cursor pagination of tasks (newest first) and jobs (newest block first, each block chronological)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.emulator.schemas import assert_error
from twill_mcp.emulator import EmulatorState

pytestmark = pytest.mark.anyio


async def walk(client: httpx2.AsyncClient, path: str, key: str, limit: int | None) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {} if limit is None else {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body[key])
        cursor = body["nextCursor"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str)


@pytest.mark.parametrize(("limit", "sizes"), [(7, [7] * 7 + [1]), (None, [20, 20, 10]), (100, [50])])
async def test_task_pages_cover_everything_once(
    limit: int | None, sizes: list[int], client: httpx2.AsyncClient, state: EmulatorState
) -> None:
    for i in range(45):
        state.create_task(f"Task number {i}")
    pages = await walk(client, "/tasks", "tasks", limit)
    assert [len(p) for p in pages] == sizes
    ids = [t["id"] for page in pages for t in page]
    assert len(ids) == len(set(ids)) == 50
    assert ids == [t.id for t in state.list_tasks()]  # newest first


async def test_new_tasks_do_not_shift_later_pages(client: httpx2.AsyncClient, state: EmulatorState) -> None:
    first = (await client.get("/tasks", params={"limit": 2})).json()
    state.create_task("Arrives between two page loads")
    second = (await client.get("/tasks", params={"limit": 2, "cursor": first["nextCursor"]})).json()
    seen = {t["id"] for t in first["tasks"]}
    assert not seen & {t["id"] for t in second["tasks"]}


@pytest.mark.parametrize(("limit", "sizes"), [(30, [30, 30, 5]), (None, [30, 30, 5]), (64, [64, 1])])
async def test_job_pages_go_back_in_time(
    limit: int | None, sizes: list[int], client: httpx2.AsyncClient, state: EmulatorState
) -> None:
    task, job = state.create_task("Busy task")
    assert job is not None
    expected = [job.id] + [state.send_message(task, f"message {i}").id for i in range(64)]
    pages = await walk(client, f"/tasks/{task.slug}/jobs", "jobs", limit)
    assert [len(p) for p in pages] == sizes
    page_ids = [[j["id"] for j in page] for page in pages]
    # Page 1 is the newest block; each page reads oldest to newest.
    assert [jid for page in reversed(page_ids) for jid in page] == expected
    assert page_ids[0][-1] == expected[-1]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"limit": "1.5"}, {"cursor": "!!!"}, {"cursor": "bm9wZQ=="}],
)
async def test_bad_paging_parameters_are_400(params: dict[str, Any], client: httpx2.AsyncClient) -> None:
    for path in ("/tasks", "/tasks/demo-1/jobs"):
        response = await client.get(path, params=params)
        assert response.status_code == 400, (path, params)
        assert_error(response.json(), "validation_error")
        assert response.json()["error"]["details"][0]["field"] == next(iter(params))


async def test_a_cursor_belongs_to_its_list(client: httpx2.AsyncClient, state: EmulatorState) -> None:
    for i in range(3):
        state.create_task(f"t{i}")
    cursor = (await client.get("/tasks", params={"limit": 1})).json()["nextCursor"]
    response = await client.get("/tasks/demo-1/jobs", params={"cursor": cursor})
    assert response.status_code == 400
