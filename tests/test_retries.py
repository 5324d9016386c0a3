"""The retry policy and the rate budget, in the one request path (in-process, real sockets)."""

from __future__ import annotations

import time

import anyio
import pytest

from tests.conftest import API_KEY
from tests.fake_twill import FakeTwill, Scripted
from twill_mcp.config import Settings
from twill_mcp.errors import ApiError, OutcomeUnknown, RateLimited
from twill_mcp.request import PreparedRequest
from twill_mcp.upstream import Effect, RateBudget, TwillHttp, retry_after_seconds

pytestmark = pytest.mark.anyio

REQUEST = PreparedRequest("POST", "/tasks/t1/cancel", json_body={}, has_body=True)
IDEMPOTENT = Effect(read_only=False, idempotent=True, what="cancel the task")
NOT_IDEMPOTENT = Effect(read_only=False, idempotent=False, what="post the message")
SERVER_ERROR = {"error": {"code": "internal_error", "message": "boom"}}


def settings(fake: FakeTwill, **overrides: object) -> Settings:
    return Settings.load({"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": fake.origin}, **overrides)


async def test_a_non_idempotent_call_is_never_sent_twice_after_a_server_error(fake_twill: FakeTwill) -> None:
    fake_twill.then_json(502, SERVER_ERROR)
    async with TwillHttp(settings(fake_twill)) as http:
        raw = await http.send(REQUEST, NOT_IDEMPOTENT)
    assert raw.status == 502
    assert len(fake_twill.requests) == 1


async def test_a_non_idempotent_call_is_never_sent_twice_after_a_lost_answer(fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(drop=True))
    async with TwillHttp(settings(fake_twill)) as http:
        with pytest.raises(OutcomeUnknown) as caught:
            await http.send(REQUEST, NOT_IDEMPOTENT)
    assert not caught.value.is_retryable
    assert len(fake_twill.requests) == 1


async def test_a_rate_limited_call_is_retried_for_any_operation(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    fake_twill.then_json(429, {"error": {"code": "rate_limited", "message": "slow"}}, {"Retry-After": "1"})
    async with TwillHttp(settings(fake_twill)) as http:
        raw = await http.send(REQUEST, NOT_IDEMPOTENT)
    assert raw.status == 200
    assert len(fake_twill.requests) == 2


async def test_the_number_of_retries_is_configurable(fake_twill: FakeTwill) -> None:
    for _ in range(5):
        fake_twill.then_json(503, SERVER_ERROR)
    async with TwillHttp(settings(fake_twill, max_retries=1)) as http:
        raw = await http.send(REQUEST, IDEMPOTENT)
    assert raw.status == 503
    assert len(fake_twill.requests) == 2


async def test_no_sequence_of_attempts_and_waits_outlives_the_deadline(fake_twill: FakeTwill) -> None:
    for _ in range(20):
        fake_twill.then(Scripted(503, b"{}", delay=0.4))
    started = time.monotonic()
    async with TwillHttp(settings(fake_twill, call_timeout=2, max_retries=10)) as http:
        raw = await http.send(REQUEST, IDEMPOTENT)
    assert raw.status == 503
    assert time.monotonic() - started < 2.2


async def test_an_idempotent_call_retries_after_a_read_timeout(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    fake_twill.then(Scripted(200, b"{}", delay=2))
    async with TwillHttp(settings(fake_twill, read_timeout=0.3)) as http:
        raw = await http.send(REQUEST, IDEMPOTENT)
    assert raw.status == 200
    assert len(fake_twill.requests) == 2


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


async def test_the_budget_queues_a_call_when_the_wait_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RateBudget, "WINDOW_SECONDS", 0.5)
    budget = RateBudget(per_minute=1)
    started = anyio.current_time()
    await budget.acquire(started + 10)
    await budget.acquire(started + 10)
    assert 0.4 <= anyio.current_time() - started < 1.5


async def test_a_429_holds_back_every_other_call_of_the_key(fake_twill: FakeTwill) -> None:
    fake_twill.then_json(429, {"error": {"code": "rate_limited", "message": "slow"}}, {"Retry-After": "120"})
    async with TwillHttp(settings(fake_twill)) as http:
        first = await http.send(REQUEST, IDEMPOTENT)
        with pytest.raises(RateLimited):
            await http.send(REQUEST, IDEMPOTENT)
    assert first.status == 429
    assert len(fake_twill.requests) == 1


async def test_a_zero_rate_limit_turns_the_budget_off() -> None:
    budget = RateBudget(per_minute=0)
    now = anyio.current_time()
    for _ in range(500):
        await budget.acquire(now + 1)


async def test_an_api_error_after_retries_keeps_twills_code(fake_twill: FakeTwill) -> None:
    from tests.conftest import compiled
    from twill_mcp.responses import ResponseReader

    for _ in range(3):
        fake_twill.then_json(500, SERVER_ERROR)
    async with TwillHttp(settings(fake_twill)) as http:
        raw = await http.send(REQUEST, IDEMPOTENT)
    with pytest.raises(ApiError, match="boom"):
        ResponseReader(compiled("cancel_task"), IDEMPOTENT).read(raw)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("30", 30.0),
        ("9" * 400, 3600.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 3600.0),
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_is_parsed_and_capped_at_an_hour(header: str, expected: float | None) -> None:
    assert retry_after_seconds(header) == expected


async def test_retry_after_on_a_503_is_obeyed_by_the_retry(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    fake_twill.then(Scripted(503, b"<html>busy</html>", {"Content-Type": "text/html", "Retry-After": "2"}))
    started = time.monotonic()
    async with TwillHttp(settings(fake_twill)) as http:
        raw = await http.send(REQUEST, IDEMPOTENT)
    assert raw.status == 200
    assert time.monotonic() - started >= 2


async def test_a_body_that_fails_to_decode_is_a_lost_answer_not_a_bug(fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(200, b"not gzip at all", {"Content-Encoding": "gzip", "Content-Type": "application/json"}))
    async with TwillHttp(settings(fake_twill)) as http:
        with pytest.raises(OutcomeUnknown):
            await http.send(REQUEST, NOT_IDEMPOTENT)
