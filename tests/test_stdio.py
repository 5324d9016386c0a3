"""The stdio transport as a host sees it: raw bytes on stdin, stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY, SERVER_COMMAND, server_env
from tests.fake_twill import FakeTwill, Scripted

pytestmark = pytest.mark.slow

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def cancel(request_id: int, task: Any) -> dict[str, Any]:
    arguments = {"taskIdOrSlug": task}
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "cancel_task", "arguments": arguments},
    }


@contextmanager
def serving(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """The server, initialized over a stdin that stays open, as a host keeps it."""
    with subprocess.Popen(
        SERVER_COMMAND,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        try:
            send(process, INITIALIZE, INITIALIZED)
            assert process.stdout is not None
            assert json.loads(process.stdout.readline())["id"] == 1
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def send(process: subprocess.Popen[str], *messages: dict[str, Any]) -> None:
    assert process.stdin is not None
    process.stdin.write("".join(json.dumps(message) + "\n" for message in messages))
    process.stdin.flush()


def run_raw(
    env: dict[str, str], *messages: dict[str, Any] | str, timeout: float = 20
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Write the messages, close stdin, and wait for the server to exit by itself."""
    stdin = "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages)
    started = time.monotonic()
    done = subprocess.run(SERVER_COMMAND, input=stdin, env=env, capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - started


def responses(stdout: str) -> dict[Any, dict[str, Any]]:
    frames = [json.loads(line) for line in stdout.splitlines()]
    assert all(frame.get("jsonrpc") == "2.0" for frame in frames)
    return {frame.get("id"): frame for frame in frames}


def test_stdout_carries_only_json_rpc_even_at_debug_level(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    env = server_env(fake_twill, TWILL_MCP_LOG_LEVEL="DEBUG", PATH="/usr/bin:/bin")
    done, _ = run_raw(
        env, INITIALIZE, INITIALIZED, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, cancel(3, "t1")
    )
    for line in done.stdout.splitlines():
        frame = json.loads(line)
        assert frame["jsonrpc"] == "2.0"
    assert set(responses(done.stdout)) == {1, 2, 3}
    assert "DEBUG" in done.stderr


def test_every_request_read_before_stdin_closed_is_answered(fake_twill: FakeTwill) -> None:
    for n in range(5):
        fake_twill.add_task(f"t{n}")
    env = server_env(fake_twill, PATH="/usr/bin:/bin")
    done, _ = run_raw(env, INITIALIZE, INITIALIZED, *[cancel(10 + n, f"t{n}") for n in range(5)])
    answers = responses(done.stdout)
    assert all(answers[10 + n]["result"]["structuredContent"]["success"] for n in range(5))


def test_the_server_exits_promptly_on_stdin_eof(fake_twill: FakeTwill) -> None:
    done, elapsed = run_raw(server_env(fake_twill, PATH="/usr/bin:/bin"), INITIALIZE, INITIALIZED)
    assert done.returncode == 0
    assert elapsed < 10


def test_undecodable_lines_get_protocol_errors_and_the_server_keeps_serving(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    env = server_env(fake_twill, PATH="/usr/bin:/bin")
    garbage = ["this is not json", '{"jsonrpc": "2.0", "id": ', '{"hello": "world"}', "\x00\x01\x02"]
    done, _ = run_raw(env, INITIALIZE, INITIALIZED, *garbage, cancel(5, "t1"))
    frames = [json.loads(line) for line in done.stdout.splitlines()]
    errors = sorted(frame["error"]["code"] for frame in frames if frame.get("id") is None)
    assert errors == [-32700, -32700, -32700, -32600]
    assert responses(done.stdout)[5]["result"]["structuredContent"] == {"success": True, "task": {"id": "t1"}}


def test_a_bad_base_url_stops_start_up_with_a_clear_message_and_no_stdout(fake_twill: FakeTwill) -> None:
    env = server_env(fake_twill, TWILL_BASE_URL="http://twill.example.com", PATH="/usr/bin:/bin")
    done, _ = run_raw(env, INITIALIZE)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "TWILL_BASE_URL" in done.stderr
    assert "https" in done.stderr


def test_a_malformed_key_does_not_stop_the_server_and_is_named_on_one_line_without_echoing_it(
    fake_twill: FakeTwill,
) -> None:
    env = server_env(fake_twill, TWILL_API_KEY=API_KEY + " trailing-word", PATH="/usr/bin:/bin")
    done, _ = run_raw(env, INITIALIZE, INITIALIZED, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    assert done.returncode == 0
    assert responses(done.stdout)[2]["result"]["tools"]
    [line] = [line for line in done.stderr.splitlines() if "TWILL_API_KEY" in line]
    assert "spaces" in line
    assert API_KEY not in done.stderr


def test_a_request_the_client_cancelled_does_not_hold_back_the_exit(fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(200, b"{}", delay=8))
    cancelled = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}}
    started = time.monotonic()
    with serving(server_env(fake_twill, PATH="/usr/bin:/bin")) as process:
        send(process, cancel(5, "t1"))
        time.sleep(1)
        send(process, cancelled)
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=20)
    assert time.monotonic() - started < 5


def test_an_initialize_sent_after_server_discover_is_answered_and_each_era_keeps_being_served(
    fake_twill: FakeTwill,
) -> None:
    # What Claude Code sends when server/discover is slow to be answered: both openings, then requests of either era.
    discover = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": ENVELOPE}}
    modern_list = {"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"_meta": ENVELOPE}}
    legacy_list = {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}
    done, _ = run_raw(server_env(fake_twill), discover, {**INITIALIZE, "id": 2}, INITIALIZED, legacy_list, modern_list)
    answers = responses(done.stdout)
    assert "2026-07-28" in answers[1]["result"]["supportedVersions"]
    assert answers[2]["result"]["protocolVersion"] == "2025-11-25"
    legacy_tools = [tool["name"] for tool in answers[3]["result"]["tools"]]
    assert legacy_tools == [tool["name"] for tool in answers[4]["result"]["tools"]]
    assert "cancel_task" in legacy_tools


def test_a_server_reading_a_file_and_writing_to_a_file_answers_every_request(
    fake_twill: FakeTwill, tmp_path: Path
) -> None:
    # Not pipes, so neither is served by the event loop: a reading thread and the SDK's writer serve instead.
    fake_twill.add_task("t1")
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps(m) + "\n" for m in (INITIALIZE, INITIALIZED, cancel(2, "t1"))))
    answers = tmp_path / "answers.jsonl"
    with requests.open() as stdin, answers.open("w") as stdout:
        done = subprocess.run(
            SERVER_COMMAND, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=server_env(fake_twill), timeout=20
        )
    assert done.returncode == 0
    assert responses(answers.read_text())[2]["result"]["structuredContent"] == {"success": True, "task": {"id": "t1"}}


def test_the_server_stops_with_one_log_line_when_the_host_closes_stdout(fake_twill: FakeTwill) -> None:
    with serving(server_env(fake_twill)) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        send(process, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert process.wait(timeout=10) == 0
        stderr = process.stderr.read()
    assert "stdout was closed by the host: stopping" in stderr
    assert "Traceback" not in stderr


def test_a_calls_progress_is_written_before_its_result(fake_twill: FakeTwill) -> None:
    _, job = fake_twill.state.create_task("Quick one", slug="quick")
    assert job is not None
    fake_twill.state.finish_job(job.id, final_answer="Done.")
    wait = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "wait_for_task", "arguments": {"taskIdOrSlug": "quick"}, "_meta": {"progressToken": "p"}},
    }
    done, _ = run_raw(server_env(fake_twill), INITIALIZE, INITIALIZED, wait)
    frames = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [frame.get("method") or ("result" if frame.get("id") == 2 else None) for frame in frames]
    assert kinds[1:] == ["notifications/progress", "result"], kinds
