"""Check tool arguments against the compiled input schema before any network I/O.

One rule for "not given", for every tool: an optional argument whose value is `null`
or `""` where its schema rejects that value is dropped before validation, as if the
agent had left it out. Strict-mode models (OpenAI's) must send every property and fill
the optional ones; frameworks such as LlamaIndex fill them with null. Where null or ""
is a valid value, it is kept. Required arguments are never dropped.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

from twill_mcp.core.errors import InvalidArguments
from twill_mcp.spec import pathids
from twill_mcp.spec.openapi import accepts
from twill_mcp.tools.checks import SchemaCheck

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


FILLERS: tuple[None, str] = (None, "")
"""The values a framework sends for an argument it was made to fill but had nothing for."""


@functools.lru_cache(maxsize=256)
def _ecmascript(pattern: str) -> re.Pattern[str]:
    # JSON Schema patterns are ECMAScript regexes, whose `$` ends the input; Python's also
    # matches before a final newline, which would let "id\n" through a pattern ending in `$`.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _ecmascript(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _validator_class() -> type[Validator]:
    # Imported at the first call, not at start-up: jsonschema takes ~40 ms to import, and a host waits for start-up.
    from jsonschema import Draft202012Validator, validators

    extended: type[Validator] = validators.extend(Draft202012Validator, {"pattern": _pattern})  # type: ignore[no-untyped-call]
    return extended


class NotGiven:
    """Which filler values of an object's optional properties mean "not given", decided once from its schema."""

    def __init__(self, schema: dict[str, Any]) -> None:
        required = set(schema.get("required", []))
        properties = schema.get("properties", {})
        self._fillers: dict[str, tuple[Any, ...]] = {}
        self._inner: dict[str, NotGiven] = {}
        for name, sub in properties.items():
            if not isinstance(sub, dict):
                continue
            rejected = tuple(value for value in FILLERS if not accepts(sub, value))
            if name not in required and rejected:
                self._fillers[name] = rejected
            # Strict mode fills nested objects too (each item of `files`).
            inner = sub.get("items") if sub.get("type") == "array" else sub
            if isinstance(inner, dict) and inner.get("type") == "object" and inner.get("properties"):
                self._inner[name] = NotGiven(inner)

    def drop(self, value: dict[str, Any]) -> dict[str, Any]:
        """`value` without its fillers, at every depth the schema describes; never mutated."""
        kept: dict[str, Any] = {}
        for name, item in value.items():
            if (item is None or item == "") and item in self._fillers.get(name, ()):
                continue
            inner = self._inner.get(name)
            if inner is not None and isinstance(item, dict):
                item = inner.drop(item)
            elif inner is not None and isinstance(item, list):
                item = [inner.drop(element) if isinstance(element, dict) else element for element in item]
            kept[name] = item
        return kept


class ArgumentChecker:
    """One tool's input schema, compiled once into a validator and a "not given" rule."""

    def __init__(self, schema: dict[str, Any]) -> None:
        # Not checked against the meta-schema here: that took ~8 ms a tool at every start, and the
        # schemas come from the bundled spec, whose every compiled schema tests/test_compiler.py checks.
        self._schema = schema
        self._not_given = NotGiven(schema)

    @functools.cached_property
    def _check(self) -> SchemaCheck:
        return SchemaCheck(self._schema, _validator_class())

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
        given = self._not_given.drop(arguments)
        errors = sorted(self._check.errors(given), key=lambda e: (list(e.absolute_path), e.validator))
        if not errors:
            return given
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
    if kind == "pattern" and value == pathids.PATTERN:
        return pathids.problem(str(error.instance)) or _shorten(error.message)
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
