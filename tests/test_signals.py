"""Stopping as hosts stop a stdio server: SIGINT, then SIGTERM, without closing stdin first.

The real server is spawned and signalled; the fake Twill holds a call in flight as long as a test needs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import API_KEY, server_env
from tests.fake_twill import FakeTwill, Scripted
from tests.test_stdio import cancel, send, serving

pytestmark = pytest.mark.slow

CANCELLED = json.dumps({"success": True, "task": {"id": "t1"}}).encode()


def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def stop(process: subprocess.Popen[str], signum: int = signal.SIGINT) -> tuple[float, str, str]:
    """Signal the server; the seconds until it exited, and what it wrote after it was initialized."""
    started = time.monotonic()
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=15)
    assert API_KEY not in stderr
    return time.monotonic() - started, stdout, stderr


def answers(stdout: str) -> dict[Any, dict[str, Any]]:
    return {frame["id"]: frame for frame in map(json.loads, stdout.splitlines())}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_idle_server_exits_0_within_a_second_of_a_stop_signal(fake_twill: FakeTwill, signum: int) -> None:
    with serving(server_env(fake_twill)) as process:
        elapsed, _, _ = stop(process, signum)
    assert process.returncode == 0
    assert elapsed < 1


def test_a_call_in_flight_at_the_signal_is_answered_before_the_server_exits(fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(200, CANCELLED, {"Content-Type": "application/json"}, delay=1))
    with serving(server_env(fake_twill)) as process:
        send(process, cancel(5, "t1"))
        until(lambda: len(fake_twill.requests) == 1)
        _, stdout, stderr = stop(process)
    assert process.returncode == 0
    assert answers(stdout)[5]["result"]["structuredContent"] == {"success": True, "task": {"id": "t1"}}
    assert "cut" not in stderr


def test_a_call_still_in_flight_after_the_grace_is_logged_as_outcome_unknown(fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(200, CANCELLED, {"Content-Type": "application/json"}, delay=8))
    with serving(server_env(fake_twill, TWILL_MCP_SHUTDOWN_GRACE="0.5")) as process:
        send(process, cancel(5, "t1"))
        until(lambda: len(fake_twill.requests) == 1)
        elapsed, stdout, stderr = stop(process, signal.SIGTERM)
    assert process.returncode == 0
    assert elapsed < 0.5 + 1
    [cut] = [line for line in stderr.splitlines() if "cut" in line]
    assert "cancel_task" in cut
    assert "outcome_unknown" in cut
    error = answers(stdout)[5]["error"]
    assert "outcome_unknown" in error["message"]


def test_a_second_signal_exits_at_once_without_waiting_for_the_grace(fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(200, CANCELLED, {"Content-Type": "application/json"}, delay=8))
    with serving(server_env(fake_twill, TWILL_MCP_SHUTDOWN_GRACE="5")) as process:
        send(process, cancel(5, "t1"))
        until(lambda: len(fake_twill.requests) == 1)
        process.send_signal(signal.SIGINT)
        assert process.stderr is not None
        until(lambda: "reading no more requests" in process.stderr.readline())
        elapsed, _, stderr = stop(process, signal.SIGTERM)
    assert elapsed < 1
    assert process.returncode == 128 + signal.SIGTERM
    assert "outcome_unknown" in stderr
