"""Logging to stderr (stdout belongs to the protocol), with secrets scrubbed from every record, one line each."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

from twill_mcp.core.sanitize import for_log

REDACTED = "[redacted]"
# What the per-call line carries besides its message (`extra=` of its record), as JSON logs' own fields.
CALL_FIELDS = ("tool", "outcome", "duration_ms", "key", "protocol", "trace_id")


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
        for name in CALL_FIELDS:
            value = record.__dict__.get(name)
            if isinstance(value, str):
                for secret in self._secrets:
                    value = value.replace(secret, REDACTED)
                record.__dict__[name] = value
        return True


class OneLine(logging.Formatter):
    """Each record as exactly one line, its control characters escaped.

    Much of what is logged came from outside (Twill's error messages, ids, tool names): a newline in
    it would forge a log line of its own, and an ANSI escape would colour or rewrite the operator's
    terminal. A traceback is kept, on the same line, its line breaks written `\\n`.
    """

    def format(self, record: logging.LogRecord) -> str:
        return for_log(super().format(record))


class JsonLines(logging.Formatter):
    """Each record as one JSON object on one line (TWILL_MCP_LOG_FORMAT=json), for log pipelines.

    ASCII-only JSON: every control, line-break and bidi character is a `\\u` escape, so no text from
    outside can break the line or reach a terminal raw, as in `OneLine`.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {name: record.__dict__[name] for name in CALL_FIELDS if record.__dict__.get(name) is not None}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=True, default=str)


def configure_logging(
    level: str, secrets: Iterable[str] = (), stream: TextIO | None = None, log_format: str = "text"
) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    text = OneLine("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(JsonLines() if log_format == "json" else text)
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request line at INFO; our own per-call line says what matters.
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
