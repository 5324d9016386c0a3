"""Does Twill accept this key? `GET /auth/me`, through the same request path as every tool call.

So the consent page and refresh see what a tool call would: the proxy, the CA bundle, the timeouts
and retries of `TwillHttp`. It has its own `TwillHttp` (and so its own rate budget): consent checks
never queue behind a user's tool calls, nor theirs behind them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import SecretStr

from twill_mcp.core.credentials import Credentials
from twill_mcp.core.errors import ToolCallError
from twill_mcp.upstream.answer import Answer
from twill_mcp.upstream.http import TwillHttp
from twill_mcp.upstream.outcomes import Effect
from twill_mcp.upstream.request import PreparedRequest

WHO_AM_I = PreparedRequest("GET", "/auth/me")
EFFECT = Effect(read_only=True, idempotent=True, action="check the API key")


class Verdict(Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    """Twill said no (401/403): the key is wrong, revoked, or of a personal workspace."""
    UNAVAILABLE = "unavailable"
    """No answer worth trusting (busy, down, unreachable): ask again later."""


@dataclass(frozen=True, slots=True)
class KeyCheck:
    verdict: Verdict
    identity: Mapping[str, Any]
    """`/auth/me`'s answer when accepted: workspace and key ids."""


class _Reader:
    accept = "application/json"
    streams = False

    async def success(self, answer: Answer) -> dict[str, Any]:
        raw = await answer.read()
        try:
            body = json.loads(raw.body)
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}


class KeyChecker:
    def __init__(self, http: TwillHttp) -> None:
        self._http = http

    async def __call__(self, key: str) -> KeyCheck:
        try:
            identity: dict[str, Any] = await self._http.exchange(
                WHO_AM_I, Credentials(SecretStr(key)), EFFECT, _Reader()
            )
        except ToolCallError as exc:
            refused = exc.status in (401, 403)
            return KeyCheck(Verdict.REFUSED if refused else Verdict.UNAVAILABLE, {})
        return KeyCheck(Verdict.ACCEPTED, identity)
