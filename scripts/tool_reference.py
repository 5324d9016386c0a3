"""Print the README's tool reference, generated from the compiled tools.

Usage: python scripts/tool_reference.py   (paste between the markers in README.md;
tests/test_readme.py fails while the README and this output differ)
"""

from __future__ import annotations

from twill_mcp.spec.compiler import CompiledTool, compile_spec
from twill_mcp.spec.openapi import load_bundled_spec
from twill_mcp.tools.surface import DEFAULT_TOOLSETS

BEGIN = "<!-- tool-reference:begin -->"
END = "<!-- tool-reference:end -->"


def reference(tools: list[CompiledTool]) -> str:
    rows = [
        BEGIN,
        "| Tool | Toolset | HTTP | Hints | Arguments | What it does |",
        "|---|---|---|---|---|---|",
    ]
    for tool in tools:
        toolset = tool.toolset + ("" if tool.toolset in DEFAULT_TOOLSETS else " (opt-in)")
        if tool.hidden:
            toolset = f"{tool.toolset} (hidden: deprecated)"
        required = set(tool.input_schema.get("required", []))
        args = ", ".join(f"`{name}`" + ("" if name in required else "?") for name in tool.input_schema["properties"])
        http = f"`{tool.operation.method} {tool.operation.path}`"
        rows.append(
            f"| `{tool.name}` | {toolset} | {http} | {tool.annotations.summary} | {args or '—'} | {tool.description} |"
        )
    rows.append(END)
    return "\n".join(rows)


if __name__ == "__main__":
    print(reference(compile_spec(load_bundled_spec())))
