"""The bundled Twill OpenAPI document: loading it, following its references, and reading its schemas as JSON Schema."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from importlib import resources
from typing import Any, Literal

Spec = dict[str, Any]
Direction = Literal["input", "output"]
"""Which side of the API a schema describes: what is sent (readOnly hidden) or what is returned (writeOnly hidden)."""

BUNDLED_SPEC = "twill-openapi.json"


@cache
def load_bundled_spec() -> Spec:
    """Read the spec shipped inside the package, once per process."""
    text = resources.files("twill_mcp").joinpath("data").joinpath(BUNDLED_SPEC).read_text(encoding="utf-8")
    spec: Spec = json.loads(text)
    return spec


def resolve_ref(spec: Spec, ref: str) -> Any:
    """Follow a local JSON pointer such as `#/components/schemas/Task`."""
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, got {ref!r}")
    node: Any = spec
    for raw in ref[2:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or key not in node:
            raise ValueError(f"unresolvable reference {ref!r}")
        node = node[key]
    return node


def deref(spec: Spec, node: Any) -> Any:
    """Return the target of a `$ref` node (following chains), or the node itself."""
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise ValueError(f"reference cycle at {ref!r}")
        seen.add(ref)
        node = resolve_ref(spec, ref)
    return node


# Keywords of OpenAPI 3.0 schemas that are not JSON Schema, or only noise for an agent.
_DROPPED_KEYWORDS = frozenset(
    {"example", "examples", "xml", "externalDocs", "discriminator", "deprecated", "readOnly", "writeOnly", "nullable"}
)


def convert_schema(spec: Spec, node: Any, direction: Direction, _stack: tuple[str, ...] = ()) -> Any:
    """OpenAPI 3.0 schema -> self-contained JSON Schema 2020-12, every `$ref` inlined.

    MCP clients reject `$ref`/`$defs`, so references are copied in place. A reference
    cycle cannot be inlined; its inner occurrence becomes `{}` (any value), which is
    permissive rather than wrong.
    """
    if not isinstance(node, dict):
        return copy.deepcopy(node)
    if "$ref" in node:
        ref = node["$ref"]
        if ref in _stack:
            return {}
        return convert_schema(spec, resolve_ref(spec, ref), direction, (*_stack, ref))

    out: dict[str, Any] = {}
    hidden: set[str] = set()
    for key, value in node.items():
        if key.startswith("x-") or key in _DROPPED_KEYWORDS:
            continue
        if key == "properties":
            props: dict[str, Any] = {}
            for prop, prop_schema in value.items():
                if _hidden_in(spec, prop_schema, direction):
                    hidden.add(prop)
                    continue
                props[prop] = convert_schema(spec, prop_schema, direction, _stack)
            out[key] = props
        elif key in ("items", "additionalProperties", "not"):
            out[key] = convert_schema(spec, value, direction, _stack)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [convert_schema(spec, sub, direction, _stack) for sub in value]
        else:
            out[key] = copy.deepcopy(value)

    if hidden and "required" in out:
        out["required"] = [r for r in out["required"] if r not in hidden]
    for bound in ("Minimum", "Maximum"):
        exclusive = out.get(f"exclusive{bound}")
        if exclusive is True and bound.lower() in out:
            out[f"exclusive{bound}"] = out.pop(bound.lower())
        elif exclusive is False:
            del out[f"exclusive{bound}"]
    out = _merge_single_all_of(out)
    if node.get("nullable") is True:
        out = nullable(out)
    return out


def _merge_single_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    """`allOf: [X]` beside a default or description is OpenAPI 3.0's way to annotate a $ref; say it plainly."""
    parts = schema.get("allOf")
    if not (isinstance(parts, list) and len(parts) == 1 and isinstance(parts[0], dict)):
        return schema
    rest = {k: v for k, v in schema.items() if k != "allOf"}
    if set(rest) - {"description", "default", "title"} or set(rest) & set(parts[0]) - {"description", "title"}:
        return schema
    return {**parts[0], **rest}


def _hidden_in(spec: Spec, prop_schema: Any, direction: Direction) -> bool:
    """readOnly properties are never sent; writeOnly ones are never returned."""
    try:
        target = deref(spec, prop_schema)
    except ValueError:
        return False
    if not isinstance(target, dict):
        return False
    return bool(target.get("readOnly")) if direction == "input" else bool(target.get("writeOnly"))


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema, admitting null as well (OpenAPI 3.0's `nullable: true`)."""
    kind = schema.get("type")
    if isinstance(kind, str):
        schema = {**schema, "type": [kind, "null"]}
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if isinstance(kind, list):
        return schema if "null" in kind else {**schema, "type": [*kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


# Keywords that can turn down null or a string whatever its type: a schema with any of them is left to jsonschema.
_COMBINING = frozenset({"allOf", "anyOf", "oneOf", "not", "if", "$ref", "$dynamicRef", "unevaluatedProperties"})


def accepts(schema: Any, value: str | None) -> bool:
    """Whether `schema` accepts `value` (null or a string), as JSON Schema 2020-12 decides.

    What the compiler and the argument checker ask of every argument at start-up (may it be
    null? be ""?). A schema without combinators is decided here; any other by jsonschema, which
    is imported only then: importing it takes ~40 ms, and a host waits for start-up.
    """
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict) or _COMBINING & schema.keys():
        from jsonschema import Draft202012Validator

        return bool(Draft202012Validator(schema).is_valid(value))
    kind = schema.get("type")
    wanted = "null" if value is None else "string"
    if kind is not None and wanted not in (kind if isinstance(kind, list) else [kind]):
        return False
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        return False
    if "const" in schema and not _same(value, schema["const"]):
        return False
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            return False
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return False
    return True


def _same(value: str | None, option: Any) -> bool:
    return type(option) is type(value) and option == value
