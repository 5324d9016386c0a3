"""The HTTP request path in-process, against the fake Twill on real sockets (and a mock where no socket can)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx2
import pytest
from pydantic import SecretStr

from tests.conftest import API_KEY, CREDENTIALS, compiled, send
from tests.fake_twill import FakeTwill, Scripted
from twill_mcp.core.config import Settings
from twill_mcp.core.credentials import Credentials
from twill_mcp.core.errors import (
    ApiError,
    BadUpstreamResponse,
    MissingApiKey,
    OutcomeUnknown,
    ToolCallError,
    UpstreamTimeout,
)
from twill_mcp.tools.events import EventStreamReader
from twill_mcp.tools.responses import JsonReader
from twill_mcp.upstream.http import TwillHttp
from twill_mcp.upstream.outcomes import Effect
from twill_mcp.upstream.request import PreparedRequest

pytestmark = pytest.mark.anyio

CANCEL = PreparedRequest("POST", "/tasks/t1/cancel", json_body={}, has_body=True)
CANCELLING = Effect(read_only=False, idempotent=True, action="cancel the task")
READING = Effect(read_only=True, idempotent=True, action="read")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def settings_for(fake: FakeTwill, **overrides: object) -> Settings:
    return Settings.load({"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": fake.origin}, **overrides)


async def send_and_read(settings: Settings) -> object:
    """One cancel as cancel_task reads it, without retries: these tests pin how a single answer is read."""
    settings = settings.model_copy(update={"max_retries": 0})
    async with TwillHttp(settings) as http:
        return await http.exchange(CANCEL, CREDENTIALS, CANCELLING, JsonReader(compiled("cancel_task"), CANCELLING))


async def test_the_call_deadline_bounds_a_slow_answer(fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(200, b"{}", delay=3))
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown, match="deadline"):
        await send_and_read(settings_for(fake_twill, call_timeout=0.5))
    assert time.monotonic() - started < 2


async def test_a_lost_answer_to_a_read_only_call_is_a_plain_timeout(fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(200, b"{}", delay=3))
    async with TwillHttp(settings_for(fake_twill, read_timeout=0.3, max_retries=0)) as http:
        with pytest.raises(UpstreamTimeout, match="did not answer"):
            await send(http, PreparedRequest("GET", "/tasks/t1"), READING)


async def test_a_connect_timeout_says_nothing_was_sent() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectTimeout("timed out", request=request)

    settings = Settings.load({"TWILL_API_KEY": API_KEY}, max_retries=0)
    async with TwillHttp(settings, transport=httpx2.MockTransport(refuse)) as http:
        with pytest.raises(UpstreamTimeout, match="nothing was sent") as caught:
            await send(http, CANCEL, CANCELLING)
    assert caught.value.is_retryable


async def test_a_body_over_the_cap_is_cut_and_reported(fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(200, b'{"pad": "' + b"x" * 4096 + b'"}', {"Content-Type": "application/json"}))
    with pytest.raises(BadUpstreamResponse, match="larger than"):
        await send_and_read(settings_for(fake_twill, max_response_bytes=1024))


async def test_an_event_stream_line_that_never_ends_is_cut_at_the_cap_as_it_arrives() -> None:
    # Issue 23, case 5: a 200 MiB line was held whole (RSS +500 MB) before the 1 MiB cap applied.
    cap, chunk = 1024 * 1024, 64 * 1024
    pulled = 0

    async def endless_line() -> AsyncIterator[bytes]:
        nonlocal pulled
        while pulled < 64 * cap:
            pulled += chunk
            yield b"data: " + b"x" * (chunk - 6)

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"Content-Type": "text/event-stream"}, content=endless_line())

    settings = Settings.load({"TWILL_API_KEY": API_KEY}, max_response_bytes=cap)
    reader = EventStreamReader.binder(compiled("stream_job_logs"))({"maxSeconds": 10}, None)
    request = PreparedRequest("GET", "/jobs/j1/logs/stream")
    async with TwillHttp(settings, transport=httpx2.MockTransport(answer)) as http:
        success = await http.exchange(request, CREDENTIALS, READING, reader)
    assert success.body["stoppedBy"] == "max_bytes"
    assert pulled <= cap + chunk


async def test_a_protocol_error_quoting_the_other_end_is_reported_sanitized() -> None:
    def garbled(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.RemoteProtocolError("illegal header \x1b[2J\u202eevil", request=request)

    settings = Settings.load({"TWILL_API_KEY": API_KEY}, max_retries=0)
    async with TwillHttp(settings, transport=httpx2.MockTransport(garbled)) as http:
        with pytest.raises(ToolCallError) as caught:
            await send(http, CANCEL, CANCELLING)
    assert "illegal header evil" in caught.value.message
    assert "\x1b" not in caught.value.message
    assert "\u202e" not in caught.value.message


async def test_a_redirect_is_not_followed_so_the_key_stays_at_the_origin(fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(307, b"", {"Location": "https://elsewhere.example/steal"}))
    with pytest.raises(BadUpstreamResponse, match="redirect"):
        await send_and_read(settings_for(fake_twill))
    assert len(fake_twill.requests) == 1


async def test_an_error_body_without_twills_envelope_still_reports_the_status(fake_twill: FakeTwill) -> None:
    fake_twill.then_json(503, {"message": "maintenance"})
    with pytest.raises(BadUpstreamResponse) as caught:
        await send_and_read(settings_for(fake_twill))
    assert (caught.value.status, caught.value.is_retryable) == (503, True)


async def test_retry_after_as_an_http_date_becomes_seconds(fake_twill: FakeTwill) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    fake_twill.then_json(429, {"error": {"code": "rate_limited", "message": "slow"}}, {"Retry-After": when})
    with pytest.raises(ApiError) as caught:
        await send_and_read(settings_for(fake_twill))
    assert caught.value.retry_after is not None
    assert 80 <= caught.value.retry_after <= 90


async def test_a_server_error_on_a_non_idempotent_call_is_neither_retried_nor_marked_retryable(
    fake_twill: FakeTwill,
) -> None:
    fake_twill.then_json(500, {"error": {"code": "internal_error", "message": "boom"}})
    creating = Effect(read_only=False, idempotent=False, action="create the task")
    async with TwillHttp(settings_for(fake_twill)) as http:
        with pytest.raises(ApiError) as caught:
            await send(http, CANCEL, creating)
    assert len(fake_twill.requests) == 1, "a 5xx on a call that is not safe to repeat must not be retried"
    assert not caught.value.is_retryable
    assert "Check whether it did create the task" in caught.value.hint


async def test_the_key_is_absent_from_every_error_and_repr(fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(drop=True))
    settings = settings_for(fake_twill, max_retries=0)
    async with TwillHttp(settings) as http:
        with pytest.raises(ToolCallError) as caught:
            await send(http, CANCEL, CANCELLING)
        assert API_KEY not in repr(http)
    assert API_KEY not in repr(caught.value) + str(caught.value.to_dict()) + caught.value.hint
    assert API_KEY not in repr(CREDENTIALS) + str(CREDENTIALS) + CREDENTIALS.fingerprint


async def test_each_call_carries_the_key_it_was_given_and_never_anothers(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    other = Credentials(SecretStr("twk_other_user"))
    async with TwillHttp(settings_for(fake_twill)) as http:
        await send(http, PreparedRequest("GET", "/tasks/t1"), READING, CREDENTIALS)
        with pytest.raises(ApiError):  # the emulator knows only the first key
            await send(http, PreparedRequest("GET", "/tasks/t1"), READING, other)
    assert [r.headers["authorization"] for r in fake_twill.requests] == [
        f"Bearer {API_KEY}",
        "Bearer twk_other_user",
    ]


async def test_a_call_without_a_key_sends_nothing(fake_twill: FakeTwill) -> None:
    async with TwillHttp(settings_for(fake_twill)) as http:
        with pytest.raises(MissingApiKey):
            await send(http, CANCEL, CANCELLING, Credentials(None))
    assert fake_twill.requests == []


async def test_a_key_echoed_in_a_body_or_header_is_scrubbed_where_it_enters(fake_twill: FakeTwill) -> None:
    echoed = f'{{"header": "Bearer {API_KEY}"}}'.encode()
    fake_twill.then(Scripted(200, echoed, {"Content-Type": "application/json", "X-Echo": API_KEY}))
    async with TwillHttp(settings_for(fake_twill)) as http:
        raw = await send(http, PreparedRequest("GET", "/tasks/t1"), READING)
    assert API_KEY.encode() not in raw.body
    assert b"[redacted]" in raw.body
    assert API_KEY not in str(raw.headers)


async def test_a_well_formed_traceparent_is_forwarded_and_a_malformed_one_is_not(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    async with TwillHttp(settings_for(fake_twill)) as http:
        for traceparent in (TRACEPARENT, "not-a-trace"):
            await send(http, PreparedRequest("GET", "/tasks/t1"), READING, Credentials(SecretStr(API_KEY), traceparent))
    assert [r.headers.get("traceparent") for r in fake_twill.requests] == [TRACEPARENT, None]
