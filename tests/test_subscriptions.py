"""Subscribing to a task: a change of its run is pushed as `notifications/resources/updated`, in both eras.

2025 wire: resources/subscribe, then the notification on the session. 2026-07-28 wire: a
subscriptions/listen stream naming the task's URI, then a ResourceUpdated event on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from pydantic import SecretStr

from tests.conftest import server_env
from tests.fake_twill import FakeTwill
from twill_mcp.core.config import Settings
from twill_mcp.core.credentials import Credentials
from twill_mcp.emulator.models import RUNNING
from twill_mcp.inprocess import connected
from twill_mcp.server.resources import RESOURCE_NOT_FOUND, Upstream
from twill_mcp.server.subscriptions import TaskWatch, Watching
from twill_mcp.tools.catalog import all_tools, compiled_by_name
from twill_mcp.upstream.http import TwillHttp

pytestmark = [
    pytest.mark.anyio,
    # The SDK marks the 2025 wire's resources/subscribe deprecated: it is what that era's clients send.
    pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed"),
]
URI = "twill://tasks/watched"
WATCH_SECONDS = 0.05
# Fast, and with no rate share holding the reads back: the share is for Twill, not for a test.
QUICK = Watching(every=WATCH_SECONDS, per_minute=60_000)


@asynccontextmanager
async def watching(fake: FakeTwill, mode: str, **client: Any) -> AsyncIterator[Client]:
    settings = Settings.load(server_env(fake))
    async with connected(settings, all_tools(), watching=QUICK, mode=mode, **client) as connection:
        yield connection


def running_job(fake: FakeTwill) -> str:
    _, job = fake.state.create_task("Watch me", slug="watched")
    assert job is not None
    fake.state.advance(job.id, RUNNING)
    return job.id


def reads_of_the_task(fake: FakeTwill) -> int:
    return sum(1 for r in fake.requests if r.raw_path == "/api/v1/tasks/watched")


async def test_a_subscribed_task_that_finishes_is_announced_on_the_2025_wire(fake_twill: FakeTwill) -> None:
    job = running_job(fake_twill)
    updated: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(str(message.params.uri))

    async with watching(fake_twill, "legacy", message_handler=on_message) as client:
        assert client.server_capabilities.resources.subscribe is True
        await client.session.subscribe_resource(URI)
        await anyio.sleep(3 * WATCH_SECONDS)
        assert updated == []  # nothing changed yet: nothing is announced
        fake_twill.state.finish_job(job)
        with anyio.fail_after(5):
            while not updated:
                await anyio.sleep(WATCH_SECONDS)
    assert updated == [URI]


async def test_after_unsubscribing_twill_is_no_longer_read(fake_twill: FakeTwill) -> None:
    running_job(fake_twill)
    async with watching(fake_twill, "legacy") as client:
        await client.session.subscribe_resource(URI)
        await anyio.sleep(3 * WATCH_SECONDS)
        await client.session.unsubscribe_resource(URI)
        await anyio.sleep(WATCH_SECONDS)
        reads = reads_of_the_task(fake_twill)
        await anyio.sleep(5 * WATCH_SECONDS)
        assert reads_of_the_task(fake_twill) == reads
    assert reads >= 2


async def test_nothing_is_read_while_nobody_is_subscribed(fake_twill: FakeTwill) -> None:
    running_job(fake_twill)
    async with watching(fake_twill, "legacy"):
        await anyio.sleep(5 * WATCH_SECONDS)
    assert fake_twill.requests == []


async def test_subscribing_to_an_unknown_task_is_an_error(fake_twill: FakeTwill) -> None:
    async with watching(fake_twill, "legacy") as client:
        with pytest.raises(MCPError, match="Task not found") as raised:
            await client.session.subscribe_resource("twill://tasks/no-such-task")
    assert raised.value.code == RESOURCE_NOT_FOUND


async def test_a_subscribed_task_that_finishes_is_announced_on_a_2026_listen_stream(fake_twill: FakeTwill) -> None:
    job = running_job(fake_twill)
    async with watching(fake_twill, "2026-07-28") as client, client.listen(resource_subscriptions=[URI]) as stream:
        fake_twill.state.finish_job(job)
        with anyio.fail_after(5):
            event = await anext(aiter(stream))
    assert event.uri == URI


async def test_reads_of_many_watched_tasks_are_spread_to_stay_within_the_keys_share(fake_twill: FakeTwill) -> None:
    for slug in ("one", "two"):
        fake_twill.state.create_task(f"Task {slug}", slug=slug)
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)
        await anyio.sleep_forever()

    async def notify(uri: str) -> None:
        pass

    settings = Settings.load(server_env(fake_twill))
    credentials = Credentials(settings.api_key)
    async with TwillHttp(settings) as http:
        watch = TaskWatch(Upstream(http, compiled_by_name()), Watching(every=1.0, per_minute=20), sleep=record)
        for slug in ("one", "two"):
            await watch.add(f"twill://tasks/{slug}", credentials, notify, owner=slug)
        async with watch.running(None):
            with anyio.fail_after(5):
                while not pauses:
                    await anyio.sleep(0.01)
    # Two tasks read per round at 20 reads a minute: a round every 6 s, not every second.
    assert pauses == [6.0]
    assert len(fake_twill.requests) == 4  # each task's state on subscribing, then one round


class SlowForOneKey:
    """An upstream where one key's reads hang once it is subscribed, and the other's task changes run."""

    def __init__(self, slow_key: str) -> None:
        self.slow_key = slow_key
        self.subscribed = False
        self.run = 0

    async def read(self, credentials: Credentials, tool: str, arguments: dict[str, Any]) -> Any:
        if self.subscribed and credentials.key_id == self.slow_key:
            await anyio.sleep_forever()
        self.run += 1
        return {"latestJob": {"id": f"job-{self.run}", "status": "RUNNING"}}


async def test_one_keys_slow_reads_never_delay_what_another_keys_subscribers_are_told() -> None:
    # Issue 23, tenants are independent: one round for all keys made every key wait for the slowest.
    alice, bob = Credentials(SecretStr("twk_alice_" + "a" * 16)), Credentials(SecretStr("twk_bob_" + "b" * 16))
    upstream = SlowForOneKey(alice.key_id)
    told: list[str] = []

    async def notify(uri: str) -> None:
        told.append(uri)

    watch = TaskWatch(upstream, Watching(every=WATCH_SECONDS, per_minute=60_000))  # type: ignore[arg-type]
    await watch.add("twill://tasks/a", alice, notify, owner="alice")
    await watch.add("twill://tasks/b", bob, notify, owner="bob")
    upstream.subscribed = True
    async with watch.running(None):
        with anyio.fail_after(2):
            while "twill://tasks/b" not in told:
                await anyio.sleep(WATCH_SECONDS)
    assert "twill://tasks/a" not in told
