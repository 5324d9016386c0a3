"""Read Twill's HTTP answer the way the spec describes it: a success body, or an error.

Strict where the spec is known (a documented success body that breaks its schema is
reported, not passed on as truth) and permissive where it is not (an error body that
is not Twill's envelope still yields the status and a useful message).
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from twill_mcp.compiler import CompiledTool
from twill_mcp.errors import ApiError, BadUpstreamResponse
from twill_mcp.upstream import Effect, RawResponse, parse_json, retry_after_seconds

_NO_JSON = object()


class ResponseReader:
    """One tool's view of responses: its documented success schema, compiled once."""

    def __init__(self, tool: CompiledTool, effect: Effect) -> None:
        self._tool = tool
        self._effect = effect
        strict = tool.strict_response and tool.success_schema is not None
        self._validator = Draft202012Validator(tool.success_schema) if strict else None

    def read(self, raw: RawResponse) -> Any:
        """The JSON success body, or raise the error the response means."""
        self.check(raw)
        return self._success(raw)

    def check(self, raw: RawResponse) -> None:
        """Raise the error a response means, if it is not a complete success."""
        if raw.truncated:
            raise BadUpstreamResponse(
                f"Twill's answer (HTTP {raw.status}) was larger than the {len(raw.body)} byte limit.",
                status=raw.status,
                hint=self._after_effect(raw.status, "Raise TWILL_MCP_MAX_RESPONSE_BYTES if this is expected."),
            )
        if not 200 <= raw.status < 300:
            raise self._failure(raw)

    def _success(self, raw: RawResponse) -> Any:
        body = _json(raw.body)
        if body is _NO_JSON:
            if not raw.body.strip() and self._tool.success_schema is None:
                return {}
            raise BadUpstreamResponse(
                f"Twill answered HTTP {raw.status} but the body is not JSON ({_describe_body(raw)}).",
                status=raw.status,
                hint=self._after_effect(raw.status, "This looks like a proxy or outage page, not Twill's API."),
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
                    hint=self._after_effect(raw.status, "The API may have changed; report this to twill-mcp."),
                )
        return body

    def _failure(self, raw: RawResponse) -> Exception:
        status = raw.status
        retry_after = retry_after_seconds(raw.headers.get("retry-after")) if status in (429, 503) else None
        retryable = status in (408, 429) or (status >= 500 and (self._effect.idempotent or self._effect.read_only))
        envelope = _envelope(_json(raw.body))
        if envelope is None:
            if 300 <= status < 400:
                return BadUpstreamResponse(
                    f"Twill answered with a redirect (HTTP {status}) to {raw.headers.get('location', 'nowhere')!r}; "
                    "redirects are not followed so the API key never leaves the configured origin.",
                    status=status,
                    hint="Check TWILL_BASE_URL: it should be the origin, for example https://twill.ai.",
                )
            return BadUpstreamResponse(
                f"Twill answered HTTP {status} with a body that is not its JSON error format ({_describe_body(raw)}).",
                status=status,
                retry_after=retry_after,
                retryable=retryable,
                hint=_status_hint(status, self._effect, retry_after),
            )
        code, message, details = envelope
        return ApiError(
            code,
            message,
            status=status,
            details=details,
            retry_after=retry_after,
            retryable=retryable,
            hint=_status_hint(status, self._effect, retry_after),
        )

    def _after_effect(self, status: int, advice: str) -> str:
        """For a 2xx with a broken body, the action itself most likely happened."""
        if 200 <= status < 300 and not self._effect.read_only:
            return f"Twill accepted the request, so it most likely did {self._effect.what}. {advice}"
        return advice


def _status_hint(status: int, effect: Effect, retry_after: float | None) -> str:
    if status == 401:
        return (
            "The API key was rejected. Ask the user to check TWILL_API_KEY (a key of a cloud workspace, "
            "from Twill workspace settings → API Keys). Retrying will not help."
        )
    if status == 403:
        return (
            "This key's workspace is not allowed to do this (some features need a paid plan). Retrying will not help."
        )
    if status == 404:
        return "Nothing exists under that id or slug for this key's workspace. Check the value; retrying will not help."
    if status == 409:
        return "The resource is not in a state that allows this right now. Check its state first."
    if status == 429:
        wait = f"Wait {retry_after:g} s" if retry_after is not None else "Wait a minute"
        return f"Twill's rate limit for this key was hit (100 requests per minute). {wait} before calling again."
    if 400 <= status < 500:
        return "Twill rejected the request as sent. Fix the arguments using the message, then call again."
    if effect.read_only or effect.idempotent:
        return "Twill had a server-side problem. Calling again later is safe."
    return f"Twill had a server-side problem. Check whether it did {effect.what} before calling again."


def _json(body: bytes) -> Any:
    try:
        return parse_json(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _NO_JSON


def _envelope(body: Any) -> tuple[str, str, Any] | None:
    """Twill's `{"error": {"code", "message", "details"?}}`, or None if the body is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    error = body["error"]
    code, message = error.get("code"), error.get("message")
    if not isinstance(code, str) or not isinstance(message, str):
        return None
    return code, message, error.get("details")


def _describe_body(raw: RawResponse) -> str:
    kind = raw.headers.get("content-type", "no content type").split(";")[0]
    return "empty" if not raw.body.strip() else f"{kind}, {len(raw.body)} bytes"
