"""The one reading of an answer that is not a success, and of what a body holds.

Permissive where Twill is not known (an error body that is not Twill's envelope still yields
the status and a useful message); whether the error may be repeated is asked of `outcomes`.
The request path reads every failure here, once, whatever the tool.
"""

from __future__ import annotations

from typing import Any

from twill_mcp.core.errors import ApiError, BadUpstreamResponse, ToolCallError
from twill_mcp.upstream.answer import RawResponse
from twill_mcp.upstream.decode import MAX_DEPTH, TooDeep
from twill_mcp.upstream.outcomes import Effect, after_success, repeatable, retry_after_seconds, status_hint

NO_JSON = object()


def read_failure(raw: RawResponse, effect: Effect) -> ToolCallError:
    """The error an answer that is not a success means."""
    status = raw.status
    if raw.truncated:
        return too_large(raw, effect)
    retryable = repeatable(status, effect)
    retry_after = retry_after_seconds(raw.headers.get("retry-after")) if retryable else None
    hint = status_hint(status, effect, retry_after)
    try:
        found = envelope(json_of(raw))
    except TooDeep:
        return BadUpstreamResponse(
            too_deep(raw), status=status, retry_after=retry_after, retryable=retryable, hint=hint
        )
    if found is not None:
        code, message, details = found
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


def json_of(raw: RawResponse) -> Any:
    """The JSON the body holds, decoded for the agent; `NO_JSON` if it holds none; `TooDeep` past the bound."""
    try:
        return raw.incoming.json(raw.body.decode("utf-8"))
    except TooDeep:
        raise
    except (UnicodeDecodeError, ValueError):
        return NO_JSON


def too_deep(raw: RawResponse) -> str:
    return f"Twill answered HTTP {raw.status} with JSON nested deeper than {MAX_DEPTH} levels, which is not passed on."


def envelope(body: Any) -> tuple[str, str, Any] | None:
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
