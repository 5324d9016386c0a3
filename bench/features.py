"""The new features, priced: `--auth oauth`, the shared Redis budget, Prometheus metrics and OpenTelemetry
tracing, each as a row with what was measured, its target, and PASS or FAIL (bench/perf.py `--only features`).

Three kinds of measurement, each bounded by its sizes (full ~70 s, --quick ~30 s on 2 cores):

- **Over HTTP**, the deployed shape: `twill-mcp --transport http` with the env key, the same with `--auth oauth`
  and every request bearing an access token, the env key with the budget in Redis, and the env key again (two
  processes of the same code differ too: the noise floor the other differences must clear); one worker each, the
  2026-07-28 era, against bench/peers.py's fixed-answer upstream. First interleaved rounds with 32 calls in
  flight (bench/http_compare.py's raw driver; each server pinned alone on its core, each round starting with
  another server): CPU per call from /proc, per-round ratios to the env key. Then calls one at a time to the
  Redis-budget server, with Redis's own counters read around them: round trips, commands and redis-server CPU
  per call.
  Every server keeps the same rate budget (RATE_LIMIT a minute: on, never waiting), so the one difference
  between the env-key and the Redis server is where the budget is kept.
- **In-process**, one client and one server per setup in this process, calls interleaved call by call in a
  fresh order every round so that noise weighs on every setup alike: the CPU of the thread that runs client
  and server, median of per-round differences to the default setup with its standard error, for metrics on,
  tracing on, no span code at all and the budget in Redis, and the default against itself (the noise floor).
  These cross-check the direct figures end to end.
- **Directly**, what a feature adds to a call and nothing else, timed in batches with the thread's CPU clock:
  `InboundAuth` with `--auth oauth` on a request bearing a token (in front of an app that does nothing), the
  recorder calls one real call makes replayed into Prometheus's recorder and into the no-op one, and the span
  code a call runs with no SDK (the span middleware in the server's chain, `server/tracing.py`'s in front of the
  MCP SDK's, and twill-mcp's attempt span as `TwillHttp.exchange` makes it) against none. Shares are of the
  env-key server's CPU per call over HTTP in the same run, the lower of its two figures (the stricter share);
  the targets are judged on these.

Tracing on is the OpenTelemetry SDK with a batch processor and an exporter that drops the spans: the cost of
making them, not of shipping them. It is put in place by swapping the two tracers the server side uses and
answering yes to `core.tracing.recording()` (no global provider is ever set, so "tracing off" is the path a
server without an SDK runs, exactly as shipped, in every setup that does not swap them). The Redis rows are
skipped when there is no redis-server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import anyio
import anyio.lowlevel
import httpx2
import mcp.server._otel as server_otel
from mcp import Client
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.runner import _apply_middleware
from mcp.shared._otel import otel_span as shipped_otel_span
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import INVALID_SPAN, SpanKind, get_current_span
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

# tests/real_redis.py starts redis-server as the tests do.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import http_compare
import http_load
from oauth_token_check import minted, oauth_env, oauth_settings

import twill_mcp.upstream.http as upstream_http
from tests.real_redis import RedisServer, find_redis_server
from twill_mcp import __version__
from twill_mcp.core import metrics, tracing
from twill_mcp.core.config import Settings
from twill_mcp.core.credentials import Credentials
from twill_mcp.emulator import DEMO_KEY
from twill_mcp.server.build import server_for
from twill_mcp.server.tracing import TraceContext
from twill_mcp.spec.compiler import compile_spec
from twill_mcp.spec.openapi import load_bundled_spec
from twill_mcp.transports.http_auth import CALLER_KEY, InboundAuth, bearer
from twill_mcp.upstream.request import PreparedRequest
from twill_mcp.upstream.shared_budget import SharedBudgets

# The targets.
TOKEN_CHECK_LIMIT_US = 50.0
SHARE_LIMIT = 0.02
ROUND_TRIPS_PER_CALL = 1.0

RATE_LIMIT = 1_000_000
"""Per minute: high enough never to wait, so what is measured is the budget's bookkeeping, not its queueing."""
ERA = "2026-07-28"
TOOL, ARGUMENTS = "get_task", {"taskIdOrSlug": "demo-2"}
TOKEN_BATCH = 100
"""Token checks per timed batch: the CPU clock is read per batch, so its own cost is spread thin."""
MICRO_BATCH = 1000
SEED = 20261203
"""Of the orders setups are interleaved in: the same every run."""


@dataclass(frozen=True)
class FeatureSizes:
    token_batches: int
    http_rounds: int
    http_seconds: float
    counted_calls: int
    inprocess_calls: int
    micro_batches: int


FULL = FeatureSizes(
    token_batches=200, http_rounds=8, http_seconds=1.0, counted_calls=300, inprocess_calls=600, micro_batches=40
)
QUICK = FeatureSizes(
    token_batches=50, http_rounds=3, http_seconds=0.75, counted_calls=100, inprocess_calls=200, micro_batches=10
)


# -- helpers -------------------------------------------------------------------------------------


