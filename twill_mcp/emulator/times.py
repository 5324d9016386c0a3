"""Clock type and the timestamp format the API uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""Seconds since the epoch; injectable so tests control time."""


def iso(ts: float) -> str:
    """Millisecond ISO-8601 with `Z`, like JavaScript's `Date.toISOString()` (Twill is a JS stack)."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_or_none(ts: float | None) -> str | None:
    return None if ts is None else iso(ts)
