"""Behind a real load balancer: nginx round-robin over three twill-mcp HTTP instances.

The nginx configuration is the shipped deploy/nginx.conf, with only its ports and log
path substituted, so the file users copy is the file tested. Every request of a client
may land on a different instance (no sticky sessions), in both protocol eras. The instances
require an inbound token, so every answered call shows that nginx passed Authorization on;
the 2026-07-28 client's calls show the same for Mcp-Method and Mcp-Name, which the server
checks against the body. Upstream is the Twill emulator itself rather than the recording
front of tests/fake_twill.py, because that front answers only once a response is complete and
job log streams must arrive live; the emulator records every request just the same.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest

from tests.conftest import API_KEY, PROTOCOL_MODES, call, scan_log
from tests.http_process import free_port, http_server_command, spawn, stop, wait_healthy
from tests.http_thread import MODERN, envelope, era_headers, mcp_client
from twill_mcp.emulator import EmulatorServer, EmulatorState
from twill_mcp.emulator.models import TERMINAL

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
SHIPPED = ROOT / "deploy" / "nginx.conf"
INSTANCES = 3
CALLS_PER_CLIENT = 30
STREAM_MAX_SECONDS = 20
INBOUND_TOKEN = "lb-token-" + secrets.token_hex(16)
# The placeholders in deploy/nginx.conf that a deployment (and this test) fills in.
UPSTREAM_PLACEHOLDERS = ("127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003")
LISTEN_PLACEHOLDER = "listen 8080;"
ACCESS_LOG_PLACEHOLDER = "/var/log/nginx/twill-mcp.access.log"


def find_nginx() -> str | None:
    # Debian puts it in /usr/sbin, which is not on a non-root PATH.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")


@pytest.fixture(scope="session")
def nginx() -> str:
    """nginx from Debian's packages, which `.ci/run` installs; skipped where it is absent."""
    found = find_nginx()
    if found is None:
        pytest.skip("nginx is not installed (`.ci/run` installs Debian's nginx-light)")
    return found


def render(shipped: str, upstream_ports: list[int], listen_port: int, access_log: Path) -> str:
    substitutions = {
        LISTEN_PLACEHOLDER: f"listen 127.0.0.1:{listen_port};",
        ACCESS_LOG_PLACEHOLDER: str(access_log),
        **{
            placeholder: f"127.0.0.1:{port}"
            for placeholder, port in zip(UPSTREAM_PLACEHOLDERS, upstream_ports, strict=True)
        },
    }
    for placeholder, value in substitutions.items():
        # Each exactly once: a reworded deploy/nginx.conf must fail here, not test something else.
        assert shipped.count(placeholder) == 1, placeholder
        shipped = shipped.replace(placeholder, value)
    return shipped


def main_config(site: Path, prefix: Path) -> str:
    """The process-level wrapper a distribution's nginx.conf provides, with every path in the test's tmp dir."""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx would switch its worker to "nobody", which cannot enter pytest's tmp dirs.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log stderr warn;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\n{temp}\n    include {site};\n}}\n"
    )


