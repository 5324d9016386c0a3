"""Time to first answer over stdio: spawn the server, write one request, time until its answer is on stdout.

That is what a host waits for before it gives up (Claude Code sends the older `initialize` after
about 2.5 s without an answer to `server/discover`; Gemini CLI gives a server 5 s). Measured for
both protocol eras (`server/discover` for 2026-07-28, `initialize` for 2025-11-25), for twill-mcp
and for a minimal server on the same low-level SDK (the floor no SDK-based server can beat):

- cold: every module compiled from source, as on first start after an install or an upgrade
  (a fresh, empty PYTHONPYCACHEPREFIX per spawn, so no cached bytecode is found);
- warm: bytecode cached, as on every later start.

Each spawn is timed twice: the wall-clock time a host waits, and the CPU time the server spent until
its answer (from /proc, on Linux), which other load on the machine hardly changes: on a busy machine
compare the CPU figures. Prints a table of medians, then the same figures as one JSON object.

Usage: python bench/startup.py [RUNS]   (default 5 spawns per cell)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DISCOVER = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "server/discover",
    "params": {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    },
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
}
REQUESTS = {"server/discover (2026-07-28)": DISCOVER, "initialize (2025-11-25)": INITIALIZE}

MINIMAL_SERVER = """
import anyio
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

async def main():
    server = Server("minimal")
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())

anyio.run(main)
"""
SERVERS = {
    "twill-mcp": [sys.executable, "-m", "twill_mcp"],
    "minimal low-level SDK server": [sys.executable, "-c", MINIMAL_SERVER],
}


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a live process has used, or None where /proc is not available."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _on_a_core_of_its_own() -> None:
    """In the spawned server, before it runs: the last CPU, away from the bench (which perf.py keeps on the first)."""
    count = os.cpu_count() or 1
    if count > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {count - 1})


def first_answer_seconds(command: list[str], request: dict[str, Any], *, cold: bool) -> tuple[float, float | None]:
    """Wall-clock and CPU seconds from spawn to the answer on stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILL_", "PYTHONPYCACHEPREFIX"))}
    with tempfile.TemporaryDirectory() as empty_cache:
        if cold:
            env["PYTHONPYCACHEPREFIX"] = empty_cache
        started = time.perf_counter()
        with subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            preexec_fn=_on_a_core_of_its_own,
        ) as process:
            assert process.stdin is not None
            assert process.stdout is not None
            # Hosts write their first request at once, without waiting for the server to be ready.
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(process.pid)
            _, stderr = process.communicate(timeout=30)
    if not line:
        raise SystemExit(f"{command} exited without answering:\n{stderr}")
    answer = json.loads(line)
    if "result" not in answer:
        raise SystemExit(f"{command}: {request['method']} was not answered with a result: {answer}")
    return elapsed, cpu


def main(runs: int) -> dict[str, Any]:
    samples: dict[tuple[str, str, str], list[tuple[float, float | None]]] = {}
    for command in SERVERS.values():
        first_answer_seconds(command, INITIALIZE, cold=False)  # fill the bytecode cache for the warm runs
    # Interleaved, so that whatever else the machine is doing weighs on every cell alike.
    for _ in range(runs):
        for cache in ("cold", "warm"):
            for label, request in REQUESTS.items():
                for server, command in SERVERS.items():
                    timed = first_answer_seconds(command, request, cold=cache == "cold")
                    samples.setdefault((server, label, cache), []).append(timed)
    figures: dict[str, Any] = {}
    for (server, label, cache), timings in samples.items():
        cell = figures.setdefault(server, {}).setdefault(label, {})
        cell[cache] = round(statistics.median(wall for wall, _ in timings), 3)
        cpu = [seconds for _, seconds in timings if seconds is not None]
        cell[f"{cache}_cpu"] = round(statistics.median(cpu), 3) if cpu else None
    return figures


def print_table(figures: dict[str, Any], runs: int) -> None:
    print(f"time to first answer over stdio, median of {runs} spawns (seconds; wall clock, and CPU time used)")
    print(f"{'server':30} {'request':30} {'cold':>6} {'warm':>6} {'cold CPU':>9} {'warm CPU':>9}")
    for server, by_request in figures.items():
        for label, cell in by_request.items():
            cpu = [f"{cell[key]:>9.2f}" if cell[key] is not None else f"{'-':>9}" for key in ("cold_cpu", "warm_cpu")]
            print(f"{server:30} {label:30} {cell['cold']:>6.2f} {cell['warm']:>6.2f} {' '.join(cpu)}")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    result = main(count)
    print_table(result, count)
    print(json.dumps({"runs": count, "cpus": os.cpu_count(), "seconds": result}))
