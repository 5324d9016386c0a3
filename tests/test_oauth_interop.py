"""OAuth clients nobody here wrote, on real sockets: the official TypeScript SDK client (Node.js), and
mcp-remote (npm; the stdio bridge Claude Desktop users put in front of remote servers), and MCP Inspector's CLI
(npm). Each discovers,
registers or uses a pinned client id, goes through the consent page, and calls a tool that reaches Twill with
the consented key."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.conftest import INTEROP, call
from tests.http_thread import stopped_cleanly
from tests.oauth_harness import CLAUDE_CODE, CONSENTED_KEY, OAuthService, browser, free_port, open_consent, submit

pytestmark = pytest.mark.slow
CALLBACK = "http://localhost:43119/callback"


@pytest.fixture(autouse=True, scope="module")
def _servers_stop() -> Iterator[None]:
    yield
    stopped_cleanly()


def run_ts_oauth(interop: Path, service: OAuthService, **plan: Any) -> dict[str, Any]:
    full = {"url": service.url, "key": CONSENTED_KEY, "redirect": CALLBACK, "tool": "get_current_user", **plan}
    done = subprocess.run(
        ["node", str(interop / "ts_oauth_client.mjs"), json.dumps(full)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert CONSENTED_KEY not in done.stdout + done.stderr
    return out


def test_the_typescript_client_registers_consents_and_calls_a_tool_with_the_consented_key(
    ts_interop: Path, oauth_service: OAuthService
) -> None:
    oauth_service.fake.reset()
    out = run_ts_oauth(ts_interop, oauth_service)
    assert out["unauthorizedFirst"] is True
    assert out["clientId"].startswith("tmcl_")
    assert out["iss"] == oauth_service.issuer
    assert out["hasRefreshToken"] is True
    assert not out["result"].get("isError")
    assert oauth_service.fake.requests[-1].headers["authorization"] == f"Bearer {CONSENTED_KEY}"


def test_the_typescript_client_uses_a_pinned_client_id_metadata_document(
    ts_interop: Path, oauth_service: OAuthService
) -> None:
    out = run_ts_oauth(ts_interop, oauth_service, clientMetadataUrl=CLAUDE_CODE)
    assert out["clientId"] == CLAUDE_CODE
    assert not out["result"].get("isError")


REMOTE = INTEROP / "remote"
REMOTE_PROXY = REMOTE / "node_modules" / "mcp-remote" / "dist" / "proxy.js"
INSPECTOR = INTEROP / "inspector"
INSPECTOR_CLI = INSPECTOR / "node_modules" / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build"
AUTHORIZE_LINE = re.compile(r"(http://127\.0\.0\.1:\d+/authorize\?\S+)")


def npm_installed(folder: Path, entry: Path) -> Path:
    """A client pinned in `folder`'s package-lock.json, installed on first use (npm ci)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed for the npm clients")
    if not entry.is_file():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=folder, check=True, capture_output=True, timeout=600
        )
    return entry


@pytest.fixture(scope="module")
def mcp_remote() -> Path:
    """mcp-remote 0.15.1, pinned in tests/interop/remote."""
    return npm_installed(REMOTE, REMOTE_PROXY)


@pytest.fixture(scope="module")
def inspector() -> Path:
    """MCP Inspector 2.12.0 (its CLI), pinned in tests/interop/inspector."""
    return npm_installed(INSPECTOR, INSPECTOR_CLI / "index.js")


def client_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A client's environment: its stored state under the test's directory, "opening a browser" a no-op."""
    env = {name: os.environ[name] for name in ("PATH",) if name in os.environ}
    return {**env, "HOME": str(tmp_path / "home"), "BROWSER": "true", **extra}


def consent_when_asked(log: Path) -> None:
    """The user's part: the client prints the authorization URL (no browser can open here); the page is
    approved with the key, and the browser's redirect lands on the client's own callback listener."""
    for _ in range(600):
        found = AUTHORIZE_LINE.search(log.read_text(errors="replace"))
        if found:
            break
        time.sleep(0.05)  # the client gives no signal but its log line
    else:
        raise AssertionError("the client printed no authorization URL:\n" + log.read_text(errors="replace"))
    with browser() as http:
        approved = submit(http, open_consent(http, found.group(1)), CONSENTED_KEY)
    assert httpx2.get(approved.headers["location"], timeout=30).status_code == 200


@pytest.mark.anyio
async def test_mcp_remote_registers_consents_and_bridges_a_tool_call_with_the_consented_key(
    mcp_remote: Path, oauth_service: OAuthService, tmp_path: Path
) -> None:
    log = tmp_path / "mcp-remote.log"
    env = client_env(tmp_path, MCP_REMOTE_CONFIG_DIR=str(tmp_path / "mcp-auth"))
    command = [str(mcp_remote), oauth_service.url, str(free_port()), "--allow-http"]
    params = StdioServerParameters(command="node", args=command, env=env)
    oauth_service.fake.reset()
    with log.open("w", encoding="utf-8") as errlog:
        async with anyio.create_task_group() as group:
            group.start_soon(anyio.to_thread.run_sync, consent_when_asked, log)
            async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
                result = await call(client, "get_current_user", {})
    assert not result.is_error
    assert oauth_service.fake.requests[-1].headers["authorization"] == f"Bearer {CONSENTED_KEY}"
    stored = "".join(path.read_text(errors="replace") for path in (tmp_path / "mcp-auth").rglob("*") if path.is_file())
    assert CONSENTED_KEY not in log.read_text(errors="replace") + stored


def test_the_inspector_cli_signs_in_and_calls_a_tool_with_the_consented_key(
    inspector: Path, oauth_service: OAuthService, tmp_path: Path
) -> None:
    log = tmp_path / "inspector.log"
    callback = f"http://127.0.0.1:{free_port()}/oauth/callback"
    command = ["node", str(inspector), "--cli", oauth_service.url, "--method", "tools/call"]
    command += ["--tool-name", "get_current_user", "--callback-url", callback, "--format", "json"]
    # Off a terminal the CLI signs in only when allowed to "open a browser"; it then prints the URL.
    env = client_env(tmp_path, MCP_AUTO_OPEN_ENABLED="true")
    oauth_service.fake.reset()
    with log.open("w", encoding="utf-8") as errlog:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errlog, text=True, env=env)
        try:
            consent_when_asked(log)
            out, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, out + log.read_text(errors="replace")
    assert not json.loads(out)["result"].get("isError")
    assert oauth_service.fake.requests[-1].headers["authorization"] == f"Bearer {CONSENTED_KEY}"
    assert CONSENTED_KEY not in out + log.read_text(errors="replace")
