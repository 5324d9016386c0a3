"""Argument checking: one rule for "not given", and one for what a path id may be."""

from __future__ import annotations

from typing import Any

import pytest

from twill_mcp.core.errors import InvalidArguments
from twill_mcp.spec.compiler import compile_spec
from twill_mcp.spec.openapi import load_bundled_spec
from twill_mcp.tools.arguments import ArgumentChecker
from twill_mcp.upstream.request import prepare_request

TOOLS = {tool.name: tool for tool in compile_spec(load_bundled_spec())}


def checked(tool: str, arguments: Any) -> dict[str, Any]:
    return ArgumentChecker(TOOLS[tool].input_schema).check(arguments)


def refused(tool: str, arguments: Any) -> InvalidArguments:
    with pytest.raises(InvalidArguments) as caught:
        checked(tool, arguments)
    return caught.value


def sent_body(tool: str, arguments: dict[str, Any]) -> Any:
    return prepare_request(TOOLS[tool].operation, checked(tool, arguments)).json_body


@pytest.mark.parametrize("filler", [None, ""], ids=["null", "empty"])
def test_an_optional_argument_filled_with_null_or_empty_is_not_given(filler: Any) -> None:
    assert checked("list_tasks", {"cursor": filler, "limit": filler}) == {}


def test_every_optional_argument_of_create_task_filled_by_a_strict_model_is_dropped() -> None:
    filled = {"agent": "", "userIntent": "", "title": "", "files": None, "reasoningEffort": "", "parentId": ""}
    assert checked("create_task", {"command": "Fix it", **filled}) == {"command": "Fix it"}


def test_a_given_optional_value_is_kept() -> None:
    assert checked("list_tasks", {"cursor": "abc", "limit": 5}) == {"cursor": "abc", "limit": 5}


def test_fillers_inside_each_item_of_a_list_are_dropped_too() -> None:
    files = [{"url": "data:text/plain;base64,SGk=", "filename": "", "mediaType": None}]
    assert checked("create_task", {"command": "x", "files": files})["files"] == [{"url": "data:text/plain;base64,SGk="}]


def test_the_arguments_given_are_not_modified() -> None:
    arguments = {"cursor": "", "limit": None}
    checked("list_tasks", arguments)
    assert arguments == {"cursor": "", "limit": None}


def test_a_required_empty_string_is_refused_as_empty() -> None:
    error = refused("create_task", {"command": ""})
    assert error.message == "command: must not be empty"


def test_a_required_null_is_refused() -> None:
    assert refused("create_task", {"command": None}).message == "command: must be string, got null"


def test_an_unknown_argument_is_refused_even_when_null() -> None:
    assert "'force'" in refused("list_tasks", {"force": None}).message


def test_null_or_empty_is_kept_where_the_schema_gives_it_a_meaning() -> None:
    schema = {
        "type": "object",
        "properties": {"note": {"type": ["string", "null"]}, "label": {"type": "string"}},
        "additionalProperties": False,
    }
    assert ArgumentChecker(schema).check({"note": None, "label": ""}) == {"note": None, "label": ""}


@pytest.mark.parametrize("filler", [None, ""], ids=["null", "empty"])
def test_a_partial_update_filled_by_a_strict_model_clears_nothing(filler: Any) -> None:
    arguments = {"scheduledTaskId": "s1", "title": "Weekly", "agentProviderId": filler, "clearAgentProviderId": None}
    assert sent_body("update_scheduled_task", arguments) == {"title": "Weekly"}


def test_clearing_the_model_override_takes_an_explicit_flag() -> None:
    arguments = {"scheduledTaskId": "s1", "agentProviderId": "", "clearAgentProviderId": True}
    assert sent_body("update_scheduled_task", arguments) == {"agentProviderId": None}


def test_the_update_tool_says_how_to_clear_the_override() -> None:
    assert "clearAgentProviderId: true" in TOOLS["update_scheduled_task"].description


@pytest.mark.parametrize(
    ("task_id", "problem"),
    [
        ("", "must not be empty"),
        ("   ", "must not be blank"),
        ("\u00a0\u3000", "must not be blank"),
        ("\t", "must not contain control characters"),
        ("a\nb", "must not contain control characters"),
        ("slug\n", "must not contain control characters"),
        ("a\x00", "must not contain control characters"),
        ("a\x85", "must not contain control characters"),
        (".", "must not be '.' or '..'"),
        ("..", "must not be '.' or '..'"),
        (" .. ", "must not be only dots and blanks"),
    ],
    ids=["empty", "spaces", "unicode-blanks", "tab", "newline", "final-newline", "nul", "c1", "dot", "dot-dot", "mix"],
)
def test_an_id_that_names_nothing_is_refused_with_the_reason(task_id: str, problem: str) -> None:
    error = refused("cancel_task", {"taskIdOrSlug": task_id})
    assert error.message.startswith(f"taskIdOrSlug: {problem}")
    assert error.details == [{"argument": "taskIdOrSlug", "problem": error.message.removeprefix("taskIdOrSlug: ")}]


@pytest.mark.parametrize("task_id", ["demo-1", " padded ", "with space", ".hidden", "a..b", "tâche-✓-漢字", "a/b"])
def test_an_id_with_a_visible_character_and_no_control_character_is_accepted(task_id: str) -> None:
    assert checked("cancel_task", {"taskIdOrSlug": task_id}) == {"taskIdOrSlug": task_id}


def test_every_path_id_of_every_tool_follows_the_same_rule() -> None:
    for tool in TOOLS.values():
        for name in tool.operation.path_params:
            with pytest.raises(InvalidArguments, match="must not be blank"):
                ArgumentChecker(tool.input_schema).check({name: "  "})


@pytest.mark.parametrize("number", [float("nan"), float("inf")])
def test_a_non_finite_number_is_refused_since_json_has_none(number: float) -> None:
    assert "finite" in refused("list_tasks", {"limit": number}).message


def test_an_argument_error_carries_its_hint_in_the_structured_error() -> None:
    error = refused("cancel_task", {"taskIdOrSlug": "  "})
    assert error.to_dict()["hint"] == error.hint
    assert "nothing was sent" in error.hint
