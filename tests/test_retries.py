"""The retry policy and the rate budget, in the one request path (in-process, real sockets).

Waits go through an injected sleep that records them, so no test here sleeps for real.
"""

from __future__ import annotations

import random
import time

import anyio
import pytest
from pydantic import SecretStr

from tests.conftest import API_KEY, Waits, send
from tests.fake_twill import FakeTwill, Scripted
from twill_mcp.core.config import Settings
from twill_mcp.core.credentials import Credentials
from twill_mcp.core.errors import ApiError, BadUpstreamResponse, OutcomeUnknown, RateLimited
from twill_mcp.spec.compiler import compile_spec
from twill_mcp.spec.openapi import load_bundled_spec
from twill_mcp.tools.call import ToolCall
from twill_mcp.upstream.budget import RateBudget, RateBudgets
from twill_mcp.upstream.http import TwillHttp
from twill_mcp.upstream.outcomes import Effect, retry_after_seconds
from twill_mcp.upstream.request import PreparedRequest

pytestmark = pytest.mark.anyio

REQUEST = PreparedRequest("POST", "/tasks/t1/cancel", json_body={}, has_body=True)
IDEMPOTENT = Effect(read_only=False, idempotent=True, action="cancel the task")
NOT_IDEMPOTENT = Effect(read_only=False, idempotent=False, action="post the message")
SERVER_ERROR = {"error": {"code": "internal_error", "message": "boom"}}
RATE_LIMITED = {"error": {"code": "rate_limited", "message": "slow"}}


def settings(fake: FakeTwill, **overrides: object) -> Settings:
    return Settings.load({"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": fake.origin}, **overrides)


def http_for(fake: FakeTwill, sleeps: Waits, **overrides: object) -> TwillHttp:
    return TwillHttp(settings(fake, **overrides), sleep=sleeps, rng=random.Random(7))


async def test_a_non_idempotent_call_is_never_sent_twice_after_a_server_error(fake_twill: FakeTwill) -> None:
    fake_twill.then_json(502, SERVER_ERROR)
    sleeps = Waits()
    async with http_for(fake_twill, sleeps) as http:
        with pytest.raises(ApiError) as caught:
            await send(http, REQUEST, NOT_IDEMPOTENT)
    assert caught.value.status == 502
    assert len(fake_twill.requests) == 1
    assert sleeps == []


async def test_a_non_idempotent_call_is_never_sent_twice_after_a_lost_answer(fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(drop=True))
    async with http_for(fake_twill, Waits()) as http:
        with pytest.raises(OutcomeUnknown) as caught:
            await send(http, REQUEST, NOT_IDEMPOTENT)
    assert not caught.value.is_retryable
    assert len(fake_twill.requests) == 1