class Deployment:
    """INSTANCES twill-mcp processes against one Twill origin, behind nginx with the shipped config."""

    def __init__(self, nginx: str, twill_origin: str, tmp_path: Path) -> None:
        self.nginx = nginx
        self.env = {"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": twill_origin, "TWILL_MCP_HTTP_TOKEN": INBOUND_TOKEN}
        self.tmp = tmp_path
        self.ports = [free_port() for _ in range(INSTANCES)]
        self.listen = free_port()
        self.access_log = tmp_path / "access.log"
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen}/mcp"

    def start(self) -> None:
        for index, port in enumerate(self.ports):
            log = self.tmp / f"twill-mcp-{index}.log"
            self._spawn(http_server_command(port), log, self.env)
        prefix = self.tmp / "nginx"
        prefix.mkdir()
        site = self.tmp / "twill-mcp.conf"
        site.write_text(render(SHIPPED.read_text(encoding="utf-8"), self.ports, self.listen, self.access_log))
        (prefix / "nginx.conf").write_text(main_config(site, prefix))
        nginx = [self.nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"]
        tested = subprocess.run([*nginx, "-t"], capture_output=True, text=True)
        assert tested.returncode == 0, tested.stderr
        self._spawn(nginx, self.tmp / "nginx.log", dict(os.environ))
        for (process, log), port in zip(self.processes, [*self.ports, self.listen], strict=True):
            wait_healthy(f"http://127.0.0.1:{port}/healthz", process, log)

    def _spawn(self, command: list[str], log: Path, env: dict[str, str]) -> None:
        self.processes.append((spawn(command, log, env), log))

    def stop(self) -> None:
        for process, _ in reversed(self.processes):
            stop(process)

    def served_by(self, since: int) -> Counter[int]:
        """Answered MCP requests per upstream port, from nginx's access log after byte offset `since`."""
        with self.access_log.open("rb") as log_file:
            log = log_file.read()[since:].decode()
        ports = re.findall(r'"POST /mcp HTTP/1\.1" 200 .* upstream=127\.0\.0\.1:(\d+) ', log)
        return Counter(int(port) for port in ports)


@pytest.fixture(scope="module")
def twill() -> Iterator[EmulatorServer]:
    """The upstream: the emulator itself, which records every request and streams job logs live."""
    unlimited = {"rate_limit_per_minute": 0, "rate_limit_per_hour": 0}
    with EmulatorServer(EmulatorState(), api_keys={API_KEY}, sse_interval=0.05, **unlimited) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def deployment(nginx: str, twill: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One deployment for the module: starting four processes is most of what these tests cost."""
    deployment = Deployment(nginx, twill.origin, tmp_path_factory.mktemp("loadbalancer"))
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
    for _, log in deployment.processes:
        scan_log(log)


def running_job(state: EmulatorState) -> str:
    """A job whose log stream stays open until the job ends (or the stream's maxSeconds)."""
    _, job = state.create_task("Follow this job")
    assert job is not None
    assert state.job_status(job.id) not in TERMINAL
    return job.id


def test_the_shipped_config_leaves_nothing_to_chance() -> None:
    """What streaming and statelessness need is set, and no directive pins a client to an instance."""
    shipped = SHIPPED.read_text(encoding="utf-8")
    directives = {line.strip() for line in shipped.splitlines() if not line.strip().startswith("#")}
    assert {"proxy_buffering off;", "proxy_http_version 1.1;", 'proxy_set_header Connection "";'} <= directives
    assert "proxy_read_timeout 60s;" in directives  # above the 45 s call deadline
    assert not re.search(r"^\s*(ip_hash|hash|sticky)\b", shipped, re.M)


@pytest.mark.anyio
async def test_both_eras_are_served_round_robin_through_nginx(deployment: Deployment, twill: EmulatorServer) -> None:
    task_ids = {mode: [f"lb-{mode}-{n}" for n in range(CALLS_PER_CLIENT)] for mode in PROTOCOL_MODES.values()}
    for ids in task_ids.values():
        for task_id in ids:
            twill.state.create_task(f"Task {task_id}", task_id=task_id)
    answered: dict[str, list[str]] = {mode: [] for mode in task_ids}
    earlier_requests, earlier_log = len(twill.requests), deployment.access_log.stat().st_size

    async def client_run(mode: str) -> None:
        async with mcp_client(deployment.url, mode, {"Authorization": f"Bearer {INBOUND_TOKEN}"}) as client:

            async def one(task_id: str) -> None:
                result = await call(client, "get_task", {"taskIdOrSlug": task_id})
                assert not result.is_error, result
                assert isinstance(result.structured_content, dict)
                answered[mode].append(result.structured_content["task"]["id"])

            async with anyio.create_task_group() as group:
                for task_id in task_ids[mode]:
                    group.start_soon(one, task_id)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for mode in task_ids:
                group.start_soon(client_run, mode)

    for mode, ids in task_ids.items():
        assert sorted(answered[mode]) == sorted(ids)
    reached = twill.requests[earlier_requests:]
    assert Counter(request.raw_path.split("/")[-1] for request in reached) == Counter(
        task_id for ids in task_ids.values() for task_id in ids
    )
    assert not [request for request in reached if INBOUND_TOKEN in str(request.headers)]
    assert set(deployment.served_by(since=earlier_log)) == set(deployment.ports)


@pytest.mark.anyio
async def test_progress_passes_nginx_as_it_happens(deployment: Deployment, twill: EmulatorServer) -> None:
    """The job ends only once the client has seen a progress notification: had anything on the way held
    the notification back until the log stream ended, the call would run its full maxSeconds."""
    state = twill.state
    job = running_job(state)

    async def progress(done: float, total: float | None, message: str | None) -> None:
        state.finish_job(job)

    with anyio.fail_after(STREAM_MAX_SECONDS / 2):
        async with mcp_client(
            deployment.url, PROTOCOL_MODES["2026-07-28"], {"Authorization": f"Bearer {INBOUND_TOKEN}"}
        ) as client:
            arguments = {"jobId": job, "maxSeconds": STREAM_MAX_SECONDS}
            result = await client.call_tool("stream_job_logs", arguments, progress_callback=progress)
    assert not result.is_error, result
    assert isinstance(result.structured_content, dict)
    assert result.structured_content["stoppedBy"] == "complete"


@pytest.mark.anyio
async def test_a_client_hanging_up_on_nginx_cancels_its_call(deployment: Deployment, twill: EmulatorServer) -> None:
    """nginx closes the instance's connection when its client goes, and the instance then cancels the call
    (tests/test_http.py shows that cancelling abandons the Twill request); otherwise the instance would
    follow the job's log stream for its full maxSeconds."""
    arguments = {"jobId": running_job(twill.state), "maxSeconds": STREAM_MAX_SECONDS}
    body = envelope(
        MODERN, "tools/call", {"name": "stream_job_logs", "arguments": arguments, "_meta": {"progressToken": 1}}
    )
    headers = {**era_headers(MODERN, "tools/call", "stream_job_logs"), "Authorization": f"Bearer {INBOUND_TOKEN}"}
    logs = [log for _, log in deployment.processes[:INSTANCES]]
    earlier = [log.stat().st_size for log in logs]

    def cancelled() -> bool:
        return any(
            "client disconnected before the answer: cancelling" in log.read_bytes()[size:].decode(errors="replace")
            for log, size in zip(logs, earlier, strict=True)
        )

    with anyio.fail_after(STREAM_MAX_SECONDS / 2):
        async with (
            httpx2.AsyncClient(timeout=30) as http,
            http.stream("POST", deployment.url, json=body, headers=headers) as response,
        ):
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if "notifications/progress" in line:
                    break  # the call is following the job's log stream: hang up now
        while not cancelled():
            await anyio.sleep(0.05)
