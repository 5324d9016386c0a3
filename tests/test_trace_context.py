"""Spans only when they are recorded: the MCP SDK's request span behind `TraceContext`, and under it the attempt's.

tests/test_tracing.py runs the real thing (`opentelemetry-instrument`, a process); here, in-process, an SDK's
tracers stand in for the global provider, which a test process could set only once. That the caller's trace
still reaches Twill with no SDK is held by tests/test_cancel_task.py and tests/test_http.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import mcp.shared._otel as sdk_otel
import pytest
from mcp.server._otel import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import twill_mcp.upstream.http as upstream_http
from tests.conftest import Launch
from tests.fake_twill import FakeTwill
from twill_mcp.core import tracing
from twill_mcp.core.config import Settings
from twill_mcp.server.build import server_for
from twill_mcp.server.tracing import TraceContext
from twill_mcp.spec.compiler import compile_spec
from twill_mcp.spec.openapi import load_bundled_spec

pytestmark = pytest.mark.anyio


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """An SDK recording every span the server side makes, as `opentelemetry-instrument` would configure it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "recording", lambda: True)
    monkeypatch.setattr(sdk_otel, "_tracer", provider.get_tracer("mcp-python-sdk"))
    monkeypatch.setattr(upstream_http, "_TRACER", provider.get_tracer("twill_mcp"))
    yield exporter
    provider.shutdown()


def span(exporter: InMemorySpanExporter, name: str, kind: SpanKind) -> ReadableSpan:
    """The one span of that name and kind (the in-memory client makes spans of its own, through the same tracer)."""
    found = [span for span in exporter.get_finished_spans() if (span.name, span.kind) == (name, kind)]
    assert len(found) == 1, [(s.name, s.kind) for s in exporter.get_finished_spans()]
    return found[0]


def test_the_sdk_span_middleware_of_every_server_is_behind_trace_context() -> None:
    settings = Settings.load({"TWILL_API_KEY": "k" * 20})
    server = server_for(settings, compile_spec(load_bundled_spec()))
    assert isinstance(server.middleware[0], TraceContext)
    assert not any(isinstance(middleware, OpenTelemetryMiddleware) for middleware in server.middleware)


async def test_with_an_sdk_the_call_is_a_server_span_and_the_attempt_a_client_span_under_it(
    in_memory: Launch, fake_twill: FakeTwill, exported: InMemorySpanExporter
) -> None:
    fake_twill.add_task("t1")
    async with in_memory() as client:
        await client.call_tool("cancel_task", {"taskIdOrSlug": "t1"})
    # The in-memory client traces through the same tracer: its request span is the agent's end of the trace.
    agent = span(exported, "MCP send tools/call cancel_task", SpanKind.CLIENT)
    call = span(exported, "tools/call cancel_task", SpanKind.SERVER)
    attempt = span(exported, "POST /tasks/{taskIdOrSlug}/cancel", SpanKind.CLIENT)
    assert call.parent is not None
    assert call.parent.span_id == agent.context.span_id
    assert attempt.parent is not None
    assert attempt.parent.span_id == call.context.span_id
    [request] = fake_twill.requests
    trace_id, span_id = format(agent.context.trace_id, "032x"), format(attempt.context.span_id, "016x")
    assert request.headers["traceparent"].split("-")[1:3] == [trace_id, span_id]
