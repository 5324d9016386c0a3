"""tools/list footprint: twill-mcp's surfaces against FastMCP's from_openapi on the same spec, in one run.

Every listed tool is sent to the model on every turn, so the tools/list payload is a
per-turn token cost. Both servers are listed in-process through an MCP client and the
JSON the client receives is measured. Tokens are approximated as characters / 4 (no
tokenizer can be downloaded here); the ratios do not depend on that constant.

Usage: pip install -e '.[bench]' && python bench/footprint.py
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import anyio
from fastmcp import Client as FastMCPClient
from fastmcp import FastMCP

from twill_mcp.core.config import Settings
from twill_mcp.inprocess import connected
from twill_mcp.spec.compiler import compile_spec
from twill_mcp.spec.openapi import load_bundled_spec
from twill_mcp.tools.catalog import all_tools
from twill_mcp.tools.surface import select_tools


def payload(tools: list[Any]) -> str:
    dumped = [tool.model_dump(by_alias=True, exclude_none=True, mode="json") for tool in tools]
    return json.dumps({"tools": dumped}, separators=(",", ":"), ensure_ascii=False)


async def ours(**selection: Any) -> tuple[str, int]:
    tools = select_tools(all_tools(), **selection)
    async with connected(Settings.load({}), tools) as client:
        listed = (await client.list_tools()).tools
    return payload(listed), len(listed)


async def fastmcp() -> tuple[str, int]:
    server = FastMCP.from_openapi(load_bundled_spec())
    async with FastMCPClient(server) as client:
        listed = await client.list_tools()
    return payload(listed), len(listed)


def compile_time_ms(runs: int = 20) -> float:
    spec = load_bundled_spec()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        compile_spec(spec)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def main() -> None:
    rows = [
        ("twill-mcp default (tasks, jobs, account)", *await ours()),
        ("twill-mcp --toolsets all", *await ours(toolsets=["all"])),
        (
            "twill-mcp every operation (incl. deprecated)",
            *await ours(toolsets=["all"], include=["approve_plan", "approve_criteria"]),
        ),
        ("FastMCP 4 from_openapi, same spec", *await fastmcp()),
    ]
    base = len(rows[-1][1])
    print(f"{'surface':48} {'tools':>5} {'bytes':>8} {'~tokens':>8} {'vs FastMCP':>10}")
    for name, text, count in rows:
        print(f"{name:48} {count:>5} {len(text):>8} {len(text) // 4:>8} {len(text) / base:>9.2f}x")
    full, fast = rows[2], rows[3]
    print(
        f"\nper tool, every operation: twill-mcp {len(full[1]) // full[2]} bytes, "
        f"FastMCP {len(fast[1]) // max(fast[2], 1)} bytes"
    )
    print(f"compile the bundled spec: median {compile_time_ms():.1f} ms over 20 runs")


if __name__ == "__main__":
    anyio.run(main)
