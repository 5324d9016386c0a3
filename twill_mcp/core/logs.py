"""Logging to stderr (stdout belongs to the protocol), with secrets scrubbed from every record, one line each."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import TextIO

from twill_mcp.core.sanitize import for_log

REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Replaces every configured secret in the final text of a record.

    The key is never logged on purpose; this is the net for the day a library logs
    a header or an exception quotes one.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        if record.stack_info:
            message += "\n" + record.stack_info
            record.stack_info = None
        for secret in self._secrets:
            message = message.replace(secret, REDACTED)
        record.msg, record.args = message, None
        return True


class OneLine(logging.Formatter):
    """Each record as exactly one line, its control characters escaped.

    Much of what is logged came from outside (Twill's error messages, ids, tool names): a newline in
    it would forge a log line of its own, and an ANSI escape would colour or rewrite the operator's
    terminal. A traceback is kept, on the same line, its line breaks written `\\n`.
    """

    def format(self, record: logging.LogRecord) -> str:
        return for_log(super().format(record))


def configure_logging(level: str, secrets: Iterable[str] = (), stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(OneLine("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request line at INFO; our own per-call line says what matters.
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
