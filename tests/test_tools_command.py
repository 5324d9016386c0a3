"""`twill-mcp tools`: what the server would expose, from the shell, with the same selection options."""

from __future__ import annotations

import json
from typing import Any

import pytest

from twill_mcp import cli
from twill_mcp.core.config import ENVIRONMENT, Settings
from twill_mcp.inprocess import connected
from twill_mcp.tools.catalog import exposed_tools


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*ENVIRONMENT, "TWILL_API_KEY", "TWILL_API_KEY_FILE"]:
        monkeypatch.delenv(name, raising=False)


def tools(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["tools", *argv])
    out, err = capsys.readouterr()
    return code, out, err


async def listed_over_mcp(*argv: str) -> list[dict[str, Any]]:
    """What a client gets from tools/list of a server started with these options."""
    args = cli.parse_args(["tools", *argv])
    settings = cli.load_settings(args, None)
    async with connected(settings, exposed_tools(settings)) as client:
        listing = await client.list_tools()
    return [tool.model_dump(by_alias=True, exclude_none=True, mode="json") for tool in listing.tools]


@pytest.mark.anyio
@pytest.mark.parametrize("options", [(), ("--toolsets", "all"), ("--read-only",), ("--tools", "approve_plan")])
async def test_json_is_exactly_what_tools_list_returns(capsys: pytest.CaptureFixture[str], options: tuple[str]) -> None:
    code, out, _ = tools(capsys, "--json", *options)
    assert code == 0
    assert json.loads(out)["tools"] == await listed_over_mcp(*options)


def test_the_table_has_one_row_per_tool_with_its_toolset_hints_and_title(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = tools(capsys, "--json")
    objects = json.loads(out)["tools"]
    code, table, _ = tools(capsys)
    assert code == 0
    header, *rows = table.splitlines()
    assert header.split()[:3] == ["TOOL", "TOOLSET", "HINTS"]
    assert [row.split()[0] for row in rows] == [tool["name"] for tool in objects]
    [cancel] = [row for row in rows if row.startswith("cancel_task ")]
    assert cancel.split()[1] == "tasks"
    assert "destructive, idempotent" in cancel
    assert cancel.endswith("Cancel task")


def test_read_only_leaves_out_every_tool_that_changes_something(capsys: pytest.CaptureFixture[str]) -> None:
    _, table, _ = tools(capsys, "--read-only", "--toolsets", "all")
    rows = table.splitlines()[1:]
    assert rows
    assert all("read-only" in row for row in rows)
    assert not any(row.startswith(("cancel_task ", "create_task ", "delete_scheduled_task ")) for row in rows)


def test_excluded_tools_and_the_environment_are_honoured(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILL_MCP_TOOLSETS", "jobs")
    _, table, _ = tools(capsys, "--exclude-tools", "cancel_job")
    assert [row.split()[0] for row in table.splitlines()[1:]] == ["stream_job_logs"]


def test_an_unknown_toolset_is_a_usage_error_naming_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = tools(capsys, "--toolsets", "nope")
    assert code == 2
    assert out == ""
    assert "Valid toolsets: " in err


def test_listing_tools_needs_no_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert Settings.load({}).api_key is None
    code, out, _ = tools(capsys)
    assert code == 0
    assert "get_task" in out
