"""The listed surface is pinned: any drift in tools (names, schemas, annotations), resources, resource templates
or prompts fails until re-snapshotted.

Regenerate deliberately with:  UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshots.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from twill_mcp.server.build import mcp_tool
from twill_mcp.server.prompts import PROMPTS
from twill_mcp.server.resources import RESOURCES, TEMPLATES
from twill_mcp.tools.catalog import all_tools

SNAPSHOTS = Path(__file__).parent / "snapshots"
TOOL_SNAPSHOTS = SNAPSHOTS / "tools"
TOOLS = {tool.name: tool for tool in all_tools()}
LISTINGS: dict[str, list[Any]] = {"resources": RESOURCES, "resource_templates": TEMPLATES, "prompts": PROMPTS}
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


def dump(model: BaseModel) -> str:
    return dumps(model.model_dump(by_alias=True, exclude_none=True, mode="json"))


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def matches_snapshot(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_the_listed_tool_matches_its_snapshot(name: str) -> None:
    matches_snapshot(TOOL_SNAPSHOTS / f"{name}.json", dump(mcp_tool(TOOLS[name])))


def test_there_is_no_snapshot_of_a_tool_that_no_longer_exists() -> None:
    if UPDATE:
        for stale in TOOL_SNAPSHOTS.glob("*.json"):
            if stale.stem not in TOOLS:
                stale.unlink()
    assert {path.stem for path in TOOL_SNAPSHOTS.glob("*.json")} == set(TOOLS)


@pytest.mark.parametrize("kind", sorted(LISTINGS))
def test_the_listed_resources_templates_and_prompts_match_their_snapshots(kind: str) -> None:
    listed = [item.model_dump(by_alias=True, exclude_none=True, mode="json") for item in LISTINGS[kind]]
    matches_snapshot(SNAPSHOTS / f"{kind}.json", dumps(listed))
