"""Behind a proxy: calls go through the one HTTP(S)_PROXY names, NO_PROXY is honoured, and failures name the proxy.

The proxy is a real forward proxy (PyPI proxy.py) in its own process on an ephemeral loopback
port; what it saw is read from its access log, an oracle independent of the client.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import API_KEY, send
from tests.fake_twill import FakeTwill, closed_port
from tests.tls_twill import tls_twill
from twill_mcp import cli
from twill_mcp.core.config import ENVIRONMENT, Settings
from twill_mcp.core.errors import ConfigError, UpstreamUnreachable
from twill_mcp.core.logs import configure_logging
from twill_mcp.transports.http import _worker_settings
from twill_mcp.upstream.http import TwillHttp
from twill_mcp.upstream.outcomes import Effect
from twill_mcp.upstream.request import PreparedRequest

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WHO_AM_I = PreparedRequest("GET", "/auth/me")
READING = Effect(read_only=True, idempotent=True, action="read")
CANCEL = PreparedRequest("POST", "/tasks/t1/cancel", json_body={}, has_body=True)
CANCELLING = Effect(read_only=False, idempotent=True, action="cancel the task")
PROXY_PASSWORD = "hunter2-proxy-secret"


@dataclass
class ForwardProxy:
    url: str
    log: Path

    def access(self) -> list[str]:
        """The access-log lines so far: one per request or CONNECT the proxy handled."""
        return [line for line in self.log.read_text(encoding="utf-8").splitlines() if "access_log" in line]

    def saw(self, needle: str) -> bool:
        """Whether a request containing `needle` went through; the proxy logs it just after answering."""
        deadline = time.monotonic() + 5
        while not any(needle in line for line in self.access()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForwardProxy]:
    folder = tmp_path_factory.mktemp("proxy")
    port_file, log = folder / "port", folder / "proxy.log"
    command = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0", "--port-file", str(port_file)]
    command += ["--log-file", str(log), "--num-acceptors", "1", "--num-workers", "1"]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, "proxy.py exited at start-up"
            assert time.monotonic() < deadline, "proxy.py did not start"
            time.sleep(0.02)
        yield ForwardProxy(f"http://127.0.0.1:{port_file.read_text().strip()}", log)
    finally:
        process.terminate()
        process.wait(timeout=10)


def settings(upstream: str, **env: str) -> Settings:
    return Settings.load({"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": upstream, **env}, max_retries=0)


def with_password(proxy_url: str) -> str:
    return proxy_url.replace("http://", f"http://user:{PROXY_PASSWORD}@")


async def test_a_call_goes_through_the_proxy_http_proxy_names(proxy: ForwardProxy, fake_twill: FakeTwill) -> None:
    async with TwillHttp(settings(fake_twill.origin, HTTP_PROXY=proxy.url)) as http:
        raw = await send(http, WHO_AM_I, READING)
    assert raw.status == 200
    assert [r.raw_path for r in fake_twill.requests] == ["/api/v1/auth/me"]
    assert proxy.saw(f"GET {fake_twill.origin.removeprefix('http://')}/api/v1/auth/me")


async def test_the_lowercase_variable_wins_over_the_uppercase_one(proxy: ForwardProxy, fake_twill: FakeTwill) -> None:
    unreachable = f"http://127.0.0.1:{closed_port()}"
    async with TwillHttp(settings(fake_twill.origin, HTTP_PROXY=unreachable, http_proxy=proxy.url)) as http:
        raw = await send(http, WHO_AM_I, READING)
    assert raw.status == 200


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.0/8", "*", "{host}:{port}"])
async def test_no_proxy_naming_the_upstream_bypasses_the_proxy(
    proxy: ForwardProxy, fake_twill: FakeTwill, no_proxy: str
) -> None:
    host, port = fake_twill.origin.removeprefix("http://").split(":")
    marker = f"bypass-{abs(hash(no_proxy))}"
    config = settings(fake_twill.origin, HTTP_PROXY=proxy.url, NO_PROXY=no_proxy.format(host=host, port=port))
    async with TwillHttp(config) as http:
        raw = await send(http, PreparedRequest("GET", "/auth/me", params=[("call", marker)]), READING)
    assert raw.status == 200
    assert len(fake_twill.requests) == 1
    # The proxy logs in order: once a later call through it is logged, a proxied bypass call would be too.
    async with TwillHttp(settings(fake_twill.origin, HTTP_PROXY=proxy.url)) as http:
        await send(http, PreparedRequest("GET", "/auth/me", params=[("call", f"after-{marker}")]), READING)
    assert proxy.saw(f"call=after-{marker}")
    assert not any(f"call={marker} " in line for line in proxy.access())


async def test_no_proxy_for_another_port_does_not_bypass(proxy: ForwardProxy, fake_twill: FakeTwill) -> None:
    config = settings(fake_twill.origin, HTTP_PROXY=proxy.url, NO_PROXY=f"127.0.0.1:{closed_port()}")
    async with TwillHttp(config) as http:
        await send(http, PreparedRequest("GET", "/auth/me", params=[("via", "other-port")]), READING)
    assert proxy.saw("via=other-port")


async def test_https_goes_through_a_connect_tunnel_the_proxy_cannot_read(proxy: ForwardProxy, tmp_path: Path) -> None:
    with tls_twill(tmp_path) as upstream:
        config = settings(upstream.origin, HTTPS_PROXY=proxy.url, SSL_CERT_FILE=str(upstream.ca_file))
        async with TwillHttp(config) as http:
            raw = await send(http, WHO_AM_I, READING)
    assert raw.status == 200
    assert upstream.paths == ["/api/v1/auth/me"]
    assert proxy.saw(f"CONNECT {upstream.origin.removeprefix('https://')}")
    assert not any("/api/v1" in line for line in proxy.access() if upstream.origin[8:] in line)


async def test_an_unreachable_proxy_is_upstream_unreachable_naming_it_nothing_sent(fake_twill: FakeTwill) -> None:
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    async with TwillHttp(settings(fake_twill.origin, HTTP_PROXY=with_password(dead_proxy))) as http:
        with pytest.raises(UpstreamUnreachable) as caught:
            await send(http, CANCEL, CANCELLING)
    message = str(caught.value)
    assert f"through the proxy http://***@{dead_proxy.removeprefix('http://')}" in message
    assert "nothing was sent" in message
    assert PROXY_PASSWORD not in message + caught.value.hint
    assert fake_twill.requests == []


async def test_a_connect_the_proxy_refuses_means_nothing_was_sent(proxy: ForwardProxy, tmp_path: Path) -> None:
    """The CONNECT reached the proxy, but no byte of the call went past it: safe to repeat even a change."""
    nowhere = f"https://127.0.0.1:{closed_port()}"
    async with TwillHttp(settings(nowhere, HTTPS_PROXY=proxy.url)) as http:
        with pytest.raises(UpstreamUnreachable) as caught:
            await send(http, CANCEL, CANCELLING)
    assert f"through the proxy {proxy.url}" in str(caught.value)
    assert "nothing was sent" in str(caught.value)


@pytest.mark.parametrize(
    "value",
    ["socks5://user:hunter2-proxy-secret@127.0.0.1:1080", "http://user:hunter2-proxy-secret@127.0.0.1:port"],
)
def test_a_bad_proxy_url_stops_start_up_without_echoing_its_password(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load({"HTTPS_PROXY": value})
    assert str(caught.value).startswith("HTTPS_PROXY: ")
    assert "***@127.0.0.1" in str(caught.value)
    assert PROXY_PASSWORD not in str(caught.value)


def test_a_problem_names_the_variable_that_was_set() -> None:
    with pytest.raises(ConfigError, match=r"^https_proxy: must be an http:// or https:// proxy URL"):
        Settings.load({"https_proxy": "ftp://proxy.example.com"})


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [*ENVIRONMENT, "TWILL_API_KEY", "TWILL_API_KEY_FILE"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWILL_MCP_MAX_RETRIES", "0")
    return monkeypatch


def test_doctor_names_the_proxy_without_its_password(
    capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch, proxy: ForwardProxy, fake_twill: FakeTwill
) -> None:
    clean_env.setenv("TWILL_BASE_URL", fake_twill.origin)
    clean_env.setenv("TWILL_API_KEY", API_KEY)
    clean_env.setenv("http_proxy", with_password(proxy.url))
    code = cli.main(["doctor"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"ok   proxy: http://***@{proxy.url.removeprefix('http://')}, from http_proxy\n" in out
    assert "ok   TLS trust: the system trust store\n" in out
    assert PROXY_PASSWORD not in out
    assert proxy.saw(f"GET {fake_twill.origin.removeprefix('http://')}/api/v1/auth/me")


def test_doctor_says_when_no_proxy_sends_twill_direct(
    capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch, fake_twill: FakeTwill
) -> None:
    clean_env.setenv("TWILL_BASE_URL", fake_twill.origin)
    clean_env.setenv("TWILL_API_KEY", API_KEY)
    clean_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    clean_env.setenv("NO_PROXY", "localhost,127.0.0.1")
    code = cli.main(["doctor"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ok   proxy: none: 127.0.0.1 is in NO_PROXY\n" in out


def test_doctor_says_which_cas_it_trusts(
    capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with tls_twill(tmp_path) as upstream:
        clean_env.setenv("TWILL_BASE_URL", upstream.origin)
        clean_env.setenv("TWILL_API_KEY", API_KEY)
        clean_env.setenv("SSL_CERT_FILE", str(upstream.ca_file))
        code = cli.main(["doctor"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"ok   TLS trust: the CAs in {upstream.ca_file} (SSL_CERT_FILE)\n" in out
    assert "ok   proxy: none (HTTPS_PROXY is not set)\n" in out


def test_doctor_says_to_set_ssl_cert_file_when_a_certificate_is_refused(
    capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with tls_twill(tmp_path) as upstream:
        clean_env.setenv("TWILL_BASE_URL", upstream.origin)
        clean_env.setenv("TWILL_API_KEY", API_KEY)
        code = cli.main(["doctor"])
    out = capsys.readouterr().out
    assert code == 1, out
    [failed] = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert "CERTIFICATE_VERIFY_FAILED" in failed
    assert failed.endswith(
        "fix: if your network inspects TLS, set SSL_CERT_FILE to a PEM bundle with its CA (and the public ones)"
    )


def test_the_sandbox_never_goes_through_the_proxy(
    capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    code = cli.main(["doctor", "--sandbox"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ok   proxy: none: the sandbox runs in this process\n" in out


def test_the_proxy_password_is_scrubbed_from_logs_in_every_form_it_travels(tmp_path: Path) -> None:
    config = Settings.load({"HTTPS_PROXY": f"http://user:{PROXY_PASSWORD}@proxy.example.com:3128"})
    header = "Basic " + base64.b64encode(f"user:{PROXY_PASSWORD}".encode()).decode()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with (tmp_path / "log").open("w+", encoding="utf-8") as stream:
        try:
            configure_logging("DEBUG", secrets=config.secrets(), stream=stream)
            logging.getLogger("httpcore2").warning("via http://user:%s@proxy.example.com:3128", PROXY_PASSWORD)
            logging.getLogger("httpcore2").warning("Proxy-Authorization: %s", header)
        finally:
            root.handlers[:], root.level = handlers, level
        stream.seek(0)
        logged = stream.read()
    assert "via http://[redacted]@proxy.example.com:3128" in logged
    assert PROXY_PASSWORD not in logged
    assert header.split()[1] not in logged


def test_a_worker_process_rebuilds_the_proxy_from_the_environment_not_from_a_masked_copy(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("HTTPS_PROXY", with_password("http://proxy.example.com:3128"))
    clean_env.setenv("NO_PROXY", "internal.example.com")
    parent = Settings.load()
    passed = json.loads(_worker_settings(parent, sandboxed=False))["settings"]
    assert Settings.load(**passed) == parent
    assert PROXY_PASSWORD not in json.dumps(passed)
