"""The MCP server: compiled tools listed as they are, calls dispatched to their `ToolCall`."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import mcp_types as types
from mcp.server.caching import CacheHint
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from twill_mcp import __version__
from twill_mcp.core.config import Settings
from twill_mcp.core.credentials import CredentialsFor, server_key
from twill_mcp.core.errors import error_shape
from twill_mcp.server.prompts import TwillPrompts
from twill_mcp.server.resources import TaskResources, Upstream
from twill_mcp.server.subscriptions import WATCHING, Subscriptions, TaskWatch, Watching
from twill_mcp.server.tracing import spans_when_recorded
from twill_mcp.tools.call import ToolCall
from twill_mcp.tools.catalog import compiled_by_name
from twill_mcp.tools.composed import Tool
from twill_mcp.upstream.answer import Progress
from twill_mcp.upstream.http import TwillHttp

SERVER_NAME = "twill"
# The lists are the same for every caller and fixed for the life of a process; a redeploy may change them.
LIST_CACHE = CacheHint(ttl_ms=10 * 60 * 1000, scope="public")
SANDBOX_META_KEY = "ai.twill.mcp/sandbox"
SANDBOX_NOTICE = (
    "SANDBOX: this server talks to a local Twill emulator with a demo workspace, not the real Twill API; "
    "nothing done here reaches Twill."
)
INSTRUCTIONS = (
    "Tools for the Twill cloud coding-agent API (https://twill.ai). Every tool forwards one call to Twill "
    "with the user's API key. A failed call returns isError with structuredContent.error "
    f"{error_shape()}: follow its text, which says what to do next."
)


# ext-apps' own registerAppTool writes both: `ui.resourceUri`, and the flat key hosts from before it read.
LEGACY_UI_META_KEY = "ui/resourceUri"


def mcp_tool(tool: Tool) -> types.Tool:
    hints = tool.annotations
    return types.Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.input_schema,
        output_schema=tool.output_schema,
        annotations=types.ToolAnnotations(
            title=hints.title,
            read_only_hint=hints.read_only,
            destructive_hint=hints.destructive,
            idempotent_hint=hints.idempotent,
            open_world_hint=hints.open_world,
        ),
        # Only `_meta`: hosts without Apps ignore it, so their listing and every result stay as they were.
        _meta=None if tool.ui is None else {"ui": {"resourceUri": tool.ui}, LEGACY_UI_META_KEY: tool.ui},
    )


def build_server(
    http: TwillHttp,
    tools: Sequence[Tool],
    credentials: CredentialsFor,
    *,
    sandbox: bool = False,
    watching: Watching = WATCHING,
) -> Server[Any]:
    """The MCP server for these tools, each call made with the credentials `credentials` finds for its request.

    The server owns `http` from here on: its lifespan closes it. In a sandbox, the instructions and every
    result say so.
    """
    calls = {tool.name: ToolCall(tool) for tool in tools}
    listing = types.ListToolsResult(tools=[mcp_tool(tool) for tool in tools])
    # Resources and prompts read through the compiled read-only operations, whichever tools are exposed.
    upstream = Upstream(http, compiled_by_name())
    prompts = TwillPrompts(upstream, credentials)
    resources = TaskResources(upstream, credentials, completes=prompts.completes)
    watch = TaskWatch(upstream, watching)
    subscriptions = Subscriptions(watch, credentials)

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return listing

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        call = calls.get(params.name)
        if call is None:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"Unknown tool {params.name!r}. Available tools: {', '.join(calls)}.",
            )
        token = (params.meta or {}).get("progress_token")
        progress = None if token is None else _progress_reporter(ctx, token)
        result = await call(http, credentials(ctx), params.arguments, progress, era=ctx.protocol_version)
        if sandbox:
            result.content.append(types.TextContent(type="text", text=SANDBOX_NOTICE))
            result.meta = {**(result.meta or {}), SANDBOX_META_KEY: True}
        return result

    @asynccontextmanager
    async def lifespan(server: Server[Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            async with watch.running(server) as state:
                yield state
        finally:
            await http.aclose()

    server: Server[Any] = Server(
        SERVER_NAME,
        version=__version__,
        title="Twill",
        instructions=f"{SANDBOX_NOTICE}\n{INSTRUCTIONS}" if sandbox else INSTRUCTIONS,
        lifespan=lifespan,
        # For the 2026-07-28 Mcp-Param header check: without it the SDK runs the whole listing for every call.
        get_tool_input_schema={tool.name: tool.input_schema for tool in tools}.get,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        cache_hints={
            "tools/list": LIST_CACHE,
            "prompts/list": LIST_CACHE,
            "resources/list": LIST_CACHE,
            "resources/templates/list": LIST_CACHE,
        },
        on_list_resources=resources.list_resources,
        on_list_resource_templates=resources.list_templates,
        on_read_resource=resources.read,
        on_subscribe_resource=subscriptions.subscribe,
        on_unsubscribe_resource=subscriptions.unsubscribe,
        on_subscriptions_listen=subscriptions.listen,
        on_completion=resources.complete,
        on_list_prompts=prompts.list_prompts,
        on_get_prompt=prompts.get_prompt,
    )
    spans_when_recorded(server)
    return server


def server_for(
    settings: Settings,
    tools: Sequence[Tool],
    *,
    sandbox: bool = False,
    credentials: CredentialsFor | None = None,
    http: TwillHttp | None = None,
    watching: Watching = WATCHING,
) -> Server[Any]:
    """The server every entry point runs for these settings: its own `TwillHttp` (or the one given, with an
    injected sleep or transport), and the server's own key unless `credentials` says whose key a request has."""
    if credentials is None:
        credentials = server_key(settings.api_key, settings.api_key_problem)
    return build_server(http or TwillHttp(settings), tools, credentials, sandbox=sandbox, watching=watching)


def settle() -> None:
    """Once a serving process has built its server: what start-up made lives as long as the process.

    Frozen out of the cyclic collector's reach (the tools, their schemas, the SDK's models: ~90,000
    objects), it is no longer walked by each full collection, one every few hundred calls: 0.1-0.3 ms
    a call on average. Only for a process that serves: tests build many servers in one process, and
    a frozen object is never collected.
    """
    gc.freeze()


def _progress_reporter(ctx: ServerRequestContext[Any], token: str | int) -> Progress:
    async def report(done: float, message: str) -> None:
        # The SDK routes the notification to the stream of the request it relates to; ids may be numbers.
        related = None if ctx.request_id is None else str(ctx.request_id)
        await ctx.session.send_progress_notification(token, done, message=message, related_request_id=related)

    return report
