"""Every published input schema survives OpenAI strict mode, and what a strict-mode model must send works.

A strict schema makes every property required, so a model fills each optional argument
with something: "" for strings, null for the rest. Those fillers must pass our checker
and never reach Twill.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from twill_mcp.server.build import mcp_tool
from twill_mcp.spec.compiler import CompiledTool, compile_spec
from twill_mcp.spec.openapi import load_bundled_spec
from twill_mcp.tools.arguments import ArgumentChecker
from twill_mcp.upstream.request import PreparedRequest, prepare_request

strict_schema = pytest.importorskip("agents.strict_schema", reason="the frameworks extra (openai-agents) is needed")

# Every compiled tool: the `--toolsets all` surface plus the hidden (deprecated) ones.
TOOLS = {tool.name: tool for tool in compile_spec(load_bundled_spec())}


def published(tool: CompiledTool) -> dict[str, Any]:
    return copy.deepcopy(mcp_tool(tool).input_schema)


def strict(tool: CompiledTool) -> dict[str, Any]:
    return strict_schema.ensure_strict_json_schema(published(tool))


def kinds(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if isinstance(kind, str) else set()


def strict_call(tool: CompiledTool, filler: str) -> dict[str, Any]:
    """What a strict-mode model sends: a real value for what the tool needs, a filler for everything else."""
    ours = set(published(tool)["required"])
    arguments: dict[str, Any] = {}
    for name, schema in strict(tool)["properties"].items():
        if name in ours:
            assert kinds(schema) == {"string"}, f"{tool.name}.{name}: give the test a value of this kind"
            arguments[name] = "x"
        elif filler == "empty" and "string" in kinds(schema):
            arguments[name] = ""
        else:
            arguments[name] = None
    return arguments


def fillers_in(request: PreparedRequest) -> list[Any]:
    found: list[Any] = [segment for segment in request.path.split("/")[1:] if segment == ""]
    found += [(name, value) for name, value in request.params if value in ("", "None")]

    def walk(value: Any) -> None:
        if value is None or value == "":
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    if request.has_body:
        walk(request.json_body)
    return found


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_the_input_schema_converts_to_a_strict_one_with_every_property_required(name: str) -> None:
    converted = strict(TOOLS[name])
    assert converted["required"] == list(converted["properties"])
    assert converted["additionalProperties"] is False


@pytest.mark.parametrize("filler", ["empty", "null"])
@pytest.mark.parametrize("name", sorted(TOOLS))
def test_a_strict_mode_call_is_accepted_and_sends_none_of_its_fillers(name: str, filler: str) -> None:
    tool = TOOLS[name]
    arguments = strict_call(tool, filler)
    request = prepare_request(tool.operation, ArgumentChecker(published(tool)).check(arguments))
    assert fillers_in(request) == []
    sent = {name for name, _ in request.params} | set(request.json_body or {})
    assert sent <= set(published(tool)["required"]), "only what the model really gave is sent"


def test_argument_less_tools_declare_an_empty_required_list() -> None:
    bare = [tool for tool in TOOLS.values() if not tool.input_schema["properties"]]
    assert bare, "the spec has tools without arguments"
    for tool in bare:
        assert published(tool)["required"] == []
