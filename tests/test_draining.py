"""The one stop decision every transport shares: calls in flight get the grace, and those cut are named.

In process, through the SDK client and the `Server.middleware` hook a transport that never sees the
wire (streamable HTTP) uses; stdio's own wiring is tested on the real process in test_signals.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server

from twill_mcp.core.config import Settings
from twill_mcp.tools.call import effects
from twill_mcp.tools.catalog import all_tools
from twill_mcp.transports.draining import InFlight, shutdown_grace

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def calling(tool: str, in_flight: InFlight, release: anyio.Event) -> AsyncIterator[None]:
    """While inside, one call of `tool` is in flight; it returns once `release` is set."""

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        await release.wait()
        return types.CallToolResult(content=[])

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(name=tool, input_schema={"type": "object"})])

    server = Server("test", on_call_tool=call_tool, on_list_tools=list_tools)
    server.middleware.append(in_flight.middleware)
    async with Client(server, mode="legacy") as client, anyio.create_task_group() as tasks:
        tasks.start_soon(client.call_tool, tool, {})
        with anyio.fail_after(5):
            while not len(in_flight):
                await anyio.sleep(0.01)
        yield
        release.set()


async def test_a_call_that_ends_within_the_grace_is_waited_for_and_nothing_is_cut(
    caplog: pytest.LogCaptureFixture,
) -> None:
    in_flight, release = InFlight(effects(all_tools())), anyio.Event()

    async def answer_soon() -> None:
        await anyio.sleep(0.05)
        release.set()

    async with calling("cancel_task", in_flight, release), anyio.create_task_group() as tasks:
        tasks.start_soon(answer_soon)
        with anyio.fail_after(4):
            assert await in_flight.drain(5)
    assert "cut" not in caplog.text


async def test_a_call_that_may_change_something_cut_by_the_grace_is_logged_as_outcome_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    in_flight = InFlight(effects(all_tools()))
    async with calling("cancel_task", in_flight, anyio.Event()):
        assert not await in_flight.drain(0.05)
    [cut] = [record.getMessage() for record in caplog.records if "cut" in record.getMessage()]
    assert "cancel_task" in cut
    assert "outcome_unknown" in cut


async def test_a_read_only_call_cut_by_the_grace_is_logged_as_safe_to_repeat(caplog: pytest.LogCaptureFixture) -> None:
    in_flight = InFlight(effects(all_tools()))
    async with calling("get_task", in_flight, anyio.Event()):
        assert not await in_flight.drain(0.05)
    [cut] = [record.getMessage() for record in caplog.records if "cut" in record.getMessage()]
    assert "outcome_unknown" not in cut
    assert "calling again is safe" in cut


def test_the_grace_is_the_setting_but_never_past_a_calls_deadline() -> None:
    assert shutdown_grace(Settings.load({"TWILL_MCP_SHUTDOWN_GRACE": "4"})) == 4
    assert shutdown_grace(Settings.load({"TWILL_MCP_SHUTDOWN_GRACE": "20", "TWILL_MCP_CALL_TIMEOUT": "2"})) == 2
