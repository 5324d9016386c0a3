"""Choosing the tool surface: toolsets, named tools, exclusions, read-only."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import SERVER_COMMAND, Launch
from twill_mcp.core.errors import ConfigError
from twill_mcp.tools.catalog import all_tools
from twill_mcp.tools.surface import select_tools

TOOLS = all_tools()


def names(**selection: object) -> set[str]:
    return {tool.name for tool in select_tools(TOOLS, **selection)}  # type: ignore[arg-type]


def test_the_default_surface_is_tasks_jobs_and_account_without_deprecated_tools() -> None:
    chosen = names()
    assert {"cancel_task", "create_task", "get_task", "stream_job_logs", "get_current_user"} <= chosen
    assert not {"approve_plan", "approve_criteria", "create_scheduled_task", "export_claude_teleport_session"} & chosen


def test_all_toolsets_still_leave_deprecated_tools_hidden() -> None:
    chosen = names(toolsets=["all"])
    assert len(chosen) == len(TOOLS) - 2
    assert "approve_plan" not in chosen


def test_naming_tools_alone_exposes_only_those_even_deprecated_ones() -> None:
    assert names(include=["cancel_task", "approve_plan"]) == {"cancel_task", "approve_plan"}


def test_named_tools_add_to_named_toolsets() -> None:
    assert names(toolsets=["scheduled"], include=["cancel_task"]) == {
        tool.name for tool in TOOLS if tool.toolset == "scheduled"
    } | {"cancel_task"}


def test_exclusion_wins_over_toolsets_and_named_tools() -> None:
    assert "cancel_task" not in names(toolsets=["tasks"], include=["cancel_task"], exclude=["cancel_task"])


def test_read_only_wins_over_everything() -> None:
    chosen = names(toolsets=["all"], include=["cancel_task"], read_only=True)
    assert chosen
    assert all(tool.annotations.read_only for tool in TOOLS if tool.name in chosen)
    assert "cancel_task" not in chosen


def test_wait_for_task_is_selected_like_the_compiled_tools_of_its_toolset() -> None:
    assert "wait_for_task" in names()
    assert "wait_for_task" in names(read_only=True)
    assert "wait_for_task" not in names(toolsets=["jobs"])
    assert "wait_for_task" not in names(exclude=["wait_for_task"])
    assert names(include=["wait_for_task"]) == {"wait_for_task"}


@pytest.mark.parametrize(
    ("selection", "listed"),
    [({"toolsets": ["taskz"]}, "tasks"), ({"include": ["cancel"]}, "cancel_task"), ({"exclude": ["nope"]}, "get_task")],
)
def test_an_unknown_name_is_an_error_that_lists_the_valid_ones(selection: dict[str, list[str]], listed: str) -> None:
    with pytest.raises(ConfigError, match="unknown") as caught:
        select_tools(TOOLS, **selection)  # type: ignore[arg-type]
    assert listed in str(caught.value)


def test_a_selection_that_leaves_nothing_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no tools"):
        select_tools(TOOLS, include=["cancel_task"], read_only=True)


@pytest.mark.anyio
async def test_the_environment_selects_the_surface_a_client_sees(in_memory: Launch) -> None:
    async with in_memory(TWILL_MCP_TOOLSETS="scheduled", TWILL_MCP_READ_ONLY="true") as client:
        listed = {tool.name for tool in (await client.list_tools()).tools}
    assert listed == {"list_scheduled_tasks", "get_scheduled_task"}


@pytest.mark.slow
def test_an_unknown_toolset_flag_stops_start_up_listing_the_valid_ones() -> None:
    done = subprocess.run([*SERVER_COMMAND, "--toolsets", "tasks,nope"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "nope" in done.stderr
    assert "scheduled" in done.stderr
