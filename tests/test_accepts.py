"""`spec.accepts`, the start-up's answer to "may this argument be null, or empty?", agrees with jsonschema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import loaded_by_start_up
from twill_mcp.spec.openapi import accepts
from twill_mcp.tools.catalog import all_tools

VALUES = (None, "", "x", "demo-1")


def subschemas(schema: Any) -> Iterator[Any]:
    """The schema and every schema inside it."""
    yield schema
    if not isinstance(schema, dict):
        return
    for name in ("properties", "$defs"):
        for sub in (schema.get(name) or {}).values():
            yield from subschemas(sub)
    for name in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(name), dict | bool):
            yield from subschemas(schema[name])
    for name in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(name) or []:
            yield from subschemas(sub)


BUNDLED = [
    sub
    for tool in all_tools()
    for schema in (tool.input_schema, tool.output_schema)
    for sub in subschemas(schema)
    if isinstance(sub, dict | bool)
]
HAND_WRITTEN: list[Any] = [
    True,
    False,
    {},
    {"type": "null"},
    {"type": ["string", "null"]},
    {"type": "string", "minLength": 1},
    {"type": "string", "maxLength": 0},
    {"type": "string", "pattern": "^[a-z]+$"},
    {"type": "string", "pattern": "[^.]"},
    {"enum": ["a", None]},
    {"enum": [0, False]},
    {"const": ""},
    {"const": None},
    {"type": "integer"},
    {"anyOf": [{"type": "string", "minLength": 1}, {"type": "null"}]},
    {"not": {"type": "null"}},
    {"allOf": [{"type": "string"}, {"minLength": 2}]},
    {"type": "object", "properties": {"a": {"type": "string"}}},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_it_agrees_with_jsonschema_on_every_schema_of_the_bundled_tools(value: Any) -> None:
    disagreements = [s for s in BUNDLED if accepts(s, value) != Draft202012Validator(s).is_valid(value)]
    assert disagreements == []
    assert len(BUNDLED) > 100


@pytest.mark.parametrize("schema", HAND_WRITTEN, ids=repr)
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_it_agrees_with_jsonschema_on_each_kind_of_keyword(schema: Any, value: Any) -> None:
    assert accepts(schema, value) == Draft202012Validator(schema).is_valid(value)


@pytest.mark.slow
def test_a_server_is_built_for_every_tool_without_importing_jsonschema() -> None:
    # Importing jsonschema takes ~40 ms, which a host waits for: it waits for the first call instead.
    assert loaded_by_start_up("jsonschema") == []
