"""100 requests per minute per key, on the injectable clock."""

from __future__ import annotations

import pytest

from tests.emulator.conftest import FakeClock, client_for, make_app
from tests.emulator.schemas import assert_error
from twill_mcp.emulator import DEMO_KEY, EmulatorState
from twill_mcp.emulator.ratelimit import RateLimiter

pytestmark = pytest.mark.anyio

OTHER_KEY = "twk_other_key"


async def test_101st_request_in_a_minute_is_429_until_the_window_moves(state: EmulatorState, clock: FakeClock) -> None:
    app = make_app(state, api_keys={DEMO_KEY, OTHER_KEY})
    async with client_for(app) as client:
        for i in range(100):
            clock.advance(0.25)  # exact in binary floating point, unlike 0.1
            assert (await client.get("/auth/me")).status_code == 200, i
        limited = await client.get("/tasks")
        assert limited.status_code == 429
        assert_error(limited.json(), "rate_limited")
        retry_after = int(limited.headers["retry-after"])
        assert retry_after == 36  # the first request (t=0.25) leaves the window at t=60.25; now is t=25
        other = await client.get("/auth/me", headers={"Authorization": f"Bearer {OTHER_KEY}"})
        assert other.status_code == 200  # per key
        clock.advance(retry_after - 1)
        assert (await client.get("/auth/me")).status_code == 429
        clock.advance(1)  # t=61: the four requests of t<=1 have left the sliding window
        statuses = [(await client.get("/auth/me")).status_code for _ in range(5)]
        assert statuses == [200] * 4 + [429]
        clock.advance(60)
        assert (await client.get("/auth/me")).status_code == 200


async def test_rejected_and_unauthenticated_requests_do_not_count(state: EmulatorState) -> None:
    app = make_app(state, rate_limit_per_minute=2)
    async with client_for(app) as client:
        for _ in range(5):
            assert (await client.get("/auth/me", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (await client.get("/auth/me")).status_code == 200
        assert (await client.get("/auth/me")).status_code == 200
        assert (await client.get("/auth/me")).status_code == 429


def test_hourly_window_applies_too() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock, [(100, 60.0), (1000, 3600.0)])
    for _ in range(1000):
        assert limiter.hit("k") is None
        clock.advance(1.0)
    assert limiter.hit("k") == 2600  # t=1000; the first hit (t=0) leaves the hour at t=3600
