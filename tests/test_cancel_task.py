"""cancel_task end to end: the SDK client over real stdio, twill-mcp, a Twill-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import time
from urllib.parse import unquote

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import API_KEY, Launch, call, error_of
from tests.fake_twill import FakeTwill, Scripted, closed_port
from twill_mcp import __version__
from twill_mcp.spec import pathids

pytestmark = pytest.mark.anyio

ODD_IDS = ["a/b", "../..", "./x", "what?x=1", "a#b", "with space", "tâche-✓-漢字", "100%25", "a\\b", "a\u00a0b"]


async def test_lists_cancel_task_with_its_compiled_contract(over_stdio: Launch) -> None:
    async with over_stdio() as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    tool = tools["cancel_task"]
    assert tool.title == "Cancel task"
    assert tool.input_schema == {
        "type": "object",
        "properties": {
            "taskIdOrSlug": {
                "type": "string",
                "pattern": pathids.PATTERN,
                "description": "The task's id (UUID) or slug, as Twill shows it.",
            }
        },
        "required": ["taskIdOrSlug"],
        "additionalProperties": False,
    }
    assert tool.output_schema is not None
    assert tool.output_schema["anyOf"] == [{"required": ["success", "task"]}, {"required": ["error"]}]
    hints = tool.annotations
    assert hints is not None
    assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint) == (
        False,
        True,
        True,
        True,
    )


async def test_cancels_a_task_and_returns_twills_body(in_memory: Launch, fake_twill: FakeTwill) -> None:
    fake_twill.add_task("7d3c0c8e-1f0e-4a8e-9f43-2b1c1d8f0a11")
    async with in_memory() as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "7d3c0c8e-1f0e-4a8e-9f43-2b1c1d8f0a11"})
    assert not result.is_error
    assert result.structured_content == {"success": True, "task": {"id": "7d3c0c8e-1f0e-4a8e-9f43-2b1c1d8f0a11"}}
    assert json.loads(result.content[0].text) == result.structured_content
    assert fake_twill.task("7d3c0c8e-1f0e-4a8e-9f43-2b1c1d8f0a11").status == "CANCELLED"


async def test_accepts_a_slug_as_well_as_an_id(in_memory: Launch, fake_twill: FakeTwill) -> None:
    fake_twill.add_task("id-1", slug="fix-login-bug")
    async with in_memory() as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "fix-login-bug"})
    assert result.structured_content == {"success": True, "task": {"id": "id-1"}}


async def test_sends_one_authenticated_json_post(in_memory: Launch, fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    async with in_memory() as client:
        await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    [request] = fake_twill.requests
    assert (request.method, request.raw_path) == ("POST", "/api/v1/tasks/t1/cancel")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"] == f"twill-mcp/{__version__}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {}


@pytest.mark.parametrize("task_id", ODD_IDS)
async def test_any_id_travels_as_exactly_one_path_segment(
    in_memory: Launch, fake_twill: FakeTwill, task_id: str
) -> None:
    fake_twill.add_task(task_id)
    async with in_memory() as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": task_id})
    [request] = fake_twill.requests
    assert request.segments[:4] == ["", "api", "v1", "tasks"]
    assert request.segments[5:] == ["cancel"]
    assert "?" not in request.raw_path
    assert "#" not in request.raw_path
    assert unquote(request.segments[4]) == task_id
    assert result.structured_content == {"success": True, "task": {"id": task_id}}


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({}, "taskIdOrSlug"),
        ({"taskIdOrSlug": ""}, "taskIdOrSlug"),
        ({"taskIdOrSlug": 42}, "taskIdOrSlug"),
        ({"taskIdOrSlug": None}, "taskIdOrSlug"),
        ({"taskIdOrSlug": ["t1"]}, "taskIdOrSlug"),
        ({"taskIdOrSlug": "t1", "force": True}, "force"),
        ({"taskIdOrSlug": ".."}, "taskIdOrSlug"),
        ({"taskIdOrSlug": "."}, "taskIdOrSlug"),
    ],
    ids=["missing", "empty", "number", "null", "array", "unknown-extra", "dot-dot", "dot"],
)
async def test_rejects_bad_arguments_and_sends_nothing(
    in_memory: Launch, fake_twill: FakeTwill, arguments: dict[str, object], named: str
) -> None:
    async with in_memory() as client:
        result = await call(client, "cancel_task", arguments)
    error = error_of(result)
    assert error["code"] == "invalid_arguments"
    assert named in error["message"]
    assert error["retryable"] is False
    assert fake_twill.requests == []


async def test_a_rejected_key_reports_twills_unauthorized_error(in_memory: Launch, fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    async with in_memory(TWILL_API_KEY="twk_wrong") as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    error = error_of(result)
    assert error == {
        "code": "unauthorized",
        "message": "Invalid or missing API key",
        "status": 401,
        "retryable": False,
        "hint": error["hint"],
    }
    assert "TWILL_API_KEY" in result.content[0].text


async def test_an_unknown_task_reports_not_found(in_memory: Launch) -> None:
    async with in_memory() as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "no-such-task"})
    error = error_of(result)
    assert error == {
        "code": "not_found",
        "message": "Task not found",
        "status": 404,
        "retryable": False,
        "hint": error["hint"],
    }


async def test_a_rate_limit_longer_than_the_deadline_is_returned_at_once_with_when_to_retry(
    in_memory: Launch, fake_twill: FakeTwill
) -> None:
    fake_twill.then_json(
        429,
        {"error": {"code": "rate_limited", "message": "Rate limit exceeded. Max 100 requests per minute."}},
        {"Retry-After": "120"},
    )
    async with in_memory() as client:
        started = time.monotonic()
        result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
        elapsed = time.monotonic() - started
    error = error_of(result)
    assert (error["code"], error["status"], error["retryAfter"], error["retryable"]) == ("rate_limited", 429, 120, True)
    assert "120 s" in result.content[0].text
    assert elapsed < 5
    assert len(fake_twill.requests) == 1


async def test_a_short_rate_limit_is_waited_out_and_the_call_succeeds(in_memory: Launch, fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    fake_twill.then_json(429, {"error": {"code": "rate_limited", "message": "slow down"}}, {"Retry-After": "1"})
    async with in_memory() as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    assert result.structured_content == {"success": True, "task": {"id": "t1"}}
    assert len(fake_twill.requests) == 2


async def test_a_server_error_burst_shorter_than_the_retries_is_absorbed(
    in_memory: Launch, fake_twill: FakeTwill
) -> None:
    fake_twill.add_task("t1")
    for _ in range(2):
        fake_twill.then_json(503, {"error": {"code": "internal_error", "message": "Server error"}})
    async with in_memory() as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    assert result.structured_content == {"success": True, "task": {"id": "t1"}}
    assert len(fake_twill.requests) == 3


async def test_a_server_error_keeps_twills_envelope_and_is_retryable(in_memory: Launch, fake_twill: FakeTwill) -> None:
    for _ in range(3):
        fake_twill.then_json(
            500, {"error": {"code": "internal_error", "message": "Server error", "details": {"ref": "x1"}}}
        )
    async with in_memory() as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    error = error_of(result)
    assert error == {
        "code": "internal_error",
        "message": "Server error",
        "status": 500,
        "retryable": True,
        "details": {"ref": "x1"},
        "hint": error["hint"],
    }
    assert error["hint"] in result.content[0].text
    assert len(fake_twill.requests) == 3


async def test_an_html_gateway_error_is_a_bad_upstream_response(in_memory: Launch, fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(502, b"<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}))
    async with in_memory(TWILL_MCP_MAX_RETRIES="0") as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    error = error_of(result)
    assert (error["code"], error["status"], error["retryable"]) == ("bad_upstream_response", 502, True)
    assert "<html>" not in result.content[0].text


async def test_a_non_json_success_is_a_bad_upstream_response_that_says_it_likely_worked(
    in_memory: Launch, fake_twill: FakeTwill
) -> None:
    fake_twill.then(Scripted(200, b"OK", {"Content-Type": "text/plain"}))
    async with in_memory() as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    error = error_of(result)
    assert (error["code"], error["status"]) == ("bad_upstream_response", 200)
    assert "most likely did cancel the task" in result.content[0].text


async def test_a_success_body_that_breaks_the_documented_schema_is_reported(
    in_memory: Launch, fake_twill: FakeTwill
) -> None:
    fake_twill.then_json(200, {"success": True, "task": {"name": "no id"}})
    async with in_memory() as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    error = error_of(result)
    assert error["code"] == "bad_upstream_response"
    assert "task" in error["message"]


async def test_a_read_timeout_reports_an_unknown_outcome_within_the_timeout(
    in_memory: Launch, fake_twill: FakeTwill
) -> None:
    fake_twill.then(Scripted(200, b"{}", delay=3.0))
    async with in_memory(TWILL_MCP_READ_TIMEOUT="0.5", TWILL_MCP_MAX_RETRIES="0") as client:
        started = time.monotonic()
        result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
        elapsed = time.monotonic() - started
    error = error_of(result)
    assert error["code"] == "outcome_unknown"
    assert "unknown whether Twill did cancel the task" in error["message"]
    assert "again is safe" in result.content[0].text
    assert elapsed < 2.5


async def test_a_connection_dropped_mid_request_reports_an_unknown_outcome(
    in_memory: Launch, fake_twill: FakeTwill
) -> None:
    fake_twill.then(Scripted(drop=True))
    async with in_memory(TWILL_MCP_MAX_RETRIES="0") as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    assert error_of(result)["code"] == "outcome_unknown"


async def test_an_idempotent_call_whose_answer_was_lost_is_retried(in_memory: Launch, fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    fake_twill.then(Scripted(drop=True))
    async with in_memory() as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    assert result.structured_content == {"success": True, "task": {"id": "t1"}}
    assert len(fake_twill.requests) == 2


async def test_a_refused_connection_reports_unreachable_and_nothing_sent(in_memory: Launch) -> None:
    async with in_memory(TWILL_BASE_URL=f"http://127.0.0.1:{closed_port()}") as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    error = error_of(result)
    assert (error["code"], error["retryable"]) == ("upstream_unreachable", True)
    assert "nothing was sent" in error["message"]


async def test_without_a_key_tools_are_listed_and_calls_explain_how_to_set_it(
    in_memory: Launch, fake_twill: FakeTwill
) -> None:
    async with in_memory(TWILL_API_KEY=None) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    assert "cancel_task" in names
    error = error_of(result)
    assert error["code"] == "missing_api_key"
    assert "TWILL_API_KEY" in result.content[0].text
    assert fake_twill.requests == []


async def test_an_unknown_tool_is_a_protocol_error_naming_the_tools(in_memory: Launch) -> None:
    async with in_memory() as client:
        with pytest.raises(MCPError, match="cancel_task"):
            await client.call_tool("delete_everything", {})


async def test_the_key_appears_in_no_result_or_log_even_at_debug_level(
    over_stdio: Launch, fake_twill: FakeTwill, stderr_logs: list
) -> None:
    fake_twill.add_task("t1")
    fake_twill.then_json(500, {"error": {"code": "internal_error", "message": f"Server error for Bearer {API_KEY}"}})
    async with over_stdio(TWILL_MCP_LOG_LEVEL="DEBUG", TWILL_MCP_MAX_RETRIES="0") as client:
        results = [await client.call_tool("cancel_task", {"taskIdOrSlug": "t1"}) for _ in range(2)]
        results.append(await client.call_tool("cancel_task", {}))
    log = stderr_logs[0].read_text()
    assert len(fake_twill.requests) == 2
    assert "DEBUG" in log, "the process logged at debug level, so there was something to leak"
    assert API_KEY not in log
    for result in results:
        assert API_KEY not in result.model_dump_json()
    assert "[redacted]" in results[0].model_dump_json(), "the key Twill echoed back was scrubbed, not dropped"


async def test_a_call_cancelled_by_the_client_is_aborted_and_logged_as_an_unknown_outcome(
    in_memory: Launch, fake_twill: FakeTwill, stderr_logs: list
) -> None:
    fake_twill.then(Scripted(200, b"{}", delay=5))
    async with in_memory() as client:
        started = time.monotonic()
        with anyio.move_on_after(1):
            await client.call_tool("cancel_task", {"taskIdOrSlug": "t1"})
        # The server is still responsive while the upstream request would still be waiting.
        assert (await client.list_tools()).tools
        deadline = time.monotonic() + 3
        while "outcome_unknown" not in stderr_logs[0].read_text() and time.monotonic() < deadline:
            await anyio.sleep(0.1)
    assert "cancelled before Twill answered" in stderr_logs[0].read_text()
    assert time.monotonic() - started < 4


async def test_a_cancelled_read_only_call_still_leaves_its_one_log_line(
    in_memory: Launch, fake_twill: FakeTwill, stderr_logs: list
) -> None:
    fake_twill.then(Scripted(200, b"{}", delay=5))
    async with in_memory() as client:
        with anyio.move_on_after(0.5):
            await client.call_tool("get_task", {"taskIdOrSlug": "t1"})
        deadline = time.monotonic() + 3
        while "get_task ->" not in stderr_logs[0].read_text() and time.monotonic() < deadline:
            await anyio.sleep(0.05)
    log = stderr_logs[0].read_text()
    assert "get_task -> cancelled in" in log
    assert "outcome_unknown" not in log, "reading changes nothing: there is nothing unknown to report"


async def test_oversized_arguments_are_refused_before_anything_is_sent(
    in_memory: Launch, fake_twill: FakeTwill
) -> None:
    async with in_memory() as client:
        result = await call(client, "cancel_task", {"taskIdOrSlug": "x" * 300_000})
    error = error_of(result)
    assert error["code"] == "invalid_arguments"
    assert "limit" in error["message"]
    assert fake_twill.requests == []


async def test_argument_values_never_reach_the_log_at_info_level(
    in_memory: Launch, fake_twill: FakeTwill, stderr_logs: list
) -> None:
    secret_looking_id = "customer-acme-confidential-4711"
    async with in_memory(TWILL_MCP_LOG_LEVEL="INFO") as client:
        await call(client, "cancel_task", {"taskIdOrSlug": secret_looking_id})
        await call(client, "cancel_task", {"taskIdOrSlug": secret_looking_id, "extra": secret_looking_id})
    log = stderr_logs[0].read_text()
    assert "cancel_task ->" in log
    assert secret_looking_id not in log


async def test_a_lone_surrogate_in_twills_json_neither_breaks_the_result_nor_the_session(
    in_memory: Launch, fake_twill: FakeTwill
) -> None:
    fake_twill.then(Scripted(404, b'{"error": {"code": "not_found", "message": "No task \\ud83d"}}', {}))
    fake_twill.add_task("t1")
    async with in_memory() as client:
        broken = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
        after = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    assert error_of(broken)["message"] == "No task \ufffd"
    assert after.structured_content == {"success": True, "task": {"id": "t1"}}


async def test_a_key_echoed_back_by_twill_is_scrubbed_from_the_result(in_memory: Launch, fake_twill: FakeTwill) -> None:
    echo = {"error": {"code": "unauthorized", "message": f"Bad token: Bearer {API_KEY}", "details": {"h": API_KEY}}}
    fake_twill.then_json(401, echo)
    async with in_memory() as client:
        result = await client.call_tool("cancel_task", {"taskIdOrSlug": "t1"})
    assert API_KEY not in result.model_dump_json()
    assert error_of(result)["message"] == "Bad token: Bearer [redacted]"


async def test_a_traceparent_in_the_request_meta_reaches_twill(in_memory: Launch, fake_twill: FakeTwill) -> None:
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    fake_twill.add_task("t1")
    async with in_memory() as client:
        await client.call_tool("cancel_task", {"taskIdOrSlug": "t1"}, meta={"traceparent": trace})
    [request] = fake_twill.requests
    assert request.headers["traceparent"] == trace