def spread_of(values: Sequence[float]) -> dict[str, float]:
    """Median, interquartile range, and the median's standard error (≈ 0.93 IQR / √n for a roughly normal spread)."""
    summary = http_compare.spread(values)
    summary["se"] = 0.93 * (summary["q3"] - summary["q1"]) / max(len(values), 1) ** 0.5
    return summary


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def oauth_serving() -> tuple[dict[str, str], dict[str, str]]:
    """For a server started with `--auth oauth`: its environment, and the headers a client sends to it (a valid
    access token sealing the emulator's key, minted here through the provider's own code path with the same
    secret). The server's in-memory store accepts it: only a revoked grant is remembered, and this one is not."""
    env = oauth_env()
    _, token = anyio.run(minted, oauth_settings(env), DEMO_KEY)
    return env, {"Authorization": f"Bearer {token}"}


@contextmanager
def redis_server() -> Iterator[RedisServer | None]:
    binary = find_redis_server()
    if binary is None:
        yield None
        return
    workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    server = RedisServer(binary, workdir).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def redis_counters(redis: RedisServer) -> dict[str, float]:
    """Replies written, commands run (a script's own included) and CPU seconds, from one INFO over a fresh socket."""
    text = redis.command("INFO", "stats", "commandstats", "cpu").decode(errors="replace")
    counters: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in ("total_writes_processed", "total_reads_processed", "used_cpu_user", "used_cpu_sys"):
            counters[name] = float(value)
        elif name.startswith("cmdstat_") and name != "cmdstat_info":
            counters[name.removeprefix("cmdstat_")] = float(value.split(",", 1)[0].removeprefix("calls="))
    return counters


# -- the token check, directly -----------------------------------------------------------------------------


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    """What InboundAuth lets a request through to, here: nothing, so only the check is timed."""


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Message) -> None:
    raise AssertionError(f"InboundAuth answered by itself: {message}")


async def token_check_us(settings: Settings, batches: int) -> dict[str, float]:
    """CPU µs per request of `InboundAuth` with `--auth oauth` and a valid bearer access token (the header parsed
    by `bearer`, the token opened and its grant looked up by `grant_of`), and of those two parts alone; batches of
    TOKEN_BATCH, the three interleaved batch by batch."""
    oauth, access = await minted(settings, DEMO_KEY)
    inbound = InboundAuth(_no_app, settings, open_paths=oauth.open_paths, oauth=oauth)
    raw = [(b"authorization", f"Bearer {access}".encode())]
    scope: dict[str, Any] = {"type": "http", "path": settings.path, "headers": raw}
    headers = Headers(raw=raw)
    await inbound(scope, _receive, _send)
    assert CALLER_KEY in scope, "the access token was refused"  # and warm: the ciphers, the store's connection
    whole, parsed, checked = [], [], []
    for _ in range(batches):
        started = time.thread_time_ns()
        for _ in range(TOKEN_BATCH):
            await inbound(scope, _receive, _send)
        middle = time.thread_time_ns()
        for _ in range(TOKEN_BATCH):
            bearer(headers)
        last = time.thread_time_ns()
        for _ in range(TOKEN_BATCH):
            await oauth.grant_of(access)
        whole.append((middle - started) / TOKEN_BATCH / 1000)
        parsed.append((last - middle) / TOKEN_BATCH / 1000)
        checked.append((time.thread_time_ns() - last) / TOKEN_BATCH / 1000)
    return {
        "median_us": statistics.median(whole),
        "p90_us": sorted(whole)[int(len(whole) * 0.9)],
        "bearer_us": statistics.median(parsed),
        "grant_of_us": statistics.median(checked),
        "token_chars": len(access),
        "checks": batches * TOKEN_BATCH,
    }


def run_token_checks(sizes: FeatureSizes, redis: RedisServer | None) -> dict[str, Any]:
    env = oauth_env()
    figures: dict[str, Any] = {"memory": anyio.run(token_check_us, oauth_settings(env), sizes.token_batches)}
    # A Redis round trip per check: a quarter of the batches keeps it within a second or two.
    if redis is not None:
        batches = max(sizes.token_batches // 4, 5)
        figures["redis"] = anyio.run(token_check_us, oauth_settings(env, redis.url), batches)
    return figures


# -- over HTTP -----------------------------------------------------------------------------------------------


@dataclass
class HttpServer:
    name: str
    process: subprocess.Popen[bytes]
    target: http_compare.Target


HTTP_FLOOR = "env key again (the noise floor)"


def start_servers(origin: str, log: Path, redis: RedisServer | None) -> list[HttpServer]:
    """The env-key server (first: the others' ratios are to it), another like it, the OAuth one, and the
    Redis-budget one (last: its calls are the ones counted in Redis)."""
    budget = {"TWILL_MCP_RATE_LIMIT": str(RATE_LIMIT)}
    oauth_env_, headers = oauth_serving()
    plans: list[tuple[str, tuple[str, ...], dict[str, str], dict[str, str]]] = [
        ("env key", (), budget, {}),
        # Two processes running the same code differ by a few percent here: what the other rows must exceed.
        (HTTP_FLOOR, (), budget, {}),
        ("OAuth access token", ("--auth", "oauth"), {**budget, **oauth_env_}, headers),
    ]
    if redis is not None:
        plans.append(("env key, budget in Redis", (), {**budget, "TWILL_MCP_REDIS_URL": redis.url}, {}))
    servers: list[HttpServer] = []
    try:
        for number, (name, extra, env, sent) in enumerate(plans):
            server_log = log.with_name(f"{log.stem}-features-{number}.log")
            process, url = http_load.serve(1, origin, server_log, ("--tools", TOOL, *extra), env=env)
            servers.append(
                HttpServer(name, process, http_compare.Target(name, url, process.pid, TOOL, ARGUMENTS, sent))
            )
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: Sequence[HttpServer]) -> None:
    for server in servers:
        server.process.terminate()
    for server in servers:
        server.process.wait(timeout=60)


