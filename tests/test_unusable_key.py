"""A placeholder or malformed key never stops the server: it starts, lists its tools, and every call says what is
wrong with the key, where it came from and how to fix it; nothing is sent to Twill, and doctor fails on it.

The oracle for "starts" is the shipped `mcp.json` itself, spawned as a host would spawn it: its command, its args
and its env (the placeholder key), found on the PATH a host gives it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.conftest import Launch, call, error_of
from tests.fake_twill import FakeTwill
from twill_mcp import cli

ROOT = Path(__file__).parents[1]
PLACEHOLDER = "<your Twill API key>"
MALFORMED = "twk_live_0123 456789abcdef"


@pytest.mark.anyio
async def test_a_placeholder_key_still_lists_the_tools(in_memory: Launch) -> None:
    async with in_memory(TWILL_API_KEY=PLACEHOLDER) as client:
        listed = await client.list_tools()
    assert "get_task" in {tool.name for tool in listed.tools}


@pytest.mark.anyio
async def test_a_call_with_a_placeholder_key_says_so_names_the_variable_and_sends_nothing(
    in_memory: Launch, fake_twill: FakeTwill
) -> None:
    async with in_memory(TWILL_API_KEY=PLACEHOLDER) as client:
        error = error_of(await call(client, "get_task", {"taskIdOrSlug": "t1"}))
    assert error["code"] == "unusable_api_key"
    assert "placeholder" in error["message"]
    assert "TWILL_API_KEY" in error["message"]
    assert "API Keys" in error["hint"]
    assert fake_twill.requests == []


@pytest.mark.anyio
async def test_a_call_with_a_malformed_key_says_why_without_quoting_the_key(in_memory: Launch) -> None:
    async with in_memory(TWILL_API_KEY=MALFORMED) as client:
        result = await call(client, "get_task", {"taskIdOrSlug": "t1"})
    error = error_of(result)
    assert error["code"] == "unusable_api_key"
    assert "spaces" in error["message"]
    assert "0123 4567" not in result.model_dump_json()


@pytest.mark.anyio
async def test_a_bad_key_from_a_file_names_the_file(in_memory: Launch, tmp_path: Path) -> None:
    key_file = tmp_path / "twill.key"
    key_file.write_text("<paste the key here>\n", encoding="utf-8")
    async with in_memory(TWILL_API_KEY=None, TWILL_API_KEY_FILE=str(key_file)) as client:
        error = error_of(await call(client, "get_task", {"taskIdOrSlug": "t1"}))
    assert "TWILL_API_KEY_FILE" in error["message"]
    assert str(key_file) in error["message"]
    assert "file" in error["hint"]


@pytest.mark.usefixtures("no_twill_env")
def test_doctor_fails_on_a_placeholder_key_with_the_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILL_API_KEY", PLACEHOLDER)
    code = cli.main(["doctor"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    [problem] = [line for line in lines if line.startswith("FAIL")]
    assert problem.startswith("FAIL TWILL_API_KEY: is a placeholder")
    assert "fix:" in problem


def shipped_entry() -> dict[str, object]:
    entry: dict[str, object] = json.loads((ROOT / "mcp.json").read_text(encoding="utf-8"))["mcpServers"]["twill"]
    return entry


def test_the_shipped_entry_holds_a_placeholder_not_a_key() -> None:
    from twill_mcp.core.config import is_placeholder

    env = shipped_entry()["env"]
    assert isinstance(env, dict)
    assert is_placeholder(env["TWILL_API_KEY"])


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_shipped_mcp_json_starts_a_server_that_lists_its_tools_and_logs_one_line(tmp_path: Path) -> None:
    entry = shipped_entry()
    command, args, env = entry["command"], entry["args"], entry["env"]
    assert isinstance(command, str)
    assert isinstance(args, list)
    assert isinstance(env, dict)
    # A host's minimal PATH, plus where this environment installed the console script.
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    params = StdioServerParameters(command=command, args=args, env={**env, "PATH": path})
    log = tmp_path / "stderr.log"
    with log.open("w", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            listed = await client.list_tools()
            result = await client.call_tool("get_task", {"taskIdOrSlug": "demo-1"})
    assert len(listed.tools) > 0
    assert result.is_error
    assert result.structured_content is not None
    assert result.structured_content["error"]["code"] == "unusable_api_key"
    [warning] = [line for line in log.read_text(encoding="utf-8").splitlines() if "TWILL_API_KEY" in line]
    assert "placeholder" in warning
