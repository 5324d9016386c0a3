"""Compile OpenAPI operations into MCP tool definitions.

Generic by design: nothing here knows about any particular Twill operation. The
result is plain data (`CompiledTool`) that the server lists and the call path
executes, so the schema an agent sees and the request we send cannot drift apart.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from twill_mcp.core.errors import ERROR_OBJECT_SCHEMA
from twill_mcp.spec import pathids
from twill_mcp.spec.openapi import Spec, accepts, convert_schema, deref, nullable, resolve_ref
from twill_mcp.spec.overlay import OVERLAY, ToolOverlay

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head")
MAX_TOOL_NAME = 64
BODY_ARGUMENT = "body"
# A non-object success body is returned under this key, since clients of the
# 2025 protocol era accept only objects as structuredContent.
RESULT_KEY = "result"

ResponseKind = Literal["json", "event-stream", "binary", "none"]
_TOOL_NAME = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_TOOL_NAME}}}")


class CompileError(ValueError):
    """The spec (or overlay) cannot be turned into valid tools."""


@dataclass(frozen=True, slots=True)
class Annotations:
    title: str
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool

    @property
    def summary(self) -> str:
        """The hints in words, as the README's tool table and `twill-mcp tools` show them."""
        if self.read_only:
            return "read-only"
        words = ["destructive" if self.destructive else "additive"]
        if self.idempotent:
            words.append("idempotent")
        return ", ".join(words)


@dataclass(frozen=True, slots=True)
class Operation:
    """How a tool call becomes an HTTP request."""

    operation_id: str
    method: str
    path: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    body_fields: tuple[str, ...]
    """Arguments sent as top-level properties of the JSON body."""
    body_argument: str | None
    """The one argument sent as the whole JSON body, when the body is not flattened."""
    empty_json_body: bool
    """Send `{}` as the body: a write with no declared body, as Twill's own examples do."""
    clears: tuple[tuple[str, str], ...] = ()
    """(flag argument, body field): the flag set to true sends the field as `null`, which clears it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListedTool:
    """What every tool is to the server, compiled or composed: how it is listed, selected and spoken of."""

    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    annotations: Annotations
    toolset: str
    action: str
    """The action in words, for messages about whether it happened."""
    wraps_result: bool = False
    hidden: bool = False
    """Deprecated operations: compiled, but listed only when asked for by name."""
    ui: str | None = None
    """The `ui://` resource (an MCP App) hosts that render Apps show this tool's results in."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledTool(ListedTool):
    """One Twill operation as a tool."""

    operation: Operation
    success_schema: dict[str, Any] | None
    """The documented 2xx body, checked on every success when `strict_response` is set."""
    strict_response: bool
    response_kind: ResponseKind


# Defaults each HTTP method implies; the overlay corrects what a method cannot tell.
_METHOD_HINTS: dict[str, tuple[bool, bool, bool]] = {
    # method: (read_only, destructive, idempotent)
    "GET": (True, False, True),
    "HEAD": (True, False, True),
    "PUT": (False, True, True),
    "DELETE": (False, True, True),
    "POST": (False, False, False),
    "PATCH": (False, True, False),
}