def health(url: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx2.get(url.removesuffix("/mcp") + "/healthz", timeout=5).json()
    return answer


def run_http(
    origin: str, upstream_pid: int, log: Path, sizes: FeatureSizes, redis: RedisServer | None
) -> dict[str, Any]:
    servers = start_servers(origin, log, redis)
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        # As http_compare pins them: each server alone on its core, the driver, upstream and Redis on the other.
        own = [upstream_pid, *([redis.process.pid] if redis and redis.process else [])]
        pinned = http_compare.pin_apart([server.process.pid for server in servers], own)
        cells: dict[str, list[http_compare.Cell]] = {server.name: [] for server in servers}
        with http_compare.ForeignCpu([os.getpid(), *own, *(s.process.pid for s in servers)]) as other:
            for number in range(sizes.http_rounds):
                print(f"features: HTTP round {number + 1}/{sizes.http_rounds}", file=sys.stderr)
                order = [*servers[number % len(servers) :], *servers[: number % len(servers)]]
                for server in order:
                    cells[server.name].append(asyncio.run(http_compare.load(server.target, ERA, sizes.http_seconds)))
        foreign = other.share
        counted = count_redis(servers[-1], redis, sizes.counted_calls) if redis is not None else None
    finally:
        stop_servers(servers)
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
    base = cells[servers[0].name]
    rows = {}
    for name, runs in cells.items():
        rows[name] = {
            "cpu_ms": statistics.median(cell.cpu_ms for cell in runs),
            "calls_per_s": statistics.median(cell.calls_per_s for cell in runs),
            "p99_ms": statistics.median(cell.p99_ms for cell in runs),
            "errors": sum(cell.errors for cell in runs),
            "first_error": next((cell.first_error for cell in runs if cell.first_error), ""),
            "cpu_ratio": http_compare.spread([c.cpu_ms / b.cpu_ms for c, b in zip(runs, base, strict=True)]),
            "cpu_delta_us": spread_of([(c.cpu_ms - b.cpu_ms) * 1000 for c, b in zip(runs, base, strict=True)]),
        }
    return {
        "era": ERA,
        "rounds": sizes.http_rounds,
        "seconds_per_cell": sizes.http_seconds,
        "in_flight": http_compare.IN_FLIGHT,
        "pinned": pinned,
        "foreign_cpu_share": round(foreign, 3),
        "reliable": pinned and foreign <= http_compare.FOREIGN_CPU_LIMIT,
        "servers": rows,
        "redis_counted": counted,
    }


def count_redis(server: HttpServer, redis: RedisServer, calls: int) -> dict[str, Any]:
    """`calls` calls one at a time to the Redis-budget server, Redis's counters read before and after.

    A round trip is a reply Redis wrote (`total_writes_processed`): a script or a pipeline is one, however many
    commands it runs. The INFO that reads the counters is one of them, and is taken off.
    """
    with httpx2.Client(timeout=30) as client:

        def call(number: int) -> None:
            headers, body = http_compare.call_request(ERA, number, TOOL, ARGUMENTS)
            response = client.post(server.target.url, content=body, headers=headers)
            answer: dict[str, Any] = {"status": response.status_code}
            if response.is_success:
                answer = http_compare.answer_of(response)
            if "result" not in answer or answer["result"].get("isError"):
                raise RuntimeError(f"{server.name}: {answer}")

        call(0)  # a connection of its own, in this client's pool and in the server's
        kept = health(server.target.url).get("rateBudget")
        before = redis_counters(redis)
        for number in range(calls):
            call(number)
        after = redis_counters(redis)
    delta = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}
    round_trips = delta.pop("total_writes_processed") - 1
    delta.pop("total_reads_processed", None)
    cpu = delta.pop("used_cpu_user", 0.0) + delta.pop("used_cpu_sys", 0.0)
    return {
        "calls": calls,
        "rate_budget": kept,
        "round_trips_per_call": round_trips / calls,
        "commands_per_call": {name: count / calls for name, count in sorted(delta.items()) if count},
        "redis_cpu_us_per_call": cpu / calls * 1e6,
    }


# -- in-process, interleaved call by call ------------------------------------------------------------------


