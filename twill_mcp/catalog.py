"""Every tool the server can offer: the spec's operations compiled, and the tools composed over them."""

from __future__ import annotations

from functools import cache

from twill_mcp.compiler import CompiledTool, compile_spec
from twill_mcp.composed import Tool
from twill_mcp.spec import load_bundled_spec
from twill_mcp.waiting import Pacing, wait_for_task_tool


def all_tools(pacing: Pacing | None = None) -> list[Tool]:
    """In listing order: the compiled tools in spec order, then the composed ones."""
    compiled = compile_spec(load_bundled_spec())
    return [*compiled, wait_for_task_tool({tool.name: tool for tool in compiled}, pacing)]


@cache
def compiled_by_name() -> dict[str, CompiledTool]:
    """The bundled spec's operations by tool name, compiled once: what resources and prompts read through."""
    return {tool.name: tool for tool in compile_spec(load_bundled_spec())}
