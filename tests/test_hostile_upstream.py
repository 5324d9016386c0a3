"""Twill's answers read as hostile: what an AI agent that read arbitrary repositories could make Twill send back.

Every case ends in a tool result (an `isError` one where the answer cannot be used), never in a
JSON-RPC error or an `internal_error`; the key never gets through in any JSON encoding; the
characters that hide text from a human reviewer never reach the agent, in results, error
messages, streamed events, resources or prompts, unless the operator asked for raw text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest

from tests.conftest import API_KEY, Launch, call, error_of
from tests.fake_twill import FakeTwill, Scripted
from twill_mcp.core.logs import REDACTED
from twill_mcp.upstream.decode import MAX_DEPTH

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}
EVENT_STREAM = {"Content-Type": "text/event-stream"}
# One of each kind the sanitizer removes: a zero-width space, a bidi override, a tag letter, an ANSI colour.
HIDDEN = ("\u200b", "\u202e", "\U000e0041", "\x1b")
HOSTILE = "Done\u200b.\u202e evil\U000e0041\U000e0042 \x1b[31mred\x1b[0m"
SHOWN = "Done. evil red"
# Text that must arrive exactly as sent: other scripts and emoji, joiner sequences included.
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) twill_mcp[.\w]*: ")
KEPT = "修复 أصلح תקן त्रुटि 👨\u200d👩\u200d👧"


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"x": value}
    return value


def not_found(message: str, details: Any = None) -> bytes:
    error: dict[str, Any] = {"code": "not_found", "message": message}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}).encode()


def events(*data: str) -> bytes:
    return b"".join(f"data: {item}\n\n".encode() for item in data)


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def everything_in(result: types.CallToolResult) -> str:
    """All the result's text and its structured content, decoded: what an agent may read."""
    return text_of(result) + json.dumps(result.structured_content, ensure_ascii=False)


# Case 2: a body nested 50,000 deep overflowed Python's JSON decoder (RecursionError → internal_error).
async def test_a_body_nested_past_the_decoders_stack_is_a_bad_upstream_response(
    fake_twill: FakeTwill, in_memory: Launch
) -> None:
    fake_twill.then(Scripted(200, b"[" * 50_000 + b"]" * 50_000, JSON))
    async with in_memory() as client:
        result = await call(client, "get_task", {"taskIdOrSlug": "t1"})
    assert error_of(result)["code"] == "bad_upstream_response"
    assert f"deeper than {MAX_DEPTH} levels" in error_of(result)["message"]


# Case 3: a field 400 deep broke pydantic's serializer when the result was sent: a JSON-RPC error instead.
async def test_a_success_body_nested_400_deep_is_an_error_result(fake_twill: FakeTwill, in_memory: Launch) -> None:
    fake_twill.then(Scripted(200, json.dumps({"task": nested(400)}).encode(), JSON))
    async with in_memory() as client:
        result = await call(client, "get_task", {"taskIdOrSlug": "t1"})
    assert error_of(result)["code"] == "bad_upstream_response"


async def test_error_details_nested_400_deep_are_an_error_result(fake_twill: FakeTwill, in_memory: Launch) -> None:
    fake_twill.then(Scripted(404, not_found("no such task", nested(400)), JSON))
    async with in_memory() as client:
        result = await call(client, "get_task", {"taskIdOrSlug": "t1"})
    assert error_of(result)["code"] == "bad_upstream_response"
    assert error_of(result)["status"] == 404


async def test_error_details_as_deep_as_allowed_reach_the_agent_whole(fake_twill: FakeTwill, in_memory: Launch) -> None:
    # The envelope takes two levels ({"error": {"details": ...}}), the details the rest.
    details = nested(MAX_DEPTH - 2, "leaf")
    fake_twill.then(Scripted(404, not_found("no such task", details), JSON))
    async with in_memory() as client:
        result = await call(client, "get_task", {"taskIdOrSlug": "t1"})
    assert error_of(result)["details"] == details


# Case 4: the line reader split on U+2028 and U+0085 (str.splitlines); SSE lines end at CR, LF or CRLF only.
@pytest.mark.parametrize("separator", ["\u2028", "\u0085", "\u2029"], ids=["U+2028", "U+0085", "U+2029"])
async def test_a_complete_event_holding_a_unicode_line_break_ends_the_stream(
    fake_twill: FakeTwill, in_memory: Launch, separator: str
) -> None:
    complete = json.dumps({"type": "complete", "status": "COMPLETED", "note": f"one{separator}two"}, ensure_ascii=False)
    fake_twill.then(Scripted(200, events('{"type":"log","line":"hi"}', complete), EVENT_STREAM))
    async with in_memory() as client:
        result = await call(client, "stream_job_logs", {"jobId": "j1", "maxSeconds": 5})
    assert result.structured_content is not None
    assert result.structured_content["stoppedBy"] == "complete"
    assert result.structured_content["status"] == "COMPLETED"


