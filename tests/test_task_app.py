"""The task view (an MCP App) as the server offers it: named by three tools' `_meta`, read as a `ui://` resource.

What it does in a browser is tests/test_task_app_browser.py's; here, that hosts find it, that hosts
without Apps see nothing else change, and that the shipped document is the one its sources build.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import mcp_types as types
import pytest

from tests.conftest import Launch, load_script
from twill_mcp.server.build import mcp_tool
from twill_mcp.server.task_app import task_app_html
from twill_mcp.tools.catalog import all_tools

ROOT = Path(__file__).parents[1]
URI = "ui://twill/task.html"
APP_TOOLS = {"create_task", "get_task", "wait_for_task"}


def build_app() -> ModuleType:
    return load_script("build_app")


@pytest.mark.anyio
async def test_three_tools_name_the_view_in_their_meta_and_no_other_tool_has_meta(in_memory: Launch) -> None:
    async with in_memory(TWILL_MCP_TOOLSETS="all") as client:
        tools = (await client.list_tools()).tools
    with_meta = {tool.name: tool.meta for tool in tools if tool.meta}
    assert with_meta == {name: {"ui": {"resourceUri": URI}, "ui/resourceUri": URI} for name in APP_TOOLS}


def test_without_its_meta_a_listed_tool_is_what_it_was() -> None:
    # Hosts without Apps ignore `_meta`: everything else of the three tools' listing is as it was before the view.
    for tool in all_tools():
        listed = mcp_tool(tool).model_dump(by_alias=True, exclude_none=True, mode="json")
        assert set(listed) - {"_meta"} == {"name", "title", "description", "inputSchema", "annotations"} | (
            {"outputSchema"} if tool.output_schema is not None else set()
        )
        assert ("_meta" in listed) == (tool.name in APP_TOOLS)


@pytest.mark.anyio
async def test_the_view_is_listed_and_read_as_an_mcp_app_that_asks_for_no_network(in_memory: Launch) -> None:
    async with in_memory() as client:
        [listed] = [r for r in (await client.list_resources()).resources if r.uri == URI]
        result = await client.read_resource(URI)
    [contents] = result.contents
    assert isinstance(contents, types.TextResourceContents)
    expected_meta = {"ui": {"csp": {"connectDomains": [], "resourceDomains": []}, "prefersBorder": True}}
    assert (listed.mime_type, listed.meta) == ("text/html;profile=mcp-app", expected_meta)
    assert (contents.uri, contents.mime_type, contents.meta) == (URI, "text/html;profile=mcp-app", expected_meta)
    assert contents.text == task_app_html()
    assert contents.text.startswith("<!doctype html>")


def test_the_document_is_self_contained() -> None:
    html = task_app_html()
    # One inline script and one inline style; nothing that names a file or a server to fetch from.
    assert len(re.findall(r"<script\b", html)) == 1
    assert len(re.findall(r"<style\b", html)) == 1
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|<img\b|<iframe\b", html, re.IGNORECASE)
    [style] = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert not re.search(r"@import|url\(", style, re.IGNORECASE)


def test_the_shipped_document_was_built_from_the_sources_as_they_are() -> None:
    build = build_app()
    recorded = build.recorded_digest(task_app_html())
    assert recorded == build.sources_digest(), "twill_mcp/data/task-app.html is stale: run python scripts/build_app.py"


@pytest.mark.slow
def test_a_fresh_build_is_byte_for_byte_the_shipped_document() -> None:
    if shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to build the view")
    done = subprocess.run(
        [sys.executable, "scripts/build_app.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=400
    )
    assert done.returncode == 0, done.stderr
