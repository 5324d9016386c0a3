"""Bounded HTTP load on loopback: calls/s and latency of `twill-mcp --transport http`, 1 and 2 workers, both eras.

The Twill emulator runs in its own process with no injected latency and no rate limits;
twill-mcp runs with its client-side rate budget off (TWILL_MCP_RATE_LIMIT=0), so what is
measured is the MCP server (and, on a small machine, the CPU it shares with the client
and the emulator). The client is the SDK's `mcp.Client` over streamable HTTP, keeping
CONCURRENCY `get_task` calls in flight for a fixed time per run. Every run stops by itself
(the whole benchmark takes under a minute); a table, then one JSON line, go to stdout.

Usage: python bench/http_load.py [SECONDS_PER_RUN]   (default 6)
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from twill_mcp.emulator import DEMO_KEY, EmulatorServer, EmulatorState, seed_demo

CONCURRENCY = 32
WORKERS = (1, 2)
ERAS = {"2026-07-28": "2026-07-28", "2025-11-25": "legacy"}
WARMUP_SECONDS = 1.0
STARTUP_TIMEOUT = 30.0
TASK = "demo-2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_emulator(port: int) -> None:
    state = EmulatorState()
    seed_demo(state)
    # Response validation and rate limits are the emulator's own cost and policy, not the server's.
    options: dict[str, Any] = {"rate_limit_per_minute": 0, "rate_limit_per_hour": 0, "validate_responses": False}
    with EmulatorServer(state, port=port, **options):
        while True:
            time.sleep(3600)


def wait_healthy(url: str, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if not alive():
            raise SystemExit(f"{url}: the process exited while starting")
        try:
            httpx2.get(url, timeout=1.0)
            return
        except httpx2.TransportError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not come up within {STARTUP_TIMEOUT} s")


async def load(
    url: str, mode: str, seconds: float, tool: str = "get_task", arguments: dict[str, Any] | None = None
) -> dict[str, Any]:
    """CONCURRENCY callers in a loop for `seconds` after a warm-up; latencies of calls started in the window."""
    arguments = {"taskIdOrSlug": TASK} if arguments is None else arguments
    latencies: list[float] = []
    errors = 0
    answered = 0  # warm-up included: what the server's CPU time over the whole run is divided by
    start = time.perf_counter()
    measure_from = start + WARMUP_SECONDS
    stop_at = measure_from + seconds

    async with Client(url, mode=mode) as client:

        async def caller() -> None:
            nonlocal errors, answered
            while (began := time.perf_counter()) < stop_at:
                result = await client.call_tool(tool, arguments)
                answered += 1
                if began >= measure_from:
                    latencies.append(time.perf_counter() - began)
                    errors += bool(result.is_error)

        async with anyio.create_task_group() as group:
            for _ in range(CONCURRENCY):
                group.start_soon(caller)
    latencies.sort()
    return {
        "calls": len(latencies),
        "answered": answered,
        "errors": errors,
        "calls_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
    }


def serve(
    workers: int,
    emulator: str,
    log: Path,
    extra: Sequence[str] = (),
    api_key: str = DEMO_KEY,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """twill-mcp over HTTP; from `cwd`, `python -m` runs that checkout's package instead of this one; `env` adds
    to (or overrides) the settings below."""
    port = free_port()
    environment = {
        **os.environ,
        "TWILL_BASE_URL": emulator,
        "TWILL_API_KEY": api_key,
        "TWILL_MCP_RATE_LIMIT": "0",
        "TWILL_MCP_LOG_LEVEL": "WARNING",  # one log line per call would be part of the measurement
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "twill_mcp",
        "--transport",
        "http",
        "--port",
        str(port),
        "--workers",
        str(workers),
        *extra,
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=environment, cwd=cwd)
    origin = f"http://127.0.0.1:{port}"
    wait_healthy(f"{origin}/healthz", lambda: process.poll() is None)
    return process, f"{origin}/mcp"


@asynccontextmanager
async def connect(url: str, mode: str, headers: Mapping[str, str] | None = None) -> AsyncIterator[Client]:
    """`mcp.Client` over streamable HTTP, sending `headers` (an access token, say) with every request."""
    if not headers:
        async with Client(url, mode=mode) as client:
            yield client
        return
    # The SDK takes headers only through an httpx2 client it is given, which it then leaves to its owner to close.
    async with (
        create_mcp_http_client(headers=dict(headers)) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


def main(seconds: float) -> None:
    emulator_port = free_port()
    emulator = multiprocessing.get_context("spawn").Process(target=run_emulator, args=(emulator_port,), daemon=True)
    emulator.start()
    rows: list[dict[str, Any]] = []
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"twill-mcp-http-load-{os.getpid()}.log"
    try:
        wait_healthy(f"http://127.0.0.1:{emulator_port}/", emulator.is_alive)
        for workers in WORKERS:
            server, url = serve(workers, f"http://127.0.0.1:{emulator_port}", log)
            try:
                for era, mode in ERAS.items():
                    rows.append({"workers": workers, "era": era, **anyio.run(load, url, mode, seconds)})
            finally:
                server.terminate()
                server.wait(timeout=60)
    finally:
        emulator.terminate()
        emulator.join(timeout=10)
    print(f"{CONCURRENCY} calls in flight, {seconds:g} s per run, get_task against the emulator (no latency)")
    print(f"{'workers':>7} {'era':>10} {'calls':>6} {'errors':>6} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for row in rows:
        print(
            f"{row['workers']:>7} {row['era']:>10} {row['calls']:>6} {row['errors']:>6} "
            f"{row['calls_per_s']:>8} {row['p50_ms']:>7} {row['p99_ms']:>7}"
        )
    # Client, server and emulator share the CPUs; a busy machine shows here rather than as a slow server.
    machine = {"cpus": os.cpu_count(), "load_average": [round(load, 2) for load in os.getloadavg()]}
    print(json.dumps({"concurrency": CONCURRENCY, "seconds_per_run": seconds, **machine, "runs": rows}))


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 6.0)
