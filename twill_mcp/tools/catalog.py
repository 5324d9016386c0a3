"""Every tool the server can offer: the spec's operations compiled, and the tools composed over them."""

from __future__ import annotations

from functools import cache

from twill_mcp.core.config import Settings
from twill_mcp.spec.compiler import CompiledTool, compile_spec
from twill_mcp.spec.openapi import load_bundled_spec
from twill_mcp.tools.composed import Tool
from twill_mcp.tools.surface import select_tools
from twill_mcp.tools.waiting import Pacing, wait_for_task_tool


def all_tools(pacing: Pacing | None = None) -> list[Tool]:
    """In listing order: the compiled tools in spec order, then the composed ones."""
    compiled = compiled_by_name()
    return [*compiled.values(), wait_for_task_tool(compiled, pacing)]


def exposed_tools(settings: Settings) -> list[Tool]:
    """The tools a server with these settings lists: toolsets, named tools, exclusions, read-only."""
    return select_tools(
        all_tools(),
        toolsets=settings.toolsets,
        include=settings.tools,
        exclude=settings.exclude_tools,
        read_only=settings.read_only,
    )


@cache
def compiled_by_name() -> dict[str, CompiledTool]:
    """The bundled spec's operations by tool name, in spec order, compiled once per process."""
    return {tool.name: tool for tool in compile_spec(load_bundled_spec())}
