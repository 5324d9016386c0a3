"""Check tool arguments against the compiled input schema before any network I/O."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from twill_mcp.compiler import NOT_ONLY_DOTS
from twill_mcp.errors import InvalidArguments

MAX_ARGUMENT_BYTES = 256 * 1024
_TYPE_NAMES = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


class ArgumentChecker:
    """One tool's input schema, compiled once into a validator."""

    def __init__(self, schema: dict[str, Any]) -> None:
        Draft202012Validator.check_schema(schema)
        self._schema = schema
        self._validator = Draft202012Validator(schema)

    def check(self, arguments: Any) -> dict[str, Any]:
        """The arguments as a dict, or `InvalidArguments` naming every offending field."""
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise InvalidArguments(f"arguments must be an object, got {_type_name(arguments)}")
        try:
            size = len(json.dumps(arguments, ensure_ascii=False, allow_nan=False).encode())
        except ValueError:
            raise InvalidArguments("numbers must be finite: NaN and Infinity are not JSON") from None
        except UnicodeEncodeError:
            raise InvalidArguments("text contains an unpaired UTF-16 surrogate, which is not valid Unicode") from None
        if size > MAX_ARGUMENT_BYTES:
            raise InvalidArguments(
                f"arguments are {size} bytes; the limit is {MAX_ARGUMENT_BYTES}",
                hint="Send less data in one call.",
            )
        errors = sorted(self._validator.iter_errors(arguments), key=lambda e: (list(e.absolute_path), e.validator))
        if not errors:
            return arguments
        problems = list({json.dumps(p): p for e in errors for p in _problems(e)}.values())
        accepted = ", ".join(self._schema.get("properties", {})) or "none"
        raise InvalidArguments(
            "; ".join(f"{p['argument']}: {p['problem']}" if p["argument"] else p["problem"] for p in problems),
            hint=f"Fix the arguments and call again; nothing was sent to Twill. Accepted arguments: {accepted}.",
            details=problems,
        )


def _problems(error: ValidationError) -> list[dict[str, str]]:
    path = _path(error)
    # The stubs type these as `X | Unset`; a `required` error always has both set.
    names: Any = error.validator_value
    instance: Any = error.instance
    if error.validator == "required":
        missing = [name for name in names if name not in instance]
        return [{"argument": _join(path, name), "problem": "is required"} for name in missing]
    return [{"argument": path, "problem": _problem(error)}]


def _problem(error: ValidationError) -> str:
    kind = error.validator
    value: Any = error.validator_value  # typed `X | Unset` by the stubs
    if kind == "additionalProperties":
        instance: Any = error.instance
        schema: Any = error.schema
        extra = sorted(set(instance) - set(schema.get("properties", {})))
        return f"unknown argument(s): {', '.join(map(repr, extra))}"
    if kind == "type":
        expected = " or ".join(value) if isinstance(value, list) else value
        return f"must be {expected}, got {_type_name(error.instance)}"
    if kind == "minLength" and value == 1:
        return "must not be empty"
    if kind == "pattern" and value == NOT_ONLY_DOTS:
        return "must not be '.' or '..': those are path steps, not ids"
    if kind == "enum":
        return "must be one of " + ", ".join(json.dumps(v) for v in value)
    return _shorten(error.message)


def _path(error: ValidationError) -> str:
    return _join("", *[str(p) for p in error.absolute_path])


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
