"""EmulatorServer: quick start, real port, clean stop."""

from __future__ import annotations

import socket
import threading
import time

import httpx2
import pytest

from tests.emulator.conftest import AUTH
from twill_mcp.emulator import EmulatorServer, EmulatorState, FaultPlan, create_app


def emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "twill-emulator"]


def test_starts_fast_on_a_random_port_and_stops_cleanly(state: EmulatorState) -> None:
    started = time.perf_counter()
    with EmulatorServer(state) as server:
        assert time.perf_counter() - started < 2
        assert server.port > 0
        assert server.origin == f"http://127.0.0.1:{server.port}"
        assert server.state is state
        assert isinstance(server.faults, FaultPlan)
        response = httpx2.get(server.base_url + "/auth/me", headers=AUTH)
        assert response.status_code == 200
        assert response.json()["workspaceId"] == state.workspace_id
        assert server.requests[-1].raw_path == "/api/v1/auth/me"
        port = server.port
    assert emulator_threads() == []
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


def test_stops_while_a_stream_is_open(state: EmulatorState) -> None:
    # A live stream on a job that never finishes must not keep the server alive.
    _, job = state.create_task("forever")
    assert job is not None
    state.advance(job.id, "RUNNING")
    server = EmulatorServer(state, sse_interval=0.05, sse_max_seconds=60).start()
    opened = threading.Event()

    def follow() -> None:
        try:
            with httpx2.stream("GET", f"{server.base_url}/jobs/{job.id}/logs/stream", headers=AUTH) as response:
                for _ in response.iter_lines():
                    opened.set()
        except httpx2.HTTPError:
            pass

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert opened.wait(2)
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 3
    reader.join(2)
    assert not reader.is_alive()
    assert emulator_threads() == []


def test_takes_a_ready_app_or_options_not_both(state: EmulatorState) -> None:
    with pytest.raises(TypeError):
        EmulatorServer(state, app=create_app(state))
    with EmulatorServer(app=create_app(state, api_keys={"k"})) as server:
        assert httpx2.get(server.base_url + "/auth/me", headers={"Authorization": "Bearer k"}).status_code == 200
