"""Shared fixtures: a fake Twill upstream, and twill-mcp launched over real stdio."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.fake_twill import FakeTwill
from twill_mcp.compiler import CompiledTool, compile_spec
from twill_mcp.spec import load_bundled_spec

# Distinctive per run, so a scan for it cannot match anything by accident.
API_KEY = "twk_test_" + secrets.token_hex(20)
SERVER_COMMAND = [sys.executable, "-m", "twill_mcp"]
PROTOCOL_MODES = {"2025-11-25": "legacy", "2026-07-28": "2026-07-28"}

Launch = Callable[..., AbstractAsyncContextManager[Client]]
# What the suite scanned for the key, reported at the end of the run.
SCANNED = {"results": 0, "result_bytes": 0, "logs": 0, "log_bytes": 0}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"key scan: {SCANNED['results']} results ({SCANNED['result_bytes']} bytes) and "
        f"{SCANNED['logs']} stderr logs ({SCANNED['log_bytes']} bytes) free of the API key"
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_twill() -> AsyncIterator[FakeTwill]:
    fake = FakeTwill(API_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture(params=list(PROTOCOL_MODES.values()), ids=list(PROTOCOL_MODES))
def protocol_mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def stderr_logs(tmp_path: Path) -> AsyncIterator[list[Path]]:
    """Every stderr file the test's servers wrote; none may contain the key."""
    logs: list[Path] = []
    yield logs
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        assert API_KEY not in text, f"API key leaked to {log}"
        SCANNED["logs"] += 1
        SCANNED["log_bytes"] += len(text.encode())


def server_env(fake_twill: FakeTwill, **overrides: str | None) -> dict[str, str]:
    env: dict[str, str | None] = {"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": fake_twill.origin, **overrides}
    return {k: v for k, v in env.items() if v is not None}


@pytest.fixture
def launch(fake_twill: FakeTwill, protocol_mode: str, tmp_path: Path, stderr_logs: list[Path]) -> Launch:
    """Start twill-mcp as a subprocess and connect the SDK client over its stdio.

    Keyword arguments set (or, with None, unset) the server's environment.
    """

    @asynccontextmanager
    async def _launch(**env: str | None) -> AsyncIterator[Client]:
        log = tmp_path / f"stderr-{len(stderr_logs)}.log"
        stderr_logs.append(log)
        params = StdioServerParameters(
            command=SERVER_COMMAND[0], args=SERVER_COMMAND[1:], env=server_env(fake_twill, **env)
        )
        with log.open("w", encoding="utf-8") as errlog:
            async with Client(stdio_client(params, errlog=errlog), mode=protocol_mode) as client:
                yield client

    return _launch


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
