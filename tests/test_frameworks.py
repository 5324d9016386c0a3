"""twill-mcp through agent frameworks' own MCP client layers, started by the README's snippets, on the sandbox.

No model is involved: each test drives the framework's own schema conversion and tool
invocation, the way its agent loop would with what a model sent. The snippets are read
from README.md and run as they are, then given `--toolsets all` so every tool is listed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from twill_mcp.core.config import Settings
from twill_mcp.tools.catalog import exposed_tools

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
EVERY_TOOLSET = ["--toolsets", "all"]
NOTHING_SENT = "nothing was sent to Twill"


def snippet(name: str) -> str:
    match = re.search(rf"<!-- snippet:{name} -->\n```python\n(.*?)\n```", README, re.S)
    assert match, f"README.md has no {name} snippet"
    return match.group(1)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # One server process per framework for the whole module: starting one costs seconds.
    return "asyncio"


@pytest.fixture(scope="module")
def run_snippet() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        # As after `pip install`: `twill-mcp` on PATH. No key: --sandbox needs none.
        monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        monkeypatch.delenv("TWILL_API_KEY", raising=False)
        # Building a PydanticAI agent for an OpenAI model wants a key; no model is ever called.
        monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")

        def run(name: str) -> dict[str, Any]:
            namespace: dict[str, Any] = {}
            exec(compile(snippet(name), f"README.md snippet {name}", "exec"), namespace)
            return namespace

        yield run


# --- OpenAI Agents SDK -------------------------------------------------------------------------


def strict_fill(schema: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """What a strict-mode model sends: every property, the ones it has no value for filled in."""
    filled: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        kind = prop.get("type")
        if name in given:
            filled[name] = given[name]
        elif kind == "string":
            filled[name] = ""
        elif kind == "boolean":
            filled[name] = False
        elif kind == "array":
            filled[name] = []
        else:
            filled[name] = prop.get("default")
    return filled


def output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        return str(output.get("text", ""))
    return "\n".join(output_text(item) for item in output)


class StrictAgent:
    """The Agents SDK's view of twill-mcp: its function tools, invoked as its runner would."""

    def __init__(self, tools: list[Any]) -> None:
        self.tools = {tool.name: tool for tool in tools}

    async def call(self, name: str, **given: Any) -> str:
        from agents.tool_context import ToolContext

        tool = self.tools[name]
        payload = json.dumps(strict_fill(tool.params_json_schema, given))
        context = ToolContext(context=None, tool_name=name, tool_call_id="call-1", tool_arguments=payload)
        return output_text(await tool.on_invoke_tool(context, payload))

    async def call_json(self, name: str, **given: Any) -> Any:
        return json.loads((await self.call(name, **given)).splitlines()[0])


@pytest.fixture(scope="module")
async def openai_agent(run_snippet: Any) -> Any:
    pytest.importorskip("agents", reason="the frameworks extra (openai-agents) is not installed")
    from agents import RunContextWrapper

    names = run_snippet("openai-agents")
    twill, agent = names["twill"], names["agent"]
    twill.params.args.extend(EVERY_TOOLSET)
    async with twill:
        yield StrictAgent(await agent.get_all_tools(RunContextWrapper(context=None)))


async def test_agents_sdk_converts_every_tool_to_a_strict_schema(openai_agent: StrictAgent) -> None:
    every = exposed_tools(Settings.load({}, toolsets="all"))
    assert set(openai_agent.tools) == {tool.name for tool in every}
    assert all(tool.strict_json_schema for tool in openai_agent.tools.values())


async def test_agents_sdk_strict_mode_lists_pages_creates_and_messages(openai_agent: StrictAgent) -> None:
    first = await openai_agent.call_json("list_tasks", limit=2)
    assert len(first["tasks"]) == 2
    second = await openai_agent.call_json("list_tasks", limit=2, cursor=first["nextCursor"])
    assert {task["id"] for task in first["tasks"]}.isdisjoint(task["id"] for task in second["tasks"])
    created = await openai_agent.call_json("create_task", command="Add a footer")
    assert created["task"]["id"]
    reply = await openai_agent.call_json("send_message", taskIdOrSlug=created["task"]["id"], message="Make it blue")
    assert reply["job"]["id"]