def tool_name(operation_id: str) -> str:
    """snake_case of an operationId: `cancelTask` -> `cancel_task`, `getHTTPLog` -> `get_http_log`."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", operation_id)
    return re.sub(r"[^a-z0-9]+", "_", words.lower()).strip("_")


def compile_spec(spec: Spec, overlay: Mapping[str, ToolOverlay] = OVERLAY) -> list[CompiledTool]:
    """Every operation of the spec as a tool, in document order."""
    tools = [compile_operation(spec, path, method, overlay) for path, method in _operations(spec)]
    seen: dict[str, str] = {}
    for tool in tools:
        if tool.name in seen:
            raise CompileError(
                f"operations {seen[tool.name]!r} and {tool.operation.operation_id!r} both compile to "
                f"tool {tool.name!r}; give one a name in the overlay"
            )
        seen[tool.name] = tool.operation.operation_id
    unknown = set(overlay) - {t.operation.operation_id for t in tools}
    if unknown:
        raise CompileError(f"overlay names operations the spec does not have: {sorted(unknown)}")
    return tools


def _operations(spec: Spec) -> Iterator[tuple[str, str]]:
    for path, item in spec.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method


def compile_operation(spec: Spec, path: str, method: str, overlay: Mapping[str, ToolOverlay] = OVERLAY) -> CompiledTool:
    item = spec["paths"][path]
    op = item[method]
    operation_id = op.get("operationId")
    if not operation_id:
        raise CompileError(f"{method.upper()} {path} has no operationId")
    edits = overlay.get(operation_id, {})
    name = edits.get("name") or tool_name(operation_id)
    if not _TOOL_NAME.fullmatch(name):
        raise CompileError(f"tool name {name!r} for {operation_id!r} is not 1-{MAX_TOOL_NAME} of [A-Za-z0-9_-]")
    title = edits.get("title") or op.get("summary") or name
    description = edits.get("description") or op.get("description") or op.get("summary") or ""

    input_schema, operation = _compile_input(spec, path, method.upper(), item, op, edits)
    inferred = bool(op.get("x-inferred"))
    success_schema = _success_schema(spec, op)
    if success_schema is None or _shape_unknown(spec, op):
        output_schema, wraps = None, False
    else:
        shown = outline(success_schema) if inferred else success_schema
        output_schema, wraps = _output_schema(shown, operation_id)

    read_only, destructive, idempotent = _METHOD_HINTS[method.upper()]
    annotations = Annotations(
        title=title,
        read_only=edits.get("read_only", read_only),
        destructive=edits.get("destructive", destructive),
        idempotent=edits.get("idempotent", idempotent),
        open_world=edits.get("open_world", True),
    )
    return CompiledTool(
        name=name,
        title=title,
        description=description,
        input_schema=input_schema,
        output_schema=output_schema,
        annotations=annotations,
        operation=operation,
        success_schema=success_schema,
        strict_response=success_schema is not None and not inferred and not _is_inferred(spec, op),
        wraps_result=wraps,
        action=edits.get("action", "what was asked"),
        response_kind=_response_kind(spec, op),
        toolset=edits.get("toolset") or tool_name((op.get("tags") or ["default"])[0]),
        hidden=bool(op.get("deprecated")),
        ui=edits.get("ui"),
    )


def _compile_input(
    spec: Spec, path: str, method: str, item: dict[str, Any], op: dict[str, Any], edits: ToolOverlay
) -> tuple[dict[str, Any], Operation]:
    arg_docs = edits.get("arguments", {})
    properties: dict[str, Any] = {}
    required: list[str] = []
    path_params: list[str] = []
    query_params: list[str] = []

    for param in _parameters(spec, item, op):
        where, pname = param["in"], param["name"]
        if where not in ("path", "query"):
            continue  # headers and cookies are the transport's business, not the agent's
        if pname in properties:
            raise CompileError(f"{op['operationId']}: parameter {pname!r} is declared in both path and query")
        schema = convert_schema(spec, param.get("schema", {}), "input")
        if where == "path":
            path_params.append(pname)
            if schema.get("type", "string") == "string":
                schema.setdefault("pattern", pathids.PATTERN)
        else:
            query_params.append(pname)
        doc = arg_docs.get(pname) or param.get("description")
        if doc:
            schema["description"] = doc
        properties[pname] = schema
        if where == "path" or param.get("required"):
            required.append(pname)

    missing = [p for p in re.findall(r"{([^}]+)}", path) if p not in path_params]
    if missing:
        raise CompileError(f"{op['operationId']}: path placeholders without a parameter: {missing}")

    body_fields: tuple[str, ...] = ()
    body_argument: str | None = None
    request_body = deref(spec, op.get("requestBody")) if op.get("requestBody") else None
    body_node = _json_schema_node(request_body)
    if body_node is not None and _is_empty_object(convert_schema(spec, body_node, "input")):
        body_node = None  # `{}` is all it can be; nothing for the agent to fill in
    if body_node is not None:
        body_schema = convert_schema(spec, body_node, "input")
        body_props = body_schema.get("properties")
        flatten = (
            request_body is not None
            and request_body.get("required", False)
            and body_schema.get("type") == "object"
            and isinstance(body_props, dict)
            and not (set(body_props) & set(properties))
            and not ({"anyOf", "oneOf", "allOf"} & set(body_schema))
        )
        if flatten:
            for field, field_schema in body_props.items():
                doc = arg_docs.get(field)
                properties[field] = {**field_schema, "description": doc} if doc else field_schema
            required.extend(body_schema.get("required", []))
            body_fields = tuple(body_props)
        else:
            if BODY_ARGUMENT in properties:
                raise CompileError(f"{op['operationId']}: a parameter is named {BODY_ARGUMENT!r}")
            doc = arg_docs.get(BODY_ARGUMENT) or (request_body or {}).get("description")
            properties[BODY_ARGUMENT] = {**body_schema, "description": doc} if doc else body_schema
            if request_body is not None and request_body.get("required", False):
                required.append(BODY_ARGUMENT)
            body_argument = BODY_ARGUMENT

    for local, local_schema in edits.get("local_arguments", {}).items():
        if local in properties:
            raise CompileError(f"{op['operationId']}: local argument {local!r} shadows an API argument")
        properties[local] = copy.deepcopy(local_schema)

    clears = _clear_flags(op["operationId"], properties, body_fields, edits)
    for name, prop in properties.items():
        properties[name] = _non_empty_strings(prop)

    # `required` even when empty: strict-mode detectors (PydanticAI's) treat a schema without it as non-strict.
    input_schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    input_schema["additionalProperties"] = False
    operation = Operation(
        operation_id=op["operationId"],
        method=method,
        path=path,
        path_params=tuple(path_params),
        query_params=tuple(query_params),
        body_fields=body_fields,
        body_argument=body_argument,
        empty_json_body=body_node is None and method in ("POST", "PUT", "PATCH"),
        clears=clears,
    )
    return input_schema, operation


def _clear_flags(
    operation_id: str, properties: dict[str, Any], body_fields: tuple[str, ...], edits: ToolOverlay
) -> tuple[tuple[str, str], ...]:
    """Nullable body fields whose `null` (= clear it) the overlay moves to a boolean argument.

    A strict-mode model must send every property, and a framework that fills optional ones
    with null would then clear the field of every partial update by accident. So the field
    is published non-nullable (its null, like its "", then means "not given") and clearing
    takes an explicit `true`.
    """
    clears: list[tuple[str, str]] = []
    for field, flag in edits.get("clears", {}).items():
        if field not in body_fields or not accepts(properties[field], None):
            raise CompileError(f"{operation_id}: {field!r} is not a nullable body field, so nothing clears it")
        if flag in properties:
            raise CompileError(f"{operation_id}: clear flag {flag!r} shadows an argument")
        properties[field] = _notnullable(properties[field])
        doc = edits.get("arguments", {}).get(flag) or f"true sends {field}: null, which clears it; omit {field} then."
        properties[flag] = {"type": "boolean", "description": doc}
        clears.append((flag, field))
    return tuple(clears)


def _non_empty_strings(schema: Any) -> Any:
    """The input schema with `minLength: 1` on every string that would accept "".

    Twill reads an empty string as a bad value, never as a value (an empty id, cursor, agent
    or title is a 400): saying so in the schema tells an agent, makes a required "" fail
    before sending, and lets the argument checker read an optional "" as "not given".
    """
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _non_empty_strings(out[key])
    if isinstance(out.get("properties"), dict):
        out["properties"] = {name: _non_empty_strings(sub) for name, sub in out["properties"].items()}
    for key in ("anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [_non_empty_strings(sub) for sub in out[key]]
    kind = out.get("type")
    is_string = kind == "string" or (isinstance(kind, list) and "string" in kind)
    if is_string and accepts(out, ""):
        out["minLength"] = 1
    return out


def _notnullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `_nullable`."""
    kind = schema.get("type")
    if isinstance(kind, list) and "null" in kind:
        rest = [k for k in kind if k != "null"]
        schema = {**schema, "type": rest[0] if len(rest) == 1 else rest}
        if "enum" in schema:
            schema["enum"] = [v for v in schema["enum"] if v is not None]
        return schema
    parts = schema.get("anyOf")
    if isinstance(parts, list) and {"type": "null"} in parts:
        rest = [p for p in parts if p != {"type": "null"}]
        return rest[0] if len(rest) == 1 and len(schema) == 1 else {**schema, "anyOf": rest}
    return schema