class Dropped(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class NullTracer:
    """No span code at all, as near as a setup gets without editing `exchange`: its `with` gets a null context."""

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> contextlib.nullcontext[trace.Span]:
        return contextlib.nullcontext(INVALID_SPAN)


def sdk_otel_span(tracer: trace.Tracer) -> Callable[..., contextlib.AbstractContextManager[trace.Span]]:
    """The MCP SDK's `otel_span` on the SDK's tracer, for its server middleware only: swapping the SDK module's
    own tracer would trace this process's in-memory client too, which no deployed server pays for."""

    @contextmanager
    def otel_span(
        name: str,
        *,
        kind: SpanKind,
        attributes: dict[str, Any] | None = None,
        context: Any = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Iterator[trace.Span]:
        with tracer.start_as_current_span(
            name,
            kind=kind,
            attributes=attributes,
            context=context,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as span:
            yield span

    return otel_span


def use_tracers(tracer: Any, otel_span: Callable[..., Any], recording: Callable[[], bool]) -> None:
    """What the next call's server side traces with: twill-mcp's attempt spans, and the MCP SDK's middleware, which
    looks `otel_span` up in its module's globals for every message (so that is where it is swapped); and whether
    spans are recorded at all, which twill-mcp asks `core.tracing` before making either."""
    upstream_http._TRACER = tracer
    vars(server_otel)["otel_span"] = otel_span
    tracing.recording = recording


Tracing = Literal["off", "on", "none"]


@dataclass(frozen=True)
class Setup:
    name: str
    metrics: bool = False
    tracing: Tracing = "off"
    redis: bool = False


DEFAULT = Setup("default: per-process budget, metrics off, tracing off (API only)")
METRICS_ON = Setup("metrics on", metrics=True)
TRACING_ON = Setup("tracing on (SDK, spans dropped)", tracing="on")
NO_SPANS = Setup("no span code (SDK middleware removed, null tracer)", tracing="none")
IN_REDIS = Setup("budget in Redis on loopback", redis=True)
NOISE_FLOOR = Setup("the default again (the noise floor)")
SETUPS = (
    DEFAULT,
    NOISE_FLOOR,
    METRICS_ON,
    TRACING_ON,
    NO_SPANS,
    IN_REDIS,
)


class Tape(metrics.Recorder):
    """Records what the request path reports (method and arguments), to replay it into another recorder."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []


def _taped(name: str) -> Callable[..., None]:
    def report(self: Tape, *args: Any) -> None:
        self.calls.append((name, args))

    return report


# Every report the request path can make, so that one added to Recorder is recorded without a change here.
for _name in [name for name in vars(metrics.Recorder) if not name.startswith("_")]:
    setattr(Tape, _name, _taped(_name))


@asynccontextmanager
async def clients(origin: str, redis: RedisServer | None) -> AsyncIterator[dict[Setup, Client]]:
    tools = compile_spec(load_bundled_spec())
    env = {"TWILL_API_KEY": DEMO_KEY, "TWILL_BASE_URL": origin}
    async with AsyncExitStack() as stack:
        connected: dict[Setup, Client] = {}
        for setup in SETUPS:
            if setup.redis and redis is None:
                continue
            overrides: dict[str, Any] = {"rate_limit": RATE_LIMIT}
            if setup.redis and redis is not None:
                overrides["redis_url"] = redis.url
            server = server_for(Settings.load(env, **overrides), tools)
            if setup.tracing == "none":
                server.middleware[:] = [m for m in server.middleware if not isinstance(m, TraceContext)]
            connected[setup] = await stack.enter_async_context(Client(server, mode="legacy"))
        yield connected


async def interleaved(origin: str, redis: RedisServer | None, calls: int) -> dict[str, Any]:
    sdk = TracerProvider()
    sdk.add_span_processor(BatchSpanProcessor(Dropped()))
    shipped = (upstream_http._TRACER, shipped_otel_span, tracing.recording)
    tracers: dict[Tracing, tuple[Any, Any, Callable[[], bool]]] = {
        "off": shipped,
        "on": (
            sdk.get_tracer("twill_mcp", __version__),
            sdk_otel_span(sdk.get_tracer("mcp-python-sdk")),
            lambda: True,
        ),
        "none": (NullTracer(), shipped_otel_span, tracing.recording),
    }
    prometheus, off = metrics.PrometheusRecorder(), metrics.Recorder()
    tape = Tape()
    cpu: dict[Setup, list[int]] = {}
    wall: dict[Setup, list[int]] = {}
    try:
        async with clients(origin, redis) as connected:
            for client in connected.values():  # warm: connections, caches, the script loaded into Redis
                for _ in range(20):
                    await client.call_tool(TOOL, ARGUMENTS)
            metrics.record(tape)
            await connected[DEFAULT].call_tool(TOOL, ARGUMENTS)
            order, shuffle = list(connected), random.Random(SEED).shuffle
            process_before, thread_before = time.process_time_ns(), time.thread_time_ns()
            for _ in range(calls):
                # A fresh order every round: what one call leaves behind (caches, a Redis round trip's kernel work)
                # weighs on the next, and a fixed order would always hand it to the same setup.
                shuffle(order)
                for setup in order:
                    metrics.record(prometheus if setup.metrics else off)
                    use_tracers(*tracers[setup.tracing])
                    started, began = time.thread_time_ns(), time.perf_counter_ns()
                    result = await connected[setup].call_tool(TOOL, ARGUMENTS)
                    # Work the call scheduled but did not wait for is still its own.
                    await anyio.lowlevel.checkpoint()
                    cpu.setdefault(setup, []).append(time.thread_time_ns() - started)
                    wall.setdefault(setup, []).append(time.perf_counter_ns() - began)
                    if result.is_error:
                        raise RuntimeError(f"{setup.name}: {result.structured_content}")
            # What ran on other threads meanwhile: the batch span processor's (nothing else here has a thread).
            other_threads = (time.process_time_ns() - process_before) - (time.thread_time_ns() - thread_before)
    finally:
        metrics.record(metrics.Recorder())
        use_tracers(*shipped)
        sdk.shutdown()
    base = cpu[DEFAULT]
    setups: dict[str, Any] = {}
    for setup, times in cpu.items():
        setups[setup.name] = {
            "cpu_us": statistics.median(times) / 1000,
            "wall_ms": statistics.median(wall[setup]) / 1e6,
            "cpu_delta_us": spread_of([(t - b) / 1000 for t, b in zip(times, base, strict=True)]),
        }
    traced_calls = calls if TRACING_ON in connected else 0
    return {
        "calls_per_setup": calls,
        "setups": setups,
        "other_threads_us_per_traced_call": other_threads / 1000 / traced_calls if traced_calls else 0.0,
        "tape": tape.calls,
    }


# -- directly ----------------------------------------------------------------------------------------------------


def batch_us(run: Callable[[int], None], baseline: Callable[[int], None], batches: int) -> float:
    """Median CPU µs per iteration of `run` over `baseline` (the same loop doing nothing), batches interleaved."""
    differences = []
    for _ in range(batches):
        started = time.thread_time_ns()
        run(MICRO_BATCH)
        middle = time.thread_time_ns()
        baseline(MICRO_BATCH)
        differences.append(((middle - started) - (time.thread_time_ns() - middle)) / MICRO_BATCH / 1000)
    return statistics.median(differences)


def metrics_us(tape: Sequence[tuple[str, tuple[Any, ...]]], batches: int) -> float:
    """What one call's reports cost Prometheus's recorder more than the no-op one: the only difference metrics on
    makes to the request path (the /metrics server is on its own thread and port, and idle between scrapes)."""
    prometheus, off = metrics.PrometheusRecorder(), metrics.Recorder()

    def replay(into: metrics.Recorder) -> Callable[[int], None]:
        bound = [(getattr(into, name), args) for name, args in tape]

        def run(rounds: int) -> None:
            for _ in range(rounds):
                for method, args in bound:
                    method(*args)

        return run

    return batch_us(replay(prometheus), replay(off), batches)


def attempt_span_us(batches: int) -> float:
    """The span code of one attempt in `TwillHttp.exchange` (its `_attempt_span` and the calls on the span it
    gives), with the module's own tracer and no SDK, against none of it."""
    request = PreparedRequest("GET", "/tasks/demo-2", route="/tasks/{taskIdOrSlug}")
    credentials = Credentials(SecretStr(DEMO_KEY))
    headers = {"Authorization": f"Bearer {DEMO_KEY}", "Accept": "application/json"}

    def spans(rounds: int) -> None:
        for _ in range(rounds):
            valid = get_current_span().get_span_context().is_valid
            parent = None if valid else upstream_http._caller_context(credentials)
            with upstream_http._attempt_span(request, 0, parent) as span:
                upstream_http._traced(headers, span, credentials)
                span.set_attribute("http.response.status_code", 200)
                span.set_attribute("twill_mcp.retried", False)

    def nothing(rounds: int) -> None:
        for _ in range(rounds):
            pass

    return batch_us(spans, nothing, batches)


def middleware_span_us(batches: int) -> float:
    """The span middleware of every twill-mcp server (`TraceContext` in front of the MCP SDK's
    `OpenTelemetryMiddleware`) around a tools/call of the 2026-07-28 era (its `_meta` is read for a trace
    context), composed as the SDK's runner does, against the handler alone."""
    middleware = TraceContext(OpenTelemetryMiddleware())
    meta = dict(http_compare._META)
    ctx: Any = SimpleNamespace(
        params={"name": TOOL, "arguments": ARGUMENTS, "_meta": meta},
        method="tools/call",
        protocol_version=ERA,
        request_id=1,
        meta=meta,
    )

    async def handler(_: Any) -> None:
        return None

    async def around(rounds: int) -> None:
        for _ in range(rounds):
            # As ServerRunner composes its chain for every message.
            await partial(_apply_middleware, middleware, handler)(ctx)

    async def direct(rounds: int) -> None:
        for _ in range(rounds):
            await handler(ctx)

    loop = asyncio.new_event_loop()
    try:
        return batch_us(
            lambda rounds: loop.run_until_complete(around(rounds)),
            lambda rounds: loop.run_until_complete(direct(rounds)),
            batches,
        )
    finally:
        loop.close()


async def shared_acquire(url: str, count: int) -> dict[str, float]:
    """`SharedBudgets.acquire` alone: the wall time a call waits for its Redis round trip, and the CPU it takes."""
    budgets = SharedBudgets(SecretStr(url), RATE_LIMIT)
    key_id = Credentials(SecretStr(DEMO_KEY)).key_id
    wall, cpu = [], []
    try:
        await budgets.acquire(key_id, anyio.current_time() + 30)
        for _ in range(count):
            started, began = time.perf_counter_ns(), time.thread_time_ns()
            await budgets.acquire(key_id, anyio.current_time() + 30)
            cpu.append(time.thread_time_ns() - began)
            wall.append(time.perf_counter_ns() - started)
    finally:
        await budgets.aclose()
    return {"acquire_ms": statistics.median(wall) / 1e6, "acquire_cpu_us": statistics.median(cpu) / 1000}


# -- the rows ----------------------------------------------------------------------------------------------------


@dataclass
class Row:
    feature: str
    measured: str
    target: str
    verdict: str
    compares: str
    value: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


IN_FLIGHT = (
    "{rounds} interleaved rounds of {seconds:g} s with {in_flight} calls in flight, the server's CPU from /proc, "
    "median of per-round differences and ratios [interquartile range]"
)


SHARES = (
    "Judged on the larger of the two figures, as a share of the env-key server's CPU per call over HTTP with 32 in "
    "flight, measured in the same run"
)


def server_cpu(row: Mapping[str, Any], base: Mapping[str, Any]) -> str:
    """One server's CPU per call against the env-key server's."""
    ratio = row["cpu_ratio"]
    return (
        f"{row['cpu_delta_us']['median']:+.0f} µs server CPU per call "
        f"({ratio['median']:.3f}x [{ratio['q1']:.3f}-{ratio['q3']:.3f}] of {base['cpu_ms'] * 1000:.0f} µs)"
    )


def share(us: float, call_ms: float) -> float:
    return us / (call_ms * 1000)


def end_to_end(inprocess: Mapping[str, Any], setup: Setup) -> str:
    figures = inprocess["setups"].get(setup.name)
    if figures is None:
        return ""
    delta = figures["cpu_delta_us"]
    return f"in-process end to end {delta['median']:+.1f} ± {delta['se']:.1f} µs"


def build_rows(figures: Mapping[str, Any]) -> list[Row]:
    tokens, http, inprocess, direct = figures["tokens"], figures["http"], figures["inprocess"], figures["direct"]
    servers = http["servers"]
    # Shares are of a whole call's server CPU: the env-key server's over HTTP.
    call_ms = servers["env key"]["cpu_ms"]
    rows = []
    for store, label in (("memory", "in this process"), ("redis", "in Redis")):
        check = tokens.get(store)
        if check is None:
            rows.append(Row(f"OAuth token check, grants {label}", "skipped: no redis-server", "", "skipped", ""))
            continue
        rows.append(
            Row(
                f"OAuth token check, grants {label}",
                f"{check['median_us']:.1f} µs CPU per request (p90 of batches {check['p90_us']:.1f}): "
                f"bearer() {check['bearer_us']:.1f}, grant_of {check['grant_of_us']:.1f}",
                f"≤ {TOKEN_CHECK_LIMIT_US:g} µs" if store == "memory" else "(priced)",
                # In Redis the revocation lookup is a round trip (EXISTS), the price of replicas agreeing on a
                # revoked grant at once: priced, while the check itself is judged where it is all CPU.
                verdict(check["median_us"] <= TOKEN_CHECK_LIMIT_US) if store == "memory" else "info",
                f"InboundAuth (--auth oauth) on a request bearing a valid {check['token_chars']}-character access "
                f"token, in front of an app that does nothing: the header parsed and checked (bearer), the token "
                f"opened and checked (AES-GCM, JSON, audience, expiry) and its grant's revocation looked up {label} "
                f"(grant_of); {check['checks']:,} requests in batches of {TOKEN_BATCH}, thread CPU, median of "
                "batches; the two parts timed alone in the same batches",
                check["median_us"],
            )
        )
    oauth = servers["OAuth access token"]
    rows.append(
        Row(
            "a call over HTTP: OAuth access token vs env key",
            server_cpu(oauth, servers["env key"]),
            "(priced)",
            "FAIL" if oauth["errors"] else "info",
            "server CPU per tools/call of twill-mcp --auth oauth, every request bearing an access token, vs the env "
            f"key (no Authorization header), {http['era']}: "
            + IN_FLIGHT.format(rounds=http["rounds"], seconds=http["seconds_per_cell"], in_flight=http["in_flight"]),
            oauth["cpu_delta_us"]["median"],
        )
    )
    counted = http["redis_counted"]
    if counted is None:
        rows.append(Row("shared budget in Redis vs per process", "skipped: no redis-server", "", "skipped", ""))
    else:
        trips = counted["round_trips_per_call"]
        commands = ", ".join(f"{name} {count:.2f}" for name, count in counted["commands_per_call"].items())
        shared = counted["rate_budget"] == "shared"
        rows.append(
            Row(
                "shared budget in Redis: round trips per call",
                f"{trips:.2f} round trips per call (budget {counted['rate_budget']})",
                f"= {ROUND_TRIPS_PER_CALL:g}",
                verdict(shared and abs(trips - ROUND_TRIPS_PER_CALL) <= 0.01),
                f"replies Redis wrote (INFO total_writes_processed; a script or pipeline is one) over "
                f"{counted['calls']} calls one at a time to the Redis-budget server; commands run per call, a "
                f"script's own included: {commands}",
                trips,
            )
        )
        redis_row = servers["env key, budget in Redis"]
        rows.append(
            Row(
                "shared budget in Redis vs per process: server CPU",
                server_cpu(redis_row, servers["env key"])
                + f"; redis-server {counted['redis_cpu_us_per_call']:.0f} µs; acquire alone "
                f"{direct['acquire_cpu_us']:.0f} µs CPU, {direct['acquire_ms']:.3f} ms wall; "
                + end_to_end(inprocess, IN_REDIS),
                "(priced)",
                "FAIL" if redis_row["errors"] else "info",
                f"the env-key server with TWILL_MCP_REDIS_URL vs without (the same budget, {RATE_LIMIT:,} a minute, "
                "kept per process), as the OAuth row: "
                + IN_FLIGHT.format(rounds=http["rounds"], seconds=http["seconds_per_cell"], in_flight=http["in_flight"])
                + "; redis-server's CPU per call from INFO cpu over the counted calls; SharedBudgets.acquire "
                "alone in this process, medians; in-process, the budget in Redis vs the default, calls interleaved",
                redis_row["cpu_delta_us"]["median"],
            )
        )
    setups = inprocess["setups"]
    # Judged on the larger of the two: a tight loop keeps its code and data in cache, which a call does not
    # (the recorder's calls cost several times more inside a call than replayed); the end-to-end figure has the
    # machine's noise in it, its standard error shown.
    metrics_e2e = setups[METRICS_ON.name]["cpu_delta_us"]
    metrics_us = max(direct["metrics_us"], metrics_e2e["median"])
    rows.append(
        Row(
            "metrics on vs off",
            f"{metrics_us:.1f} µs per call = {share(metrics_us, call_ms):.2%} of {call_ms * 1000:.0f} µs "
            f"(in-process end to end {metrics_e2e['median']:+.1f} ± {metrics_e2e['se']:.1f}, "
            f"replayed {direct['metrics_us']:.1f})",
            f"≤ {SHARE_LIMIT:.0%}",
            verdict(share(metrics_us, call_ms) <= SHARE_LIMIT),
            "in-process, calls interleaved with the default's, PrometheusRecorder installed for this setup's "
            f"calls; and the {len(inprocess['tape'])} reports one get_task makes ("
            + ", ".join(name for name, _ in inprocess["tape"])
            + ") replayed in a loop into PrometheusRecorder vs the no-op Recorder, thread CPU, median of batches. "
            + SHARES,
            share(metrics_us, call_ms),
        )
    )
    no_spans = setups[NO_SPANS.name]["cpu_delta_us"]
    replayed = direct["middleware_span_us"] + direct["attempt_span_us"]
    # The default costs more than the setup without span code: its difference to that setup is the negative.
    off_us = max(replayed, -no_spans["median"])
    rows.append(
        Row(
            "tracing off (API only) vs no span code",
            f"{off_us:.1f} µs per call = {share(off_us, call_ms):.2%} (in-process end to end "
            f"{-no_spans['median']:+.1f} ± {no_spans['se']:.1f}, replayed {replayed:.1f}: the span middleware "
            f"{direct['middleware_span_us']:.1f}, twill-mcp's attempt span {direct['attempt_span_us']:.1f})",
            f"≤ {SHARE_LIMIT:.0%}",
            verdict(share(off_us, call_ms) <= SHARE_LIMIT),
            "with no SDK configured: in-process, the default vs a server without the span middleware (TraceContext, "
            "in front of the MCP SDK's OpenTelemetryMiddleware) and with a tracer whose span is a null context for "
            "twill-mcp's attempt (what is left of exchange's span code then is a few attribute calls on the invalid "
            "span); and, "
            "replayed in loops, the middleware around a 2026-07-28 tools/call as the SDK's runner composes it vs "
            "the handler alone, plus one attempt's span code in TwillHttp.exchange vs an empty loop. " + SHARES,
            share(off_us, call_ms),
        )
    )
    traced = inprocess["setups"].get(TRACING_ON.name)
    if traced is not None:
        exporter = inprocess["other_threads_us_per_traced_call"]
        on_us = traced["cpu_delta_us"]["median"] + exporter
        rows.append(
            Row(
                "tracing on (SDK, spans dropped) vs off",
                f"{on_us:+.0f} µs per call = {share(on_us, call_ms):.2%} (the call's thread "
                f"{traced['cpu_delta_us']['median']:+.0f} ± {traced['cpu_delta_us']['se']:.0f}, the batch "
                f"processor's thread {exporter:.0f})",
                "(priced)",
                "info",
                "in-process, calls interleaved with the default's: the SDK's tracers swapped in for the MCP SDK's "
                "server middleware and for twill-mcp's, spans recorded (BatchSpanProcessor, an exporter that "
                "drops), median per-call difference of the thread's CPU, plus the other threads' CPU over the run "
                "per traced call",
                share(on_us, call_ms),
            )
        )
    return rows


# -- the part --------------------------------------------------------------------------------------------------


def run_features(sizes: FeatureSizes, origin: str, upstream_pid: int, log: Path) -> dict[str, Any]:
    """Every row, against the fixed-answer upstream at `origin` (bench/peers.py, process `upstream_pid`)."""
    started = time.monotonic()
    figures: dict[str, Any] = {"sizes": sizes.__dict__}
    with redis_server() as redis:
        if redis is not None:
            version = subprocess.run([redis.binary, "--version"], capture_output=True, text=True).stdout.split()
            figures["redis"] = version[2] if len(version) > 2 else "?"
        print("features: token checks", file=sys.stderr)
        figures["tokens"] = run_token_checks(sizes, redis)
        figures["http"] = run_http(origin, upstream_pid, log, sizes, redis)
        print("features: in-process, interleaved", file=sys.stderr)
        watched = [os.getpid(), upstream_pid, *([redis.process.pid] if redis and redis.process else [])]
        with http_compare.ForeignCpu(watched) as other:
            figures["inprocess"] = anyio.run(interleaved, origin, redis, sizes.inprocess_calls)
        figures["inprocess"]["foreign_cpu_share"] = round(other.share, 3)
        print("features: direct", file=sys.stderr)
        figures["direct"] = {
            "metrics_us": metrics_us(figures["inprocess"]["tape"], sizes.micro_batches),
            "attempt_span_us": attempt_span_us(sizes.micro_batches),
            "middleware_span_us": middleware_span_us(sizes.micro_batches),
        }
        if redis is not None:
            figures["direct"].update(anyio.run(shared_acquire, redis.url, 200))
    figures["inprocess"]["tape"] = [[name, list(args)] for name, args in figures["inprocess"]["tape"]]
    figures["rows"] = [row.__dict__ for row in build_rows(figures)]
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures


def print_features(figures: Mapping[str, Any]) -> None:
    http = figures["http"]
    inprocess = figures["inprocess"]
    floor = inprocess["setups"][NOISE_FLOOR.name]["cpu_delta_us"]
    aa = http["servers"][HTTP_FLOOR]
    print(
        f"\nfeatures, priced ({figures['seconds']:g} s; over HTTP: 1 worker each, {http['in_flight']} in flight, "
        f"{http['rounds']} interleaved rounds, the env key against itself {aa['cpu_delta_us']['median']:+.0f} µs "
        f"({aa['cpu_ratio']['median']:.3f}x [{aa['cpu_ratio']['q1']:.3f}-{aa['cpu_ratio']['q3']:.3f}]), "
        + ("servers pinned to their own core" if http["pinned"] else "NOT pinned")
        + f", other processes used {http['foreign_cpu_share']:.1%} of the CPU"
        + ("" if http["reliable"] else "  ** UNRELIABLE RUN **")
        + f"; in-process: {inprocess['calls_per_setup']} calls per setup, interleaved call by call, "
        f"the default against itself {floor['median']:+.1f} ± {floor['se']:.1f} µs, other processes used "
        f"{inprocess['foreign_cpu_share']:.1%} of the CPU"
        + ("" if inprocess["foreign_cpu_share"] <= http_compare.FOREIGN_CPU_LIMIT else "  ** UNRELIABLE **")
        + ")"
    )
    rows = figures["rows"]
    width = max(len(row["feature"]) for row in rows)
    print(f"{'feature':{width}}  {'verdict':7}  {'target':9}  measured")
    for row in rows:
        print(f"{row['feature']:{width}}  {row['verdict']:7}  {row['target']:9}  {row['measured']}")
    for name, server in http["servers"].items():
        if server["errors"]:
            print(f"    {name}: {server['errors']} errors; first: {server['first_error']}")
    print("what each row compares:")
    for row in rows:
        if row["compares"]:
            print(f"  - {row['feature']}: {row['compares']}")
    failed = [row["feature"] for row in rows if row["verdict"] == "FAIL"]
    quiet = http["reliable"] and inprocess["foreign_cpu_share"] <= http_compare.FOREIGN_CPU_LIMIT
    # Another process's load inflates every CPU figure here: a verdict from such a run is to be measured again.
    caveat = "" if quiet else " (other processes used the CPU during this run: measure again on a quiet machine)"
    print((f"** {len(failed)} over target: {', '.join(failed)} **" if failed else "every target met") + caveat)
