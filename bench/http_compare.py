"""HTTP servers side by side, precisely enough to see 5 %: pinned, interleaved, per-round ratios with their spread.

- **Pinned**: the server under test runs alone on one core (`os.sched_setaffinity`), the driver and the
  fixed-answer upstream on the other, so a server's calls/s are its own and not what it could win back from
  the driver. Idle servers are parked on the same core and use nothing while another is measured.
- **Interleaved**: every round measures every server in both eras, starting each round with a different
  server, so drift in the machine weighs on all of them alike.
- **Ratios per round**: twill-mcp's figure over the minimal server's of the same round and era, then the
  median of those ratios and their interquartile range. A run whose machine did other work — CPU time the
  measured processes did not use — is flagged as unreliable.
- **A raw driver**: httpx2 POSTs of the JSON-RPC a real client sends (captured from `mcp.Client`), IN_FLIGHT
  at once, the same bytes for every server; answers are read and checked (a result, not an error).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import startup

IN_FLIGHT = 32
WARMUP_SECONDS = 0.5
FOREIGN_CPU_LIMIT = 0.05
"""Share of the machine's CPU used by other processes during the run above which its figures are flagged."""
DRIVER_CPU, SERVER_CPU = 0, 1
ERAS = ("2026-07-28", "2025-11-25")
_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def pin(pid: int, cpu: int) -> bool:
    """Run `pid` (all its threads) on `cpu` only; False where the machine has a single CPU or no affinity."""
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        return False
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {cpu})
    return True


def cpu_seconds(pid: int) -> float:
    """startup.cpu_seconds, where /proc must be there: this bench reads the machine's counters too."""
    seconds = startup.cpu_seconds(pid)
    if seconds is None:
        raise OSError(f"no CPU time for process {pid}")
    return seconds


