"""A client we did not write: the official TypeScript SDK accepts every result, errors included.

The TypeScript client validates structuredContent against the tool's outputSchema even
on isError results (the Python client does not), so this is where a wrong error shape
would show.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SERVER_COMMAND, server_env
from tests.fake_twill import FakeTwill, Scripted
from twill_mcp.emulator.models import RUNNING

pytestmark = pytest.mark.slow

INTEROP = Path(__file__).parent / "interop"


@pytest.fixture(scope="session")
def ts_client(ts_interop: Path) -> Path:
    return ts_interop / "ts_client.mjs"


def run_ts_client(
    script: Path, env: dict[str, str], calls: list[dict[str, Any]], requests: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    plan = {
        "command": SERVER_COMMAND[0],
        "args": SERVER_COMMAND[1:],
        "env": env,
        "calls": calls,
        "requests": requests or [],
        "cwd": str(INTEROP.parents[1]),
    }
    done = subprocess.run(["node", str(script), json.dumps(plan)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_typescript_client_lists_cancel_task(ts_client: Path, fake_twill: FakeTwill) -> None:
    out = run_ts_client(ts_client, server_env(fake_twill), [])
    [tool] = [t for t in out["tools"]["tools"] if t["name"] == "cancel_task"]
    assert tool["outputSchema"]["type"] == "object"


def test_the_typescript_client_accepts_a_success(ts_client: Path, fake_twill: FakeTwill) -> None:
    fake_twill.add_task("t1")
    out = run_ts_client(
        ts_client, server_env(fake_twill), [{"name": "cancel_task", "arguments": {"taskIdOrSlug": "t1"}}]
    )
    [outcome] = out["results"]
    assert outcome["ok"], outcome
    assert outcome["result"]["structuredContent"] == {"success": True, "task": {"id": "t1"}}


def test_the_typescript_client_accepts_every_kind_of_error_result(ts_client: Path, fake_twill: FakeTwill) -> None:
    fake_twill.then(Scripted(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"}))
    fake_twill.then(Scripted(drop=True))
    fake_twill.then_json(429, {"error": {"code": "rate_limited", "message": "slow down"}}, {"Retry-After": "120"})
    cancel = {"name": "cancel_task", "arguments": {"taskIdOrSlug": "missing"}}
    # In order: 502 HTML, dropped connection, Twill's 429, then our own budget holding back after that 429.
    scripted = run_ts_client(ts_client, server_env(fake_twill, TWILL_MCP_MAX_RETRIES="0"), [cancel] * 4)
    plain = run_ts_client(ts_client, server_env(fake_twill), [cancel, {**cancel, "arguments": {"taskIdOrSlug": ""}}])
    outcomes = scripted["results"] + plain["results"]
    assert all(outcome["ok"] for outcome in outcomes), outcomes
    assert all(outcome["result"]["isError"] for outcome in outcomes)
    codes = [outcome["result"]["structuredContent"]["error"]["code"] for outcome in outcomes]
    assert codes == [
        "bad_upstream_response",
        "outcome_unknown",
        "rate_limited",
        "rate_limited",
        "not_found",
        "invalid_arguments",
    ]


def test_the_typescript_client_accepts_the_missing_key_error(ts_client: Path, fake_twill: FakeTwill) -> None:
    env = server_env(fake_twill, TWILL_API_KEY=None)
    out = run_ts_client(ts_client, env, [{"name": "cancel_task", "arguments": {"taskIdOrSlug": "t1"}}])
    [outcome] = out["results"]
    assert outcome["ok"], outcome
    assert outcome["result"]["structuredContent"]["error"]["code"] == "missing_api_key"


def test_the_typescript_client_waits_for_a_task_with_progress_and_reads_it_as_a_resource(
    ts_client: Path, fake_twill: FakeTwill
) -> None:
    _, job = fake_twill.state.create_task("Quick one", slug="quick")
    assert job is not None
    fake_twill.state.advance(job.id, RUNNING)

    def finish_once_followed() -> None:
        # Finished once the call follows the job's log stream: the first progress (RUNNING) is then written
        # well before the result.
        deadline = time.monotonic() + 30
        while not any("logs" in r.raw_path for r in fake_twill.requests) and time.monotonic() < deadline:
            time.sleep(0.02)
        fake_twill.state.finish_job(job.id, final_answer="Done quickly.")

    threading.Thread(target=finish_once_followed, daemon=True).start()
    wait = {"name": "wait_for_task", "arguments": {"taskIdOrSlug": "quick"}, "progress": True}
    template = {"type": "ref/resource", "uri": "twill://tasks/{taskIdOrSlug}"}
    requests = [
        {"method": "listResourceTemplates", "params": {}},
        {"method": "readResource", "params": {"uri": "twill://tasks/quick"}},
        {"method": "readResource", "params": {"uri": "twill://tasks/no-such-task"}},
        {"method": "complete", "params": {"ref": template, "argument": {"name": "taskIdOrSlug", "value": "qu"}}},
        {"method": "listPrompts", "params": {}},
        {"method": "getPrompt", "params": {"name": "delegate_to_twill", "arguments": {"what": "Fix the footer"}}},
    ]
    out = run_ts_client(ts_client, server_env(fake_twill), [wait], requests)
    [waited] = out["results"]
    assert waited["ok"], waited
    assert waited["result"]["structuredContent"]["task"]["latestJob"]["finalAnswer"] == "Done quickly."
    # The server writes every progress notification before the result (test_stdio holds that on the raw
    # pipe); the TypeScript client drops one that it reads together with the result, because it handles
    # notifications a microtask later than responses (typescript-sdk#2580). So the last, adjacent one may
    # be missing here; the earlier ones may not.
    statuses = [p["message"].split(" after ")[0] for p in waited["progress"]]
    assert statuses[0] == "RUNNING"
    assert set(statuses) <= {"RUNNING", "COMPLETED"}
    templates, task, missing, completion, prompts, prompt = out["requests"]
    assert [t["uriTemplate"] for t in templates["result"]["resourceTemplates"]] == ["twill://tasks/{taskIdOrSlug}"]
    assert json.loads(task["result"]["contents"][0]["text"])["task"]["slug"] == "quick"
    assert (missing["ok"], missing["code"]) == (False, -32002)
    assert completion["result"]["completion"]["values"] == ["quick"]
    assert {p["name"] for p in prompts["result"]["prompts"]} == {"delegate_to_twill", "review_twill_task"}
    assert "wait_for_task" in prompt["result"]["messages"][0]["content"]["text"]
