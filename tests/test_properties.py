"""Property-based: arbitrary arguments through a real MCP client never crash, never pass invalid, never bend a path."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tests.conftest import API_KEY, serving
from tests.fake_twill import FakeTwill
from twill_mcp.compiler import compile_spec
from twill_mcp.config import Settings
from twill_mcp.spec import load_bundled_spec

TOOLS = {tool.name: tool for tool in compile_spec(load_bundled_spec()) if tool.response_kind == "json"}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
ARGUMENT_NAMES = sorted({name for tool in TOOLS.values() for name in tool.input_schema["properties"]} | {"x", ""})
ARGUMENTS = st.dictionaries(st.sampled_from(ARGUMENT_NAMES) | st.text(max_size=10), JSON, max_size=5)
# Only-dot values are refused before sending (they are path steps to WHATWG URL parsers).
IDS = st.text(min_size=1, max_size=40).filter(lambda text: set(text) != {"."})


async def run(fake: FakeTwill, calls: list[tuple[str, Any]]) -> list[Any]:
    config = Settings.load({"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": fake.origin}, max_retries=0, rate_limit=0)
    async with serving(config, list(TOOLS.values())) as client:
        return [await client.call_tool(name, arguments) for name, arguments in calls]


@pytest.fixture(scope="module")
def shared_twill() -> Any:
    fake = FakeTwill(API_KEY).start()
    yield fake
    fake.stop()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(TOOLS)), arguments=ARGUMENTS)
def test_arbitrary_arguments_never_crash_and_invalid_ones_never_reach_twill(
    shared_twill: FakeTwill, name: str, arguments: dict[str, Any]
) -> None:
    before = len(shared_twill.requests)
    [result] = anyio.run(run, shared_twill, [(name, arguments)])
    valid = Draft202012Validator(TOOLS[name].input_schema).is_valid(arguments)
    if not valid:
        assert result.is_error
        assert result.structured_content["error"]["code"] == "invalid_arguments"
        assert len(shared_twill.requests) == before
    else:
        assert len(shared_twill.requests) == before + 1
    assert API_KEY not in json.dumps(result.model_dump(mode="json"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(task_id=IDS)
def test_any_id_yields_exactly_one_well_formed_request_path(shared_twill: FakeTwill, task_id: str) -> None:
    before = len(shared_twill.requests)
    anyio.run(run, shared_twill, [("cancel_task", {"taskIdOrSlug": task_id})])
    [request] = shared_twill.requests[before:]
    segments = request.raw_path.split("/")
    assert len(segments) == 6
    assert segments[:4] == ["", "api", "v1", "tasks"]
    assert segments[5] == "cancel"
    assert unquote(segments[4]) == task_id
    assert "?" not in request.raw_path
    assert "#" not in request.raw_path
