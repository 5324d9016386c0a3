"""Subscriptions over the hosted, stateless streamable HTTP service, in each era as it can carry them."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.fake_twill import FakeTwill
from tests.http_thread import LEGACY, MODERN, mcp_client, serving, settings_for, stopped_cleanly
from twill_mcp.emulator.models import RUNNING
from twill_mcp.server.build import server_for
from twill_mcp.server.subscriptions import Watching
from twill_mcp.transports import http as http_service

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")]
URI = "twill://tasks/watched"


@pytest.fixture(autouse=True)
def quick_watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The production pacing (10 s, a fifth of the key's budget) is for Twill; a test needs a quick one.
    monkeypatch.setattr(
        http_service, "server_for", functools.partial(server_for, watching=Watching(every=0.05, per_minute=60_000))
    )
    yield
    stopped_cleanly()


def running_job(fake: FakeTwill) -> str:
    _, job = fake.state.create_task("Watch me", slug="watched")
    assert job is not None
    fake.state.advance(job.id, RUNNING)
    return job.id


async def test_a_2026_listen_stream_over_http_carries_the_update(fake_twill: FakeTwill) -> None:
    job = running_job(fake_twill)
    with serving(settings_for(fake_twill)) as url:
        async with mcp_client(url, MODERN) as client, client.listen(resource_subscriptions=[URI]) as stream:
            fake_twill.state.finish_job(job)
            with anyio.fail_after(5):
                event = await anext(aiter(stream))
    assert event.uri == URI


async def test_a_2025_subscribe_over_stateless_http_is_refused_with_what_to_use(fake_twill: FakeTwill) -> None:
    running_job(fake_twill)
    with serving(settings_for(fake_twill)) as url:
        async with mcp_client(url, LEGACY) as client:
            with pytest.raises(MCPError) as raised:
                await client.session.subscribe_resource(URI)
    assert "subscriptions/listen" in raised.value.error.message
