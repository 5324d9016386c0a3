"""The bundled spec seen from the tests: operations, statuses, and JSON Schemas to validate against."""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from twill_mcp.spec.openapi import convert_schema, deref, load_bundled_spec

SPEC = load_bundled_spec()
METHODS = ("get", "post", "put", "patch", "delete")


def operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (METHOD, path template, operation)."""
    return {
        op["operationId"]: (method.upper(), path, op)
        for path, item in SPEC["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def success_status(op_id: str) -> int:
    return min(int(code) for code in operations()[op_id][2]["responses"] if code.startswith("2"))


def documented_statuses(op_id: str) -> set[int]:
    return {int(code) for code in operations()[op_id][2]["responses"]}


@cache
def _validator_for(op_id: str, status: int, media: str) -> Draft202012Validator:
    response = deref(SPEC, operations()[op_id][2]["responses"][str(status)])
    content = response["content"][media]
    schema = content.get("x-event-schema", content["schema"]) if media == "text/event-stream" else content["schema"]
    return Draft202012Validator(
        convert_schema(SPEC, schema, "output"), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def assert_response_body(op_id: str, status: int, body: Any, media: str = "application/json") -> None:
    _validator_for(op_id, status, media).validate(body)


ERROR_VALIDATOR = Draft202012Validator(
    convert_schema(SPEC, {"$ref": "#/components/schemas/ApiErrorResponse"}, "output")
)


def assert_error(body: Any, code: str) -> None:
    ERROR_VALIDATOR.validate(body)
    assert body["error"]["code"] == code, body
