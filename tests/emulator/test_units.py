"""Pieces used by the emulator: cron, cursors, slugs, state and demo data."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.emulator.conftest import START, FakeClock
from twill_mcp.emulator import EmulatorState, seed_demo
from twill_mcp.emulator.cron import next_run, parse_cron, parse_timezone
from twill_mcp.emulator.cursors import decode_cursor, encode_cursor
from twill_mcp.emulator.errors import EmulatedError
from twill_mcp.emulator.state import kebab, title_from_command
from twill_mcp.emulator.times import iso


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        ("*/15 * * * *", "UTC", "2026-01-01T00:00:00", "2026-01-01T00:15:00.000Z"),
        ("0 9 * * 1-5", "UTC", "2026-01-02T10:00:00", "2026-01-05T09:00:00.000Z"),  # Fri after 9 -> Mon
        ("0 9 * * 1-5", "America/New_York", "2026-01-01T00:00:00", "2026-01-01T14:00:00.000Z"),
        ("0 0 1 jan *", "UTC", "2026-01-01T00:00:00", "2027-01-01T00:00:00.000Z"),
        ("@hourly", "UTC", "2026-01-01T00:59:59", "2026-01-01T01:00:00.000Z"),
        ("0 12 13 * 5", "UTC", "2026-01-01T00:00:00", "2026-01-02T12:00:00.000Z"),  # day OR weekday
        ("0 0 * * 7", "UTC", "2026-01-01T00:00:00", "2026-01-04T00:00:00.000Z"),  # 7 = Sunday
        ("5/20 1,2 * * *", "UTC", "2026-01-01T01:30:00", "2026-01-01T01:45:00.000Z"),
    ],
)
def test_cron_next_run(expression: str, zone: str, after: str, expected: str) -> None:
    when = next_run(parse_cron(expression), parse_timezone(zone), utc(after))
    assert when is not None
    assert iso(when) == expected


def test_cron_that_never_fires_has_no_next_run() -> None:
    assert next_run(parse_cron("0 0 30 2 *"), parse_timezone("UTC"), START) is None


@pytest.mark.parametrize("expression", ["", "* * * *", "60 * * * *", "* * 0 * *", "*/0 * * * *", "a-b * * * *"])
def test_cron_rejects(expression: str) -> None:
    with pytest.raises(ValueError, match="cron"):
        parse_cron(expression)


def test_cursor_round_trip_and_scope() -> None:
    cursor = encode_cursor("tasks", 42)
    assert decode_cursor("tasks", cursor) == 42
    assert decode_cursor("tasks", cursor.rstrip("=")) == 42
    with pytest.raises(EmulatedError):
        decode_cursor("jobs:x", cursor)


def test_slugs_and_titles() -> None:
    assert kebab("Ünïcödé  -- Title!! 2") == "unicode-title-2"
    assert kebab("!!!") == "task"
    assert len(kebab("x" * 100)) == 48
    assert title_from_command("/plan  Do it\nmore") == "Do it"
    long = title_from_command("word " * 30)
    assert len(long) <= 61
    assert long.endswith("…")


def test_state_is_deterministic_with_a_seed() -> None:
    first, second = EmulatorState(FakeClock(), seed=7), EmulatorState(FakeClock(), seed=7)
    a, _ = first.create_task("Same")
    b, _ = second.create_task("Same")
    assert (a.id, a.slug) == (b.id, b.slug)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", a.id)


def test_seed_demo(clock: FakeClock) -> None:
    state = EmulatorState(clock)
    demo = seed_demo(state)
    assert [t.slug for t in demo.tasks] == ["demo-1", "demo-2", "demo-3", "demo-4", "demo-empty"]
    assert [r.full_name for r in demo.repositories] == ["twill-demo/web-app", "twill-demo/api-server"]
    assert len(demo.scheduled_tasks) == 1
    clock.advance(10_000)
    statuses = {t.slug: state.job_status(t.job_ids[-1]) for t in demo.tasks if t.job_ids}
    assert statuses == {"demo-1": "RUNNING", "demo-2": "COMPLETED", "demo-3": "COMPLETED", "demo-4": "CANCELLED"}
    assert state.find_task(demo.task("demo-1").id) is state.find_task("demo-1")
    assert state.find_task("nope") is None
