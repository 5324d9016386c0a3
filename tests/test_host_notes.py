"""The README's host notes are snippets a user pastes: each parses in its host's format and names the real server.

The oracles are the hosts' documented shapes (`mcpServers` / VS Code's `servers` JSON, Codex's
`[mcp_servers.NAME]` TOML table, `claude|codex mcp add NAME --env K=V -- COMMAND`, `gemini mcp add -e K=V
NAME COMMAND`), the console script pyproject.toml installs, and the variable the settings read the key from.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from twill_mcp.core.config import Settings

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
_START = README.index("## Connect it to your agent")
HOSTS = README[_START : README.index("\n## ", _START + 1)]
KEY_VARIABLE = "TWILL_API_KEY"
[ENTRY_POINT] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.+?)```", HOSTS, re.S)


def add_commands() -> list[list[str]]:
    """Every `… mcp add …` command line in the host notes, split as a shell would."""
    return [shlex.split(command) for command in re.findall(r"`((?:claude|gemini|codex) mcp add [^`]+)`", HOSTS)]


def assert_runs_twill_mcp_with_the_key(entry: dict[str, Any]) -> None:
    assert entry["command"] == ENTRY_POINT
    assert entry.get("args", []) == []
    assert set(entry["env"]) == {KEY_VARIABLE}


def test_the_key_variable_is_the_one_the_server_reads() -> None:
    assert Settings.load({KEY_VARIABLE: "twk_example_key"}).api_key is not None


def test_the_json_entry_and_mcp_json_are_one_mcpservers_entry_for_twill_mcp() -> None:
    snippet = blocks("json")[0]  # the ready-to-paste entry; the per-host snippets after it: test_host_snippets.py
    for document in (json.loads(snippet), json.loads((ROOT / "mcp.json").read_text(encoding="utf-8"))):
        assert list(document) == ["mcpServers"]
        assert_runs_twill_mcp_with_the_key(document["mcpServers"]["twill"])


def test_the_codex_config_toml_is_an_mcp_servers_table_for_twill_mcp() -> None:
    [snippet] = blocks("toml")
    document = tomllib.loads(snippet)
    assert list(document) == ["mcp_servers"]
    assert_runs_twill_mcp_with_the_key(document["mcp_servers"]["twill"])


def test_every_host_has_an_add_command() -> None:
    assert sorted(command[0] for command in add_commands()) == ["claude", "codex", "gemini"]


@pytest.mark.parametrize("command", add_commands(), ids=lambda command: command[0])
def test_each_add_command_names_the_server_twill_passes_only_the_key_and_runs_twill_mcp(command: list[str]) -> None:
    host, verb, action, *rest = command
    assert (verb, action) == ("mcp", "add")
    if host == "gemini":
        # gemini mcp add [-e KEY=VALUE ...] NAME COMMAND [ARGS ...]
        assert rest[0] == "-e"
        env, name, *server = rest[1:]
    else:
        # claude|codex mcp add NAME --env KEY=VALUE -- COMMAND [ARGS ...]
        name, option, env, separator, *server = rest
        assert (option, separator) == ("--env", "--")
    assert name == "twill"
    assert env.partition("=")[0] == KEY_VARIABLE
    assert server == [ENTRY_POINT]


def test_the_notes_say_why_the_key_goes_in_the_entry_and_what_each_host_needs_first() -> None:
    assert "do not pass the\nshell environment" in HOSTS
    claude = next(line for line in HOSTS.splitlines() if line.startswith("| Claude Code"))
    assert "approve" in claude
    gemini = next(line for line in HOSTS.splitlines() if line.startswith("| Gemini CLI"))
    assert "trusted folder" in gemini
