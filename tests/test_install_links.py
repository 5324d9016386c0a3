"""The README's one-click links for VS Code and Cursor decode to the entry `twill-mcp install` writes.

The oracle for each link is its host's documented format, decoded with the standard library: VS Code's
`vscode:mcp/install?<JSON>` (and its web redirect's `name`/`inputs`/`config` query), Cursor's
`…/mcp/install?name=NAME&config=<base64 JSON>`; and the README text is exactly what the script prints.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.conftest import load_script
from twill_mcp.core.config import is_placeholder
from twill_mcp.install import HOSTS, PLACEHOLDER_KEY, entry_for

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script("install_links")


def readme_link(label: str) -> str:
    match = re.search(rf"\[{re.escape(label)}\]\(([^)\s]+)\)", README)
    assert match is not None, label
    return match.group(1)


def query(link: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(link).query, strict_parsing=True).items()}


def test_the_readme_holds_the_links_the_script_makes(script: ModuleType) -> None:
    assert script.markdown() in README


def test_the_vscode_link_decodes_to_the_installed_entry_with_its_password_prompt() -> None:
    link = readme_link("VS Code")
    assert link.startswith("vscode:mcp/install?")
    config: dict[str, Any] = json.loads(unquote(link.partition("?")[2]))
    inputs = config.pop("inputs")
    assert config.pop("name") == "twill"
    assert config == entry_for(HOSTS["vscode"], ["twill-mcp"], None, sandbox=False)
    [prompt] = inputs
    assert config["env"]["TWILL_API_KEY"] == "${input:" + prompt["id"] + "}"
    assert prompt["type"] == "promptString"
    assert prompt["password"] is True


def test_the_vscode_web_link_carries_the_same_entry_and_prompt() -> None:
    fields = query(readme_link("Install in VS Code"))
    assert fields["name"] == "twill"
    assert json.loads(fields["config"]) == entry_for(HOSTS["vscode"], ["twill-mcp"], None, sandbox=False)
    assert json.loads(fields["inputs"])[0]["password"] is True


@pytest.mark.parametrize("label", ["Cursor", "Install in Cursor"])
def test_the_cursor_links_decode_to_the_installed_entry_with_a_placeholder_key(label: str) -> None:
    link = readme_link(label)
    fields = query(link)
    assert urlsplit(link).path.endswith("mcp/install") or urlsplit(link).path.endswith("install-mcp")
    assert fields["name"] == "twill"
    config = json.loads(base64.b64decode(fields["config"], validate=True))
    assert config == entry_for(HOSTS["cursor"], ["twill-mcp"], PLACEHOLDER_KEY, sandbox=False)
    assert is_placeholder(config["env"]["TWILL_API_KEY"])


def test_the_shipped_mcp_json_is_the_same_entry() -> None:
    shipped = json.loads((ROOT / "mcp.json").read_text(encoding="utf-8"))
    assert shipped == {
        "mcpServers": {"twill": entry_for(HOSTS["cursor"], ["twill-mcp"], PLACEHOLDER_KEY, sandbox=False)}
    }
