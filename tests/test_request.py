"""Arguments -> HTTP request: path encoding, query and body."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from twill_mcp.core.errors import InvalidArguments
from twill_mcp.spec.compiler import Operation
from twill_mcp.upstream.request import encode_segment, prepare_request


def operation(**overrides: object) -> Operation:
    fields: dict[str, object] = {
        "operation_id": "poke",
        "method": "POST",
        "path": "/things/{id}/poke",
        "path_params": ("id",),
        "query_params": (),
        "body_fields": (),
        "body_argument": None,
        "empty_json_body": True,
    }
    return Operation(**{**fields, **overrides})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("abc-123_x.y~z", "abc-123_x.y~z"),
        ("a/b", "a%2Fb"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("...", "%2E%2E%2E"),
        ("q?x=1", "q%3Fx%3D1"),
        ("a#b", "a%23b"),
        ("with space", "with%20space"),
        ("100%", "100%25"),
        ("✓", "%E2%9C%93"),
        ("a\\b", "a%5Cb"),
    ],
)
def test_a_value_becomes_exactly_one_encoded_segment(value: str, encoded: str) -> None:
    assert encode_segment(value) == encoded
    assert unquote(encoded) == value


def test_path_parameters_are_substituted_encoded() -> None:
    request = prepare_request(operation(), {"id": "../../admin"})
    assert request.path == "/things/..%2F..%2Fadmin/poke"


def test_query_values_are_serialised_in_form_style_and_nulls_are_omitted() -> None:
    op = operation(method="GET", query_params=("limit", "tags", "flag", "cursor"), empty_json_body=False)
    request = prepare_request(op, {"id": "t", "limit": 5, "tags": ["a", "b"], "flag": True, "cursor": None})
    assert request.params == [("limit", "5"), ("tags", "a"), ("tags", "b"), ("flag", "true")]
    assert not request.has_body


def test_flattened_body_fields_are_sent_as_one_json_object_without_absent_fields() -> None:
    request = prepare_request(operation(body_fields=("message", "files")), {"id": "t", "message": "hi"})
    assert (request.json_body, request.has_body) == ({"message": "hi"}, True)


def test_a_body_argument_is_sent_as_the_whole_body_and_omitted_when_absent() -> None:
    op = operation(body_argument="body")
    assert prepare_request(op, {"id": "t", "body": [1, 2]}).json_body == [1, 2]
    assert not prepare_request(op, {"id": "t"}).has_body


def test_a_write_without_a_body_sends_an_empty_object() -> None:
    request = prepare_request(operation(), {"id": "t"})
    assert (request.json_body, request.has_body) == ({}, True)


CLEARING = {"method": "PATCH", "body_fields": ("owner", "title"), "clears": (("clearOwner", "owner"),)}


def test_a_clear_flag_sends_its_field_as_null_and_is_not_sent_itself() -> None:
    request = prepare_request(operation(**CLEARING), {"id": "t", "clearOwner": True, "title": "x"})
    assert request.json_body == {"owner": None, "title": "x"}


def test_a_clear_flag_set_to_false_changes_nothing() -> None:
    request = prepare_request(operation(**CLEARING), {"id": "t", "clearOwner": False, "title": "x"})
    assert request.json_body == {"title": "x"}


def test_a_clear_flag_beside_a_new_value_for_its_field_is_refused() -> None:
    with pytest.raises(InvalidArguments, match="owner") as caught:
        prepare_request(operation(**CLEARING), {"id": "t", "clearOwner": True, "owner": "me"})
    assert "nothing was sent" in caught.value.hint
