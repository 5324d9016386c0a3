"""Logs go to stderr with the key scrubbed, whatever quotes it."""

from __future__ import annotations

import io
import logging

from twill_mcp.core.logs import REDACTED, RedactSecrets, configure_logging

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


FORGED = "boom\n2026-01-01 00:00:00,000 ERROR twill_mcp: key accepted\x1b[2J\x1b[31m"


def logged(message: str, *args: object, exc: BaseException | None = None) -> str:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    logger = logging.getLogger("twill_mcp.test")
    if exc is None:
        logger.info(message, *args)
    else:
        try:
            raise exc
        except type(exc):
            logger.exception(message, *args)
    return stream.getvalue()


def test_a_newline_from_outside_cannot_forge_a_log_line() -> None:
    text = logged("no task completions: %s", FORGED)
    assert text.count("\n") == 1
    assert text.endswith(
        "no task completions: boom\\n2026-01-01 00:00:00,000 ERROR twill_mcp: key accepted\\x1b[2J\\x1b[31m\n"
    )


def test_a_terminal_escape_from_outside_reaches_the_log_only_escaped() -> None:
    assert "\x1b" not in logged("no task completions: %s", FORGED)


def test_a_traceback_stays_on_the_line_of_its_event() -> None:
    text = logged("unexpected failure in %s", "get_task", exc=KeyError(FORGED))
    assert text.count("\n") == 1
    assert "Traceback (most recent call last):\\n" in text


def test_a_traceback_stays_on_one_line_when_secrets_are_redacted() -> None:
    stream = io.StringIO()
    configure_logging("INFO", secrets=[SECRET], stream=stream)
    try:
        raise RuntimeError(f"bad key {SECRET}\nsecond line")
    except RuntimeError:
        logging.getLogger("twill_mcp.test").exception("failed")
    assert stream.getvalue().count("\n") == 1
    assert SECRET not in stream.getvalue()
