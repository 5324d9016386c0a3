"""Render the outcome of a call as an MCP tool result.

Success: `structuredContent` is Twill's JSON body, and a text block carries the same
JSON for clients that only read text. Failure: `isError` with a text that says what
happened and what to do next, and `structuredContent` = `{"error": {...}}`, which the
compiled outputSchema admits so that clients validating it (the TypeScript SDK does,
even on errors) accept the result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import mcp_types as types

from twill_mcp.core.errors import ToolCallError
from twill_mcp.spec.compiler import RESULT_KEY
from twill_mcp.tools.composed import Tool

CURSOR_ARGUMENT = "cursor"
NEXT_CURSOR_FIELD = "nextCursor"


def success_result(tool: Tool, body: Any, extra: Sequence[types.ContentBlock] = ()) -> types.CallToolResult:
    structured = {RESULT_KEY: body} if tool.wraps_result or not isinstance(body, dict) else body
    content: list[types.ContentBlock] = [_text(_dump(structured)), *extra]
    if next_page := _next_page(tool, structured):
        content.append(_text(next_page))
    return types.CallToolResult(content=content, structured_content=structured)


def error_result(tool_name: str, error: ToolCallError) -> types.CallToolResult:
    structured = {"error": error.to_dict()}
    where = f"HTTP {error.status}, " if error.status is not None else ""
    lines = [f"{tool_name} failed ({where}{error.error_code}): {error.message}"]
    if error.hint:
        lines.append(error.hint)
    lines.append(_dump(structured))
    return types.CallToolResult(content=[_text("\n".join(lines))], structured_content=structured, is_error=True)


def _next_page(tool: Tool, body: dict[str, Any]) -> str | None:
    """Cursor pagination made explicit, so an agent does not stop at page one by accident."""
    cursor = body.get(NEXT_CURSOR_FIELD)
    if CURSOR_ARGUMENT not in tool.input_schema["properties"] or not isinstance(cursor, str) or not cursor:
        return None
    return f"More results: call {tool.name} again with the same arguments and cursor={json.dumps(cursor)}."


def _text(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
