"""Requests are recorded exactly as they arrived."""

from __future__ import annotations

import httpx2
import pytest

from tests.emulator.conftest import AUTH, client_for, make_app
from twill_mcp.emulator import EmulatorServer, EmulatorState

pytestmark = pytest.mark.anyio


async def test_in_process_recording_keeps_the_encoded_path(client: httpx2.AsyncClient) -> None:
    recorder = client._transport.app.state.recorder  # type: ignore[attr-defined]
    response = await client.post("/tasks/a%2Fb/cancel", content=b'{"x": 1}', headers={"X-Trace": "abc"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Task not found"
    request = recorder.last
    assert (request.method, request.raw_path, request.body) == ("POST", "/api/v1/tasks/a%2Fb/cancel", b'{"x": 1}')
    assert request.headers["x-trace"] == "abc"
    assert request.headers["authorization"] == AUTH["Authorization"]
    assert request.json() == {"x": 1}


def test_socket_recording_is_byte_exact(state: EmulatorState) -> None:
    body = b"\x00not json\xff"
    with EmulatorServer(state) as server, httpx2.Client(base_url=server.origin, headers=AUTH) as client:
        client.post("/api/v1/tasks/a%2Fb/cancel?x=1&y=%20z", content=body, headers={"X-Twill-Test": "1"})
        client.get("/api/v1/tasks", params={"limit": 5, "cursor": "ab+c/="})
        first, second = server.requests
    assert first.method == "POST"
    assert first.raw_path == "/api/v1/tasks/a%2Fb/cancel"
    assert first.query_string == "x=1&y=%20z"
    assert first.target == "/api/v1/tasks/a%2Fb/cancel?x=1&y=%20z"
    assert first.body == body
    assert first.headers["x-twill-test"] == "1"
    assert all(name == name.lower() for name in first.headers)
    assert ("content-length", str(len(body))) in first.header_list
    assert second.query_string == "limit=5&cursor=ab%2Bc%2F%3D"


@pytest.mark.anyio
async def test_an_id_with_a_control_character_gets_twills_json_404_not_a_plain_text_one() -> None:
    async with client_for(make_app(EmulatorState())) as client:
        response = await client.get("/tasks/a%0Ab%7F")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_found"
