"""The compiled tool surface is pinned: any drift in names, schemas or annotations fails until re-snapshotted.

Regenerate deliberately with:  UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshots.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from twill_mcp.compiler import compile_spec
from twill_mcp.server import mcp_tool
from twill_mcp.spec import load_bundled_spec

SNAPSHOTS = Path(__file__).parent / "snapshots" / "tools"
TOOLS = {tool.name: tool for tool in compile_spec(load_bundled_spec())}
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


def listed(name: str) -> str:
    dumped = mcp_tool(TOOLS[name]).model_dump(by_alias=True, exclude_none=True, mode="json")
    return json.dumps(dumped, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_the_listed_tool_matches_its_snapshot(name: str) -> None:
    path = SNAPSHOTS / f"{name}.json"
    if UPDATE:
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        path.write_text(listed(name), encoding="utf-8")
    assert path.exists(), f"no snapshot for new tool {name}: run with UPDATE_SNAPSHOTS=1"
    assert listed(name) == path.read_text(encoding="utf-8")


def test_there_is_no_snapshot_of_a_tool_that_no_longer_exists() -> None:
    if UPDATE:
        for stale in SNAPSHOTS.glob("*.json"):
            if stale.stem not in TOOLS:
                stale.unlink()
    assert {path.stem for path in SNAPSHOTS.glob("*.json")} == set(TOOLS)
