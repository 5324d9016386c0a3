"""A tool call over HTTP in one exchange (transports/exchange.py): how its answer is written, in both eras,
seen with raw HTTP on a real loopback socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.fake_twill import FakeTwill, Scripted
from tests.http_thread import LEGACY, MODERN, envelope, era_headers, serving, settings_for, stopped_cleanly
from twill_mcp.emulator import seed_demo
from twill_mcp.transports import exchange

pytestmark = pytest.mark.anyio

ERAS = [MODERN, LEGACY]
CANCEL = {"name": "cancel_task", "arguments": {"taskIdOrSlug": "t1"}}
SLOW_CANCEL = Scripted(200, b'{"success": true, "task": {"id": "t1"}}', {"Content-Type": "application/json"}, delay=1)


@pytest.fixture(autouse=True, scope="module")
def _servers_stop() -> Iterator[None]:
    yield
    stopped_cleanly()


def slow_cancel(fake: FakeTwill, monkeypatch: pytest.MonkeyPatch, era: str, **settings: Any) -> httpx2.Response:
    """cancel_task answered by Twill after 1 s, on a server whose silent calls are pinged every 0.2 s."""
    monkeypatch.setattr(exchange, "PING_INTERVAL", 0.2)
    fake.add_task("t1")
    fake.then(SLOW_CANCEL)
    with serving(settings_for(fake, **settings)) as url, httpx2.Client(timeout=30) as http:
        headers = era_headers(era, "tools/call", "cancel_task")
        return http.post(url, json=envelope(era, "tools/call", CANCEL), headers=headers)


def sse_messages(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]


@pytest.mark.parametrize("era", ERAS)
async def test_a_call_that_sends_no_notification_is_answered_with_one_json_body(
    fake_twill: FakeTwill, era: str
) -> None:
    fake_twill.add_task("t1")
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        answer = http.post(
            url, json=envelope(era, "tools/call", CANCEL), headers=era_headers(era, "tools/call", "cancel_task")
        )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert answer.json()["id"] == 1
    assert answer.json()["result"]["structuredContent"] == {"success": True, "task": {"id": "t1"}}


@pytest.mark.parametrize("era", ERAS)
async def test_a_call_that_reports_progress_is_answered_as_an_sse_stream_ending_with_the_result(
    fake_twill: FakeTwill, era: str
) -> None:
    demo = seed_demo(fake_twill.state)
    arguments = {"jobId": demo.task("demo-2").job_ids[-1], "maxSeconds": 5}
    params = {"name": "stream_job_logs", "arguments": arguments, "_meta": {"progressToken": "p1"}}
    with serving(settings_for(fake_twill)) as url, httpx2.Client(timeout=30) as http:
        headers = era_headers(era, "tools/call", "stream_job_logs")
        answer = http.post(url, json=envelope(era, "tools/call", params), headers=headers)
    assert answer.headers["content-type"].startswith("text/event-stream")
    *progress, last = sse_messages(answer.text)
    assert progress
    assert {message["method"] for message in progress} == {"notifications/progress"}
    assert {message["params"]["progressToken"] for message in progress} == {"p1"}
    assert last["id"] == 1
    assert last["result"]["structuredContent"]["complete"] is True


@pytest.mark.parametrize("era", ERAS)
async def test_a_call_silent_past_the_ping_interval_is_kept_open_with_pings_then_answered(
    fake_twill: FakeTwill, monkeypatch: pytest.MonkeyPatch, era: str
) -> None:
    answer = slow_cancel(fake_twill, monkeypatch, era)
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.text.count(": ping") >= 2
    [message] = sse_messages(answer.text)
    assert message["result"]["structuredContent"] == {"success": True, "task": {"id": "t1"}}


@pytest.mark.parametrize("era", ERAS)
async def test_in_json_response_mode_a_long_call_gets_no_pings_only_its_json_answer(
    fake_twill: FakeTwill, monkeypatch: pytest.MonkeyPatch, era: str
) -> None:
    answer = slow_cancel(fake_twill, monkeypatch, era, json_response=True)
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["result"]["structuredContent"] == {"success": True, "task": {"id": "t1"}}


async def test_a_2025_call_without_a_protocol_version_header_is_served_at_the_default_version(
    fake_twill: FakeTwill,
) -> None:
    fake_twill.add_task("t1")
    headers = {key: value for key, value in era_headers(LEGACY).items() if key != "MCP-Protocol-Version"}
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        answer = http.post(url, json=envelope(LEGACY, "tools/call", CANCEL), headers=headers)
    assert answer.json()["result"]["structuredContent"] == {"success": True, "task": {"id": "t1"}}


@pytest.mark.parametrize("era", ERAS)
async def test_a_call_from_a_foreign_origin_is_refused_as_the_sdk_refuses_it(fake_twill: FakeTwill, era: str) -> None:
    fake_twill.add_task("t1")
    headers = {**era_headers(era, "tools/call", "cancel_task"), "Origin": "https://evil.example"}
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        answer = http.post(url, json=envelope(era, "tools/call", CANCEL), headers=headers)
    assert answer.status_code == 403
    assert answer.json()["error"]["message"] == "Invalid Origin header"
    assert fake_twill.requests == []


async def test_a_call_to_an_unknown_tool_is_answered_with_an_error_result_naming_the_tools(
    fake_twill: FakeTwill,
) -> None:
    params = {"name": "no_such_tool", "arguments": {}}
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        answer = http.post(url, json=envelope(LEGACY, "tools/call", params), headers=era_headers(LEGACY))
    message = answer.json()
    assert message["id"] == 1
    assert "cancel_task" in json.dumps(message)
    assert fake_twill.requests == []