async def test_agents_sdk_strict_mode_partial_update_keeps_the_model_override(openai_agent: StrictAgent) -> None:
    [schedule] = (await openai_agent.call_json("list_scheduled_tasks"))["scheduledTasks"]
    await openai_agent.call_json("update_scheduled_task", scheduledTaskId=schedule["id"], agentProviderId="codex/x")
    updated = await openai_agent.call_json("update_scheduled_task", scheduledTaskId=schedule["id"], title="Weekly")
    assert (updated["scheduledTask"]["title"], updated["scheduledTask"]["agentProviderId"]) == ("Weekly", "codex/x")
    cleared = await openai_agent.call_json(
        "update_scheduled_task", scheduledTaskId=schedule["id"], clearAgentProviderId=True
    )
    assert cleared["scheduledTask"]["agentProviderId"] is None


async def test_agents_sdk_hands_the_model_an_error_with_its_hint(openai_agent: StrictAgent) -> None:
    text = await openai_agent.call("get_task", taskIdOrSlug="   ")
    assert "invalid_arguments" in text
    assert "taskIdOrSlug: must not be blank" in text
    assert NOTHING_SENT in text


# --- PydanticAI ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def pydantic_toolset(run_snippet: Any) -> Any:
    pytest.importorskip("pydantic_ai.mcp", reason="the frameworks extra (pydantic-ai-slim[mcp]) is not installed")
    names = run_snippet("pydantic-ai")
    twill = names["twill"]
    twill.client.transport.args.extend(EVERY_TOOLSET)
    async with twill:
        yield twill


async def test_pydantic_ai_calls_with_null_optionals_list_page_create_and_message(pydantic_toolset: Any) -> None:
    call = pydantic_toolset.direct_call_tool
    first = await call("list_tasks", {"limit": 2, "cursor": None})
    second = await call("list_tasks", {"limit": None, "cursor": first["nextCursor"]})
    assert {task["id"] for task in first["tasks"]}.isdisjoint(task["id"] for task in second["tasks"])
    nulls = {"agent": None, "userIntent": None, "files": None, "reasoningEffort": None}
    created = await call("create_task", {"command": "Add a footer", "title": None, "parentId": None, **nulls})
    reply = await call("send_message", {"taskIdOrSlug": created["task"]["id"], "message": "Make it blue", **nulls})
    assert reply["job"]["id"]


async def test_pydantic_ai_partial_update_with_null_keeps_the_model_override(pydantic_toolset: Any) -> None:
    call = pydantic_toolset.direct_call_tool
    [schedule] = (await call("list_scheduled_tasks", {}))["scheduledTasks"]
    await call("update_scheduled_task", {"scheduledTaskId": schedule["id"], "agentProviderId": "codex/x"})
    nulls = {"message": None, "cronExpression": None, "timezone": None, "clearAgentProviderId": None}
    updated = await call(
        "update_scheduled_task",
        {"scheduledTaskId": schedule["id"], "title": "Weekly", "agentProviderId": None, **nulls},
    )
    assert updated["scheduledTask"]["agentProviderId"] == "codex/x"


async def test_pydantic_ai_gives_the_model_the_hint_in_the_structured_error(pydantic_toolset: Any) -> None:
    from pydantic_ai import ModelRetry

    with pytest.raises(ModelRetry) as caught:
        await pydantic_toolset.direct_call_tool("get_task", {"taskIdOrSlug": "   "})
    error = json.loads(str(caught.value))["error"]
    assert error["code"] == "invalid_arguments"
    assert NOTHING_SENT in error["hint"]


async def test_agents_sdk_over_streamable_http_lists_and_calls_as_the_readme_says(
    run_snippet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("agents", reason="the frameworks extra (openai-agents) is not installed")
    from tests.http_thread import serving
    from twill_mcp.core.config import Settings
    from twill_mcp.sandbox import Sandbox

    with Sandbox.start() as sandbox:
        config = Settings.load(
            {}, api_key=sandbox.api_key, base_url=sandbox.origin, transport="http", port=0, auth="passthrough"
        )
        with serving(config) as url:
            monkeypatch.setenv("TWILL_MCP_URL", url)
            monkeypatch.setenv("TWILL_API_KEY", sandbox.api_key)
            twill = run_snippet("openai-agents-http")["twill"]
            await twill.connect()
            try:
                names = {tool.name for tool in await twill.list_tools()}
                result = await twill.call_tool("list_tasks", {})
            finally:
                await twill.cleanup()
    assert {"list_tasks", "cancel_task", "get_task"} <= names
    assert not result.is_error
    assert "demo-1" in json.dumps(result.model_dump(mode="json"))
