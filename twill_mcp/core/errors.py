"""Errors a tool call can end in, as one hierarchy the whole request path raises.

Every failure an agent can see is a `ToolCallError`: it carries a stable `code`, a
message that says what happened, and a hint that says what to do next. The result
renderer turns it into an `isError` tool result; nothing else needs to know how.
"""

from __future__ import annotations

from typing import Any, ClassVar

# The machine-readable error object every error result carries under "error", field by field
# (name on the wire, attribute, always present): Twill's own envelope {code, message, details?}
# plus what an agent needs to decide its next step. Results are built from it and the server
# instructions spell it out from it; each outputSchema repeats only the two fields always there.
ERROR_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("code", "error_code", True),
    ("message", "message", True),
    ("retryable", "is_retryable", True),
    ("status", "status", False),
    ("retryAfter", "retry_after", False),
    ("details", "details", False),
    # Some frameworks (PydanticAI) hand the model only the structured error, not the text.
    ("hint", "hint", False),
)
ERROR_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    "required": ["code", "message"],
}


class ConfigError(Exception):
    """The server cannot start as configured (bad base URL, unreadable key file).

    Each problem is one line naming the setting; `doctor` lists them one by one.
    """

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ToolCallError(Exception):
    """A tool call that failed; rendered as an `isError` result, never as a protocol error."""

    code: ClassVar[str] = "internal_error"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        status: int | None = None,
        details: Any = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status
        self.details = details
        self.retry_after = retry_after
        # Whether the same call may succeed later depends on the status and the
        # operation, so an instance may override its class's default.
        self.is_retryable = type(self).retryable if retryable is None else retryable

    @property
    def error_code(self) -> str:
        return self.code

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {}
        for name, attribute, always in ERROR_FIELDS:
            value = getattr(self, attribute)
            if always or (value is not None and value != ""):
                error[name] = value
        return error


def error_shape() -> str:
    """The error object's fields as the server instructions write them: `{code, message, …, hint?}`."""
    return "{" + ", ".join(name if always else f"{name}?" for name, _, always in ERROR_FIELDS) + "}"


class MissingApiKey(ToolCallError):
    code = "missing_api_key"


class UnusableApiKey(ToolCallError):
    """A key is configured but cannot be one (a placeholder, a malformed value); the request was not sent."""

    code = "unusable_api_key"


class InvalidArguments(ToolCallError):
    code = "invalid_arguments"


class RateLimited(ToolCallError):
    """Our share of Twill's per-key rate limit is used up; the request was not sent."""

    code = "rate_limited"
    retryable = True


class UpstreamError(ToolCallError):
    """Twill could not be reached, or did not answer in a form we can trust."""


class UpstreamTimeout(UpstreamError):
    code = "upstream_timeout"
    retryable = True


class UpstreamUnreachable(UpstreamError):
    code = "upstream_unreachable"
    retryable = True


class BadUpstreamResponse(UpstreamError):
    code = "bad_upstream_response"


class OutcomeUnknown(UpstreamError):
    """The request may have reached Twill and acted before the answer was lost."""

    code = "outcome_unknown"


class ApiError(ToolCallError):
    """Twill answered with an error status; its own error code is kept as is."""

    def __init__(self, api_code: str, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.api_code = api_code

    @property
    def error_code(self) -> str:
        return self.api_code