async def test_a_rate_limited_call_is_retried_for_any_operation_after_retry_after(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    fake_twill.then_json(429, RATE_LIMITED, {"Retry-After": "1"})
    sleeps = Waits()
    async with http_for(fake_twill, sleeps) as http:
        raw = await send(http, REQUEST, NOT_IDEMPOTENT)
    assert raw.status == 200
    assert len(fake_twill.requests) == 2
    assert sleeps == [1.0]


async def test_a_server_error_on_an_idempotent_call_is_retried_with_growing_jittered_backoff(
    fake_twill: FakeTwill,
) -> None:
    fake_twill.add_task("t1")
    for _ in range(2):
        fake_twill.then_json(503, SERVER_ERROR)
    sleeps = Waits()
    async with http_for(fake_twill, sleeps) as http:
        raw = await send(http, REQUEST, IDEMPOTENT)
    assert raw.status == 200
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5
    assert 0.5 <= sleeps[1] <= 1.0


async def test_the_number_of_retries_is_configurable(fake_twill: FakeTwill) -> None:
    for _ in range(5):
        fake_twill.then_json(503, SERVER_ERROR)
    async with http_for(fake_twill, Waits(), max_retries=1) as http:
        with pytest.raises(ApiError) as caught:
            await send(http, REQUEST, IDEMPOTENT)
    assert caught.value.status == 503
    assert caught.value.is_retryable
    assert len(fake_twill.requests) == 2


async def test_no_sequence_of_attempts_and_waits_outlives_the_deadline(fake_twill: FakeTwill) -> None:
    for _ in range(20):
        fake_twill.then(Scripted(503, b"{}", delay=0.4))
    started = time.monotonic()
    async with TwillHttp(settings(fake_twill, call_timeout=2, max_retries=10)) as http:
        with pytest.raises(BadUpstreamResponse) as caught:
            await send(http, REQUEST, IDEMPOTENT)
    assert caught.value.status == 503
    assert time.monotonic() - started < 2.2


async def test_a_retry_is_not_started_when_its_wait_would_not_fit_in_the_deadline(fake_twill: FakeTwill) -> None:
    fake_twill.then_json(503, SERVER_ERROR, {"Retry-After": "30"})
    sleeps = Waits()
    async with http_for(fake_twill, sleeps, call_timeout=10) as http:
        with pytest.raises(ApiError) as caught:
            await send(http, REQUEST, IDEMPOTENT)
    assert sleeps == []
    assert caught.value.retry_after == 30
    assert len(fake_twill.requests) == 1


async def test_an_idempotent_call_retries_after_a_read_timeout(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    fake_twill.then(Scripted(200, b"{}", delay=2))
    async with http_for(fake_twill, Waits(), read_timeout=0.3) as http:
        raw = await send(http, REQUEST, IDEMPOTENT)
    assert raw.status == 200
    assert len(fake_twill.requests) == 2


async def test_retry_after_on_a_503_is_obeyed_by_the_retry(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    fake_twill.then(Scripted(503, b"<html>busy</html>", {"Content-Type": "text/html", "Retry-After": "2"}))
    sleeps = Waits()
    async with http_for(fake_twill, sleeps) as http:
        raw = await send(http, REQUEST, IDEMPOTENT)
    assert raw.status == 200
    assert sleeps == [2.0]


async def test_a_body_that_fails_to_decode_is_a_lost_answer_not_a_bug(fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(200, b"not gzip at all", {"Content-Encoding": "gzip", "Content-Type": "application/json"}))
    async with http_for(fake_twill, Waits()) as http:
        with pytest.raises(OutcomeUnknown):
            await send(http, REQUEST, NOT_IDEMPOTENT)


async def test_an_api_error_after_retries_keeps_twills_code(fake_twill: FakeTwill) -> None:
    for _ in range(3):
        fake_twill.then_json(500, SERVER_ERROR)
    async with http_for(fake_twill, Waits()) as http:
        with pytest.raises(ApiError, match="boom") as caught:
            await send(http, REQUEST, IDEMPOTENT)
    assert caught.value.error_code == "internal_error"
    assert len(fake_twill.requests) == 3


async def test_a_429_holds_back_every_other_call_of_the_key(fake_twill: FakeTwill) -> None:
    fake_twill.then_json(429, RATE_LIMITED, {"Retry-After": "120"})
    async with http_for(fake_twill, Waits()) as http:
        with pytest.raises(ApiError) as first:
            await send(http, REQUEST, IDEMPOTENT)
        with pytest.raises(RateLimited):
            await send(http, REQUEST, IDEMPOTENT)
    assert first.value.status == 429
    assert len(fake_twill.requests) == 1


async def test_a_429_holds_back_only_the_key_it_was_for(fake_twill: FakeTwill) -> None:
    other = "twk_second_user"
    fake_twill.add_task("t1")
    fake_twill.then_json(429, RATE_LIMITED, {"Retry-After": "120"})
    async with http_for(fake_twill, Waits()) as http:
        with pytest.raises(ApiError):
            await send(http, REQUEST, IDEMPOTENT)
        with pytest.raises(ApiError) as second:  # another key: sent, and Twill answers it (401: unknown key)
            await send(http, REQUEST, IDEMPOTENT, Credentials(SecretStr(other)))
    assert second.value.status == 401
    assert len(fake_twill.requests) == 2


async def test_one_server_serves_two_keys_concurrently_each_with_its_own_key_and_budget() -> None:
    keys = {"a": "twk_user_a_" + "1" * 20, "b": "twk_user_b_" + "2" * 20}
    fake = FakeTwill(keys["a"], keys["b"]).start()
    try:
        for user in keys:
            for n in range(50):
                fake.add_task(f"{user}-{n}")
        [get_task] = [tool for tool in compile_spec(load_bundled_spec()) if tool.name == "get_task"]
        call = ToolCall(get_task)
        config = Settings.load({"TWILL_BASE_URL": fake.origin}, rate_limit=30, max_retries=0)
        outcomes: dict[str, list[str]] = {"a": [], "b": []}
        async with TwillHttp(config) as http:

            async def one(user: str, n: int) -> None:
                credentials = Credentials(SecretStr(keys[user]))
                result = await call(http, credentials, {"taskIdOrSlug": f"{user}-{n}"})
                code = (
                    result.structured_content.get("error", {}).get("code", "ok") if result.structured_content else "?"
                )
                outcomes[user].append(code)

            async with anyio.create_task_group() as group:
                for n in range(50):
                    for user in keys:
                        group.start_soon(one, user, n)
    finally:
        fake.stop()
    for user in keys:
        # Each key's own budget: 30 of its 50 calls go out, the rest wait longer than the deadline allows.
        assert outcomes[user].count("ok") == 30, outcomes[user]
        assert outcomes[user].count("rate_limited") == 20
    assert len(fake.requests) == 60
    for request in fake.requests:
        user = request.segments[4].split("-")[0]
        assert request.headers["authorization"] == f"Bearer {keys[user]}"


class RecordingBudgets:
    """Budgets kept elsewhere (as a shared store would keep them): each acquire and pause recorded, by key."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.acquired: list[str] = []
        self.paused: list[tuple[str, float]] = []

    async def acquire(self, key_id: str, deadline: float) -> None:
        self.acquired.append(key_id)
        if self.refuse:
            raise RateLimited("used up elsewhere", retry_after=30.0)

    async def pause(self, key_id: str, seconds: float) -> None:
        self.paused.append((key_id, seconds))


async def test_the_request_path_takes_each_attempt_from_the_budgets_it_is_given(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    fake_twill.then_json(429, RATE_LIMITED, {"Retry-After": "7"})
    budgets = RecordingBudgets()
    key_id = Credentials(SecretStr(API_KEY)).key_id
    async with TwillHttp(settings(fake_twill), sleep=Waits(), budgets=budgets) as http:
        raw = await send(http, REQUEST, IDEMPOTENT)
    assert raw.status == 200
    assert budgets.acquired == [key_id, key_id]
    assert budgets.paused == [(key_id, 7.0)]


async def test_a_budget_that_refuses_sends_nothing(fake_twill: FakeTwill) -> None:
    async with TwillHttp(settings(fake_twill), budgets=RecordingBudgets(refuse=True)) as http:
        with pytest.raises(RateLimited):
            await send(http, REQUEST, IDEMPOTENT)
    assert fake_twill.requests == []


async def test_the_budget_lets_a_whole_minutes_allowance_go_at_once() -> None:
    budget = RateBudget(per_minute=100)
    started = anyio.current_time()
    for _ in range(100):
        await budget.acquire(deadline=started + 10)
    assert anyio.current_time() - started < 0.5


async def test_the_budget_fails_fast_with_retry_after_when_the_wait_would_not_fit() -> None:
    budget = RateBudget(per_minute=2)
    now = anyio.current_time()
    await budget.acquire(now + 10)
    await budget.acquire(now + 10)
    with pytest.raises(RateLimited) as caught:
        await budget.acquire(now + 10)
    assert caught.value.retry_after is not None
    assert 55 <= caught.value.retry_after <= 61


async def test_the_budget_queues_a_call_when_the_wait_fits() -> None:
    budget = RateBudget(per_minute=1, window=0.3)
    started = anyio.current_time()
    await budget.acquire(started + 10)
    await budget.acquire(started + 10)
    assert 0.25 <= anyio.current_time() - started < 1.5


async def test_a_zero_rate_limit_turns_the_budget_off() -> None:
    budget = RateBudget(per_minute=0)
    now = anyio.current_time()
    for _ in range(500):
        await budget.acquire(now + 1)


async def test_budgets_are_kept_per_key_and_bounded_in_number() -> None:
    budgets = RateBudgets(per_minute=1, max_keys=3)
    now = anyio.current_time()
    await budgets("a").acquire(now + 10)
    with pytest.raises(RateLimited):
        await budgets("a").acquire(now + 10)
    await budgets("b").acquire(now + 10)  # another key is not held back by the first
    for key in "cdef":
        budgets(key)
    assert len(budgets) == 3


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("30", 30.0),
        ("9" * 400, 3600.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 3600.0),
        ("soon", None),
        ("", None),
        # Digits to str.isdigit() and, some of them, to float(): but not the ASCII digits HTTP's delta-seconds is.
        ("\u00b2", None),
        ("\u0661\u0662", None),
        ("\uff13\uff10", None),
        ("+30", None),
        ("30.5", None),
        ("1e3", None),
    ],
)
def test_retry_after_is_parsed_and_capped_at_an_hour(header: str, expected: float | None) -> None:
    assert retry_after_seconds(header) == expected


async def test_a_retry_after_that_is_not_ascii_digits_is_ignored_for_backoff(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    fake_twill.then(Scripted(429, b"{}", {"Retry-After": "\u00b2"}))
    sleeps = Waits()
    async with http_for(fake_twill, sleeps) as http:
        raw = await send(http, REQUEST, NOT_IDEMPOTENT)
    assert raw.status == 200
    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= 0.5  # the first backoff step, not two seconds
