"""Property-based: generated arguments through a real MCP client never crash, never pass invalid, never bend a path.

The oracle is how each payload was built (tests/strategies.py), not a JSON Schema
validator: valid-by-construction arguments must reach Twill exactly once, and
invalid-by-construction ones must be refused with nothing sent. One server and one
client serve every example, through a portal, so an example costs a call, not a start-up.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from tests.conftest import API_KEY, serving
from tests.fake_twill import FakeTwill
from tests.strategies import invalid_arguments, non_ids, path_ids, valid_arguments
from twill_mcp.core.config import Settings, is_token
from twill_mcp.spec.compiler import compile_spec
from twill_mcp.spec.openapi import load_bundled_spec

TOOLS = {tool.name: tool for tool in compile_spec(load_bundled_spec()) if tool.response_kind == "json"}
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Served:
    def __init__(self, fake: FakeTwill, portal: BlockingPortal, client: Client) -> None:
        self.fake = fake
        self._portal = portal
        self._client = client

    def call(self, name: str, arguments: Any) -> tuple[Any, int]:
        """The result of one call, and how many requests it sent to Twill."""
        before = len(self.fake.requests)
        result = self._portal.call(self._client.call_tool, name, arguments)
        assert API_KEY not in json.dumps(result.model_dump(mode="json"))
        return result, len(self.fake.requests) - before


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    fake = FakeTwill(API_KEY).start()
    config = Settings.load({"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": fake.origin}, max_retries=0, rate_limit=0)
    try:
        with (
            start_blocking_portal() as portal,
            portal.wrap_async_context_manager(serving(config, list(TOOLS.values()))) as client,
        ):
            yield Served(fake, portal, client)
    finally:
        fake.stop()


@EXAMPLES
@given(data=st.data(), name=st.sampled_from(sorted(TOOLS)))
def test_valid_arguments_reach_twill_exactly_once(served: Served, data: st.DataObject, name: str) -> None:
    arguments = data.draw(valid_arguments(TOOLS[name]))
    result, sent = served.call(name, arguments)
    assert sent == 1, result
    if result.is_error:
        assert result.structured_content["error"]["code"] != "invalid_arguments"


@EXAMPLES
@given(data=st.data(), name=st.sampled_from(sorted(TOOLS)))
def test_invalid_arguments_are_refused_and_nothing_is_sent(served: Served, data: st.DataObject, name: str) -> None:
    arguments = data.draw(invalid_arguments(TOOLS[name]))
    result, sent = served.call(name, arguments)
    assert result.is_error
    assert result.structured_content["error"]["code"] == "invalid_arguments"
    assert sent == 0


@EXAMPLES
@given(task_id=path_ids())
def test_any_id_yields_exactly_one_well_formed_request_path(served: Served, task_id: str) -> None:
    served.call("cancel_task", {"taskIdOrSlug": task_id})
    request = served.fake.requests[-1]
    segments = request.raw_path.split("/")
    assert len(segments) == 6
    assert segments[:4] == ["", "api", "v1", "tasks"]
    assert segments[5] == "cancel"
    assert unquote(segments[4]) == task_id
    assert "?" not in request.raw_path
    assert "#" not in request.raw_path


@EXAMPLES
@given(task_id=non_ids())
def test_an_id_that_names_nothing_is_refused_and_nothing_is_sent(served: Served, task_id: str) -> None:
    result, sent = served.call("cancel_task", {"taskIdOrSlug": task_id})
    assert result.structured_content["error"]["code"] == "invalid_arguments"
    assert sent == 0


@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x3000), max_size=64))
def test_a_token_is_any_nonempty_run_of_printable_ascii_without_spaces(value: str) -> None:
    assert is_token(value) == (value != "" and all("!" <= ch <= "~" for ch in value))
