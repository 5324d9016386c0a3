"""Tool arguments that are valid or invalid by construction, read off each tool's published input schema.

The oracle of the property tests and of `bench/fuzz.py`: a payload built here is valid
(or invalid) because of how it was built, not because a JSON Schema validator says so,
so it can check the server's own validator rather than repeat it.
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Any

from hypothesis import strategies as st

from twill_mcp.spec.compiler import CompiledTool

# Finite numbers only: JSON has no NaN or Infinity, and the server refuses them as such.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_WRONG_FOR = {
    "string": st.integers() | st.booleans() | st.lists(st.integers(), max_size=2) | st.just({"a": 1}),
    "integer": st.text(min_size=1, max_size=5) | st.booleans() | st.just(1.5) | st.just([1]),
    "number": st.text(min_size=1, max_size=5) | st.booleans() | st.just({"n": 1}),
    "boolean": st.text(min_size=1, max_size=5) | st.integers() | st.just([True]),
    "array": st.text(min_size=1, max_size=5) | st.integers() | st.just({"a": 1}),
    "object": st.text(min_size=1, max_size=5) | st.integers() | st.just([{}]),
}


def valid_value(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A value the schema admits, for the keywords the compiled tools use."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kinds = schema.get("type", "string")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return st.one_of(*[_valid_of(kind, schema) for kind in kinds])


def _valid_of(kind: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if kind == "integer":
            return st.integers(min_value=low, max_value=high)
        return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
    if kind == "array":
        return st.lists(valid_value(schema.get("items", {})), max_size=3)
    if kind == "object":
        return valid_object(schema)
    text = st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 40), 40))
    if "pattern" in schema:
        pattern = re.compile(schema["pattern"])
        # A JSON Schema pattern is ECMAScript, whose `$` ends the input; Python's also matches
        # before a final newline, so such a value proves nothing either way.
        text = text.filter(lambda value: pattern.search(value) is not None and not value.endswith("\n"))
    return text


def valid_object(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    return st.fixed_dictionaries(
        {name: valid_value(properties[name]) for name in required},
        optional={name: valid_value(sub) for name, sub in properties.items() if name not in required},
    )


def valid_arguments(tool: CompiledTool) -> st.SearchStrategy[dict[str, Any]]:
    return valid_object(tool.input_schema).map(lambda arguments: _one_of_each_clear(tool, arguments))


def _one_of_each_clear(tool: CompiledTool, arguments: dict[str, Any]) -> dict[str, Any]:
    """A clear flag set to true and a new value for its field contradict each other: keep the flag."""
    contradicted = {field for flag, field in tool.operation.clears if arguments.get(flag) is True}
    return {name: value for name, value in arguments.items() if name not in contradicted}


def invalid_arguments(tool: CompiledTool) -> st.SearchStrategy[dict[str, Any]]:
    """Valid arguments with one thing broken that no reading of the schema can let pass."""
    schema = tool.input_schema
    properties: dict[str, Any] = schema["properties"]
    breakages: list[st.SearchStrategy[dict[str, Any]]] = [
        st.builds(
            lambda base, name, value: {**base, name: value},
            valid_arguments(tool),
            st.text(string.ascii_letters, min_size=1, max_size=8).filter(lambda name: name not in properties),
            JSON.filter(lambda value: value not in (None, "")),
        )
    ]
    for flag, field in tool.operation.clears:
        breakages.append(
            st.builds(
                lambda base, value, flag=flag, field=field: {**base, flag: True, field: value},
                valid_arguments(tool),
                valid_value(properties[field]),
            )
        )
    for name in schema.get("required", []):
        breakages.append(
            valid_arguments(tool).map(lambda base, name=name: {k: v for k, v in base.items() if k != name})
        )
    for name, sub in properties.items():
        wrong = _wrong_value(sub)
        if wrong is not None:
            breakages.append(
                st.builds(lambda base, value, name=name: {**base, name: value}, valid_arguments(tool), wrong)
            )
    return st.one_of(*breakages)


def _wrong_value(schema: dict[str, Any]) -> st.SearchStrategy[Any] | None:
    """A value that breaks the schema and is neither null nor "" (which may count as not given)."""
    kinds = schema.get("type", "string")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if len(kinds) == 1 and kinds[0] in _WRONG_FOR:
        wrong = _WRONG_FOR[kinds[0]]
        if "enum" in schema:
            members = set(map(str, schema["enum"]))
            wrong = wrong | st.text(string.ascii_letters, min_size=1, max_size=8).filter(lambda v: v not in members)
        if schema.get("maxLength") is not None:
            wrong = wrong | st.just("x" * (schema["maxLength"] + 1))
        if schema.get("maximum") is not None and kinds[0] == "integer":
            wrong = wrong | st.just(schema["maximum"] + 1)
        return wrong
    return None


def names_something(text: str) -> bool:
    """An id has a character that is neither blank nor a dot, and no control character."""
    visible = any(not c.isspace() and c != "." for c in text)
    return visible and not any(unicodedata.category(c) == "Cc" for c in text)


_NAMES_NOTHING = st.sampled_from(["", " ", "\u00a0\u3000", ".", "..", " .. ", "\t", "a\nb", "slug\n", "a\x00"])


def path_ids() -> st.SearchStrategy[str]:
    """Any text that is an id; blank, only-dot and control-character ids are refused before sending."""
    return st.text(min_size=1, max_size=40).filter(names_something)


def non_ids() -> st.SearchStrategy[str]:
    """Text that names no id: empty or blank, only dots (path steps), or with a control character."""
    return _NAMES_NOTHING | st.text(max_size=40).filter(lambda text: not names_something(text))
