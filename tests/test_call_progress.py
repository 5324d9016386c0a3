"""`twill-mcp call` shows a long call's progress on stderr, but only to a person at a terminal."""

from __future__ import annotations

import json

import pytest

from tests.conftest import API_KEY
from tests.fake_twill import FakeTwill
from twill_mcp import cli
from twill_mcp.terminal import REWRITE


@pytest.fixture
def finished_job(fake_twill: FakeTwill, monkeypatch: pytest.MonkeyPatch) -> str:
    """A job whose log stream replays to its end, with the CLI pointed at the fake Twill."""
    monkeypatch.setenv("TWILL_BASE_URL", fake_twill.origin)
    monkeypatch.setenv("TWILL_API_KEY", API_KEY)
    _, job = fake_twill.state.create_task("Follow me")
    assert job is not None
    fake_twill.state.finish_job(job.id)
    return job.id


def follow(capsys: pytest.CaptureFixture[str], job: str) -> tuple[dict[str, object], str]:
    assert cli.main(["call", "stream_job_logs", f"jobId={job}"]) == 0
    out, err = capsys.readouterr()
    return json.loads(out)["structuredContent"], err


def test_at_a_terminal_each_event_updates_one_status_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, finished_job: str
) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    summary, err = follow(capsys, finished_job)
    updates = err.split(REWRITE)[1:]
    assert len(updates) == summary["events"]
    assert updates[0].startswith("stream_job_logs: ")
    assert updates[-1].rstrip("\n").endswith(f"{summary['events']}, complete")
    assert err.endswith("\n")


def test_without_a_terminal_stderr_stays_quiet(capsys: pytest.CaptureFixture[str], finished_job: str) -> None:
    summary, err = follow(capsys, finished_job)
    assert summary["complete"] is True
    assert REWRITE not in err
    assert "stream_job_logs:" not in err