@pytest.mark.parametrize("ending", [b"\r\n", b"\r", b"\n"], ids=["CRLF", "CR", "LF"])
async def test_each_sse_line_ending_ends_a_line(fake_twill: FakeTwill, in_memory: Launch, ending: bytes) -> None:
    body = b'data: {"type":"complete","status":"COMPLETED"}' + ending + ending
    fake_twill.then(Scripted(200, body, EVENT_STREAM))
    async with in_memory() as client:
        result = await call(client, "stream_job_logs", {"jobId": "j1", "maxSeconds": 5})
    assert result.structured_content is not None
    assert result.structured_content["stoppedBy"] == "complete"


# Case 6: a key echoed back as \u escapes got past the scrub, which only knew its raw and \/ forms.
def unicode_escaped(text: str, chars: str | None = None) -> str:
    """`text` as a JSON encoder escapes it: every character, or only those in `chars` (Go and .NET: <>&+')."""
    return "".join(f"\\u{ord(ch):04x}" if chars is None or ch in chars else ch for ch in text)


@pytest.mark.parametrize(
    "echoed",
    [
        unicode_escaped(API_KEY),
        unicode_escaped(API_KEY).upper().replace("\\U", "\\u"),
        unicode_escaped(API_KEY, "_"),
        unicode_escaped(API_KEY, API_KEY[::3]),
    ],
    ids=["every character", "upper-case hex", "the underscores", "every third character"],
)
async def test_a_key_echoed_in_json_escapes_never_reaches_the_agent(
    fake_twill: FakeTwill, in_memory: Launch, echoed: str
) -> None:
    body = '{"error":{"code":"bad_key","message":"key ' + echoed + ' rejected"}}'
    fake_twill.then(Scripted(401, body.encode(), JSON))
    async with in_memory() as client:
        result = await call(client, "get_task", {"taskIdOrSlug": "t1"})
    assert error_of(result)["message"] == f"key {REDACTED} rejected"


async def test_a_key_echoed_in_json_escapes_in_an_event_never_reaches_the_agent(
    fake_twill: FakeTwill, in_memory: Launch
) -> None:
    event = '{"type":"log","line":"' + unicode_escaped(API_KEY) + '"}'
    fake_twill.then(Scripted(200, events(event, '{"type":"complete","status":"COMPLETED"}'), EVENT_STREAM))
    async with in_memory() as client:
        result = await call(client, "stream_job_logs", {"jobId": "j1", "maxSeconds": 5})
    assert result.structured_content is not None
    assert result.structured_content["lastEvents"][0] == {"type": "log", "line": REDACTED}


# Case 8: the carriers of hidden prompt injection reached the agent unmodified.
async def test_hidden_characters_in_a_result_never_reach_the_agent(fake_twill: FakeTwill, in_memory: Launch) -> None:
    fake_twill.state.create_task(f"{HOSTILE} {KEPT}", title=f"{HOSTILE} {KEPT}", task_id="t1")
    async with in_memory() as client:
        result = await call(client, "get_task", {"taskIdOrSlug": "t1"})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["task"]["title"] == f"{SHOWN} {KEPT}"
    assert not any(char in everything_in(result) for char in HIDDEN)


async def test_hidden_characters_in_an_error_message_never_reach_the_agent(
    fake_twill: FakeTwill, in_memory: Launch
) -> None:
    fake_twill.then(Scripted(404, not_found(f"{HOSTILE} {KEPT}", {"why": HOSTILE}), JSON))
    async with in_memory() as client:
        result = await call(client, "get_task", {"taskIdOrSlug": "t1"})
    assert error_of(result)["message"] == f"{SHOWN} {KEPT}"
    assert error_of(result)["details"] == {"why": SHOWN}
    assert not any(char in everything_in(result) for char in HIDDEN)


async def test_hidden_characters_in_streamed_events_never_reach_the_agent(
    fake_twill: FakeTwill, in_memory: Launch
) -> None:
    log = json.dumps({"type": "log", "line": f"{HOSTILE} {KEPT}"})
    fake_twill.then(Scripted(200, events(log, HOSTILE, '{"type":"complete","status":"COMPLETED"}'), EVENT_STREAM))
    async with in_memory() as client:
        result = await call(client, "stream_job_logs", {"jobId": "j1", "maxSeconds": 5})
    assert result.structured_content is not None
    assert result.structured_content["lastEvents"][:2] == [{"type": "log", "line": f"{SHOWN} {KEPT}"}, SHOWN]
    assert not any(char in everything_in(result) for char in HIDDEN)


