"""What operating a fleet costs per call: the shared Redis budget, Prometheus metrics, OpenTelemetry tracing.

One tool call (get_task, in-process MCP, the Twill emulator on a real socket) under each setup,
interleaved call by call in one run so that machine noise hits every setup alike; medians, p90s and
the difference and ratio to the default (per-process budget, metrics and tracing off) are printed,
and the shared budget's own round trip (`SharedBudgets.acquire` alone) besides.

Tracing on is the OpenTelemetry SDK with a batch processor and an exporter that drops the spans: the
cost of making them, not of shipping them. A switch between the SDK's tracer and the API's no-op one
lets both run in one process (a global tracer provider can be set only once).

Needs redis-server on PATH and the test extra (redis, opentelemetry-sdk).
Usage: python bench/fleet.py [CALLS]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

# tests/real_redis.py starts the redis-server, as the tests do.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from pydantic import SecretStr

from tests.real_redis import RedisServer
from twill_mcp.core import metrics
from twill_mcp.core.config import Settings
from twill_mcp.core.credentials import Credentials
from twill_mcp.emulator import DEMO_KEY, EmulatorServer, EmulatorState, seed_demo
from twill_mcp.inprocess import connected
from twill_mcp.spec.compiler import compile_spec
from twill_mcp.spec.openapi import load_bundled_spec
from twill_mcp.upstream.http import _attempt_attributes, _traced
from twill_mcp.upstream.request import PreparedRequest
from twill_mcp.upstream.shared_budget import SharedBudgets

# High enough never to wait: what is measured is the budget's bookkeeping, not its queueing.
RATE_LIMIT = 1_000_000


class Dropped(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class Switch(trace.TracerProvider):
    """The SDK's tracers while `on`, the API's no-op ones otherwise."""

    def __init__(self) -> None:
        self.on = False
        self._sdk = TracerProvider()
        self._sdk.add_span_processor(BatchSpanProcessor(Dropped()))
        self._noop = trace.NoOpTracerProvider()

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return SwitchTracer(self, self._sdk.get_tracer(*args, **kwargs), self._noop.get_tracer(*args, **kwargs))


class SwitchTracer(trace.Tracer):
    def __init__(self, switch: Switch, sdk: trace.Tracer, noop: trace.Tracer) -> None:
        self._switch, self._sdk, self._noop = switch, sdk, noop

    def _now(self) -> trace.Tracer:
        return self._sdk if self._switch.on else self._noop

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._now().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._now().start_as_current_span(*args, **kwargs)


SETUPS = (
    ("default: per-process budget, no metrics, no tracing", False, False, False),
    ("shared budget (Redis on loopback)", True, False, False),
    ("metrics on", False, True, False),
    ("tracing on (SDK, spans dropped)", False, False, True),
    ("all three", True, True, True),
)


async def main(calls: int) -> None:
    switch = Switch()
    trace.set_tracer_provider(switch)
    prometheus = metrics.PrometheusRecorder()
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not on PATH")
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    redis = RedisServer(binary, Path(workdir)).start()
    state = EmulatorState()
    seed_demo(state)
    unlimited = {"rate_limit_per_minute": 0, "rate_limit_per_hour": 0}
    samples: dict[str, list[float]] = {name: [] for name, *_ in SETUPS}
    try:
        with EmulatorServer(state, **unlimited) as emulator:
            env = {"TWILL_API_KEY": DEMO_KEY, "TWILL_BASE_URL": emulator.origin}
            tools = compile_spec(load_bundled_spec())
            async with AsyncExitStack() as stack:
                clients = {}
                for name, shared, *_ in SETUPS:
                    overrides = {"rate_limit": RATE_LIMIT, **({"redis_url": redis.url} if shared else {})}
                    clients[name] = await stack.enter_async_context(connected(Settings.load(env, **overrides), tools))
                for name, *_ in SETUPS:  # warm up: connections, caches, the script loaded into Redis
                    await clients[name].call_tool("get_task", {"taskIdOrSlug": "demo-1"})
                for _ in range(calls):
                    for name, _shared, with_metrics, with_tracing in SETUPS:
                        metrics.record(prometheus if with_metrics else metrics.Recorder())
                        switch.on = with_tracing
                        started = time.perf_counter()
                        result = await clients[name].call_tool("get_task", {"taskIdOrSlug": "demo-1"})
                        samples[name].append((time.perf_counter() - started) * 1000)
                        assert not result.is_error, result
                metrics.record(metrics.Recorder())
                switch.on = False
                round_trip = await redis_round_trip(redis.url, calls)
    finally:
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report(samples, round_trip)
    print(f"tracing off, what each attempt still does (a no-op span, its traceparent check): {span_off_us():.2f} us")
    print(f"metrics off, what each call still does (5 no-op recorder calls): {metrics_off_us():.2f} us")


async def redis_round_trip(url: str, calls: int) -> list[float]:
    budgets = SharedBudgets(SecretStr(url), RATE_LIMIT)
    key_id = Credentials(SecretStr(DEMO_KEY)).key_id
    times = []
    try:
        for _ in range(calls):
            started = time.perf_counter()
            await budgets.acquire(key_id, anyio.current_time() + 30)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await budgets.aclose()
    return times


def span_off_us(rounds: int = 100_000) -> float:
    """The span code of one attempt in `TwillHttp.exchange`, with the API's own no-op tracer (no SDK)."""
    tracer = trace.NoOpTracerProvider().get_tracer("twill_mcp")
    request = PreparedRequest("GET", "/tasks/demo-1", route="/tasks/{taskIdOrSlug}")
    credentials = Credentials(SecretStr(DEMO_KEY))
    headers = {"Authorization": "Bearer x"}
    started = time.perf_counter()
    for attempt in range(rounds):
        # As exchange does: the current span's context is checked, and an untraced caller has no parent to extract.
        trace.get_current_span().get_span_context().is_valid  # noqa: B018
        parent = None
        with tracer.start_as_current_span(
            f"{request.method} {request.route}",
            context=parent,
            kind=trace.SpanKind.CLIENT,
            attributes=_attempt_attributes(request, attempt % 3),
        ) as span:
            _traced(headers, span, credentials)
            span.set_attribute("http.response.status_code", 200)
    return (time.perf_counter() - started) / rounds * 1e6


def metrics_off_us(rounds: int = 100_000) -> float:
    recorder = metrics.Recorder()
    started = time.perf_counter()
    for _ in range(rounds):
        recorder.call_started("get_task")
        recorder.upstream_answered("200")
        recorder.budget_waited(0.0)
        recorder.budget_refused()
        recorder.call_ended("get_task", "ok", 0.01)
    return (time.perf_counter() - started) / rounds * 1e6


def report(samples: dict[str, list[float]], round_trip: list[float]) -> None:
    base = statistics.median(samples[SETUPS[0][0]])
    print(f"{'setup':52} {'calls':>6} {'median ms':>10} {'p90 ms':>8} {'vs default':>11} {'ratio':>6}")
    for name, times in samples.items():
        median, p90 = statistics.median(times), statistics.quantiles(times, n=10)[-1]
        print(f"{name:52} {len(times):>6} {median:>10.3f} {p90:>8.3f} {median - base:>+10.3f} {median / base:>6.2f}")
    median, p90 = statistics.median(round_trip), statistics.quantiles(round_trip, n=10)[-1]
    print(f"\nSharedBudgets.acquire alone (one Lua round trip): median {median:.3f} ms, p90 {p90:.3f} ms")
    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    print(f"({version}; python {sys.version.split()[0]})")


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 500)
