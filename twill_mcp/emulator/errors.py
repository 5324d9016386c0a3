"""Twill's error envelope `{"error": {"code", "message", "details"?}}` and the codes the emulator uses."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

UNAUTHORIZED = "unauthorized"
FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
VALIDATION_ERROR = "validation_error"
RATE_LIMITED = "rate_limited"
CONFLICT = "conflict"
INTERNAL_ERROR = "internal_error"


class EmulatedError(Exception):
    """Raised anywhere below the dispatcher; becomes an enveloped error response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return envelope(self.code, self.message, self.details)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def envelope(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def not_found(message: str) -> EmulatedError:
    return EmulatedError(404, NOT_FOUND, message)


def validation_error(message: str, fields: list[dict[str, str]] | None = None) -> EmulatedError:
    return EmulatedError(400, VALIDATION_ERROR, message, fields)


def field_error(field: str, message: str) -> EmulatedError:
    return validation_error("Invalid request", [{"field": field, "message": message}])


def conflict(message: str) -> EmulatedError:
    return EmulatedError(409, CONFLICT, message)