async def test_hidden_characters_in_a_resource_never_reach_the_agent(fake_twill: FakeTwill, in_memory: Launch) -> None:
    fake_twill.state.create_task(HOSTILE, title=HOSTILE, task_id="t1")
    async with in_memory() as client:
        result = await client.read_resource("twill://tasks/t1")
    [content] = result.contents
    assert isinstance(content, types.TextResourceContents)
    assert json.loads(content.text)["task"]["title"] == SHOWN


async def test_hidden_characters_in_a_prompt_never_reach_the_agent(fake_twill: FakeTwill, in_memory: Launch) -> None:
    fake_twill.state.create_task(HOSTILE, title=HOSTILE, task_id="t1")
    async with in_memory() as client:
        prompt = await client.get_prompt("review_twill_task", {"task": "t1"})
    embedded = [m.content for m in prompt.messages if isinstance(m.content, types.EmbeddedResource)]
    texts = [e.resource.text for e in embedded if isinstance(e.resource, types.TextResourceContents)]
    assert json.loads(texts[0])["task"]["title"] == SHOWN
    assert not any(char in text for text in texts for char in HIDDEN)


async def test_raw_text_passes_twills_text_on_as_it_came(fake_twill: FakeTwill, in_memory: Launch) -> None:
    fake_twill.then(Scripted(404, not_found(HOSTILE), JSON))
    async with in_memory(TWILL_MCP_RAW_TEXT="1") as client:
        result = await call(client, "get_task", {"taskIdOrSlug": "t1"})
    assert error_of(result)["message"] == HOSTILE


async def test_raw_text_still_scrubs_the_key(fake_twill: FakeTwill, in_memory: Launch) -> None:
    body = '{"error":{"code":"bad_key","message":"' + unicode_escaped(API_KEY) + '"}}'
    fake_twill.then(Scripted(401, body.encode(), JSON))
    async with in_memory(TWILL_MCP_RAW_TEXT="1") as client:
        result = await call(client, "get_task", {"taskIdOrSlug": "t1"})
    assert error_of(result)["message"] == REDACTED


# Case 9: a Twill error message with a newline and ANSI escapes was written to stderr as is.
@pytest.mark.parametrize("raw_text", [None, "1"], ids=["sanitized", "raw text"])
async def test_a_twill_message_cannot_forge_a_log_line_or_reach_the_terminal(
    fake_twill: FakeTwill, in_memory: Launch, stderr_logs: list[Path], raw_text: str | None
) -> None:
    forged = "boom\n2026-01-01 00:00:00,000 ERROR twill_mcp: all good\x1b[2J"
    fake_twill.then(Scripted(500, not_found(forged), JSON), Scripted(500, not_found(forged), JSON))
    ref = types.ResourceTemplateReference(type="ref/resource", uri="twill://tasks/{taskIdOrSlug}")
    async with in_memory(TWILL_MCP_RAW_TEXT=raw_text, TWILL_MCP_MAX_RETRIES="0") as client:
        completed = await client.complete(ref, {"name": "taskIdOrSlug", "value": ""})
    assert completed.completion.values == []
    lines = stderr_logs[-1].read_text(encoding="utf-8").splitlines()
    assert any("no task completions: boom" in line for line in lines)
    assert all(TIMESTAMP.match(line) for line in lines)
    assert not any(line.startswith("2026-01-01 00:00:00,000") for line in lines)
    assert not any("\x1b" in line for line in lines)


async def test_a_header_echoing_the_key_beside_non_ascii_text_is_scrubbed_not_a_crash(
    fake_twill: FakeTwill, in_memory: Launch
) -> None:
    # Found by bench/fuzz.py --hostile: the scrubbed headers were rebuilt as ASCII, and "é" crashed the call.
    headers = {"Content-Type": "application/x-tar", "x-twill-session-id": f"caf\u00e9 {API_KEY}"}
    fake_twill.then(Scripted(200, b"tar bytes", headers))
    async with in_memory(TWILL_MCP_TOOLSETS="all") as client:
        result = await call(client, "export_claude_teleport_session", {"taskIdOrSlug": "t1"})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["sessionId"] == f"caf\u00e9 {REDACTED}"


async def test_a_body_of_another_shape_than_the_tool_publishes_is_an_error_result(
    fake_twill: FakeTwill, in_memory: Launch
) -> None:
    # Found by bench/fuzz.py --hostile: the SDK's client validates structuredContent against the outputSchema,
    # so passing such a body on made the client raise instead of showing a result.
    fake_twill.then(Scripted(200, b'{"task": "not an object"}', JSON))
    async with in_memory() as client:
        result = await call(client, "get_task", {"taskIdOrSlug": "t1"})
    assert error_of(result)["code"] == "bad_upstream_response"
    assert "at task" in error_of(result)["message"]
