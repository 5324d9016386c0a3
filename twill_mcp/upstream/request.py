"""Turn validated arguments into the HTTP request an operation describes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from twill_mcp.core.errors import InvalidArguments
from twill_mcp.spec import pathids
from twill_mcp.spec.compiler import Operation


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    method: str
    path: str
    """Relative to the API root, every parameter already percent-encoded."""
    params: list[tuple[str, str]] = field(default_factory=list)
    json_body: Any = None
    has_body: bool = False
    route: str = ""
    """The operation's path template (`/tasks/{taskIdOrSlug}`): what names the request in traces, never an id."""


def encode_segment(value: Any) -> str:
    """A value as exactly one path segment, whatever it contains.

    Everything outside RFC 3986's unreserved set is percent-encoded (UTF-8 for
    non-ASCII), so `/`, `?` and `#` can never end the segment, start a query or a
    fragment. A segment of only dots would be a relative step (`..` climbs to the
    parent) for URL normalisers, so its dots are encoded too: the argument checker
    refuses such ids, and this stays safe should anything else reach it.
    """
    segment = quote(_as_text(value), safe="")
    if pathids.only_dots(segment):
        segment = "%2E" * len(segment)
    return segment


def prepare_request(operation: Operation, arguments: dict[str, Any]) -> PreparedRequest:
    arguments = _with_clears(operation, arguments)
    path = operation.path
    for name in operation.path_params:
        path = path.replace("{" + name + "}", encode_segment(arguments[name]))
    params = [
        (name, text)
        for name in operation.query_params
        if arguments.get(name) is not None
        for text in _query_values(arguments[name])
    ]
    route = operation.path
    if operation.body_argument is not None:
        if operation.body_argument not in arguments:
            return PreparedRequest(operation.method, path, params, route=route)
        return PreparedRequest(operation.method, path, params, arguments[operation.body_argument], True, route)
    if operation.body_fields:
        body = {name: arguments[name] for name in operation.body_fields if name in arguments}
        return PreparedRequest(operation.method, path, params, body, True, route)
    if operation.empty_json_body:
        return PreparedRequest(operation.method, path, params, {}, True, route)
    return PreparedRequest(operation.method, path, params, route=route)


def _with_clears(operation: Operation, arguments: dict[str, Any]) -> dict[str, Any]:
    """A clear flag set to true becomes its field's `null`, the API's way to clear it."""
    cleared = dict(arguments)
    for flag, target in operation.clears:
        if cleared.pop(flag, None) is not True:
            continue
        if target in cleared:
            raise InvalidArguments(
                f"{target} and {flag}: give a new {target} or {flag}: true, not both",
                hint=f"Leave out {target} to clear it, or {flag} to set it; nothing was sent to Twill.",
            )
        cleared[target] = None
    return cleared


def _query_values(value: Any) -> list[str]:
    """OpenAPI's default query style (form, exploded): a list repeats the key."""
    if isinstance(value, list):
        return [_as_text(item) for item in value]
    return [_as_text(value)]


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)
