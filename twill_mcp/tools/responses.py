"""Read a successful JSON answer the way the spec describes it.

Strict where the spec is known: a documented success body that breaks its schema is reported,
not passed on as truth. Other readers: event streams in `events`, archives in `archives`; what
an answer that is not a success means is read once, for every tool, in `upstream.failures`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import mcp_types as types

from twill_mcp.core.errors import BadUpstreamResponse
from twill_mcp.spec.compiler import CompiledTool
from twill_mcp.tools.checks import SchemaCheck
from twill_mcp.upstream.answer import Answer, RawResponse
from twill_mcp.upstream.decode import TooDeep
from twill_mcp.upstream.failures import NO_JSON, describe_body, json_of, too_deep, too_large
from twill_mcp.upstream.outcomes import Effect, after_success

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Success:
    """What a reader makes of a successful answer: the structured body, and any content beside it."""

    body: Any
    extra: Sequence[types.ContentBlock] = ()


class JsonReader:
    """A JSON success body, checked against the documented schema where the spec is known."""

    accept = JSON
    streams = False

    def __init__(self, tool: CompiledTool, effect: Effect) -> None:
        self._tool = tool
        self._effect = effect
        self._checked = tool.success_schema if tool.strict_response else None

    @functools.cached_property
    def _check(self) -> SchemaCheck | None:
        return None if self._checked is None else SchemaCheck(self._checked)

    async def success(self, answer: Answer) -> Success:
        return Success(self.body(await answer.read()))

    def body(self, raw: RawResponse) -> Any:
        """The JSON success body of a complete 2xx answer, or raise what is wrong with it."""
        if raw.truncated:
            raise too_large(raw, self._effect)
        try:
            body = json_of(raw)
        except TooDeep:
            raise BadUpstreamResponse(
                too_deep(raw),
                status=raw.status,
                hint=after_success(raw.status, self._effect, "This is not a body Twill documents; report it."),
            ) from None
        if body is NO_JSON:
            if not raw.body.strip() and self._tool.success_schema is None:
                return {}
            raise BadUpstreamResponse(
                f"Twill answered HTTP {raw.status} but the body is not JSON ({describe_body(raw)}).",
                status=raw.status,
                hint=after_success(raw.status, self._effect, "It looks like a proxy or outage page, not Twill's API."),
            )
        if self._check is not None:
            error = next(iter(sorted(self._check.errors(body), key=lambda e: list(e.absolute_path))), None)
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "(root)"
                raise BadUpstreamResponse(
                    f"Twill answered HTTP {raw.status} with a body that breaks the documented schema "
                    f"at {where}: {error.message[:200]}",
                    status=raw.status,
                    details={"body": body} if len(raw.body) <= 4096 else None,
                    hint=after_success(raw.status, self._effect, "The API may have changed; report this to twill-mcp."),
                )
        return body
