"""`twill-mcp doctor`: each broken setup is named on one line with its fix, and the exit code says so."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY
from tests.fake_twill import FakeTwill, closed_port
from twill_mcp import cli
from twill_mcp.core.config import ENVIRONMENT
from twill_mcp.emulator import DEMO_KEY

WRONG_KEY = "twk_wrong_0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*ENVIRONMENT, "TWILL_API_KEY", "TWILL_API_KEY_FILE"]:
        monkeypatch.delenv(name, raising=False)
    # A closed port would otherwise be retried with backoff: one attempt says as much.
    monkeypatch.setenv("TWILL_MCP_MAX_RETRIES", "0")


def doctor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = cli.main(["doctor", *argv])
    out, err = capsys.readouterr()
    assert err == ""
    return code, out.splitlines()


def problems(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


def test_the_sandbox_passes_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = doctor(capsys, "--sandbox")
    assert code == 0, lines
    assert problems(lines) == []
    assert any("Emulator Workspace" in line for line in lines)
    assert DEMO_KEY not in "\n".join(lines)


def test_a_valid_key_shows_its_workspace_and_fingerprint_never_the_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_twill: FakeTwill
) -> None:
    monkeypatch.setenv("TWILL_BASE_URL", fake_twill.origin)
    monkeypatch.setenv("TWILL_API_KEY", API_KEY)
    code, lines = doctor(capsys)
    assert code == 0, lines
    text = "\n".join(lines)
    assert API_KEY not in text
    assert re.search(r"API key: key:[0-9a-f]{6,}, from TWILL_API_KEY$", text, re.M), text
    assert 'workspace "Emulator Workspace"' in text
    assert [r.raw_path for r in fake_twill.requests] == ["/api/v1/auth/me"]


def test_a_key_from_a_file_says_it_came_from_the_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_twill: FakeTwill, tmp_path: Path
) -> None:
    (tmp_path / "key").write_text(API_KEY + "\n", encoding="utf-8")
    monkeypatch.setenv("TWILL_BASE_URL", fake_twill.origin)
    monkeypatch.setenv("TWILL_API_KEY_FILE", str(tmp_path / "key"))
    code, lines = doctor(capsys)
    assert code == 0, lines
    assert any(line.endswith("from TWILL_API_KEY_FILE") for line in lines), lines


def test_a_missing_key_is_one_line_saying_where_to_get_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = doctor(capsys)
    assert code == 1
    [problem] = problems(lines)
    assert "not set" in problem
    assert "fix:" in problem
    assert "TWILL_API_KEY" in problem.split("fix:")[1]
    assert "API Keys" in problem


def test_a_wrong_key_is_refused_by_twill_and_named_with_the_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_twill: FakeTwill
) -> None:
    monkeypatch.setenv("TWILL_BASE_URL", fake_twill.origin)
    monkeypatch.setenv("TWILL_API_KEY", WRONG_KEY)
    code, lines = doctor(capsys)
    assert code == 1
    [problem] = problems(lines)
    assert "401" in problem
    assert "fix:" in problem
    assert "TWILL_API_KEY" in problem.split("fix:")[1]
    assert WRONG_KEY not in "\n".join(lines)


def test_an_unreachable_base_url_says_so_and_what_to_check(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("TWILL_BASE_URL", origin)
    monkeypatch.setenv("TWILL_API_KEY", WRONG_KEY)
    code, lines = doctor(capsys)
    assert code == 1
    [problem] = problems(lines)
    assert origin in problem
    assert "TWILL_BASE_URL" in problem.split("fix:")[1]


def test_a_plain_http_base_url_is_refused_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILL_BASE_URL", "http://twill.example.com")
    monkeypatch.setenv("TWILL_API_KEY", WRONG_KEY)
    code, lines = doctor(capsys)
    assert code == 1
    [problem] = problems(lines)
    assert problem.startswith("FAIL TWILL_BASE_URL: must use https")
    assert "fix:" in problem
    assert any(line.startswith("skip") and "not contacted" in line for line in lines)


def test_an_unknown_toolset_is_named_with_the_valid_ones(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_twill: FakeTwill
) -> None:
    monkeypatch.setenv("TWILL_BASE_URL", fake_twill.origin)
    monkeypatch.setenv("TWILL_API_KEY", API_KEY)
    code, lines = doctor(capsys, "--toolsets", "tasks,nope")
    assert code == 1
    [problem] = problems(lines)
    assert "nope" in problem
    assert "Valid toolsets: " in problem
    assert "--toolsets" in problem.split("fix:")[1]


def test_every_problem_is_reported_not_just_the_first(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TWILL_API_KEY_FILE", str(tmp_path / "missing"))
    monkeypatch.setenv("TWILL_BASE_URL", "http://twill.example.com")
    monkeypatch.setenv("TWILL_MCP_LOG_LEVEL", "LOUD")
    code, lines = doctor(capsys)
    assert code == 1
    assert [line.split(":")[0] for line in problems(lines)] == [
        "FAIL TWILL_API_KEY_FILE",
        "FAIL TWILL_BASE_URL",
        "FAIL TWILL_MCP_LOG_LEVEL",
    ]
    assert all(" — fix: " in line for line in problems(lines))


def test_a_used_up_rate_limit_says_how_long_to_wait(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_twill: FakeTwill
) -> None:
    monkeypatch.setenv("TWILL_BASE_URL", fake_twill.origin)
    monkeypatch.setenv("TWILL_API_KEY", API_KEY)
    fake_twill.then_json(429, {"error": {"code": "rate_limited", "message": "slow down"}}, {"Retry-After": "120"})
    code, lines = doctor(capsys)
    assert code == 1
    [problem] = problems(lines)
    assert "rate limit" in problem
    assert "wait 120 s" in problem.split("fix:")[1]


def test_oauth_mode_shows_the_issuer_and_kids_never_a_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_new, secret_old = "ab" * 32, "cd" * 32
    monkeypatch.setenv("TWILL_MCP_AUTH", "oauth")
    monkeypatch.setenv("TWILL_MCP_PUBLIC_URL", "https://mcp.example.com")
    monkeypatch.setenv("TWILL_MCP_OAUTH_SECRETS", f"k2:{secret_new},k1:{secret_old}")
    _, lines = doctor(capsys, "--sandbox")
    assert "ok   OAuth: issuer https://mcp.example.com; sealing with k2, opening k2, k1" in lines
    assert not any(secret_new in line or secret_old in line for line in lines)


def test_oauth_mode_without_a_public_url_or_secret_is_one_problem_with_its_fixes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILL_MCP_AUTH", "oauth")
    code, lines = doctor(capsys, "--sandbox")
    assert code == 1
    (oauth,) = [line for line in problems(lines) if "OAuth" in line]
    assert "TWILL_MCP_PUBLIC_URL" in oauth
    assert "openssl rand -hex 32" in oauth


def oauth_env(monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    monkeypatch.setenv("TWILL_MCP_AUTH", "oauth")
    monkeypatch.setenv("TWILL_MCP_PUBLIC_URL", "https://mcp.example.com")
    monkeypatch.setenv("TWILL_MCP_OAUTH_SECRET", "ab" * 32)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def test_oauth_mode_without_redis_says_its_state_is_this_processs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    oauth_env(monkeypatch)
    _, lines = doctor(capsys, "--sandbox")
    assert any(line.startswith("ok   shared state: in this process") for line in lines)


def test_an_unreachable_redis_is_one_problem_naming_the_url_without_its_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("redis")
    oauth_env(monkeypatch, TWILL_MCP_REDIS_URL=f"redis://user:hunter2pass@127.0.0.1:{closed_port()}/0")
    code, lines = doctor(capsys, "--sandbox")
    assert code == 1
    (unreachable,) = [line for line in problems(lines) if "Redis" in line]
    assert "does not answer" in unreachable
    assert "hunter2pass" not in "\n".join(lines)


def test_a_reachable_redis_holds_the_oauth_state_beside_the_rate_budgets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, shared_redis: Any
) -> None:
    oauth_env(monkeypatch, TWILL_MCP_REDIS_URL=shared_redis.url)
    _, lines = doctor(capsys, "--sandbox")
    assert f"ok   shared state: in Redis at {shared_redis.url}, beside the rate budgets" in lines
    assert any(line.startswith("ok   rate budget:") and "shared by every replica" in line for line in lines)


def test_oauth_mode_names_the_pinned_clients_and_how_old_their_copies_are(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    oauth_env(monkeypatch)
    _, lines = doctor(capsys, "--sandbox")
    (pinned,) = [line for line in lines if "pinned clients" in line]
    assert "claude.ai" in pinned
    assert "chatgpt.com" in pinned
    assert "the oldest copied 2026-" in pinned


def test_oauth_mode_needs_no_key_of_the_servers_own(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    oauth_env(monkeypatch)
    code, lines = doctor(capsys)
    assert "ok   API key: not used with --auth oauth: each user's key comes from the consent page" in lines
    assert code == 0, lines


REDIS_PASSWORD = "redis-pw-" + "0123456789abcdef"


def test_a_redis_that_does_not_answer_is_named_masked_with_the_fix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_twill: FakeTwill
) -> None:
    monkeypatch.setenv("TWILL_BASE_URL", fake_twill.origin)
    monkeypatch.setenv("TWILL_API_KEY", API_KEY)
    monkeypatch.setenv("TWILL_MCP_REDIS_URL", f"redis://:{REDIS_PASSWORD}@127.0.0.1:{closed_port()}/0")
    code, lines = doctor(capsys)
    assert code == 1
    [line] = problems(lines)
    assert line.startswith("FAIL rate budget:")
    assert "does not answer" in line
    assert "own budget" in line
    assert "redis://***@127.0.0.1:" in line
    assert REDIS_PASSWORD not in "\n".join(lines)


def test_without_redis_the_rate_budget_is_said_to_be_per_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_twill: FakeTwill
) -> None:
    monkeypatch.setenv("TWILL_BASE_URL", fake_twill.origin)
    monkeypatch.setenv("TWILL_API_KEY", API_KEY)
    code, lines = doctor(capsys)
    assert code == 0
    assert any(line.startswith("ok   rate budget:") and "per process" in line for line in lines), lines


@pytest.mark.slow
def test_a_redis_that_answers_is_named_as_sharing_the_budget(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake_twill: FakeTwill, redis_server: Any
) -> None:
    monkeypatch.setenv("TWILL_BASE_URL", fake_twill.origin)
    monkeypatch.setenv("TWILL_API_KEY", API_KEY)
    monkeypatch.setenv("TWILL_MCP_REDIS_URL", redis_server.url)
    code, lines = doctor(capsys)
    assert code == 0, lines
    assert any(
        line.startswith("ok   rate budget:") and f"shared by every replica through Redis at {redis_server.url}" in line
        for line in lines
    ), lines
