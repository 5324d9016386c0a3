"""Who a call is made for: the caller's Twill key and trace context, carried with each call.

Over stdio every call is the one user's, with the key from the environment. Over HTTP
each request may carry a different user's key, so nothing tied to a caller lives in
the shared HTTP client: the request path takes `Credentials` per call.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from twill_mcp.core.logs import REDACTED

# W3C Trace Context, version 00: only a well-formed header is forwarded to Twill.
_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: SecretStr | None
    traceparent: str | None = None
    """A W3C `traceparent` to forward on the Twill request, so one trace spans agent → MCP → Twill."""
    key_problem: str | None = None
    """Why the configured key is not used ('VARIABLE: reason'), when there is one: a call answers it."""
    on_refused: Callable[[], Awaitable[None]] | None = field(default=None, repr=False, compare=False)
    """Called when Twill refuses the key (401): for a key from an OAuth grant, the grant ends, so the host is sent
    through sign-in again instead of the model meeting the same error on every call."""
    _digest: str = field(init=False, repr=False, compare=False)
    scrub: Scrub = field(init=False, repr=False, compare=False)
    """Removes this key from what comes back; made once with the credentials, not per request."""

    def __post_init__(self) -> None:
        secret = self.api_key.get_secret_value() if self.api_key is not None else ""
        object.__setattr__(self, "_digest", hashlib.sha256(secret.encode()).hexdigest() if secret else "")
        object.__setattr__(self, "scrub", Scrub(secret))
        if self.traceparent is not None and not _TRACEPARENT.fullmatch(self.traceparent):
            object.__setattr__(self, "traceparent", None)

    @property
    def key_id(self) -> str:
        """A stable, non-reversible id of the key: what per-key state (rate budgets) is kept under."""
        return self._digest

    @property
    def trace_id(self) -> str | None:
        """The caller's trace id, from its `traceparent`: what ties this call's log line to its trace."""
        return self.traceparent[3:35] if self.traceparent else None

    @property
    def fingerprint(self) -> str:
        """A short id of the key that is safe to log and show."""
        return f"key:{self._digest[:8]}" if self._digest else "no-key"


CredentialsFor = Callable[[Any], Credentials]
"""Resolves the credentials of one MCP request from its `ServerRequestContext`."""


def server_key(api_key: SecretStr | None, key_problem: str | None = None) -> CredentialsFor:
    """Every request made with the server's own key (stdio, and HTTP's `--auth env`), in the caller's trace."""
    untraced = Credentials(api_key, key_problem=key_problem)  # what almost every call is: hashed and made ready once

    def credentials(ctx: Any) -> Credentials:
        traceparent = traceparent_of(ctx)
        return untraced if traceparent is None else Credentials(api_key, traceparent, key_problem)

    return credentials


def traceparent_of(ctx: Any) -> str | None:
    """The caller's W3C trace context: from the request's `_meta` (2026-07-28), else its HTTP header.

    `Credentials` drops a malformed one, so no caller-chosen text reaches Twill.
    """
    value = (getattr(ctx, "meta", None) or {}).get("traceparent")
    request = getattr(ctx, "request", None)
    if value is None and request is not None:
        value = request.headers.get("traceparent")
    return value.strip() if isinstance(value, str) else None


class Scrub:
    """Removes a key from what Twill (or a proxy) sent back, where its bytes enter: raw, JSON-escaped, `\\/`-escaped."""

    __slots__ = ("_escapes", "_forms", "_texts")

    def __init__(self, key: str) -> None:
        escaped = json.dumps(key)[1:-1]
        texts = {key, escaped, escaped.replace("/", "\\/")} if key else set()
        self._texts = tuple(sorted(texts, key=len, reverse=True))
        self._forms = tuple(text.encode() for text in self._texts)
        # The JSON escapes that could spell some of the key's characters: `\\u` any, the short ones their own.
        short = [f"\\{ch}" for ch in '/"\\' if ch in key]
        self._escapes = ("\\u", *short) if key else ()

    def may_be_escaped_in(self, text: str) -> bool:
        """Whether JSON text holds an escape that could spell (part of) the key: then only decoding can tell."""
        return any(escape in text for escape in self._escapes)

    def body(self, body: bytes) -> bytes:
        for form in self._forms:
            if form in body:
                body = body.replace(form, REDACTED.encode())
        return body

    def found_in(self, text: str) -> bool:
        return any(form in text for form in self._texts)

    def text(self, text: str) -> str:
        for form in self._texts:
            if form in text:
                text = text.replace(form, REDACTED)
        return text
