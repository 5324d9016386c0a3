"""The fast JSON Schema check (tools/checks.py): jsonschema-rs may only spare jsonschema the valid case; every
verdict that counts is jsonschema's."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from twill_mcp.tools.checks import SchemaCheck

TASK = {
    "type": "object",
    "properties": {"id": {"type": "string", "pattern": "^[a-z]+$"}, "count": {"type": "integer", "minimum": 0}},
    "required": ["id"],
}


def check(schema: dict[str, Any]) -> SchemaCheck:
    return SchemaCheck(schema)


def test_a_valid_instance_has_no_errors() -> None:
    assert list(check(TASK).errors({"id": "abc", "count": 2})) == []


def test_an_invalid_instance_gets_the_errors_jsonschema_gives() -> None:
    instance = {"id": 7, "count": -1}
    expected = sorted(error.message for error in Draft202012Validator(TASK).iter_errors(instance))
    assert sorted(error.message for error in check(TASK).errors(instance)) == expected
    assert len(expected) == 2


def test_where_jsonschema_rs_rejects_what_jsonschema_accepts_jsonschema_decides() -> None:
    # Python's `$` also matches before a final newline; ECMAScript's, which jsonschema-rs follows, does not.
    instance = {"id": "abc\n"}
    assert Draft202012Validator(TASK).is_valid(instance)
    assert list(check(TASK).errors(instance)) == []


def test_a_schema_jsonschema_rs_cannot_compile_is_still_checked_by_jsonschema() -> None:
    schema = {"type": "string", "pattern": r"^a\Z"}  # \Z is Python's, not ECMAScript's
    assert list(check(schema).errors("a")) == []
    assert [error.validator for error in check(schema).errors("b")] == ["pattern"]


def test_an_integer_beyond_64_bits_is_checked() -> None:
    assert list(check(TASK).errors({"id": "abc", "count": 2**80})) == []
    assert [error.validator for error in check(TASK).errors({"id": "abc", "count": -(2**80)})] == ["minimum"]
