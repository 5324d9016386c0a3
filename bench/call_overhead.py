"""Per-call overhead of twill-mcp: one tool call through the MCP code path vs the same HTTP request sent directly.

Both hit the same local Twill emulator on a real socket, interleaved in one run so machine
noise hits both alike; medians and the ratio are printed. The difference is what validation,
encoding, the request path and result rendering cost per call (plus the in-process MCP hop).

Usage: python bench/call_overhead.py [CALLS]
"""

from __future__ import annotations

import statistics
import sys
import time

import anyio
import httpx2

from twill_mcp.core.config import Settings
from twill_mcp.emulator import DEMO_KEY, EmulatorServer, EmulatorState, seed_demo
from twill_mcp.inprocess import connected
from twill_mcp.spec.compiler import compile_spec
from twill_mcp.spec.openapi import load_bundled_spec


async def main(calls: int) -> None:
    state = EmulatorState()
    seed_demo(state)
    unlimited = {"rate_limit_per_minute": 0, "rate_limit_per_hour": 0}
    with EmulatorServer(state, **unlimited) as emulator:
        settings = Settings.load({"TWILL_API_KEY": DEMO_KEY, "TWILL_BASE_URL": emulator.origin}, rate_limit=0)
        tools = compile_spec(load_bundled_spec())
        direct_ms: list[float] = []
        mcp_ms: list[float] = []
        headers = {"Authorization": f"Bearer {DEMO_KEY}"}
        async with (
            httpx2.AsyncClient(base_url=emulator.base_url, headers=headers) as direct,
            connected(settings, tools) as client,
        ):
            for _ in range(calls):
                started = time.perf_counter()
                response = await direct.post("/tasks/demo-1/cancel", json={})
                assert response.status_code == 200
                direct_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                result = await client.call_tool("cancel_task", {"taskIdOrSlug": "demo-1"})
                assert not result.is_error
                mcp_ms.append((time.perf_counter() - started) * 1000)
    direct_median, mcp_median = statistics.median(direct_ms), statistics.median(mcp_ms)
    print(f"{'path':40} {'calls':>6} {'median ms':>10} {'p90 ms':>8}")
    for name, samples in (("direct httpx2 POST", direct_ms), ("twill-mcp cancel_task (in-process MCP)", mcp_ms)):
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(f"{name:40} {len(samples):>6} {statistics.median(samples):>10.2f} {p90:>8.2f}")
    print(f"\noverhead per call: {mcp_median - direct_median:.2f} ms median ({mcp_median / direct_median:.2f}x direct)")


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 300)
