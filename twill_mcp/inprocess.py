"""A twill-mcp server and an MCP client of it in one process: `twill-mcp call`, `doctor`, tests and benches.

The server is the one `server_for` builds for every entry point, reached through the SDK's in-memory
transport in the 2025-11-25 era (its in-memory 2026-07-28 mode does not hand a request's progress
notifications to the caller).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import mcp_types as types
from mcp import Client
from mcp.shared.dispatcher import ProgressFnT

from twill_mcp.core.config import Settings
from twill_mcp.server.build import server_for
from twill_mcp.server.subscriptions import WATCHING, Watching
from twill_mcp.tools.composed import Tool
from twill_mcp.upstream.http import TwillHttp

MODE = "legacy"


@asynccontextmanager
async def connected(
    settings: Settings,
    tools: Sequence[Tool],
    *,
    sandbox: bool = False,
    http: TwillHttp | None = None,
    watching: Watching = WATCHING,
    mode: str = MODE,
    **client: Any,
) -> AsyncIterator[Client]:
    """A client of the server for these settings and tools, for as long as the block runs; `client` are the
    SDK client's own options (a message handler, say)."""
    server = server_for(settings, tools, sandbox=sandbox, http=http, watching=watching)
    async with Client(server, mode=mode, **client) as connection:
        yield connection


async def call_once(
    settings: Settings,
    tools: Sequence[Tool],
    name: str,
    arguments: dict[str, Any],
    sandbox: bool,
    progress: ProgressFnT | None = None,
) -> types.CallToolResult:
    """One tool call, as an agent would make it, through the whole MCP code path."""
    async with connected(settings, tools, sandbox=sandbox) as client:
        return await client.call_tool(name, arguments, progress_callback=progress)