def _parameters(spec: Spec, item: dict[str, Any], op: dict[str, Any]) -> list[dict[str, Any]]:
    """Path-level parameters overridden by operation-level ones, as OpenAPI defines."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
        param = deref(spec, raw)
        merged[(param["name"], param["in"])] = param
    return list(merged.values())


def _json_schema_node(content_holder: dict[str, Any] | None) -> Any:
    if not content_holder:
        return None
    content = content_holder.get("content", {})
    for media_type, media in content.items():
        if media_type.split(";")[0].strip() == "application/json" or media_type.endswith("+json"):
            return media.get("schema", {})
    return None


def _success_node(op: dict[str, Any]) -> Any:
    for status in sorted(op.get("responses", {})):
        if str(status).startswith("2"):
            return status
    return None


def _success_response(spec: Spec, op: dict[str, Any]) -> dict[str, Any] | None:
    status = _success_node(op)
    return None if status is None else deref(spec, op["responses"][status])


def _success_schema(spec: Spec, op: dict[str, Any]) -> dict[str, Any] | None:
    node = _json_schema_node(_success_response(spec, op))
    return None if node is None else convert_schema(spec, node, "output")


def _output_schema(success: dict[str, Any], operation_id: str) -> tuple[dict[str, Any], bool]:
    """The success schema, widened so that an error result's `{"error": …}` also validates.

    Some clients (the TypeScript SDK) validate structuredContent against outputSchema
    even on isError results; a schema that admitted only success would make them
    reject every error we report. Each branch stays exact: a success must carry the
    documented required fields, an error must carry the error object.
    """
    if success.get("type") == "object":
        schema = dict(success)
        wraps = False
    else:
        schema = {"type": "object", "properties": {RESULT_KEY: success}, "required": [RESULT_KEY]}
        wraps = True
    properties = dict(schema.get("properties", {}))
    if "error" in properties:
        raise CompileError(f"{operation_id}: the success body has a top-level 'error' field, which errors use")
    required = schema.pop("required", [])
    if required or schema.get("additionalProperties") is False:
        # Only a schema that could reject `{"error": …}` needs to name it.
        properties["error"] = copy.deepcopy(ERROR_OBJECT_SCHEMA)
    schema["properties"] = properties
    if required:
        schema["anyOf"] = [{"required": required}, {"required": ["error"]}]
    return schema, wraps


def _is_empty_object(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" and not schema.get("properties") and not schema.get("additionalProperties")


def _shape_unknown(spec: Spec, op: dict[str, Any]) -> bool:
    """The success body's top-level schema itself is a guess: publish no outputSchema for it."""
    node = _json_schema_node(_success_response(spec, op))
    return isinstance(node, dict) and bool(deref(spec, node).get("x-inferred"))


