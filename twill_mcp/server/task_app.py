"""The task view: an MCP App (`@modelcontextprotocol/ext-apps`) that hosts which render Apps show for a task.

get_task, wait_for_task and create_task name it in `_meta.ui.resourceUri` (the overlay); the host reads
it here and runs it in a sandboxed frame, where it renders the tool result and calls get_task and
wait_for_task back through the host. The document is built from app/ by scripts/build_app.py and
shipped in the package: one HTML file with its script and styles inlined, nothing fetched.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import mcp_types as types

from twill_mcp.spec.overlay import TASK_APP_URI

TASK_APP_FILE = "task-app.html"
APP_MIME_TYPE = "text/html;profile=mcp-app"
# Empty lists: the view needs no network at all, so a host's CSP for it can allow nothing beyond the document.
APP_META: dict[str, Any] = {"ui": {"csp": {"connectDomains": [], "resourceDomains": []}, "prefersBorder": True}}

TASK_APP = types.Resource(
    uri=TASK_APP_URI,
    name="task-view",
    title="Twill task view",
    description="The MCP App that shows a task live (status, plan, PRs, finalAnswer) for get_task and wait_for_task.",
    mime_type=APP_MIME_TYPE,
    _meta=APP_META,
)


@cache
def task_app_html() -> str:
    return files("twill_mcp").joinpath("data").joinpath(TASK_APP_FILE).read_text(encoding="utf-8")


def read_task_app() -> types.ReadResourceResult:
    return types.ReadResourceResult(
        contents=[
            types.TextResourceContents(uri=TASK_APP_URI, mime_type=APP_MIME_TYPE, text=task_app_html(), _meta=APP_META)
        ]
    )
