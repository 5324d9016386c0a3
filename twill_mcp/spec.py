"""The bundled Twill OpenAPI document: loading it and following its references."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

Spec = dict[str, Any]

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
