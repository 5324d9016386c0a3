"""Prometheus metrics (TWILL_MCP_METRICS_PORT): what every call, attempt and budget wait did, by bounded labels.

Off by default, and then nothing of prometheus_client is imported: `recorder` is a `Recorder` whose
methods do nothing, which the request path calls as it would the real one. `start` swaps in a
`PrometheusRecorder` and serves `/metrics` on its own port, away from the MCP endpoint (no inbound
auth there, and a scrape never competes with calls for the MCP port).

Labels are tool names, outcomes (`ok` or an error code), HTTP statuses and retry reasons: sets
fixed by the code and the spec. No key, fingerprint or task id is ever a label.

With `--workers N` every worker writes its samples to files in one directory (the library's
multiprocess mode) and the parent process serves them all from one `/metrics`.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import tempfile
from typing import TYPE_CHECKING

from twill_mcp import __version__

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
# Up to the call deadline's order: most calls take tens of ms, a wait_for_task up to the 45 s deadline.
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 45.0, 60.0)


class Recorder:
    """What the request path reports; this one records nothing (metrics off)."""

    def call_started(self, tool: str) -> None:
        pass

    def call_ended(self, tool: str, outcome: str, seconds: float) -> None:
        pass

    def upstream_answered(self, status: str) -> None:
        """One attempt's answer: its HTTP status, or what happened instead (`no_answer`)."""

    def upstream_retried(self, reason: str) -> None:
        pass

    def budget_waited(self, seconds: float) -> None:
        pass

    def budget_refused(self) -> None:
        pass

    def budget_fell_back(self) -> None:
        """The shared budget's store went away: this process keeps its own budget until it is back."""


class PrometheusRecorder(Recorder):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry() if registry is None else registry
        registry = self.registry
        self._calls = Counter(
            "twill_mcp_tool_calls", "Tool calls answered, by tool and outcome (ok or the error code).",
            ["tool", "outcome"], registry=registry,
        )  # fmt: skip
        self._duration = Histogram(
            "twill_mcp_tool_call_duration_seconds", "How long tool calls took, by tool.",
            ["tool"], buckets=DURATION_BUCKETS, registry=registry,
        )  # fmt: skip
        self._in_flight = Gauge(
            "twill_mcp_calls_in_flight", "Tool calls being handled now.", multiprocess_mode="livesum", registry=registry
        )
        self._upstream = Counter(
            "twill_mcp_upstream_requests", "Requests sent to Twill, by HTTP status (no_answer: none came).",
            ["status"], registry=registry,
        )  # fmt: skip
        self._retries = Counter(
            "twill_mcp_upstream_retries", "Requests to Twill sent again, by why (an HTTP status or an error code).",
            ["reason"], registry=registry,
        )  # fmt: skip
        self._waits = Counter(
            "twill_mcp_budget_waits",
            "Requests held back by the per-key rate budget until it allowed them.",
            registry=registry,
        )
        self._waited = Counter(
            "twill_mcp_budget_wait_seconds",
            "Seconds requests were held back by the rate budget, in total.",
            registry=registry,
        )
        self._refusals = Counter(
            "twill_mcp_budget_refusals",
            "Calls refused by the rate budget (rate_limited, nothing sent): the wait would not fit the deadline.",
            registry=registry,
        )
        self._fallbacks = Counter(
            "twill_mcp_budget_fallbacks",
            "Times the shared budget's Redis went away, so a process kept its own.",
            registry=registry,
        )
        build = Gauge(
            "twill_mcp_build_info",
            "The running twill-mcp.",
            ["version", "python"],
            multiprocess_mode="max",
            registry=registry,
        )
        build.labels(__version__, platform.python_version()).set(1)
        # Each label set's child, looked up once: `labels()` validates and hashes its values under a lock on
        # every use, a third of what the reports of a call cost. The label sets are bounded (see above).
        self._calls_by = functools.cache(self._calls.labels)
        self._duration_by = functools.cache(self._duration.labels)
        self._upstream_by = functools.cache(self._upstream.labels)
        self._retries_by = functools.cache(self._retries.labels)

    def call_started(self, tool: str) -> None:
        self._in_flight.inc()

    def call_ended(self, tool: str, outcome: str, seconds: float) -> None:
        self._in_flight.dec()
        self._calls_by(tool, outcome).inc()
        self._duration_by(tool).observe(seconds)

    def upstream_answered(self, status: str) -> None:
        self._upstream_by(status).inc()

    def upstream_retried(self, reason: str) -> None:
        self._retries_by(reason).inc()

    def budget_waited(self, seconds: float) -> None:
        self._waits.inc()
        self._waited.inc(seconds)

    def budget_refused(self) -> None:
        self._refusals.inc()

    def budget_fell_back(self) -> None:
        self._fallbacks.inc()


recorder: Recorder = Recorder()
"""What the request path reports to: read as `metrics.recorder` at each use, so that `start` reaches it."""


def record(into: Recorder) -> None:
    """Report to `into` from now on (tests install their own and read its registry)."""
    global recorder
    recorder = into


def start(port: int, host: str) -> None:
    """Record, and serve `/metrics` on `port`, for this one process (stdio, or HTTP without workers)."""
    from prometheus_client import start_http_server

    prometheus = PrometheusRecorder()
    start_http_server(port, addr=host, registry=prometheus.registry)
    record(prometheus)


def start_for_workers(port: int, host: str) -> str | None:
    """In the parent of `--workers` processes: the directory they write to (set in the environment they inherit),
    served from here. Returns the directory when it made one, for `stop_for_workers`."""
    made = None
    if not os.environ.get(MULTIPROCESS_VARIABLE):
        made = tempfile.mkdtemp(prefix="twill-mcp-metrics-")
        os.environ[MULTIPROCESS_VARIABLE] = made
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)
    return made


def record_in_worker() -> None:
    """In a `--workers` process: record into the directory the parent serves from (its samples are in files)."""
    if os.environ.get(MULTIPROCESS_VARIABLE):
        record(PrometheusRecorder())


def stop_for_workers(made: str | None) -> None:
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)
