"""The command line: one-shot calls, the sandbox server, and the MCP server in sandbox mode."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.conftest import SERVER_COMMAND
from twill_mcp import cli
from twill_mcp.emulator import DEMO_KEY

pytestmark = pytest.mark.slow

CLEAN_ENV = {"PATH": "/usr/bin:/bin"}


def twill_mcp(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SERVER_COMMAND, *args], capture_output=True, text=True, timeout=timeout, env=CLEAN_ENV)


def test_call_in_the_sandbox_cancels_a_demo_task_without_any_key() -> None:
    done = twill_mcp("call", "cancel_task", "taskIdOrSlug=demo-1", "--sandbox")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["structuredContent"]["success"] is True
    assert "SANDBOX" in result["content"][-1]["text"]
    assert result["_meta"]["ai.twill.mcp/sandbox"] is True


def test_a_failed_call_prints_the_error_result_and_exits_1() -> None:
    done = twill_mcp("call", "cancel_task", "taskIdOrSlug=no-such-task", "--sandbox")
    assert done.returncode == 1
    assert json.loads(done.stdout)["structuredContent"]["error"]["code"] == "not_found"


def test_string_arguments_stay_strings_even_when_they_look_like_json() -> None:
    done = twill_mcp("call", "get_task", "taskIdOrSlug=123", "--sandbox")
    assert json.loads(done.stdout)["structuredContent"]["error"]["code"] == "not_found"


def test_json_arguments_are_accepted_whole() -> None:
    done = twill_mcp("call", "list_tasks", "--json", '{"limit": 2}', "--sandbox")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["structuredContent"]["tasks"]) == 2


def test_calling_a_tool_that_is_not_exposed_is_a_usage_error() -> None:
    done = twill_mcp("call", "delete_everything", "--sandbox")
    assert done.returncode == 2
    assert "cancel_task" in done.stderr


def test_the_sandbox_command_serves_the_emulator_and_prints_how_to_use_it() -> None:
    with subprocess.Popen(
        [*SERVER_COMMAND, "sandbox"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CLEAN_ENV
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            origin = first.split(" serving ")[1].strip().removesuffix("/api/v1")
            response = httpx2.get(f"{origin}/api/v1/tasks/demo-1", headers={"Authorization": f"Bearer {DEMO_KEY}"})
            assert response.status_code == 200
            assert response.json()["task"]["slug"] == "demo-1"
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.mark.anyio
async def test_the_sandboxed_mcp_server_says_so_in_its_instructions_and_results(protocol_mode: str) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "twill_mcp", "--sandbox"], env=CLEAN_ENV)
    async with Client(stdio_client(params), mode=protocol_mode) as client:
        if protocol_mode == "legacy":
            assert "SANDBOX" in (client.instructions or "")
        result = await client.call_tool("get_task", {"taskIdOrSlug": "demo-2"})
    assert result.structured_content["task"]["slug"] == "demo-2"
    assert "SANDBOX" in result.content[-1].text


def test_the_sandbox_can_start_empty_and_without_a_rate_limit() -> None:
    import httpx2

    from twill_mcp.sandbox import Sandbox

    with Sandbox.start(empty=True, rate_limit=0) as sandbox:
        headers = {"Authorization": f"Bearer {sandbox.api_key}"}
        with httpx2.Client(base_url=sandbox.server.base_url, headers=headers) as client:
            answers = [client.get("/tasks") for _ in range(120)]
    assert sandbox.demo_tasks == []
    assert {answer.status_code for answer in answers} == {200}
    assert answers[0].json()["tasks"] == []


def test_no_arguments_mean_what_the_parser_makes_of_none() -> None:
    from twill_mcp import commandline

    assert vars(cli.parse_args([])) == vars(commandline.parse_args([]))


def test_serving_with_no_arguments_imports_neither_argparse_nor_the_other_commands() -> None:
    # A host starts the server with no arguments and waits for its first answer: what it need not load, it must not.
    probe = (
        "import sys; from twill_mcp import cli; cli.parse_args([]); print(sorted(m for m in sys.modules if m in {0}))"
    )
    unwanted = {"argparse", "twill_mcp.commandline", "twill_mcp.doctor", "twill_mcp.install", "twill_mcp.terminal"}
    done = subprocess.run([sys.executable, "-c", probe.format(unwanted)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_command_runs_with_the_collector_on_and_what_loading_made_frozen() -> None:
    probe = (
        "import gc, sys; import twill_mcp.__main__ as entry\n"
        "sys.argv = ['twill-mcp', '--version']\n"
        "try:\n    entry.main()\nexcept SystemExit:\n    pass\n"
        "print(gc.isenabled(), gc.get_freeze_count())"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    enabled, frozen = done.stdout.split()[-2:]
    assert enabled == "True"
    assert int(frozen) > 100_000  # the SDK's models and the modules, out of every collection's walk
