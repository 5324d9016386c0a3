"""Tools that are not one Twill operation but a small program over several, declared as data.

A composed tool is listed, selected and called like a compiled one (same name rules,
annotations, toolset, snapshot), and it reaches Twill only through `TwillHttp.exchange`
with the call's credentials, so the rate budget and the outcome policy are the same.
Only what happens between checking the arguments and rendering the result differs: its
`perform`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from twill_mcp.core.credentials import Credentials
from twill_mcp.spec.compiler import CompiledTool, ListedTool
from twill_mcp.tools.responses import Success
from twill_mcp.upstream.answer import Progress
from twill_mcp.upstream.http import TwillHttp

Perform = Callable[[TwillHttp, Credentials, dict[str, Any], Progress | None], Awaitable[Success]]
"""What a call does once its arguments are checked: (http, credentials, arguments, progress) -> success."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ComposedTool(ListedTool):
    """A small program over several operations, as a tool."""

    perform: Perform


Tool = CompiledTool | ComposedTool
"""Anything the server lists and calls."""
