"""`twill-mcp --transport http` as a process: the ready line it is waited for by, SIGTERM, `--workers`.

Only what needs the process boundary (signals, worker processes, the CLI) is tested here;
everything else about HTTP serving is tested in-process.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from queue import Empty, Queue

import anyio
import httpx2
import pytest
from mcp_types import CallToolResult

from tests.conftest import API_KEY, SERVER_COMMAND, call, server_env
from tests.fake_twill import FakeTwill, Scripted
from tests.http_thread import LEGACY, MODERN, mcp_client

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CANCELLED = b'{"success": true, "task": {"id": "t1"}}'
JSON = {"Content-Type": "application/json"}
READY = re.compile(r"twill-mcp \S+ serving \d+ tools over http at (http://\S+?);")
START_TIMEOUT = 20.0


class Service:
    def __init__(self, process: subprocess.Popen[str], url: str, lines: Queue[str], log: list[str]) -> None:
        self.process = process
        self.url = url
        self.lines = lines
        self.log = log

    @property
    def origin(self) -> str:
        return self.url.rsplit("/", 1)[0]


@contextmanager
def service(fake: FakeTwill, tmp_path: Path, *arguments: str, **env: str) -> Iterator[Service]:
    """twill-mcp serving HTTP in its own process, once it has said where."""
    process = subprocess.Popen(
        [*SERVER_COMMAND, "--transport", "http", "--port", "0", *arguments],
        env=server_env(fake, **env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: Queue[str] = Queue()
    log: list[str] = []

    def pump() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        url = wait_for(lines, READY, START_TIMEOUT).group(1)
        yield Service(process, url, lines, log)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        (tmp_path / "stderr.log").write_text("".join(log))
        assert API_KEY not in "".join(log)


def wait_for(lines: Queue[str], pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
    end = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(end - time.monotonic(), 0.01))
        except Empty:
            raise AssertionError(f"no line matching {pattern.pattern!r} within {timeout} s") from None
        if match := pattern.search(line):
            return match


async def refused(url: str) -> bool:
    try:
        async with httpx2.AsyncClient() as http:
            await http.get(url, timeout=0.2)
    except httpx2.TransportError:
        return True
    return False


async def exited(process: subprocess.Popen[str], within: float) -> float:
    started = time.monotonic()
    with anyio.fail_after(within):
        while process.poll() is None:
            await anyio.sleep(0.02)
    return time.monotonic() - started


@asynccontextmanager
async def a_call_at_twill(served: Service, fake: FakeTwill, era: str = MODERN) -> AsyncIterator[list[CallToolResult]]:
    """Inside: a client's cancel_task call is at Twill (which holds it as scripted); its result, once it comes,
    is in the list."""
    results: list[CallToolResult] = []
    async with mcp_client(served.url, era) as client, anyio.create_task_group() as tg:
        # The client validates a result against the listed schema: list now, while connections are accepted.
        await client.list_tools()

        async def in_flight() -> None:
            results.append(await call(client, "cancel_task", {"taskIdOrSlug": "t1"}))

        tg.start_soon(in_flight)
        while not fake.requests:
            await anyio.sleep(0.01)
        yield results


@pytest.mark.parametrize("era", [LEGACY, MODERN])
async def test_sigterm_stops_accepting_and_lets_the_call_in_flight_finish_within_the_grace(
    fake_twill: FakeTwill, tmp_path: Path, era: str
) -> None:
    fake_twill.add_task("t1")
    fake_twill.then(Scripted(200, CANCELLED, JSON, delay=1.5))
    with service(fake_twill, tmp_path, TWILL_MCP_SHUTDOWN_GRACE="5") as served:
        async with a_call_at_twill(served, fake_twill, era) as results:
            served.process.send_signal(signal.SIGTERM)
            with anyio.fail_after(1):
                while not await refused(served.origin + "/healthz"):
                    await anyio.sleep(0.02)
            assert not results, "the call must still be in flight when new connections are refused"
        await exited(served.process, within=5)
    assert served.process.returncode == 0
    [result] = results
    assert result.structured_content == {"success": True, "task": {"id": "t1"}}
    assert "cut" not in "".join(served.log)


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_call_stuck_at_twill_is_cut_at_the_grace_answered_and_logged_as_outcome_unknown(
    fake_twill: FakeTwill, tmp_path: Path, workers: int
) -> None:
    fake_twill.add_task("t1")
    fake_twill.then(Scripted(200, CANCELLED, JSON, delay=60))
    grace = 1.0
    with service(fake_twill, tmp_path, "--workers", str(workers), TWILL_MCP_SHUTDOWN_GRACE=str(grace)) as served:
        async with a_call_at_twill(served, fake_twill) as results:
            served.process.send_signal(signal.SIGTERM)
            took = await exited(served.process, within=grace + 5)
    assert took < grace + 1.5
    assert served.process.returncode == 0
    [cut] = [line for line in served.log if "cut unanswered" in line]
    assert "cancel_task" in cut
    assert "outcome_unknown" in cut
    [result] = results
    assert result.is_error
    assert (result.structured_content or {})["error"]["code"] == "outcome_unknown"


async def test_a_second_sigterm_exits_at_once_without_waiting_for_the_grace(
    fake_twill: FakeTwill, tmp_path: Path
) -> None:
    fake_twill.add_task("t1")
    fake_twill.then(Scripted(200, CANCELLED, JSON, delay=60))
    with service(fake_twill, tmp_path, TWILL_MCP_SHUTDOWN_GRACE="20") as served:
        # The client is cut off by the exit: what it raises then is not what this test is about.
        with contextlib.suppress(Exception):
            async with a_call_at_twill(served, fake_twill):
                served.process.send_signal(signal.SIGTERM)
                wait_for(served.lines, re.compile("accepting no more requests"), 5)
                second = time.monotonic()
                served.process.send_signal(signal.SIGTERM)
                served.process.wait(5)
        assert time.monotonic() - second < 1
    assert served.process.returncode == 128 + signal.SIGTERM
    assert any("outcome_unknown" in line for line in served.log)


async def test_workers_at_a_custom_path_each_serve_any_request_in_either_era(
    fake_twill: FakeTwill, tmp_path: Path
) -> None:
    for i in range(6):
        fake_twill.add_task(f"t{i}")
    with service(fake_twill, tmp_path, "--workers", "2", "--path", "/v1/mcp") as served:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1/mcp", served.url)
        for _ in range(2):
            wait_for(served.lines, re.compile("Application startup complete"), START_TIMEOUT)
        for i in range(6):
            # A fresh connection per call: the kernel hands each to whichever worker accepts first.
            async with mcp_client(served.url, MODERN if i % 2 else LEGACY) as client:
                result = await call(client, "cancel_task", {"taskIdOrSlug": f"t{i}"})
            assert not result.is_error, result
    assert len(fake_twill.requests) == 6
