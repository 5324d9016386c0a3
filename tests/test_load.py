"""200 concurrent calls over one stdio session while the upstream injects latency, 429s, 5xx and dropped connections.

Every call gets exactly one result, no non-idempotent request reaches Twill twice, and no
call outlives its deadline.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.conftest import API_KEY, call
from twill_mcp.emulator import EmulatorServer, EmulatorState, FaultPlan, seed_demo

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CALLS = 200
DEADLINE = 6.0


async def test_concurrent_calls_under_faults_each_get_one_result_within_the_deadline(
    protocol_mode: str, tmp_path: Path, stderr_logs: list[Path]
) -> None:
    state = EmulatorState()
    seed_demo(state)
    faults = FaultPlan(latency=0.05, server_error=15, unavailable=10, rate_limited=15, drop=15, retry_after=1)
    unlimited = {"rate_limit_per_minute": 0, "rate_limit_per_hour": 0}
    with EmulatorServer(state, faults=faults, api_keys={API_KEY}, **unlimited) as emulator:
        env = {
            "PATH": "/usr/bin:/bin",
            "TWILL_API_KEY": API_KEY,
            "TWILL_BASE_URL": emulator.origin,
            "TWILL_MCP_CALL_TIMEOUT": str(DEADLINE),
            "TWILL_MCP_RATE_LIMIT": "0",
        }
        params = StdioServerParameters(command=sys.executable, args=["-m", "twill_mcp"], env=env)
        plan: list[tuple[str, dict[str, Any]]] = []
        for n in range(CALLS):
            kind = n % 4
            if kind == 0:
                plan.append(("cancel_task", {"taskIdOrSlug": "demo-1"}))
            elif kind == 1:
                plan.append(("send_message", {"taskIdOrSlug": "demo-2", "message": f"message {n}"}))
            elif kind == 2:
                plan.append(("get_task", {"taskIdOrSlug": "demo-3"}))
            else:
                plan.append(("list_tasks", {"limit": 5}))
        results: list[Any] = [None] * CALLS
        latencies: list[float] = [0.0] * CALLS

        stderr_logs.append(tmp_path / "stderr.log")
        with stderr_logs[-1].open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog), mode=protocol_mode) as client:

                async def one(index: int) -> None:
                    name, arguments = plan[index]
                    started = time.monotonic()
                    results[index] = await call(client, name, arguments)
                    latencies[index] = time.monotonic() - started

                async with anyio.create_task_group() as group:
                    for index in range(CALLS):
                        group.start_soon(one, index)

        # A 429 or a refused connection provably did nothing, so a message may be re-sent after
        # one; what must never happen is Twill acting on it twice: one job per message.
        acted_on = Counter(job.input for job in state.jobs.values() if (job.input or "").startswith("message "))
        sent = Counter(json.loads(r.body)["message"] for r in emulator.requests if r.raw_path.endswith("/messages"))

    assert all(result is not None for result in results)
    assert max(latencies) < DEADLINE + 1.0
    assert all(count == 1 for count in acted_on.values()), "Twill acted twice on one non-idempotent request"
    resent = sum(count - 1 for count in sent.values())
    assert resent <= Counter(kind for kind, path in faults.injected if path.endswith("/messages"))["429"]
    outcomes = Counter(result.structured_content["error"]["code"] if result.is_error else "ok" for result in results)
    assert outcomes["ok"] > CALLS // 2
    injected = Counter(kind for kind, _ in faults.injected)
    assert sum(injected.values()) == 55
    print(
        f"\nload: {CALLS} calls, faults {dict(injected)}, outcomes {dict(outcomes)}, max latency {max(latencies):.2f} s"
    )
