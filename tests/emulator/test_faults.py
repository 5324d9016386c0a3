"""Fault injection: parsing, each kind in-process, and latency / drop over a real socket."""

from __future__ import annotations

import json
import time

import httpx2
import pytest

from tests.emulator.conftest import AUTH, client_for, make_app
from tests.emulator.schemas import assert_error
from twill_mcp.emulator import ConnectionDropped, DemoData, EmulatorServer, EmulatorState, FaultPlan

pytestmark = pytest.mark.anyio


def test_parse_compact_spec() -> None:
    plan = FaultPlan.parse("latency=0.5, 5xx=3,429=2,html=1,drop=1,502=4,503=5,malformed=6,path=/cancel,retry_after=7")
    assert (plan.latency, plan.server_error, plan.rate_limited, plan.html, plan.drop) == (0.5, 3, 2, 1, 1)
    assert (plan.bad_gateway, plan.unavailable, plan.malformed) == (4, 5, 6)
    assert (plan.path_contains, plan.retry_after) == ("/cancel", 7)
    assert FaultPlan.parse("") == FaultPlan()
    assert FaultPlan.parse("500=2,json=1").server_error == 2


@pytest.mark.parametrize("text", ["boom=1", "5xx", "5xx=lots", "latency=", "drop=1.5"])
def test_parse_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="fault"):
        FaultPlan.parse(text)


async def test_each_kind_then_normal_service(state: EmulatorState, demo: DemoData) -> None:
    plan = FaultPlan(server_error=1, bad_gateway=1, unavailable=1, rate_limited=1, malformed=1, html=1, retry_after=3)
    app = make_app(state, faults=plan)
    async with client_for(app) as client:
        internal = await client.get("/auth/me")
        assert internal.status_code == 500
        assert_error(internal.json(), "internal_error")
        for status in (502, 503):
            page = await client.get("/auth/me")
            assert page.status_code == status
            assert page.headers["content-type"].startswith("text/html")
        limited = await client.get("/auth/me")
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "3"
        assert_error(limited.json(), "rate_limited")
        broken = await client.get("/auth/me")
        assert broken.status_code == 200
        assert broken.headers["content-type"] == "application/json"
        with pytest.raises(json.JSONDecodeError):
            json.loads(broken.text)
        html = await client.get("/auth/me")
        assert html.status_code == 200
        assert html.text.startswith("<!DOCTYPE html>")
        assert (await client.get("/auth/me")).status_code == 200
    assert [kind for kind, _ in plan.injected] == ["500", "502", "503", "429", "malformed", "html"]
    assert len(app.state.recorder.requests) == 7  # faulted requests are recorded too


async def test_faults_can_target_a_path_and_be_armed_later(client: httpx2.AsyncClient) -> None:
    app_faults: FaultPlan = client._transport.app.state.faults  # type: ignore[attr-defined]
    app_faults.path_contains = "/cancel"
    app_faults.server_error = 2
    assert (await client.get("/tasks/demo-1")).status_code == 200
    assert (await client.post("/tasks/demo-1/cancel")).status_code == 500
    assert (await client.get("/auth/me")).status_code == 200
    assert (await client.post("/tasks/demo-1/cancel")).status_code == 500
    assert (await client.post("/tasks/demo-1/cancel")).status_code == 200


async def test_faults_bypass_auth_and_rate_limit(state: EmulatorState) -> None:
    app = make_app(state, faults=FaultPlan(html=1), rate_limit_per_minute=1)
    async with client_for(app, headers={}) as client:
        assert (await client.get("/auth/me")).status_code == 200  # the edge answered before auth
    async with client_for(app) as client:
        assert (await client.get("/auth/me")).status_code == 200
        assert (await client.get("/auth/me")).status_code == 429


async def test_drop_without_a_socket_raises(state: EmulatorState) -> None:
    async with client_for(make_app(state, faults=FaultPlan(drop=1))) as client:
        with pytest.raises(ConnectionDropped):
            await client.get("/auth/me")


def test_latency_and_drop_over_a_socket(state: EmulatorState) -> None:
    with EmulatorServer(state, faults=FaultPlan(latency=0.3)) as server:
        with httpx2.Client(base_url=server.base_url, headers=AUTH) as client:
            started = time.perf_counter()
            assert client.get("/auth/me").status_code == 200
            assert time.perf_counter() - started >= 0.3
            server.faults.latency = 0
            server.faults.drop = 1
            with pytest.raises((httpx2.RemoteProtocolError, httpx2.ReadError)):
                client.get("/auth/me")
            assert client.get("/auth/me").status_code == 200
        assert [kind for kind, _ in server.faults.injected] == ["drop"]
        assert len(server.requests) == 3


def test_faults_from_the_cli_string_over_a_socket(state: EmulatorState) -> None:
    server = EmulatorServer(state, faults=FaultPlan.parse("5xx=1,503=1,drop=1"))
    with server, httpx2.Client(base_url=server.base_url, headers=AUTH) as client:
        with pytest.raises((httpx2.RemoteProtocolError, httpx2.ReadError)):
            client.get("/auth/me")
        assert client.get("/auth/me").status_code == 500
        assert client.get("/auth/me").status_code == 503
        assert client.get("/auth/me").status_code == 200
