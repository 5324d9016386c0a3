"""Both protocol eras on one stream connection: each request is served in the era it claims.

The SDK locks a stream connection to the era of its first request and refuses the other era's
opening from then on (`serve_dual_era_loop` in mcp/server/runner.py: `initialize` after
`server/discover` gets -32022). Hosts send exactly that pair when `server/discover` is slow to be
answered: Claude Code sends `initialize` too after about 2.5 s, then uses whichever answer it
gets. The 2026-07-28 spec lets a dual-era server serve both eras on one process, so the
connection is split: requests carrying the 2026-07-28 envelope go to one `Server.run`, the
`initialize` handshake and everything without the envelope to another, and both answer on the
one output. A client that sticks to one era, as clients do, sees exactly the SDK's behaviour.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server.lowlevel import Server
from mcp.server.models import InitializationOptions
from mcp.server.runner import _has_modern_envelope
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp_types.jsonrpc import JSONRPCNotification, JSONRPCRequest

Incoming = SessionMessage | Exception
MODERN, LEGACY = "2026-07-28", "legacy"
REMEMBERED_REQUESTS = 4096


class _SharedWriter:
    """One era's view of the output: closing it leaves the output open for the other era."""

    def __init__(self, inner: WriteStream[SessionMessage]) -> None:
        self._inner = inner

    async def send(self, item: SessionMessage, /) -> None:
        await self._inner.send(item)

    async def aclose(self) -> None:
        pass

    async def __aenter__(self) -> _SharedWriter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass


class _Eras:
    def __init__(
        self, server: Server[Any], writer: WriteStream[SessionMessage], options: InitializationOptions, tasks: TaskGroup
    ) -> None:
        self._server = server
        self._writer = _SharedWriter(writer)
        self._options = options
        self._tasks = tasks
        self._inputs: dict[str, MemoryObjectSendStream[Incoming]] = {}
        # Only to route a cancellation to its request's era: the most recent ids are enough.
        self._era_of_request: OrderedDict[Any, str] = OrderedDict()

    def era_of(self, item: Incoming) -> str:
        message = item.message if isinstance(item, SessionMessage) else None
        if isinstance(message, JSONRPCRequest):
            modern = message.method != "initialize" and _has_modern_envelope(message.params)
            era = self._era_of_request[message.id] = MODERN if modern else LEGACY
            if len(self._era_of_request) > REMEMBERED_REQUESTS:
                self._era_of_request.popitem(last=False)
            return era
        if isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
            request_id = (message.params or {}).get("requestId")
            if request_id in self._era_of_request:
                return self._era_of_request[request_id]
        # Notifications and answers to our requests belong to the handshake era if there is one.
        return MODERN if self._inputs.keys() == {MODERN} else LEGACY

    async def send(self, item: Incoming) -> None:
        era = self.era_of(item)
        if era not in self._inputs:
            self._inputs[era], receive = anyio.create_memory_object_stream[Incoming]()
            self._tasks.start_soon(self._server.run, receive, self._writer, self._options)
        await self._inputs[era].send(item)

    def close(self) -> None:
        for era_input in self._inputs.values():
            era_input.close()


async def serve_both_eras(
    server: Server[Any],
    read_stream: ReadStream[Incoming],
    write_stream: WriteStream[SessionMessage],
    options: InitializationOptions,
) -> None:
    """Like `server.run(read_stream, write_stream, options)`, but serving each request in the era it claims."""
    try:
        async with write_stream, anyio.create_task_group() as tasks:
            eras = _Eras(server, write_stream, options, tasks)
            try:
                async for item in read_stream:
                    await eras.send(item)
            finally:
                eras.close()
    finally:
        await read_stream.aclose()
