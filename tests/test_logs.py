"""Logs go to stderr with the key scrubbed, whatever quotes it."""

from __future__ import annotations

import logging

from twill_mcp.core.logs import REDACTED, RedactSecrets

SECRET = "twk_live_feedfacecafebeef"


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("t", logging.ERROR, __file__, 1, message, args, exc_info)


def test_a_secret_in_the_message_arguments_is_redacted() -> None:
    rec = record("header was %s", f"Bearer {SECRET}")
    RedactSecrets([SECRET]).filter(rec)
    assert rec.getMessage() == f"header was Bearer {REDACTED}"


def test_a_secret_in_an_exception_traceback_is_redacted() -> None:
    try:
        raise RuntimeError(f"bad key {SECRET}")
    except RuntimeError as exc:
        rec = record("failed", exc=exc)
    RedactSecrets([SECRET]).filter(rec)
    text = logging.Formatter().format(rec)
    assert SECRET not in text
    assert "RuntimeError" in text
