"""The spec -> tool compiler, on synthetic specs: nothing in it may depend on Twill's operations."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from twill_mcp.spec import pathids
from twill_mcp.spec.compiler import CompileError, compile_operation, compile_spec, tool_name
from twill_mcp.spec.openapi import load_bundled_spec


def spec_with(
    operation: dict[str, Any], path: str = "/things/{thingId}", method: str = "post", **components: Any
) -> dict[str, Any]:
    return {"openapi": "3.0.3", "paths": {path: {method: operation}}, "components": {"schemas": components}}


def only_tool(spec: dict[str, Any]) -> Any:
    [tool] = compile_spec(spec, overlay={})
    return tool


def json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def ok(schema: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return {status: {"description": "ok", "content": {"application/json": {"schema": schema}}}}


PATH_PARAM = {"name": "thingId", "in": "path", "required": True, "schema": {"type": "string"}}


def test_names_are_snake_case_of_the_operation_id() -> None:
    assert tool_name("cancelTask") == "cancel_task"
    assert tool_name("getHTTPLogStream") == "get_http_log_stream"
    assert tool_name("listTaskJobs") == "list_task_jobs"
    assert tool_name("v2ListThings") == "v2_list_things"


def test_a_name_longer_than_64_characters_is_a_compile_error() -> None:
    spec = spec_with({"operationId": "x" * 65, "parameters": [PATH_PARAM]})
    with pytest.raises(CompileError, match="64"):
        compile_spec(spec, overlay={})


def test_two_operations_with_the_same_tool_name_are_a_compile_error() -> None:
    spec = {"paths": {"/a": {"get": {"operationId": "getThing"}}, "/b": {"get": {"operationId": "get_thing"}}}}
    with pytest.raises(CompileError, match="get_thing"):
        compile_spec(spec, overlay={})


def test_an_overlay_for_an_unknown_operation_is_a_compile_error() -> None:
    spec = {"paths": {"/a": {"get": {"operationId": "getThing"}}}}
    with pytest.raises(CompileError, match="noSuchOp"):
        compile_spec(spec, overlay={"noSuchOp": {"title": "x"}})


def test_title_and_description_come_from_summary_and_description() -> None:
    tool = only_tool(
        spec_with({"operationId": "poke", "summary": "Poke it", "description": "Pokes.", "parameters": [PATH_PARAM]})
    )
    assert (tool.title, tool.description) == ("Poke it", "Pokes.")


def test_path_parameters_are_required_non_empty_strings_and_extras_are_rejected() -> None:
    tool = only_tool(spec_with({"operationId": "poke", "parameters": [PATH_PARAM]}))
    assert tool.input_schema == {
        "type": "object",
        "properties": {"thingId": {"type": "string", "pattern": pathids.PATTERN}},
        "required": ["thingId"],
        "additionalProperties": False,
    }


def test_query_parameters_are_required_only_when_the_spec_says_so() -> None:
    params = [
        PATH_PARAM,
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
        {"name": "cursor", "in": "query", "required": True, "schema": {"type": "string"}},
    ]
    tool = only_tool(spec_with({"operationId": "poke", "parameters": params}))
    assert tool.input_schema["required"] == ["thingId", "cursor"]
    assert tool.input_schema["properties"]["limit"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
    assert tool.operation.query_params == ("limit", "cursor")


def test_header_and_cookie_parameters_are_not_arguments() -> None:
    params = [PATH_PARAM, {"name": "Accept", "in": "header", "schema": {"type": "string"}}]
    tool = only_tool(spec_with({"operationId": "poke", "parameters": params}))
    assert list(tool.input_schema["properties"]) == ["thingId"]


def test_ref_chains_are_inlined_so_no_ref_or_defs_remain() -> None:
    spec = spec_with(
        {
            "operationId": "poke",
            "parameters": [PATH_PARAM],
            "requestBody": json_body({"$ref": "#/components/schemas/A"}),
        },
        A={"$ref": "#/components/schemas/B"},
        B={"type": "object", "properties": {"c": {"$ref": "#/components/schemas/C"}}, "required": ["c"]},
        C={"type": "string", "enum": ["x", "y"]},
    )
    tool = only_tool(spec)
    assert "$ref" not in repr(tool.input_schema)
    assert tool.input_schema["properties"]["c"] == {"type": "string", "enum": ["x", "y"]}
    assert tool.input_schema["required"] == ["thingId", "c"]


def test_a_recursive_schema_is_cut_to_any_value_at_the_cycle() -> None:
    spec = spec_with(
        {"operationId": "poke", "parameters": [PATH_PARAM], "responses": ok({"$ref": "#/components/schemas/Node"})},
        Node={"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node"}}},
    )
    tool = only_tool(spec)
    assert tool.output_schema["properties"]["child"] == {}


def test_nested_objects_arrays_and_enums_survive_conversion() -> None:
    body = {
        "type": "object",
        "required": ["files"],
        "properties": {
            "files": {
                "type": "array",
                "items": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}},
            },
            "mode": {"type": "string", "enum": ["plan", "code"], "example": "code", "x-note": "noise"},
        },
    }
    tool = only_tool(spec_with({"operationId": "poke", "parameters": [PATH_PARAM], "requestBody": json_body(body)}))
    props = tool.input_schema["properties"]
    assert props["files"] == {
        "type": "array",
        "items": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string", "minLength": 1}}},
    }
    assert props["mode"] == {"type": "string", "enum": ["plan", "code"]}
    assert tool.operation.body_fields == ("files", "mode")


def test_nullable_becomes_a_null_type_and_a_null_enum_member() -> None:
    body = {
        "type": "object",
        "properties": {
            "note": {"type": "string", "nullable": True},
            "level": {"type": "string", "enum": ["low", "high"], "nullable": True},
            "ref": {"allOf": [{"type": "string"}], "nullable": True},
            "either": {"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True},
        },
    }
    tool = only_tool(spec_with({"operationId": "poke", "parameters": [PATH_PARAM], "requestBody": json_body(body)}))
    props = tool.input_schema["properties"]
    assert props["note"] == {"type": ["string", "null"], "minLength": 1}
    assert props["level"] == {"type": ["string", "null"], "enum": ["low", "high", None]}
    assert props["ref"] == {"type": ["string", "null"], "minLength": 1}
    assert props["either"] == {
        "anyOf": [{"oneOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]}, {"type": "null"}]
    }


def test_a_single_all_of_that_only_annotates_a_ref_is_merged() -> None:
    body = {
        "type": "object",
        "properties": {"effort": {"allOf": [{"$ref": "#/components/schemas/Effort"}], "default": "low"}},
    }
    spec = spec_with(
        {"operationId": "poke", "parameters": [PATH_PARAM], "requestBody": json_body(body)},
        Effort={"type": "string", "enum": ["low", "high"]},
    )
    assert only_tool(spec).input_schema["properties"]["effort"] == {
        "type": "string",
        "enum": ["low", "high"],
        "default": "low",
    }


def test_openapi_30_exclusive_bounds_become_json_schema_bounds() -> None:
    params = [
        PATH_PARAM,
        {"name": "n", "in": "query", "schema": {"type": "number", "minimum": 0, "exclusiveMinimum": True}},
    ]
    tool = only_tool(spec_with({"operationId": "poke", "parameters": params}))
    assert tool.input_schema["properties"]["n"] == {"type": "number", "exclusiveMinimum": 0}


def test_read_only_properties_are_not_arguments_and_write_only_ones_are_not_output() -> None:
    thing = {
        "type": "object",
        "required": ["id", "secret"],
        "properties": {"id": {"type": "string", "readOnly": True}, "secret": {"type": "string", "writeOnly": True}},
    }
    op = {"operationId": "poke", "parameters": [PATH_PARAM], "requestBody": json_body(thing), "responses": ok(thing)}
    tool = only_tool(spec_with(op))
    assert "id" not in tool.input_schema["properties"]
    assert tool.input_schema["required"] == ["thingId", "secret"]
    assert "secret" not in tool.output_schema["properties"]


def test_a_body_field_that_clashes_with_a_parameter_moves_the_body_under_one_argument() -> None:
    body = {"type": "object", "required": ["thingId"], "properties": {"thingId": {"type": "integer"}}}
    tool = only_tool(spec_with({"operationId": "poke", "parameters": [PATH_PARAM], "requestBody": json_body(body)}))
    assert tool.input_schema["properties"]["thingId"] == {"type": "string", "pattern": pathids.PATTERN}
    assert tool.input_schema["properties"]["body"] == body
    assert tool.input_schema["required"] == ["thingId", "body"]
    assert tool.operation.body_argument == "body"


def test_an_optional_body_is_one_optional_argument_with_its_own_required_fields() -> None:
    body = {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}
    tool = only_tool(
        spec_with({"operationId": "poke", "parameters": [PATH_PARAM], "requestBody": json_body(body, required=False)})
    )
    assert tool.input_schema["properties"]["body"] == {
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"type": "string", "minLength": 1}},
    }
    assert tool.input_schema["required"] == ["thingId"]


def test_a_one_of_body_is_never_a_top_level_one_of() -> None:
    body = {"oneOf": [{"type": "object", "properties": {"a": {"type": "string"}}}, {"type": "array"}]}
    tool = only_tool(spec_with({"operationId": "poke", "parameters": [PATH_PARAM], "requestBody": json_body(body)}))
    assert not {"oneOf", "anyOf", "allOf"} & set(tool.input_schema)
    assert tool.input_schema["properties"]["body"] == {
        "oneOf": [{"type": "object", "properties": {"a": {"type": "string", "minLength": 1}}}, {"type": "array"}]
    }


def test_a_write_without_a_declared_body_sends_an_empty_json_object() -> None:
    tool = only_tool(spec_with({"operationId": "poke", "parameters": [PATH_PARAM]}))
    assert tool.operation.empty_json_body


def test_the_output_schema_admits_the_success_body_and_the_error_object_but_nothing_else() -> None:
    success = {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}
    tool = only_tool(spec_with({"operationId": "poke", "parameters": [PATH_PARAM], "responses": ok(success)}))
    validator = Draft202012Validator(tool.output_schema)
    assert validator.is_valid({"ok": True})
    assert validator.is_valid({"error": {"code": "x", "message": "y", "retryable": False}})
    assert not validator.is_valid({})
    assert not validator.is_valid({"ok": "yes"})
    assert not validator.is_valid({"error": {"code": "x"}})


def test_a_non_object_success_body_is_wrapped_under_result() -> None:
    tool = only_tool(
        spec_with(
            {
                "operationId": "poke",
                "parameters": [PATH_PARAM],
                "responses": ok({"type": "array", "items": {"type": "string"}}),
            }
        )
    )
    assert tool.wraps_result
    assert tool.output_schema["properties"]["result"] == {"type": "array", "items": {"type": "string"}}


def test_the_201_body_is_the_success_schema_when_there_is_no_200() -> None:
    op = {
        "operationId": "make",
        "responses": ok({"type": "object", "properties": {"id": {"type": "string"}}}, status="201"),
    }
    tool = only_tool({"paths": {"/things": {"post": op}}})
    assert tool.success_schema == {"type": "object", "properties": {"id": {"type": "string"}}}


def test_an_inferred_success_schema_is_not_enforced_on_responses() -> None:
    op = {"operationId": "poke", "parameters": [PATH_PARAM], "responses": ok({"$ref": "#/components/schemas/T"})}
    tool = only_tool(spec_with(op, T={"type": "object", "x-inferred": True}))
    assert tool.strict_response is False


@pytest.mark.parametrize(
    ("method", "hints"),
    [
        ("get", (True, False, True)),
        ("post", (False, False, False)),
        ("put", (False, True, True)),
        ("patch", (False, True, False)),
        ("delete", (False, True, True)),
    ],
)
def test_annotations_default_from_the_http_method(method: str, hints: tuple[bool, bool, bool]) -> None:
    tool = compile_operation(
        spec_with({"operationId": "poke", "parameters": [PATH_PARAM]}, method=method), "/things/{thingId}", method, {}
    )
    a = tool.annotations
    assert (a.read_only, a.destructive, a.idempotent, a.open_world) == (*hints, True)


def test_the_overlay_corrects_what_the_method_cannot_tell() -> None:
    spec = spec_with({"operationId": "poke", "parameters": [PATH_PARAM]})
    [tool] = compile_spec(spec, overlay={"poke": {"destructive": True, "idempotent": True, "name": "poke_it"}})
    assert tool.name == "poke_it"
    assert (tool.annotations.destructive, tool.annotations.idempotent) == (True, True)


def test_a_path_placeholder_without_a_parameter_is_a_compile_error() -> None:
    with pytest.raises(CompileError, match="thingId"):
        compile_spec(spec_with({"operationId": "poke"}), overlay={})


def test_every_compiled_schema_of_the_bundled_spec_is_valid_json_schema() -> None:
    for tool in compile_spec(load_bundled_spec()):
        Draft202012Validator.check_schema(tool.input_schema)
        if tool.output_schema is not None:
            Draft202012Validator.check_schema(tool.output_schema)
            assert tool.output_schema["type"] == "object"
        assert "$ref" not in repr(tool.input_schema) + repr(tool.output_schema)


def test_a_reconstructed_operation_publishes_only_an_outline_that_reality_cannot_fail() -> None:
    success = {
        "type": "object",
        "required": ["task"],
        "properties": {
            "task": {"type": "object", "required": ["id"], "properties": {"state": {"type": "string", "enum": ["a"]}}},
            "when": {"type": "string", "format": "date-time"},
            "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        },
    }
    op = {"operationId": "poke", "x-inferred": True, "parameters": [PATH_PARAM], "responses": ok(success)}
    tool = only_tool(spec_with(op))
    assert tool.output_schema == {
        "type": "object",
        "properties": {"task": {"type": ["object", "null"]}, "when": {"type": ["string", "null"]}, "either": {}},
    }
    validator = Draft202012Validator(tool.output_schema)
    assert validator.is_valid({"task": None, "when": "2026-01-01T00:00:00", "either": [1], "new": 1})
    assert validator.is_valid({"error": {"code": "x", "message": "y", "retryable": True}})
    assert tool.strict_response is False


def test_a_guessed_top_level_shape_publishes_no_output_schema() -> None:
    op = {"operationId": "poke", "parameters": [PATH_PARAM], "responses": ok({"type": "object", "x-inferred": True})}
    assert only_tool(spec_with(op)).output_schema is None


def test_an_operation_without_arguments_still_says_none_are_required() -> None:
    tool = only_tool({"paths": {"/a": {"get": {"operationId": "getThing"}}}})
    assert tool.input_schema == {"type": "object", "properties": {}, "required": [], "additionalProperties": False}


def test_every_input_string_that_would_accept_empty_gets_min_length_one() -> None:
    body = {
        "type": "object",
        "properties": {
            "plain": {"type": "string"},
            "longer": {"type": "string", "minLength": 3},
            "shaped": {"type": "string", "pattern": "^x"},
            "loose": {"type": "string", "pattern": "^[a-z]*$"},
            "mode": {"type": "string", "enum": ["", "on"]},
            "count": {"type": "integer"},
        },
    }
    tool = only_tool(spec_with({"operationId": "poke", "parameters": [PATH_PARAM], "requestBody": json_body(body)}))
    props = tool.input_schema["properties"]
    assert props["plain"] == {"type": "string", "minLength": 1}
    assert props["longer"] == {"type": "string", "minLength": 3}
    assert props["shaped"] == {"type": "string", "pattern": "^x"}
    assert props["loose"] == {"type": "string", "pattern": "^[a-z]*$", "minLength": 1}
    assert props["mode"] == {"type": "string", "enum": ["", "on"], "minLength": 1}
    assert props["count"] == {"type": "integer"}


NULLABLE_BODY = {"type": "object", "properties": {"owner": {"type": "string", "nullable": True}}}


def test_a_clear_flag_replaces_the_null_of_a_nullable_body_field() -> None:
    spec = spec_with(
        {"operationId": "poke", "parameters": [PATH_PARAM], "requestBody": json_body(NULLABLE_BODY)}, method="patch"
    )
    [tool] = compile_spec(spec, overlay={"poke": {"clears": {"owner": "clearOwner"}}})
    props = tool.input_schema["properties"]
    assert props["owner"] == {"type": "string", "minLength": 1}
    assert props["clearOwner"]["type"] == "boolean"
    assert "owner" in props["clearOwner"]["description"]
    assert "clearOwner" not in tool.input_schema["required"]
    assert tool.operation.clears == (("clearOwner", "owner"),)
    assert tool.operation.body_fields == ("owner",)


def test_a_clear_flag_for_a_field_that_cannot_be_null_is_a_compile_error() -> None:
    body = {"type": "object", "properties": {"owner": {"type": "string"}}}
    spec = spec_with({"operationId": "poke", "parameters": [PATH_PARAM], "requestBody": json_body(body)})
    with pytest.raises(CompileError, match="owner"):
        compile_spec(spec, overlay={"poke": {"clears": {"owner": "clearOwner"}}})
