"""Opaque base64 cursors (keyset on creation order, so inserts never shift a page)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from twill_mcp.emulator.errors import field_error

T = TypeVar("T")


def encode_cursor(scope: str, seq: int) -> str:
    # Standard (not URL-safe) base64 with padding, so clients must percent-encode it in a query.
    return base64.b64encode(json.dumps({"s": scope, "k": seq}, separators=(",", ":")).encode()).decode()


def decode_cursor(scope: str, cursor: str) -> int:
    try:
        data = json.loads(base64.b64decode(cursor + "=" * (-len(cursor) % 4), validate=True))
        if not isinstance(data, dict) or data.get("s") != scope or not isinstance(data.get("k"), int):
            raise ValueError
        return int(data["k"])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise field_error("cursor", "Invalid cursor") from None


def page_newest_first(
    items: Sequence[T], seq_of: Callable[[T], int], limit: int, cursor: str | None, scope: str
) -> tuple[list[T], str | None]:
    """`items` newest first; the cursor points past the oldest item already returned."""
    if cursor is not None:
        before = decode_cursor(scope, cursor)
        items = [item for item in items if seq_of(item) < before]
    page = list(items[:limit])
    more = len(items) > limit
    return page, encode_cursor(scope, seq_of(page[-1])) if more and page else None
