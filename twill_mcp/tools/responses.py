"""Read Twill's answer the way the spec describes it: JSON success bodies, and the one reading of errors.

Strict where the spec is known (a documented success body that breaks its schema is
reported, not passed on as truth) and permissive where it is not (an error body that
is not Twill's envelope still yields the status and a useful message). Every reader
(JSON here, event streams in `events`, archives in `archives`) reads errors with
`read_failure`, and asks `outcomes` whether an error may be repeated.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mcp_types as types

from twill_mcp.core.errors import ApiError, BadUpstreamResponse, ToolCallError
from twill_mcp.spec.compiler import CompiledTool
from twill_mcp.upstream.decode import MAX_DEPTH, TooDeep
from twill_mcp.upstream.http import Answer, Progress, RawResponse
from twill_mcp.upstream.outcomes import Effect, after_success, repeatable, retry_after_seconds, status_hint

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

JSON = "application/json"
_NO_JSON = object()


@dataclass(frozen=True, slots=True)
class Success:
    """What a reader makes of a successful answer: the structured body, and any content beside it."""

    body: Any
    extra: Sequence[types.ContentBlock] = ()


def read_failure(raw: RawResponse, effect: Effect) -> ToolCallError:
    """The error an answer that is not a success means."""
    status = raw.status
    if raw.truncated:
        return too_large(raw, effect)
    retryable = repeatable(status, effect)
    retry_after = retry_after_seconds(raw.headers.get("retry-after")) if retryable else None
    hint = status_hint(status, effect, retry_after)
    try:
        envelope = _envelope(_json(raw))
    except TooDeep:
        return BadUpstreamResponse(
            _too_deep(raw), status=status, retry_after=retry_after, retryable=retryable, hint=hint
        )
    if envelope is not None:
        code, message, details = envelope
        return ApiError(
            code, message, status=status, details=details, retry_after=retry_after, retryable=retryable, hint=hint
        )
    if 300 <= status < 400:
        location = raw.incoming.text(raw.headers.get("location", "nowhere"))
        return BadUpstreamResponse(
            f"Twill answered with a redirect (HTTP {status}) to {location!r}; "
            "redirects are not followed so the API key never leaves the configured origin.",
            status=status,
            hint="Check TWILL_BASE_URL: it should be the origin, for example https://twill.ai.",
        )
    return BadUpstreamResponse(
        f"Twill answered HTTP {status} with a body that is not its JSON error format ({describe_body(raw)}).",
        status=status,
        retry_after=retry_after,
        retryable=retryable,
        hint=hint,
    )


def too_large(raw: RawResponse, effect: Effect) -> BadUpstreamResponse:
    return BadUpstreamResponse(
        f"Twill's answer (HTTP {raw.status}) was larger than the {len(raw.body)} byte limit.",
        status=raw.status,
        hint=after_success(raw.status, effect, "Raise TWILL_MCP_MAX_RESPONSE_BYTES if this is expected."),
    )


class JsonReader:
    """A JSON success body, checked against the documented schema where the spec is known."""

    accept = JSON
    streams = False

    def __init__(self, tool: CompiledTool, effect: Effect) -> None:
        self._tool = tool
        self._effect = effect
        self._checked = tool.success_schema if tool.strict_response else None

    @functools.cached_property
    def _validator(self) -> Validator | None:
        # Made at the first answer, not at start-up: jsonschema takes ~40 ms to import, and a host waits for start-up.
        if self._checked is None:
            return None
        from jsonschema import Draft202012Validator

        return Draft202012Validator(self._checked)

    def failure(self, raw: RawResponse) -> ToolCallError:
        return read_failure(raw, self._effect)

    async def success(self, answer: Answer, arguments: Mapping[str, Any], progress: Progress | None) -> Success:
        return Success(self.body(await answer.read()))

    def body(self, raw: RawResponse) -> Any:
        """The JSON success body of a complete 2xx answer, or raise what is wrong with it."""
        if raw.truncated:
            raise too_large(raw, self._effect)
        try:
            body = _json(raw)
        except TooDeep:
            raise BadUpstreamResponse(
                _too_deep(raw),
                status=raw.status,
                hint=after_success(raw.status, self._effect, "This is not a body Twill documents; report it."),
            ) from None
        if body is _NO_JSON:
            if not raw.body.strip() and self._tool.success_schema is None:
                return {}
            raise BadUpstreamResponse(
                f"Twill answered HTTP {raw.status} but the body is not JSON ({describe_body(raw)}).",
                status=raw.status,
                hint=after_success(raw.status, self._effect, "It looks like a proxy or outage page, not Twill's API."),
            )
        if self._validator is not None:
            error = next(iter(sorted(self._validator.iter_errors(body), key=lambda e: list(e.absolute_path))), None)
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


def _json(raw: RawResponse) -> Any:
    """The JSON the body holds, decoded for the agent; `_NO_JSON` if it holds none; `TooDeep` past the bound."""
    try:
        return raw.incoming.json(raw.body.decode("utf-8"))
    except TooDeep:
        raise
    except (UnicodeDecodeError, ValueError):
        return _NO_JSON


def _too_deep(raw: RawResponse) -> str:
    return f"Twill answered HTTP {raw.status} with JSON nested deeper than {MAX_DEPTH} levels, which is not passed on."


def _envelope(body: Any) -> tuple[str, str, Any] | None:
    """Twill's `{"error": {"code", "message", "details"?}}`, or None if the body is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    error = body["error"]
    code, message = error.get("code"), error.get("message")
    if not isinstance(code, str) or not isinstance(message, str):
        return None
    return code, message, error.get("details")


def describe_body(raw: RawResponse) -> str:
    kind = raw.headers.get("content-type", "no content type").split(";")[0]
    return "empty" if not raw.body.strip() else f"{kind}, {len(raw.body)} bytes"
