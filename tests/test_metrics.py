"""Prometheus metrics: after a known mix of calls, /metrics says exactly what was done, read with the library's parser.

In-process, a recorder of the test's own is installed and its registry read; as processes, the real
`/metrics` port is scraped, alone and across `--workers 2`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import API_KEY, Launch, call, server_env
from tests.fake_twill import FakeTwill, Scripted
from tests.http_process import free_port, serving_http
from tests.http_thread import LEGACY, MODERN, mcp_client
from twill_mcp import __version__
from twill_mcp.core import metrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parsed(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def recorded() -> Iterator[metrics.PrometheusRecorder]:
    """Metrics on, into a registry of this test's own; off again afterwards."""
    recorder = metrics.PrometheusRecorder()
    metrics.record(recorder)
    yield recorder
    metrics.record(metrics.Recorder())


def scrape(recorder: metrics.PrometheusRecorder) -> Samples:
    return parsed(generate_latest(recorder.registry).decode())


@pytest.mark.anyio
async def test_calls_are_counted_by_tool_and_outcome(
    in_memory: Launch, fake_twill: FakeTwill, recorded: metrics.PrometheusRecorder
) -> None:
    fake_twill.add_task("t1")
    async with in_memory() as client:
        await call(client, "get_task", {"taskIdOrSlug": "t1"})
        await call(client, "get_task", {"taskIdOrSlug": "t1"})
        await call(client, "get_task", {"taskIdOrSlug": "missing"})
        await call(client, "get_task", {})
    samples = scrape(recorded)
    assert value(samples, "twill_mcp_tool_calls_total", tool="get_task", outcome="ok") == 2
    assert value(samples, "twill_mcp_tool_calls_total", tool="get_task", outcome="not_found") == 1
    assert value(samples, "twill_mcp_tool_calls_total", tool="get_task", outcome="invalid_arguments") == 1
    assert value(samples, "twill_mcp_tool_call_duration_seconds_count", tool="get_task") == 4
    assert value(samples, "twill_mcp_calls_in_flight") == 0


@pytest.mark.anyio
async def test_upstream_answers_are_counted_by_status_and_retries_by_reason(
    in_memory: Launch, fake_twill: FakeTwill, recorded: metrics.PrometheusRecorder
) -> None:
    fake_twill.add_task("t1")
    fake_twill.then(Scripted(503, b"{}", {"Content-Type": "application/json"}))
    async with in_memory() as client:
        result = await call(client, "get_task", {"taskIdOrSlug": "t1"})
    assert not result.is_error
    samples = scrape(recorded)
    assert value(samples, "twill_mcp_upstream_requests_total", status="503") == 1
    assert value(samples, "twill_mcp_upstream_requests_total", status="200") == 1
    assert value(samples, "twill_mcp_upstream_retries_total", reason="503") == 1


@pytest.mark.anyio
async def test_a_call_the_budget_cannot_fit_is_counted_as_a_refusal(
    in_memory: Launch, fake_twill: FakeTwill, recorded: metrics.PrometheusRecorder
) -> None:
    async with in_memory(TWILL_MCP_RATE_LIMIT="1") as client:
        await call(client, "get_current_user", {})
        refused = await call(client, "get_current_user", {})
    assert refused.is_error
    samples = scrape(recorded)
    assert value(samples, "twill_mcp_budget_refusals_total") == 1
    assert value(samples, "twill_mcp_tool_calls_total", tool="get_current_user", outcome="rate_limited") == 1
    assert value(samples, "twill_mcp_upstream_requests_total", status="200") == 1


def test_the_build_is_labelled_with_the_version() -> None:
    samples = scrape(metrics.PrometheusRecorder())
    [build] = [labels for name, labels in samples if name == "twill_mcp_build_info"]
    assert dict(build)["version"] == __version__


@pytest.mark.anyio
async def test_no_label_holds_a_key_a_fingerprint_or_a_task_id(
    in_memory: Launch, fake_twill: FakeTwill, recorded: metrics.PrometheusRecorder
) -> None:
    fake_twill.add_task("task-id-in-no-label")
    async with in_memory() as client:
        await call(client, "get_task", {"taskIdOrSlug": "task-id-in-no-label"})
        await call(client, "get_task", {"taskIdOrSlug": "other-id-in-no-label"})
    text = generate_latest(recorded.registry).decode()
    assert "in-no-label" not in text
    assert API_KEY not in text
    assert "key:" not in text


@pytest.mark.slow
def test_serving_without_metrics_or_redis_does_not_import_their_libraries() -> None:
    script = "import sys, twill_mcp.cli; print(sorted({'prometheus_client', 'redis'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"


async def calls_through(url: str, count: int) -> None:
    for i in range(count):
        # A fresh connection per call: with workers, the kernel hands each to whichever accepts first.
        async with mcp_client(url, MODERN if i % 2 else LEGACY) as client:
            result = await call(client, "get_current_user", {})
        assert not result.is_error, result


def scraped(port: int) -> Samples:
    answer = httpx2.get(f"http://127.0.0.1:{port}/metrics")
    assert answer.status_code == 200
    return parsed(answer.text)


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("workers", [1, 2])
async def test_one_scrape_counts_every_call_of_every_worker(
    fake_twill: FakeTwill, tmp_path: Path, stderr_logs: list[Path], workers: int
) -> None:
    port = free_port()
    # Named, rather than the temporary one the server would make, so that the test can see who wrote to it.
    samples_dir = tmp_path / "samples"
    samples_dir.mkdir()
    env: dict[str, Any] = server_env(
        fake_twill, TWILL_MCP_METRICS_PORT=str(port), PROMETHEUS_MULTIPROC_DIR=str(samples_dir) if workers > 1 else None
    )
    log = tmp_path / "server.log"
    stderr_logs.append(log)
    with serving_http(log, env, "--workers", str(workers)) as origin:
        await calls_through(f"{origin}/mcp", 8)
        samples = scraped(port)
        writers = {path.stem.rpartition("_")[2] for path in samples_dir.glob("*.db")}
    assert value(samples, "twill_mcp_tool_calls_total", tool="get_current_user", outcome="ok") == 8
    assert value(samples, "twill_mcp_upstream_requests_total", status="200") == 8
    assert value(samples, "twill_mcp_calls_in_flight") == 0
    assert len(writers) == (workers if workers > 1 else 0)  # every worker's samples are in what was scraped


@pytest.mark.anyio
async def test_a_stdio_server_serves_its_metrics_on_their_own_port(over_stdio: Launch) -> None:
    port = free_port()
    async with over_stdio(TWILL_MCP_METRICS_PORT=str(port)) as client:
        await call(client, "get_current_user", {})
        samples = scraped(port)
    assert value(samples, "twill_mcp_tool_calls_total", tool="get_current_user", outcome="ok") == 1
