"""Streamable HTTP end to end: the SDK's own client in both protocol eras, twill-mcp served by uvicorn on a
loopback socket, the emulator behind the recording front as Twill."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from pydantic import SecretStr

from tests.conftest import API_KEY, call, error_of
from tests.fake_twill import FakeTwill, Scripted
from tests.http_thread import LEGACY, MODERN, envelope, era_headers, mcp_client, serving, settings_for, stopped_cleanly
from twill_mcp.core.credentials import Credentials
from twill_mcp.emulator import seed_demo

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True, scope="module")
def _servers_stop() -> Iterator[None]:
    yield
    stopped_cleanly()


ERAS = [MODERN, LEGACY]
CANCEL = {"name": "cancel_task", "arguments": {"taskIdOrSlug": "t1"}}


JSON = {"Content-Type": "application/json"}
CALL_HEADERS = {era: era_headers(era, "tools/call", "cancel_task") for era in (MODERN, LEGACY)}


# The cancel_task matrix over HTTP: what Twill answers (None: the emulator itself) -> what the agent gets.
MATRIX: dict[str, tuple[list[Scripted] | None, dict[str, Any], dict[str, Any] | None]] = {
    "success": (None, {"taskIdOrSlug": "t1"}, None),
    "not-found": (None, {"taskIdOrSlug": "no-such-task"}, {"code": "not_found", "status": 404}),
    "bad-arguments": ([], {"taskIdOrSlug": ""}, {"code": "invalid_arguments"}),
    "rate-limited": (
        [
            Scripted(
                429,
                b'{"error": {"code": "rate_limited", "message": "Max 100 requests per minute."}}',
                {**JSON, "Retry-After": "120"},
            )
        ],
        {"taskIdOrSlug": "t1"},
        {"code": "rate_limited", "status": 429, "retryAfter": 120},
    ),
    "server-error": (
        [
            Scripted(
                500, b'{"error": {"code": "internal_error", "message": "boom"}}', {"Content-Type": "application/json"}
            )
        ],
        {"taskIdOrSlug": "t1"},
        {"code": "internal_error", "status": 500, "retryable": True},
    ),
    "answer-lost": ([Scripted(drop=True)], {"taskIdOrSlug": "t1"}, {"code": "outcome_unknown"}),
}


@pytest.mark.parametrize("case", list(MATRIX))
async def test_cancel_task_answers_the_same_over_http_as_over_stdio(
    fake_twill: FakeTwill, protocol_mode: str, case: str
) -> None:
    script, arguments, expected_error = MATRIX[case]
    fake_twill.add_task("t1")
    if script:
        fake_twill.then(*script)
    with serving(settings_for(fake_twill, max_retries=0)) as url:
        async with mcp_client(url, protocol_mode) as client:
            result = await call(client, "cancel_task", arguments)
    if expected_error is None:
        assert result.structured_content == {"success": True, "task": {"id": "t1"}}
        assert fake_twill.task("t1").status == "CANCELLED"
    else:
        error = error_of(result)
        assert {k: error[k] for k in expected_error} == expected_error
    assert len(fake_twill.requests) == (0 if script == [] else 1)


# One tool of each toolset, each answered by the emulator.
ONE_PER_TOOLSET = {
    "account": ("get_current_user", lambda demo: {}, lambda r: bool(r["workspaceId"])),
    "tasks": ("get_task", lambda demo: {"taskIdOrSlug": "demo-2"}, lambda r: r["task"]["slug"] == "demo-2"),
    "jobs": (
        "stream_job_logs",
        lambda demo: {"jobId": demo.task("demo-2").job_ids[-1], "maxSeconds": 5},
        lambda r: r["complete"] is True,
    ),
    "teleport": (
        "export_claude_teleport_session",
        lambda demo: {"taskIdOrSlug": "demo-1"},
        lambda r: r["fileCount"] == 1,
    ),
    "scheduled": ("list_scheduled_tasks", lambda demo: {}, lambda r: len(r["scheduledTasks"]) == 1),
}


@pytest.mark.parametrize("toolset", list(ONE_PER_TOOLSET))
async def test_a_tool_of_every_toolset_works_over_http(fake_twill: FakeTwill, protocol_mode: str, toolset: str) -> None:
    name, arguments, check = ONE_PER_TOOLSET[toolset]
    demo = seed_demo(fake_twill.state)
    with serving(settings_for(fake_twill)) as url:
        async with mcp_client(url, protocol_mode) as client:
            result = await call(client, name, arguments(demo))
    assert not result.is_error, result
    assert check(result.structured_content)


async def test_progress_notifications_reach_the_http_client_over_sse(fake_twill: FakeTwill, protocol_mode: str) -> None:
    demo = seed_demo(fake_twill.state)
    seen: list[tuple[float, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, message))

    with serving(settings_for(fake_twill)) as url:
        async with mcp_client(url, protocol_mode) as client:
            result = await client.call_tool(
                "stream_job_logs",
                {"jobId": demo.task("demo-2").job_ids[-1], "maxSeconds": 5},
                progress_callback=progress,
            )
    summary = result.structured_content
    assert summary is not None
    assert summary["complete"] is True
    assert [done for done, _ in seen] == list(range(1, summary["events"] + 1))
    assert seen[-1][1] == "complete"


async def test_tools_list_carries_a_public_cache_hint(fake_twill: FakeTwill) -> None:
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        answer = http.post(url, json=envelope(MODERN), headers=era_headers(MODERN)).json()
    assert answer["result"]["cacheScope"] == "public"
    assert answer["result"]["ttlMs"] > 0
    assert fake_twill.requests == []


async def test_a_2025_client_needs_no_session_so_any_replica_can_answer(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        # No initialize and no Mcp-Session-Id: a request that lands on a fresh replica is served.
        answer = http.post(url, json=envelope(LEGACY, "tools/call", CANCEL), headers=era_headers(LEGACY))
    assert answer.status_code == 200
    assert "mcp-session-id" not in answer.headers
    assert '"success":true' in answer.text.replace(" ", "")


@pytest.mark.parametrize("era", ERAS)
async def test_json_response_mode_answers_with_plain_json(fake_twill: FakeTwill, era: str) -> None:
    fake_twill.add_task("t1")
    with serving(settings_for(fake_twill, json_response=True)) as url, httpx2.Client() as http:
        answer = http.post(url, json=envelope(era, "tools/call", CANCEL), headers=CALL_HEADERS[era])
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["result"]["structuredContent"] == {"success": True, "task": {"id": "t1"}}


@pytest.mark.parametrize("json_response", [False, True], ids=["sse", "json"])
@pytest.mark.parametrize("era", ERAS)
async def test_a_client_that_disconnects_mid_call_cancels_the_twill_request(
    fake_twill: FakeTwill, caplog: pytest.LogCaptureFixture, era: str, json_response: bool
) -> None:
    fake_twill.add_task("t1")
    fake_twill.then(
        Scripted(200, b'{"success": true, "task": {"id": "t1"}}', {"Content-Type": "application/json"}, delay=5)
    )
    caplog.set_level(logging.INFO)
    with serving(settings_for(fake_twill, json_response=json_response)) as url:
        started = time.monotonic()
        async with httpx2.AsyncClient() as http, anyio.create_task_group() as tg:

            async def post() -> None:
                body = envelope(era, "tools/call", CANCEL)
                async with http.stream("POST", url, json=body, headers=CALL_HEADERS[era]) as r:
                    await r.aread()

            tg.start_soon(post)
            while not fake_twill.requests:
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        with anyio.fail_after(3):
            while not any("cancel_task -> cancelled before Twill answered" in r.getMessage() for r in caplog.records):
                await anyio.sleep(0.01)
    # Well before Twill's answer (5 s): the call was abandoned, not waited out.
    assert time.monotonic() - started < 4


async def test_healthz_answers_without_touching_twill(fake_twill: FakeTwill) -> None:
    with serving(settings_for(fake_twill, auth="passthrough", api_key=None)) as url, httpx2.Client() as http:
        answer = http.get(url.removesuffix("/mcp") + "/healthz")
    assert (answer.status_code, answer.json()) == (200, {"status": "ok", "rateBudget": "per-process"})
    assert fake_twill.requests == []


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize(
    ("case", "status", "code"),
    [("not-json", 400, -32700), ("content-type", 400, -32600), ("batch", 400, None), ("too-large", 413, -32600)],
)
async def test_bad_input_gets_a_4xx_json_rpc_error(
    fake_twill: FakeTwill, era: str, case: str, status: int, code: int | None
) -> None:
    body = json.dumps(envelope(era, "tools/call", CANCEL))
    headers = dict(CALL_HEADERS[era])
    if case == "not-json":
        body = "{not json"
    elif case == "content-type":
        headers["Content-Type"] = "text/plain"
    elif case == "batch":
        body = json.dumps([envelope(era, "tools/call", CANCEL)])
    elif case == "too-large":
        body = json.dumps(
            envelope(era, "tools/call", {"name": "create_task", "arguments": {"command": "x" * 2_000_000}})
        )
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        answer = http.post(url, content=body, headers=headers)
    assert answer.status_code == status
    error = answer.json()["error"]
    # A batch is an invalid request at 2026-07-28, a body that validates as no message at 2025-11-25.
    assert error["code"] == (code if code is not None else (-32600 if era == MODERN else -32602))
    assert error["message"]
    assert fake_twill.requests == []


async def test_a_method_header_that_contradicts_the_body_is_refused(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    headers = {**era_headers(MODERN, "tools/call", "cancel_task"), "Mcp-Method": "tools/list"}
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        answer = http.post(url, json=envelope(MODERN, "tools/call", CANCEL), headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == -32020  # HEADER_MISMATCH
    assert fake_twill.requests == []


async def test_a_name_header_that_contradicts_the_body_is_refused(fake_twill: FakeTwill) -> None:
    headers = era_headers(MODERN, "tools/call", "archive_task")
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        answer = http.post(url, json=envelope(MODERN, "tools/call", CANCEL), headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == -32020
    assert fake_twill.requests == []


async def test_the_sdk_client_sees_a_refusal_as_an_error(fake_twill: FakeTwill) -> None:
    with serving(settings_for(fake_twill)) as url:
        async with mcp_client(url, MODERN) as client:
            with pytest.raises(MCPError):
                await client.call_tool("no_such_tool", {})
    assert fake_twill.requests == []


async def test_one_log_line_per_tool_call_names_tool_outcome_key_fingerprint_and_era(
    fake_twill: FakeTwill, caplog: pytest.LogCaptureFixture, protocol_mode: str
) -> None:
    fake_twill.add_task("t1")
    caplog.set_level(logging.INFO)
    with serving(settings_for(fake_twill)) as url:
        async with mcp_client(url, protocol_mode) as client:
            await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
            await call(client, "cancel_task", {"taskIdOrSlug": "nope"})
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cancel_task -> ")]
    era = MODERN if protocol_mode == MODERN else LEGACY
    fingerprint = Credentials(SecretStr(API_KEY)).fingerprint
    assert len(lines) == 2
    assert re.fullmatch(rf"cancel_task -> ok in \d+ ms \({fingerprint}, protocol {era}\)", lines[0])
    assert re.fullmatch(
        rf"cancel_task -> error not_found \(HTTP 404\) in \d+ ms \({fingerprint}, protocol {era}\)", lines[1]
    )
    assert API_KEY not in caplog.text


TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_a_traceparent_in_the_request_meta_reaches_twill(fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    with serving(settings_for(fake_twill)) as url:
        async with mcp_client(url, MODERN) as client:
            await client.call_tool("cancel_task", {"taskIdOrSlug": "t1"}, meta={"traceparent": TRACE})
    [request] = fake_twill.requests
    assert request.headers["traceparent"] == TRACE


async def test_a_traceparent_http_header_reaches_twill(fake_twill: FakeTwill, protocol_mode: str) -> None:
    fake_twill.add_task("t1")
    with serving(settings_for(fake_twill)) as url:
        async with mcp_client(url, protocol_mode, {"traceparent": TRACE}) as client:
            await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    [request] = fake_twill.requests
    assert request.headers["traceparent"] == TRACE


@pytest.mark.parametrize("value", ["not-a-trace", TRACE.replace("00-", "ff-", 1), TRACE + "\r\nX-Evil: 1"])
async def test_a_malformed_traceparent_is_not_forwarded(fake_twill: FakeTwill, value: str) -> None:
    fake_twill.add_task("t1")
    with serving(settings_for(fake_twill)) as url:
        async with mcp_client(url, MODERN) as client:
            await client.call_tool("cancel_task", {"taskIdOrSlug": "t1"}, meta={"traceparent": value})
    [request] = fake_twill.requests
    assert "traceparent" not in request.headers


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("request_id", ["1.5", "true", "false", "{}", "[]", "null", "NaN"])
async def test_a_request_whose_id_is_not_a_string_or_integer_is_an_invalid_request(
    fake_twill: FakeTwill, era: str, request_id: str
) -> None:
    # Issue 23, case 10: at 2025-11-25 such a request was taken for a notification: 202, never answered.
    fake_twill.add_task("t1")
    body = json.dumps(envelope(era, "tools/call", CANCEL, id_=1)).replace('"id": 1,', f'"id": {request_id},')
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        answer = http.post(url, content=body, headers=CALL_HEADERS[era])
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == -32600
    assert answer.json()["id"] is None
    assert fake_twill.requests == []