def cpu_of(pids: Sequence[int]) -> float:
    """The CPU seconds these processes have used, those gone counting for nothing."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def pin_apart(server_pids: Sequence[int], own_pids: Sequence[int]) -> bool:
    """Each server on the server core; this process (the driver) and `own_pids` on the other. False if not pinned."""
    pinned = pin(os.getpid(), DRIVER_CPU)
    for pid in own_pids:
        pin(pid, DRIVER_CPU)
    for pid in server_pids:
        pin(pid, SERVER_CPU)
    return pinned


class ForeignCpu:
    """While the block runs: the share of the machine's CPU that processes other than `watched` used."""

    def __init__(self, watched: Sequence[int]) -> None:
        self._watched = watched
        self.share = 0.0

    def __enter__(self) -> ForeignCpu:
        self._busy, self._own, self._wall = machine_busy_seconds(), cpu_of(self._watched), time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        others = machine_busy_seconds() - self._busy - (cpu_of(self._watched) - self._own)
        self.share = others / ((time.monotonic() - self._wall) * (os.cpu_count() or 1))


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used (all CPUs), from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def call_request(era: str, call_id: int, tool: str, arguments: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
    """Headers and body of one `tools/call`, as `mcp.Client` sends them in `era`."""
    params: dict[str, Any] = {"name": tool, "arguments": dict(arguments)}
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    headers["mcp-protocol-version"] = era
    if era == "2026-07-28":
        params["_meta"] = _META
        headers.update({"mcp-method": "tools/call", "mcp-name": tool})
    body = {"jsonrpc": "2.0", "id": call_id, "method": "tools/call", "params": params}
    return headers, json.dumps(body, separators=(",", ":")).encode()


def answer_of(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC answer in a JSON or an SSE response body."""
    text = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        answers = [json.loads(item) for item in data if item]
        text = json.dumps(next(a for a in reversed(answers) if "id" in a))
    message: dict[str, Any] = json.loads(text)
    return message


@dataclass
class Cell:
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    errors: int
    first_error: str = ""


@dataclass
class Target:
    name: str
    url: str
    pid: int
    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    """Sent with every call besides the era's own (an access token, say)."""


async def load(target: Target, era: str, seconds: float) -> Cell:
    """IN_FLIGHT callers for WARMUP_SECONDS, then `seconds` measured: calls/s, latency, server CPU per call."""
    latencies: list[float] = []
    errors: list[str] = []
    measuring = False
    next_id = 0
    limits = httpx2.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx2.AsyncClient(limits=limits, timeout=30.0) as client:

        async def caller(stop: asyncio.Event) -> None:
            nonlocal next_id
            while not stop.is_set():
                next_id += 1
                headers, body = call_request(era, next_id, target.tool, target.arguments)
                headers.update(target.headers)
                began = time.perf_counter()
                response = await client.post(target.url, content=body, headers=headers)
                answer = answer_of(response) if response.status_code == 200 else {"status": response.status_code}
                if not measuring:
                    continue
                latencies.append(time.perf_counter() - began)
                if "result" not in answer or answer["result"].get("isError"):
                    errors.append(json.dumps(answer)[:300])

        stop = asyncio.Event()
        callers = [asyncio.create_task(caller(stop)) for _ in range(IN_FLIGHT)]
        await asyncio.sleep(WARMUP_SECONDS)
        measuring = True
        cpu_before, started = cpu_seconds(target.pid), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu_after, elapsed = cpu_seconds(target.pid), time.perf_counter() - started
        measuring = False
        stop.set()
        await asyncio.gather(*callers)
    latencies.sort()
    count = len(latencies)
    return Cell(
        calls_per_s=count / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[min(count - 1, int(count * 0.99))] * 1000,
        cpu_ms=(cpu_after - cpu_before) * 1000 / count,
        errors=len(errors),
        first_error=errors[0] if errors else "",
    )


KEYS = ("calls_per_s", "p50_ms", "p99_ms", "cpu_ms")


def ratios(row: Mapping[str, Any], base: Mapping[str, Sequence[float]]) -> dict[str, dict[str, float]]:
    """`row`'s figures over `base`'s, round by round (the same round ran both), as their median and spread."""
    return {
        f"{key}_ratio": spread([mine / theirs for mine, theirs in zip(row[f"{key}_rounds"], base[key], strict=True)])
        for key in KEYS
    }


def versus(figures: Mapping[str, Any], server: str, other: str, era: str) -> dict[str, dict[str, float]]:
    """`server`'s per-round ratios to `other`'s in `era`."""
    rows = {(row["server"], row["era"]): row for row in figures["rows"]}
    theirs = rows[(other, era)]
    return ratios(rows[(server, era)], {key: theirs[f"{key}_rounds"] for key in KEYS})


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median and interquartile range (the middle half of the rounds) of per-round values."""
    ordered = sorted(values)
    if len(ordered) < 2:
        return {"median": ordered[0], "q1": ordered[0], "q3": ordered[0]}
    q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return {"median": statistics.median(ordered), "q1": q1, "q3": q3}


async def load_together(targets: Sequence[Target], era: str, seconds: float) -> list[Cell]:
    """Every target loaded at once, IN_FLIGHT calls each, all sharing the one server core for the same seconds."""
    return list(await asyncio.gather(*(load(target, era, seconds) for target in targets)))


def compare(
    targets: Sequence[Target],
    floor: str,
    rounds: int,
    seconds: float,
    own_pids: Sequence[int],
    *,
    together: bool = False,
) -> dict[str, Any]:
    """Every target in both eras, `rounds` times; per-round ratios to `floor`.

    One at a time (interleaved, each round starting with another target): each server alone on its core, its
    calls/s and latency its own. `together`: all at once on the one core, so that whatever the machine's speed
    does meanwhile weighs on all of them in the same instant; the scheduler shares the core out evenly among
    servers that all have calls waiting, so their calls/s stand as the inverse of their CPU per call.
    """
    pinned = pin_apart([target.pid for target in targets], own_pids)
    cells: dict[tuple[str, str], list[Cell]] = {}
    with ForeignCpu([os.getpid(), *own_pids, *(target.pid for target in targets)]) as foreign:
        for number in range(rounds):
            print(f"HTTP round {number + 1}/{rounds}", file=sys.stderr)
            order = [*targets[number % len(targets) :], *targets[: number % len(targets)]]
            for era in ERAS:
                if together:
                    for target, cell in zip(order, asyncio.run(load_together(order, era, seconds)), strict=True):
                        cells.setdefault((target.name, era), []).append(cell)
                    continue
                for target in order:
                    cells.setdefault((target.name, era), []).append(asyncio.run(load(target, era, seconds)))
    rows = []
    for (name, era), runs in cells.items():
        floor_runs = cells[(floor, era)]
        row: dict[str, Any] = {
            "server": name,
            "era": era,
            "rounds": len(runs),
            "errors": sum(cell.errors for cell in runs),
            "first_error": next((cell.first_error for cell in runs if cell.first_error), ""),
        }
        for key in KEYS:
            row[key] = statistics.median(getattr(cell, key) for cell in runs)
            row[f"{key}_rounds"] = [getattr(cell, key) for cell in runs]
        row.update(ratios(row, {key: [getattr(cell, key) for cell in floor_runs] for key in KEYS}))
        rows.append(row)
    return {
        "pinned": pinned,
        "together": together,
        "rounds": rounds,
        "seconds_per_cell": seconds,
        "in_flight": IN_FLIGHT,
        "foreign_cpu_share": round(foreign.share, 3),
        "reliable": pinned and foreign.share <= FOREIGN_CPU_LIMIT,
        "rows": rows,
    }


def print_table(figures: Mapping[str, Any], floor: str) -> None:
    how = (
        f"all servers at once on the one server core, {figures['rounds']} rounds of {figures['seconds_per_cell']:g} s "
        "per era"
        if figures["together"]
        else f"one at a time, {figures['rounds']} interleaved rounds of {figures['seconds_per_cell']:g} s per server "
        "and era"
    )
    print(
        f"\nHTTP, 1 worker each, {figures['in_flight']} calls in flight per server, {how}; "
        + ("servers pinned to their own core" if figures["pinned"] else "NOT pinned (one CPU)")
        + f"; other processes used {figures['foreign_cpu_share']:.1%} of the CPU"
        + ("" if figures["reliable"] else "  ** UNRELIABLE RUN **")
    )
    print(f"ratios to {floor}: the median of per-round ratios [interquartile range]")
    print(f"{'server':44} {'era':>10} {'calls/s':>26} {'p99 ms':>24} {'server CPU ms/call':>26} {'errors':>6}")

    def cell(row: Mapping[str, Any], key: str, form: str) -> str:
        ratio = row[f"{key}_ratio"]
        return f"{form.format(row[key])} ({ratio['median']:.2f}x [{ratio['q1']:.2f}-{ratio['q3']:.2f}])"

    for row in sorted(figures["rows"], key=lambda row: (row["era"], row["server"] != floor)):
        print(
            f"{row['server']:44} {row['era']:>10} {cell(row, 'calls_per_s', '{:.0f}'):>26} "
            f"{cell(row, 'p99_ms', '{:.1f}'):>24} {cell(row, 'cpu_ms', '{:.2f}'):>26} {row['errors']:>6}"
        )
        if row["first_error"]:
            print(f"    first error: {row['first_error']}")
