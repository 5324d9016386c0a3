"""twill-mcp's HTTP service on a real loopback socket, in a thread of the test process, and clients for it."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx2
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import API_KEY
from tests.fake_twill import FakeTwill
from twill_mcp.core.config import Settings
from twill_mcp.tools.catalog import exposed_tools
from twill_mcp.transports.http import build_app, uvicorn_config

START_TIMEOUT = 10.0
MODERN = "2026-07-28"
LEGACY = "2025-11-25"
# What the SDK's client sends on a POST; raw requests start from this.
POST_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def settings_for(fake: FakeTwill, **overrides: Any) -> Settings:
    """The service's settings against the fake, from nothing in this process's environment."""
    values: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": fake.origin,
        "transport": "http",
        "port": 0,
        "toolsets": "all",
        **overrides,
    }
    return Settings.load({}, **values)


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """Serve `settings` until the block ends; yields the MCP endpoint's URL.

    Always on 127.0.0.1, whatever `settings.host` says: the app is configured for that host
    (auth, allowed hosts), but a test never listens beyond this machine.
    """
    app = build_app(settings, exposed_tools(settings), sandboxed=False)
    server = uvicorn.Server(uvicorn_config(settings.model_copy(update={"host": "127.0.0.1"}), app))
    thread = threading.Thread(target=server.run, name="twill-mcp-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        assert thread.is_alive(), "the HTTP service stopped while starting"
        assert time.monotonic() < deadline, "the HTTP service did not start in time"
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}{settings.path}"
    finally:
        # uvicorn takes ~0.2 s to notice and shut down; that overlaps the next test, and
        # `stopped_cleanly` (at the end of each module) checks that every server did stop.
        server.should_exit = True
        STOPPING.append(thread)


STOPPING: list[threading.Thread] = []


def stopped_cleanly() -> None:
    """Every server started by `serving` has shut down."""
    while STOPPING:
        thread = STOPPING.pop()
        thread.join(START_TIMEOUT)
        assert not thread.is_alive(), "an HTTP service did not shut down"


@asynccontextmanager
async def mcp_client(url: str, mode: str, headers: dict[str, str] | None = None) -> AsyncIterator[Client]:
    """The SDK's own client over its streamable HTTP transport, in `mode` (an era, or the SDK's "legacy")."""
    mode = "legacy" if mode == LEGACY else mode
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


def envelope(era: str, method: str = "tools/list", params: dict[str, Any] | None = None, id_: int = 1) -> dict:
    """One JSON-RPC request as a client of `era` sends it, without any SDK."""
    params = dict(params or {})
    if era == MODERN:
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            **params.get("_meta", {}),
        }
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}


def era_headers(era: str, method: str = "tools/list", name: str | None = None) -> dict[str, str]:
    headers = {**POST_HEADERS, "MCP-Protocol-Version": era}
    if era == MODERN:
        headers["Mcp-Method"] = method
        if name is not None:
            headers["Mcp-Name"] = name
    return headers
