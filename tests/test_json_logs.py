"""TWILL_MCP_LOG_FORMAT=json: one JSON object per stderr line, for log pipelines, redacted as the text format is."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY, Launch, call
from tests.fake_twill import FakeTwill
from twill_mcp.core.credentials import Credentials
from twill_mcp.core.logs import REDACTED, configure_logging

SECRET = "twk_live_feedfacecafebeef"
FORGED = "boom\n2026-01-01 00:00:00,000 ERROR twill_mcp: key accepted\x1b[2J\u202e"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def json_logged(emit: Any, secrets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    stream = io.StringIO()
    configure_logging("INFO", secrets=secrets, stream=stream, log_format="json")
    emit(logging.getLogger("twill_mcp.test"))
    lines = stream.getvalue().splitlines()
    assert stream.getvalue().count("\n") == len(lines)
    return [json.loads(line) for line in lines]


def test_each_record_is_one_object_with_time_level_logger_and_message() -> None:
    [entry] = json_logged(lambda log: log.warning("served %d tools", 12))
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "twill_mcp.test"
    assert entry["message"] == "served 12 tools"
    assert entry["time"].endswith("Z")
    assert entry["time"][10] == "T"


def test_text_from_outside_stays_on_its_line_and_reads_back_as_it_was() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream, log_format="json")
    logging.getLogger("twill_mcp.test").info("no task completions: %s", FORGED)
    line = stream.getvalue()
    assert line.count("\n") == 1
    assert line.isascii()  # no raw escape, line break or bidi control reaches a terminal
    assert json.loads(line)["message"] == f"no task completions: {FORGED}"


def test_a_secret_is_redacted_in_the_message_and_the_traceback() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            raise RuntimeError(f"bad key {SECRET}")
        except RuntimeError:
            log.exception("header was Bearer %s", SECRET)

    [entry] = json_logged(emit, secrets=(SECRET,))
    assert SECRET not in json.dumps(entry)
    assert entry["message"].startswith(f"header was Bearer {REDACTED}")
    assert "RuntimeError" in entry["message"]


def test_a_traceback_without_secrets_to_redact_is_a_field_of_its_event() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            raise KeyError("x")
        except KeyError:
            log.exception("unexpected failure in %s", "get_task")

    [entry] = json_logged(emit)
    assert entry["message"] == "unexpected failure in get_task"
    assert entry["exception"].startswith("Traceback (most recent call last):")


def test_the_trace_id_of_a_call_is_the_one_of_its_traceparent() -> None:
    assert Credentials(None, TRACEPARENT).trace_id == TRACE_ID
    assert Credentials(None).trace_id is None


@pytest.mark.anyio
async def test_the_per_call_line_carries_tool_outcome_duration_key_protocol_and_trace(
    in_memory: Launch, fake_twill: FakeTwill, stderr_logs: list[Path]
) -> None:
    async with in_memory(TWILL_MCP_LOG_FORMAT="json") as client:
        await client.call_tool("get_current_user", {}, meta={"traceparent": TRACEPARENT})
        await call(client, "get_task", {"taskIdOrSlug": "no-such-task"})
    text = stderr_logs[-1].read_text(encoding="utf-8")
    assert API_KEY not in text
    entries = [json.loads(line) for line in text.splitlines()]
    calls = [entry for entry in entries if entry["logger"] == "twill_mcp.tools.call"]
    assert [(entry["tool"], entry["outcome"]) for entry in calls] == [
        ("get_current_user", "ok"),
        ("get_task", "error not_found (HTTP 404)"),
    ]
    first = calls[0]
    assert first["key"] == "key:" + hashlib.sha256(API_KEY.encode()).hexdigest()[:8]  # a fingerprint, not the key
    assert first["trace_id"] == TRACE_ID
    assert first["protocol"] == "2025-11-25"
    assert isinstance(first["duration_ms"], float)
    assert "trace_id" not in calls[1]


@pytest.mark.anyio
async def test_every_stderr_line_of_a_serving_process_is_json(over_stdio: Launch, stderr_logs: list[Path]) -> None:
    async with over_stdio(TWILL_MCP_LOG_FORMAT="json") as client:
        await call(client, "get_current_user", {})
    lines = stderr_logs[-1].read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert any(entry.get("tool") == "get_current_user" for entry in entries)
    assert any("serving" in entry["message"] for entry in entries)
