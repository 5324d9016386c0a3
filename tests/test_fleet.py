"""A fleet: three twill-mcp processes on one redis-server spend one key's budget between them.

Upstream is the Twill emulator with its own per-key limit of 100 requests a minute on, as Twill's:
whatever twill-mcp lets through beyond it would be answered 429. Callers bring their own keys
(`--auth passthrough`), so one burst key and one quiet key share the same three processes. Where
Twill's answer is scripted (a 429), upstream is the recording front of tests/fake_twill.py instead.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.conftest import API_KEY, call, error_of, scan_log
from tests.fake_twill import FakeTwill, Scripted
from tests.http_process import free_port, http_server_command, spawn, stop, wait_healthy
from tests.http_thread import MODERN, mcp_client
from tests.real_redis import RedisServer
from twill_mcp.emulator import EmulatorServer, EmulatorState

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

REPLICAS = 3
TWILL_LIMIT = 100
BURST = 250
QUIET_KEY = "twk_quiet_" + secrets.token_hex(20)
# Calls in flight per replica at once: a burst as a busy agent fleet makes it, not a load test of this machine.
IN_FLIGHT = 10
TOOL = "get_current_user"


@pytest.fixture
def twill() -> Iterator[EmulatorServer]:
    limits = {"rate_limit_per_minute": TWILL_LIMIT, "rate_limit_per_hour": 0}
    with EmulatorServer(EmulatorState(), api_keys={API_KEY, QUIET_KEY}, **limits) as emulator:
        yield emulator


class Fleet:
    def __init__(self, twill_origin: str, redis_url: str, tmp: Path, **env: str) -> None:
        self.env = {"TWILL_BASE_URL": twill_origin, "TWILL_MCP_REDIS_URL": redis_url, **env}
        self.ports = [free_port() for _ in range(REPLICAS)]
        self.logs = [tmp / f"replica-{n}.log" for n in range(REPLICAS)]
        self.processes = [
            spawn(http_server_command(port, "--auth", "passthrough"), log, self.env)
            for port, log in zip(self.ports, self.logs, strict=True)
        ]
        for process, port, log in zip(self.processes, self.ports, self.logs, strict=True):
            wait_healthy(f"http://127.0.0.1:{port}/healthz", process, log)

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}/mcp" for port in self.ports]

    def health(self) -> list[Any]:
        return [httpx2.get(f"http://127.0.0.1:{port}/healthz").json()["rateBudget"] for port in self.ports]

    def stop(self) -> None:
        for process in self.processes:
            stop(process)
        for log in self.logs:
            scan_log(log, API_KEY, QUIET_KEY)


@pytest.fixture
def fleet(twill: EmulatorServer, redis_server: RedisServer, tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(twill.origin, redis_server.url, tmp_path)
    try:
        yield fleet
    finally:
        fleet.stop()


async def burst(
    urls: list[str], key: str, calls: int, outcomes: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """`calls` calls of one key, dealt round-robin over the replicas, all at once; each call's outcome, appended to
    `outcomes` as it comes."""
    outcomes = [] if outcomes is None else outcomes

    async def replica(url: str, share: int) -> None:
        limiter = anyio.CapacityLimiter(IN_FLIGHT)
        async with mcp_client(url, MODERN, {"Authorization": f"Bearer {key}"}) as client:

            async def one() -> None:
                async with limiter:
                    result = await call(client, TOOL, {})
                body = result.structured_content or {}
                outcomes.append(body.get("error", {"code": "ok"}) if result.is_error else {"code": "ok"})

            async with anyio.create_task_group() as group:
                for _ in range(share):
                    group.start_soon(one)

    async with anyio.create_task_group() as group:
        for index, url in enumerate(urls):
            group.start_soon(replica, url, len(range(index, calls, len(urls))))
    return outcomes


def sent_for(twill: EmulatorServer, key: str, since: int = 0) -> int:
    return sum(request.headers.get("authorization") == f"Bearer {key}" for request in twill.requests[since:])


async def test_three_replicas_send_one_key_no_more_than_twill_allows(fleet: Fleet, twill: EmulatorServer) -> None:
    outcomes = await burst(fleet.urls(), API_KEY, BURST)
    codes = Counter(outcome["code"] for outcome in outcomes)
    assert len(outcomes) == BURST  # every call one result
    assert sent_for(twill, API_KEY) == TWILL_LIMIT == codes["ok"]
    assert codes["rate_limited"] == BURST - TWILL_LIMIT
    refused = [outcome for outcome in outcomes if outcome["code"] == "rate_limited"]
    # Refused before anything was sent, with when to come back: none of them is Twill's 429.
    assert all("status" not in outcome and outcome["retryAfter"] > 0 for outcome in refused)
    assert fleet.health() == ["shared"] * REPLICAS


async def test_a_second_key_is_not_held_back_by_a_used_up_one(fleet: Fleet, twill: EmulatorServer) -> None:
    await burst(fleet.urls(), API_KEY, BURST)
    outcomes = await burst(fleet.urls(), QUIET_KEY, 30)
    assert [outcome["code"] for outcome in outcomes] == ["ok"] * 30
    assert sent_for(twill, QUIET_KEY) == 30


async def test_calls_go_on_through_a_redis_outage_and_sharing_resumes(
    fleet: Fleet, twill: EmulatorServer, redis_server: RedisServer
) -> None:
    # 80 calls in all, within Twill's 100: whatever the budgets do during the outage, Twill never has to refuse.
    before = await burst(fleet.urls(), API_KEY, 20)
    during: list[dict[str, Any]] = []

    async def outage() -> None:
        while len(during) < 10:
            await anyio.sleep(0.01)
        redis_server.stop()  # mid-burst: some calls are on their way to Redis

    async with anyio.create_task_group() as group:
        group.start_soon(outage)
        await burst(fleet.urls(), API_KEY, 40, during)
    health_during = fleet.health()
    redis_server.start()
    await anyio.sleep(1.5)  # past the interval after which a replica asks Redis again
    health_after = fleet.health()
    after = await burst(fleet.urls(), API_KEY, 20)
    assert [outcome["code"] for outcome in before + during + after] == ["ok"] * 80
    assert health_during == ["per-process"] * REPLICAS
    assert health_after == ["shared"] * REPLICAS
    # The calls after the restart were counted in Redis again (it kept nothing of before: no persistence).
    sent = redis_server.command("ZCARD", f"twill-mcp:budget:{{{key_id(API_KEY)}}}:sent")
    assert sent == b":20\r\n"
    assert sent_for(twill, API_KEY) == 80


def key_id(key: str) -> str:
    """The id Redis may hold of a key: its SHA-256, never the key."""
    return hashlib.sha256(key.encode()).hexdigest()


async def test_a_429_answered_to_one_replica_holds_back_the_others(
    fake_twill: FakeTwill, redis_server: RedisServer, tmp_path: Path
) -> None:
    # A deadline shorter than Twill's Retry-After: the call that got the 429 does not wait it out either.
    fleet = Fleet(fake_twill.origin, redis_server.url, tmp_path, TWILL_MCP_CALL_TIMEOUT="10")
    body = b'{"error": {"code": "rate_limited", "message": "Rate limit exceeded"}}'
    fake_twill.then(Scripted(429, body, {"Content-Type": "application/json", "Retry-After": "30"}))
    try:
        first, *others = fleet.urls()
        async with mcp_client(first, MODERN, {"Authorization": f"Bearer {API_KEY}"}) as client:
            refused_by_twill = error_of(await call(client, TOOL, {}))
        held: list[dict[str, Any]] = []
        for url in others:
            async with mcp_client(url, MODERN, {"Authorization": f"Bearer {API_KEY}"}) as client:
                held.append(error_of(await call(client, TOOL, {})))
    finally:
        fleet.stop()
    assert (refused_by_twill["code"], refused_by_twill["status"]) == ("rate_limited", 429)
    assert [(error["code"], "status" in error) for error in held] == [("rate_limited", False)] * (REPLICAS - 1)
    assert all(25 <= error["retryAfter"] <= 30 for error in held)
    assert len(fake_twill.requests) == 1  # the others sent nothing
