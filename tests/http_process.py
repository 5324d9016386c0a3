"""Child processes on loopback ports (twill-mcp over HTTP, nginx), started and stopped for a test."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from tests.conftest import SERVER_COMMAND

STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_server_command(port: int, *options: str) -> list[str]:
    return [*SERVER_COMMAND, "--transport", "http", "--host", "127.0.0.1", "--port", str(port), *options]


def spawn(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            if httpx2.get(url, timeout=1.0).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.05)  # a process we just started gives no readiness signal to block on but this
    raise AssertionError(f"{url} not healthy after {STARTUP_TIMEOUT} s: {log.read_text(errors='replace')}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serving_http(log: Path, env: dict[str, str], *options: str) -> Iterator[str]:
    """twill-mcp --transport http on a free loopback port; yields its origin once /healthz answers."""
    port = free_port()
    process = spawn(http_server_command(port, *options), log, env)
    try:
        origin = f"http://127.0.0.1:{port}"
        wait_healthy(f"{origin}/healthz", process, log)
        yield origin
    finally:
        stop(process)