def _response_kind(spec: Spec, op: dict[str, Any]) -> ResponseKind:
    response = _success_response(spec, op)
    content = (response or {}).get("content") or {}
    if not content:
        return "none"
    if _json_schema_node(response) is not None:
        return "json"
    return "event-stream" if any(t.startswith("text/event-stream") for t in content) else "binary"


def outline(schema: dict[str, Any]) -> dict[str, Any]:
    """A reconstructed success schema cut down to what cannot be wrong about it.

    A client validates structuredContent against outputSchema; where the shape was
    guessed, a real `null`, a missing field, a new enum member or a date without a
    zone must not turn Twill's success into a client-side error. So only the top-level
    fields and their (nullable) kinds are published: the tool description says what
    they hold. It is also what keeps every turn's tools/list small.
    """
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        return {"type": schema["type"]} if isinstance(schema.get("type"), str) else {}
    properties = {
        name: nullable({"type": sub["type"]}) if isinstance(sub, dict) and isinstance(sub.get("type"), str) else {}
        for name, sub in schema["properties"].items()
    }
    return {"type": "object", "properties": properties}


def _is_inferred(spec: Spec, op: dict[str, Any]) -> bool:
    """Whether any part of the success response was guessed (`x-inferred`) rather than documented."""
    status = _success_node(op)
    return status is not None and _mentions_inferred(spec, op["responses"][status], ())


def _mentions_inferred(spec: Spec, node: Any, stack: tuple[str, ...]) -> bool:
    if isinstance(node, list):
        return any(_mentions_inferred(spec, item, stack) for item in node)
    if not isinstance(node, dict):
        return False
    if node.get("x-inferred"):
        return True
    ref = node.get("$ref")
    if isinstance(ref, str):
        return ref not in stack and _mentions_inferred(spec, resolve_ref(spec, ref), (*stack, ref))
    return any(_mentions_inferred(spec, value, stack) for value in node.values())
