"""One rate budget per key for every replica, kept in a real redis-server; and what happens when Redis is not there.

Each `SharedBudgets` here stands for one replica: several on one Redis must behave as one budget.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import anyio
import pytest
from pydantic import SecretStr

from tests.conftest import API_KEY, CREDENTIALS
from tests.real_redis import RedisServer
from twill_mcp.core.errors import RateLimited
from twill_mcp.upstream.shared_budget import SharedBudgets

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

KEY = CREDENTIALS.key_id
OTHER_KEY = "0" * 64
LIMIT = 5
PLENTY = 30.0  # seconds of deadline: any wait under a minute's window fits


def replicas(url: str, count: int, **options: float) -> list[SharedBudgets]:
    return [SharedBudgets(SecretStr(url), LIMIT, **options) for _ in range(count)]


async def closed(*budgets: SharedBudgets) -> None:
    for budget in budgets:
        await budget.aclose()


async def test_replicas_on_one_redis_share_one_allowance_per_key(redis_server: RedisServer) -> None:
    first, second, third = replicas(redis_server.url, 3)
    deadline = anyio.current_time() + PLENTY
    try:
        for n in range(LIMIT):
            await (first, second, third)[n % 3].acquire(KEY, deadline)
        with pytest.raises(RateLimited) as refused:
            await second.acquire(KEY, anyio.current_time() + 5)
    finally:
        await closed(first, second, third)
    # The window frees a minute after the first request went out: almost all of that minute is still to wait.
    assert 55 <= refused.value.retry_after <= 60


async def test_a_used_up_key_leaves_every_other_key_its_own_allowance(redis_server: RedisServer) -> None:
    first, second = replicas(redis_server.url, 2)
    deadline = anyio.current_time() + PLENTY
    try:
        for _ in range(LIMIT):
            await first.acquire(KEY, deadline)
        with anyio.fail_after(2):
            for _ in range(LIMIT):
                await second.acquire(OTHER_KEY, deadline)
    finally:
        await closed(first, second)


async def test_a_call_queues_when_the_window_frees_within_its_deadline(redis_server: RedisServer) -> None:
    [budget] = [SharedBudgets(SecretStr(redis_server.url), LIMIT, window=1.5)]
    try:
        for _ in range(LIMIT):
            await budget.acquire(KEY, anyio.current_time() + PLENTY)
        started = anyio.current_time()
        await budget.acquire(KEY, anyio.current_time() + PLENTY)
        waited = anyio.current_time() - started
    finally:
        await budget.aclose()
    assert 1.0 <= waited <= 1.6


async def test_a_429_seen_by_one_replica_holds_back_the_others(redis_server: RedisServer) -> None:
    first, second = replicas(redis_server.url, 2)
    try:
        await first.pause(KEY, 20)
        with pytest.raises(RateLimited) as refused:
            await second.acquire(KEY, anyio.current_time() + 10)
    finally:
        await closed(first, second)
    assert 19 <= refused.value.retry_after <= 20


async def test_redis_holds_only_hashes_of_keys_and_every_entry_expires(redis_server: RedisServer) -> None:
    [budget] = replicas(redis_server.url, 1)
    try:
        await budget.acquire(KEY, anyio.current_time() + PLENTY)
        await budget.pause(KEY, 5)
    finally:
        await budget.aclose()
    names = [line for line in redis_server.command("KEYS", "*").decode().split("\r\n") if line.startswith("twill-mcp")]
    assert len(names) == 2
    for name in names:
        assert API_KEY not in name
        assert KEY in name  # the key's sha256, the id every per-key state is kept under
        ttl = redis_server.command("PTTL", name)
        assert ttl.startswith(b":"), (name, ttl)
        assert int(ttl[1:]) > 0, (name, ttl)
    dump = b"".join(redis_server.command("DUMP", name) for name in names)
    assert API_KEY.encode() not in dump


async def test_without_redis_calls_go_on_under_the_process_own_budget(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.stop()
    [budget] = replicas(redis_server.url, 1)
    caplog.set_level(logging.WARNING, "twill_mcp.upstream.shared_budget")
    try:
        deadline = anyio.current_time() + PLENTY
        with anyio.fail_after(5):
            for _ in range(LIMIT):
                await budget.acquire(KEY, deadline)
        with pytest.raises(RateLimited):
            await budget.acquire(KEY, anyio.current_time() + 5)
        assert await budget.kept() == "per-process"
    finally:
        await budget.aclose()
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1, said
    assert "unreachable" in said[0]
    assert "per process" in said[0]


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A port that accepts connections and never answers: a Redis that hangs."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stopping.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    stopping.set()
    thread.join()
    for sock in accepted:
        sock.close()
    listener.close()


async def test_a_redis_that_does_not_answer_costs_a_call_at_most_the_store_timeout(silent_redis: str) -> None:
    [budget] = [SharedBudgets(SecretStr(silent_redis), LIMIT, timeout=0.2)]
    try:
        started = anyio.current_time()
        await budget.acquire(KEY, anyio.current_time() + PLENTY)
        first = anyio.current_time() - started
        started = anyio.current_time()
        await budget.acquire(KEY, anyio.current_time() + PLENTY)
        second = anyio.current_time() - started
    finally:
        await budget.aclose()
    assert first < 0.5
    # Once found down, it is not asked again on every call.
    assert second < 0.05


async def test_sharing_resumes_once_redis_is_back(redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    [budget] = replicas(redis_server.url, 1, retry_every=0.2)
    caplog.set_level(logging.WARNING, "twill_mcp.upstream.shared_budget")
    try:
        redis_server.stop()
        await budget.acquire(KEY, anyio.current_time() + PLENTY)
        redis_server.start()
        await anyio.sleep(0.3)
        await budget.acquire(KEY, anyio.current_time() + PLENTY)
        kept = await budget.kept()
    finally:
        await budget.aclose()
    assert kept == "shared"
    sent = redis_server.command("ZCARD", f"twill-mcp:budget:{{{KEY}}}:sent")
    assert sent == b":1\r\n"  # the call after the restart, taken from the shared budget
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 2, said
    assert "answers again" in said[1]
