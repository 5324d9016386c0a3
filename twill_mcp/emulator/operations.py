"""The bundled spec turned into a route table with request and response validators.

Routing works on the raw (still percent-encoded) path, one segment at a time, so an
encoded slash inside an id stays inside that id instead of creating a new segment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from twill_mcp.core.config import API_PREFIX
from twill_mcp.emulator.errors import METHOD_NOT_ALLOWED, EmulatedError, not_found, validation_error
from twill_mcp.spec.openapi import Spec, convert_schema, deref, load_bundled_spec

_METHODS = ("get", "post", "put", "patch", "delete")
_INTEGER = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: dict[str, Any]
    required: bool

    @property
    def validator(self) -> Draft202012Validator:
        return _validator(json.dumps(self.schema, sort_keys=True))


@dataclass(frozen=True)
class Route:
    op_id: str
    method: str
    template: str
    segments: tuple[str, ...]
    success_status: int
    body_schema: dict[str, Any] | None
    body_required: bool
    query_params: tuple[QueryParam, ...]
    response_schema: dict[str, Any] | None
    """JSON Schema of the success body, when the success body is JSON."""

    @property
    def body_validator(self) -> Draft202012Validator | None:
        return None if self.body_schema is None else _validator(json.dumps(self.body_schema, sort_keys=True))

    @property
    def response_validator(self) -> Draft202012Validator | None:
        return None if self.response_schema is None else _validator(json.dumps(self.response_schema, sort_keys=True))

    def match(self, decoded: list[str]) -> dict[str, str] | None:
        if len(decoded) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pattern, value in zip(self.segments, decoded, strict=True):
            if pattern.startswith("{") and pattern.endswith("}"):
                if not value:
                    return None
                params[pattern[1:-1]] = value
            elif pattern != value:
                return None
        return params


@cache
def _validator(schema_json: str) -> Draft202012Validator:
    # Keyed by the schema's JSON because dicts are unhashable; building a validator is the slow part.
    return Draft202012Validator(json.loads(schema_json))


def _success(spec: Spec, op: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    status = min(int(code) for code in op["responses"] if code.startswith("2"))
    response = deref(spec, op["responses"][str(status)])
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    return status, None if schema is None else convert_schema(spec, schema, "output")


def _operation(spec: Spec, template: str, method: str, op: dict[str, Any]) -> Route:
    status, response_schema = _success(spec, op)
    body = deref(spec, op.get("requestBody", {}))
    body_schema = body.get("content", {}).get("application/json", {}).get("schema")
    params = [deref(spec, p) for p in op.get("parameters", [])]
    query = tuple(
        QueryParam(p["name"], convert_schema(spec, p.get("schema", {}), "input"), bool(p.get("required")))
        for p in params
        if p.get("in") == "query"
    )
    return Route(
        op_id=op["operationId"],
        method=method.upper(),
        template=template,
        segments=tuple(template.strip("/").split("/")),
        success_status=status,
        body_schema=None if body_schema is None else convert_schema(spec, body_schema, "input"),
        body_required=bool(body.get("required")),
        query_params=query,
        response_schema=response_schema,
    )


@cache
def bundled_operations() -> tuple[Route, ...]:
    return load_operations(load_bundled_spec())


def load_operations(spec: Spec) -> tuple[Route, ...]:
    return tuple(
        _operation(spec, template, method, item[method])
        for template, item in spec["paths"].items()
        for method in _METHODS
        if method in item
    )


def route(operations: tuple[Route, ...], method: str, raw_path: str) -> tuple[Route, dict[str, str]]:
    if not raw_path.startswith(API_PREFIX + "/"):
        raise not_found(f"No route for {method} {raw_path}")
    decoded = [unquote(segment) for segment in raw_path[len(API_PREFIX) + 1 :].split("/")]
    allowed: list[str] = []
    for op in operations:
        params = op.match(decoded)
        if params is None:
            continue
        if op.method == method:
            return op, params
        allowed.append(op.method)
    if allowed:
        raise EmulatedError(
            405, METHOD_NOT_ALLOWED, f"Method {method} not allowed", headers={"Allow": ", ".join(sorted(allowed))}
        )
    raise not_found(f"No route for {method} {raw_path}")


# -- request validation -------------------------------------------------------


def _field_errors(error: ValidationError) -> list[dict[str, str]]:
    base = [str(part) for part in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        names: Any = error.validator_value
        missing = [name for name in names if name not in error.instance]
        return [{"field": ".".join([*base, name]), "message": "Required"} for name in missing]
    return [{"field": ".".join(base) or "body", "message": error.message}]


def schema_errors(validator: Draft202012Validator, instance: Any) -> list[dict[str, str]]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [detail for error in errors for detail in _field_errors(error)]


def parse_body(op: Route, raw: bytes) -> dict[str, Any] | None:
    """The request body as a validated object; None for operations that take none (their body is ignored)."""
    validator = op.body_validator
    if validator is None:
        return None
    if not raw.strip():
        if op.body_required:
            raise validation_error("Request body is required", [{"field": "body", "message": "Required"}])
        return None
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        details = [{"field": "body", "message": "Invalid JSON"}]
        raise validation_error("Request body must be valid JSON", details) from None
    details = schema_errors(validator, body)
    if details:
        raise validation_error("Invalid request body", details)
    return body if isinstance(body, dict) else None


def parse_query(op: Route, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    given: dict[str, str] = {}
    for name, text in pairs:
        given.setdefault(name, text)  # the first occurrence wins, like URLSearchParams.get() in a JS server
    values: dict[str, Any] = {}
    details: list[dict[str, str]] = []
    for param in op.query_params:
        if param.name not in given:
            if "default" in param.schema:
                values[param.name] = param.schema["default"]
            elif param.required:
                details.append({"field": param.name, "message": "Required"})
            continue
        raw = given[param.name]
        value: Any = int(raw) if param.schema.get("type") == "integer" and _INTEGER.match(raw) else raw
        problems = [e.message for e in param.validator.iter_errors(value)]
        if problems:
            details.append({"field": param.name, "message": problems[0]})
        else:
            values[param.name] = value
    if details:
        raise validation_error("Invalid query parameters", details)
    return values
