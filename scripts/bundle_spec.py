"""Build the package's bundled spec (twill_mcp/data/twill-openapi.json) from shared/twill-api.

The reconstruction (openapi-assembled.yaml) provides every operation; the cancel-task
fragment (cancel-task.seed.md) is authoritative and replaces its operation. Every other
operation is marked `x-inferred`, because its shapes were rebuilt from partial docs
and Twill's agent skill: twill-mcp then tolerates reality there (nullable and extra
fields, unknown enum values) instead of failing a real success.

Usage: python scripts/bundle_spec.py [--check]   (needs PyYAML; --check exits 1 on drift)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "twill-api"
TARGET = ROOT / "twill_mcp" / "data" / "twill-openapi.json"
AUTHORITATIVE = "cancelTask"

# The reconstruction's descriptions are notes for its readers; these are rewritten for
# agents (None drops the note). Output schemas of inferred operations lose theirs anyway.
SCHEMA_DESCRIPTIONS: dict[str, str | None] = {
    "UserIntent": "SWE (default) does the work; DEV_ENVIRONMENT sets up a dev environment; SCHEDULE makes a "
    "schedule. PLAN, ASK and GOAL are legacy and run as SWE.",
    "ReasoningEffort": None,
    "FileAttachment": "A file for the agent; url must be a data: URL, e.g. data:text/plain;base64,SGVsbG8=.",
}
# Newest docs and Twill's skill v1.4 disagree; accept the union rather than reject a value the API takes.
USER_INTENT_VALUES = ["SWE", "DEV_ENVIRONMENT", "SCHEDULE", "PLAN", "ASK", "GOAL"]


def build(shared: Path = SHARED) -> dict[str, Any]:
    spec = yaml.safe_load((shared / "openapi-assembled.yaml").read_text(encoding="utf-8"))
    seed_text = (shared / "cancel-task.seed.md").read_text(encoding="utf-8")
    seed = yaml.safe_load(re.search(r"````yaml [^\n]*\n(.*?)````", seed_text, re.S).group(1))
    [(seed_path, seed_item)] = seed["paths"].items()
    spec["paths"][seed_path] = seed_item
    schemas = spec["components"]["schemas"]
    schemas["CancelTaskResponse"] = seed["components"]["schemas"]["CancelTaskResponse"]
    for name, description in SCHEMA_DESCRIPTIONS.items():
        schemas[name].pop("description", None)
        if description:
            schemas[name]["description"] = description
    schemas["UserIntent"]["enum"] = USER_INTENT_VALUES
    for item in spec["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") and op["operationId"] != AUTHORITATIVE:
                op["x-inferred"] = True
                _document_implied_errors(op)
    spec["info"]["x-twill-mcp-bundle"] = (
        "openapi-assembled.yaml with cancelTask from the authoritative docs fragment; "
        "every other operation is a reconstruction and carries x-inferred."
    )
    return spec


def _document_implied_errors(op: dict[str, Any]) -> None:
    """Errors every operation can answer, which the reconstruction listed only here and there.

    The bearer key is required everywhere (401), the rate limit counts every request (429),
    a path names a resource that may not exist (404), and a body or query can be invalid (400).
    """
    responses = op.setdefault("responses", {})
    implied = {"401": "UnauthorizedError", "429": "RateLimitedError", "500": "InternalError"}
    if any(p.get("in") == "path" or "$ref" in p for p in op.get("parameters", [])):
        implied["404"] = "NotFoundError"
    if op.get("requestBody") or any(p.get("in") == "query" for p in op.get("parameters", [])):
        implied["400"] = "ValidationError"
    for status, name in implied.items():
        responses.setdefault(status, {"$ref": f"#/components/responses/{name}"})


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render(build())
    if "--check" in argv:
        if TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET} is out of date: run python scripts/bundle_spec.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
