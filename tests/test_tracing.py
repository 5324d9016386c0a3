"""Traces: under the OpenTelemetry distro's standard launcher, a tool call is one trace from the agent to Twill.

The server runs as `opentelemetry-instrument twill-mcp --transport http`, configured only by OTEL_*
variables, its spans printed by the SDK's console exporter. A call that Twill first answers 503 shows
the MCP SDK's request span, under it one client span per attempt (route template, status, attempt,
retried), and the traceparent each attempt sent to Twill is that attempt's own span, in the agent's trace.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY, call, server_env
from tests.fake_twill import FakeTwill, Scripted
from tests.http_process import free_port, http_server_command, stop, wait_healthy
from tests.http_thread import MODERN, mcp_client

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
OTEL = {
    "OTEL_SERVICE_NAME": "twill-mcp",
    "OTEL_TRACES_EXPORTER": "console",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    # Exported within 50 ms rather than every 5 s: the test reads them while the server runs.
    "OTEL_BSP_SCHEDULE_DELAY": "50",
}


def exported(text: str) -> list[dict[str, Any]]:
    """The console exporter's spans: JSON objects one after another."""
    decoder, spans, at = json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) != -1:
        span, at = decoder.raw_decode(text, at)
        spans.append(span)
    return spans


@pytest.fixture
def instrumented(fake_twill: FakeTwill, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if not INSTRUMENT.exists():
        pytest.skip("opentelemetry-instrument is not installed (the test extra installs opentelemetry-distro)")
    port = free_port()
    out, err = tmp_path / "spans.json", tmp_path / "stderr.log"
    command = [str(INSTRUMENT), *http_server_command(port)]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env={
            **server_env(fake_twill), **OTEL, "PATH": str(INSTRUMENT.parent)
        })  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", process, err)
        yield f"http://127.0.0.1:{port}/mcp", out
    finally:
        stop(process)
        assert API_KEY not in out.read_text(errors="replace") + err.read_text(errors="replace")


def spans_of(out: Path, wanted: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while len(spans := exported(out.read_text(encoding="utf-8"))) < wanted:
        assert time.monotonic() < deadline, spans
        time.sleep(0.05)  # the batch exporter gives no signal to wait on
    return spans


async def test_each_attempt_is_a_client_span_under_the_sdk_request_span_in_the_callers_trace(
    instrumented: tuple[str, Path], fake_twill: FakeTwill
) -> None:
    url, out = instrumented
    fake_twill.add_task("t1")
    fake_twill.then(Scripted(503, b"{}", {"Content-Type": "application/json"}))
    async with mcp_client(url, MODERN) as client:
        result = await client.call_tool("get_task", {"taskIdOrSlug": "t1"}, meta={"traceparent": TRACEPARENT})
    assert not result.is_error, result
    spans = spans_of(out, 3)
    [request] = [span for span in spans if span["name"] == "tools/call get_task"]
    attempts = sorted(
        (span for span in spans if span["name"] == "GET /tasks/{taskIdOrSlug}"), key=lambda s: s["start_time"]
    )
    assert len(attempts) == 2
    assert request["context"]["trace_id"] == f"0x{TRACE_ID}"
    assert request["parent_id"] == f"0x{CALLER_SPAN}"
    for number, (attempt, status, retried) in enumerate(zip(attempts, (503, 200), (True, False), strict=True), 1):
        assert attempt["kind"] == "SpanKind.CLIENT"
        assert attempt["context"]["trace_id"] == f"0x{TRACE_ID}"
        assert attempt["parent_id"] == request["context"]["span_id"]
        assert attempt["attributes"]["http.request.method"] == "GET"
        assert attempt["attributes"]["url.template"] == "/tasks/{taskIdOrSlug}"
        assert attempt["attributes"]["http.response.status_code"] == status
        assert attempt["attributes"]["twill_mcp.attempt"] == number
        assert attempt["attributes"]["twill_mcp.retried"] is retried
    # What reached Twill: each attempt's own span, so Twill's side of the trace hangs under it.
    sent = [request.headers["traceparent"] for request in fake_twill.requests]
    assert sent == [f"00-{TRACE_ID}-{attempt['context']['span_id'][2:]}-01" for attempt in attempts]


async def test_an_untraced_caller_still_gets_one_trace_from_the_server_to_twill(
    instrumented: tuple[str, Path], fake_twill: FakeTwill
) -> None:
    url, out = instrumented
    async with mcp_client(url, MODERN) as client:
        await call(client, "get_current_user", {})
    spans = spans_of(out, 2)
    [attempt] = [span for span in spans if span["name"] == "GET /auth/me"]
    [request] = [span for span in spans if span["name"] == "tools/call get_current_user"]
    assert attempt["parent_id"] == request["context"]["span_id"]
    [header] = [request.headers["traceparent"] for request in fake_twill.requests]
    assert header.split("-")[1:3] == [attempt["context"]["trace_id"][2:], attempt["context"]["span_id"][2:]]
