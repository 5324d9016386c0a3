"""Every tool the server can offer: the spec's operations compiled, and the tools composed over them."""

from __future__ import annotations

import dataclasses
import math
from functools import cache

from twill_mcp.core.config import Settings
from twill_mcp.spec.compiler import CompiledTool, compile_spec
from twill_mcp.spec.openapi import load_bundled_spec
from twill_mcp.tools.composed import Tool
from twill_mcp.tools.events import STREAM_MARGIN_SECONDS
from twill_mcp.tools.surface import select_tools
from twill_mcp.tools.waiting import Pacing, wait_for_task_tool

DEFAULT_CALL_TIMEOUT: float = Settings.model_fields["call_timeout"].default
WINDOW = "maxSeconds"


def all_tools(pacing: Pacing | None = None, *, call_timeout: float = DEFAULT_CALL_TIMEOUT) -> list[Tool]:
    """In listing order: the compiled tools in spec order, then the composed ones, their windows fitted to
    `call_timeout`."""
    compiled = compiled_by_name()
    tools: list[Tool] = [*compiled.values(), wait_for_task_tool(compiled, pacing)]
    return [fit_window(tool, call_timeout) for tool in tools]


def fit_window(tool: Tool, call_timeout: float) -> Tool:
    """A tool that waits (its `maxSeconds`) advertises no default or maximum its call deadline cannot honour.

    The window must end before the deadline with room for the answer, as the tool itself enforces; an
    agent told 600 and cut at 42 learns nothing from the schema.
    """
    window = tool.input_schema.get("properties", {}).get(WINDOW)
    if window is None:
        return tool
    longest = max(math.floor(call_timeout - STREAM_MARGIN_SECONDS), window.get("minimum", 1))
    fitted = {**window, "maximum": min(window["maximum"], longest), "default": min(window["default"], longest)}
    if fitted == window:
        return tool
    schema = {**tool.input_schema, "properties": {**tool.input_schema["properties"], WINDOW: fitted}}
    return dataclasses.replace(tool, input_schema=schema)


def exposed_tools(settings: Settings) -> list[Tool]:
    """The tools a server with these settings lists: toolsets, named tools, exclusions, read-only."""
    return select_tools(
        all_tools(call_timeout=settings.call_timeout),
        toolsets=settings.toolsets,
        include=settings.tools,
        exclude=settings.exclude_tools,
        read_only=settings.read_only,
    )


@cache
def compiled_by_name() -> dict[str, CompiledTool]:
    """The bundled spec's operations by tool name, in spec order, compiled once per process."""
    return {tool.name: tool for tool in compile_spec(load_bundled_spec())}
