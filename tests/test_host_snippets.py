"""The README's host snippets parse, follow each host's documented format, and start this server.

Formats as the hosts document them: Claude Desktop, Cursor and Windsurf read `mcpServers`
with command/args/env; VS Code reads `servers` (stdio entries need `"type": "stdio"`) and
an `inputs` list whose `promptString` entries with `"password": true` fill `${input:ID}`.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from twill_mcp.core.config import ENVIRONMENT

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
[SCRIPT] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
KNOWN_VARIABLES = {*ENVIRONMENT, "TWILL_API_KEY", "TWILL_API_KEY_FILE"}
# How a snippet may start the server: the published package through uvx, or the installed script.
LAUNCHERS = {("uvx", (SCRIPT,)), (SCRIPT, ())}


def section(heading: str) -> str:
    """The README text under a `#### heading`, up to the next heading."""
    match = re.search(rf"^#### {re.escape(heading)}\n(.*?)(?=^#)", README, re.M | re.S)
    assert match is not None, heading
    return match.group(1)


def snippet(heading: str) -> dict[str, Any]:
    [block] = re.findall(r"```json\n(.*?)\n```", section(heading), re.S)
    return json.loads(block)


def check_stdio_entry(entry: dict[str, Any], allowed: set[str]) -> None:
    assert set(entry) <= allowed, set(entry) - allowed
    assert (entry["command"], tuple(entry.get("args", ()))) in LAUNCHERS
    assert all(isinstance(value, str) for value in entry["env"].values())
    assert "TWILL_API_KEY" in entry["env"]
    assert set(entry["env"]) <= KNOWN_VARIABLES


@pytest.mark.parametrize("host", ["Claude Desktop", "Cursor", "Windsurf"])
def test_the_mcp_servers_hosts_get_one_stdio_entry(host: str) -> None:
    config = snippet(host)
    assert list(config) == ["mcpServers"]
    [entry] = config["mcpServers"].values()
    check_stdio_entry(entry, {"command", "args", "env", "type"})
    assert entry.get("type", "stdio") == "stdio"


def test_vs_code_gets_a_servers_entry_whose_key_comes_from_a_password_prompt() -> None:
    config = snippet("VS Code")
    assert set(config) == {"inputs", "servers"}
    [entry] = config["servers"].values()
    assert entry["type"] == "stdio"
    check_stdio_entry(entry, {"type", "command", "args", "env"})
    reference = re.fullmatch(r"\$\{input:([^}]+)\}", entry["env"]["TWILL_API_KEY"])
    assert reference is not None
    [prompt] = [item for item in config["inputs"] if item["id"] == reference.group(1)]
    assert prompt["type"] == "promptString"
    assert prompt["password"] is True
    assert prompt["description"]


def test_claude_desktop_names_its_config_file_for_macos_and_windows() -> None:
    text = section("Claude Desktop")
    assert "`~/Library/Application Support/Claude/claude_desktop_config.json`" in text
    assert r"`%APPDATA%\Claude\claude_desktop_config.json`" in text


@pytest.mark.parametrize(
    ("host", "path"), [("Cursor", "~/.cursor/mcp.json"), ("Windsurf", "~/.codeium/windsurf/mcp_config.json")]
)
def test_each_host_names_the_file_it_reads(host: str, path: str) -> None:
    assert f"`{path}`" in section(host)


def test_no_snippet_holds_something_that_looks_like_a_real_key() -> None:
    for host in ("Claude Desktop", "Cursor", "Windsurf"):
        [entry] = snippet(host)["mcpServers"].values()
        assert entry["env"]["TWILL_API_KEY"].startswith("<")
