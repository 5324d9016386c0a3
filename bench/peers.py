"""The servers twill-mcp is measured against, and the fixed-answer upstream they all call (for bench/perf.py).

python bench/peers.py minimal-stdio         a hand-written low-level SDK `Server`, one forwarding tool, over stdio
python bench/peers.py minimal-http PORT     the same server on the SDK's streamable HTTP app (stateless) under uvicorn
python bench/peers.py minimal-http-hold PORT  the same with a tool `hold` that answers after `seconds`, and a tool
                                            `forward_logs` that follows a job's upstream log stream for `maxSeconds`
python bench/peers.py fastmcp-stdio         FastMCP `from_openapi` on twill-mcp's bundled spec, over stdio
python bench/peers.py fastmcp-http PORT     the same on FastMCP's HTTP app
python bench/peers.py upstream PORT         the fixed-answer upstream (answers read from UPSTREAM_ANSWERS as JSON)

Every server reads TWILL_BASE_URL (an origin) and TWILL_API_KEY, as twill-mcp does. Each imports only what it
uses, so its start-up and memory are its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

API_PREFIX = "/api/v1"
CANCEL = {"taskIdOrSlug": "demo-1"}
TOOL_NAMES = {"twill-mcp": "cancel_task", "minimal": "cancel_task", "fastmcp": "cancelTask"}


def _base_url() -> str:
    return os.environ["TWILL_BASE_URL"].rstrip("/") + API_PREFIX


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {os.environ['TWILL_API_KEY']}"}


def minimal_server(hold: bool = False) -> Any:
    """The floor: what any server on the low-level SDK pays to forward one call, and nothing more.

    With `hold`, a tool `hold` answers after `seconds`: what the SDK alone keeps per open call; and a tool
    `forward_logs` follows `/jobs/{jobId}/logs/stream` for `maxSeconds` and answers its lines: what any server
    that forwards a long call over httpx2 keeps per open call (the SDK's share, plus one upstream stream).
    """
    import anyio
    import httpx2
    import mcp_types as types
    from mcp.server.lowlevel import Server

    # As many connections as calls held open (httpx's default of 100 would queue the rest), as twill-mcp allows.
    limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
    client = httpx2.AsyncClient(base_url=_base_url(), headers=_headers(), limits=limits)
    schema = {"type": "object", "properties": {"taskIdOrSlug": {"type": "string"}}, "required": ["taskIdOrSlug"]}
    tool = types.Tool(name="cancel_task", description="Cancel a Twill task.", input_schema=schema)
    holding = types.Tool(name="hold", description="Answer after a while.", input_schema={"type": "object"})
    forwarding = types.Tool(name="forward_logs", description="A job's log stream.", input_schema={"type": "object"})
    listing = types.ListToolsResult(tools=[tool, holding, forwarding] if hold else [tool])

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return listing

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        if hold and params.name == "hold":
            await anyio.sleep(float((params.arguments or {})["seconds"]))
            return types.CallToolResult(content=[types.TextContent(type="text", text="done")])
        if hold and params.name == "forward_logs":
            arguments = params.arguments or {}
            lines: list[str] = []
            path = f"/jobs/{arguments['jobId']}/logs/stream"
            # Followed for `maxSeconds`, as twill-mcp's stream_job_logs follows it (the stream itself goes on).
            with anyio.move_on_after(float(arguments["maxSeconds"])):
                async with client.stream("GET", path, headers={"Accept": "text/event-stream"}) as stream:
                    async for line in stream.aiter_lines():
                        lines.append(line)
            return types.CallToolResult(content=[types.TextContent(type="text", text="\n".join(lines))])
        task = (params.arguments or {})["taskIdOrSlug"]
        response = await client.post(f"/tasks/{task}/cancel", json={})
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=response.text)], is_error=response.is_error
        )

    return Server("minimal", on_list_tools=list_tools, on_call_tool=call_tool)


def fastmcp_server() -> Any:
    import httpx2
    from fastmcp import FastMCP

    from twill_mcp.spec.openapi import load_bundled_spec

    client = httpx2.AsyncClient(base_url=_base_url(), headers=_headers())
    return FastMCP.from_openapi(load_bundled_spec(), client=client)


async def _minimal_stdio() -> None:
    from mcp.server.stdio import stdio_server

    server = minimal_server()
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def _minimal_http(port: int, *, hold: bool = False) -> None:
    import uvicorn

    app = minimal_server(hold).streamable_http_app(streamable_http_path="/mcp", stateless_http=True)
    # What `pip install mcp uvicorn` runs: asyncio's loop and h11 (uvicorn would take uvloop and httptools
    # where they happen to be installed).
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", loop="asyncio", http="h11")


class _FixedAnswers(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, one canned JSON answer per kind of request; costs next to nothing per request."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self._answers = answers
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = self._buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self._buffer) < end + 4 + length:
                return
            self._buffer = self._buffer[end + 4 + length :]
            method, path = head.split(" ", 2)[:2]
            body = self._answers["cancel" if method == "POST" and path.endswith("/cancel") else "get"]
            assert self._transport is not None
            self._transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )


async def _upstream(port: int) -> None:
    answers = {kind: text.encode() for kind, text in json.loads(os.environ["UPSTREAM_ANSWERS"]).items()}
    server = await asyncio.get_running_loop().create_server(lambda: _FixedAnswers(answers), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main(kind: str, port: int | None) -> None:
    if kind == "minimal-stdio":
        import anyio

        anyio.run(_minimal_stdio)
    elif kind == "minimal-http":
        assert port is not None
        _minimal_http(port)
    elif kind == "minimal-http-hold":
        assert port is not None
        _minimal_http(port, hold=True)
    elif kind == "fastmcp-stdio":
        fastmcp_server().run(transport="stdio", show_banner=False)
    elif kind == "fastmcp-http":
        fastmcp_server().run(transport="http", host="127.0.0.1", port=port, show_banner=False, log_level="warning")
    elif kind == "upstream":
        assert port is not None
        asyncio.run(_upstream(port))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "", int(sys.argv[2]) if len(sys.argv) > 2 else None)
