"""Serve MCP over stdio, answering every request read before stdin closed.

When a host closes stdin, the SDK ends the session at once and answers requests
still in flight with "Connection closed". For a call that was already sent to
Twill that hides the real outcome (was the task cancelled?). So end-of-input is
held back until every request read so far has been answered, for at most the
call deadline, then the server exits.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_REQUEST, PARSE_ERROR, ErrorData
from mcp_types.jsonrpc import JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse
from pydantic import ValidationError

logger = logging.getLogger(__name__)

Incoming = SessionMessage | Exception


class _Unanswered:
    def __init__(self) -> None:
        self._ids: set[Any] = set()
        self._empty = anyio.Event()
        self._empty.set()

    def add(self, request_id: Any) -> None:
        self._ids.add(request_id)
        if self._empty.is_set():
            self._empty = anyio.Event()

    def discard(self, request_id: Any) -> None:
        self._ids.discard(request_id)
        if not self._ids:
            self._empty.set()

    async def wait_empty(self) -> None:
        await self._empty.wait()


class _DrainingReader:
    def __init__(
        self, inner: ReadStream[Incoming], writer: WriteStream[SessionMessage], unanswered: _Unanswered, grace: float
    ) -> None:
        self._inner = inner
        self._writer = writer
        self._unanswered = unanswered
        self._grace = grace

    @property
    def last_context(self) -> Any:
        # The SDK reads the sender's context from the stream it was given.
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Incoming:
        while True:
            try:
                item = await self._inner.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                with anyio.move_on_after(self._grace):
                    await self._unanswered.wait_empty()
                raise
            if isinstance(item, SessionMessage):
                message = item.message
                if isinstance(message, JSONRPCRequest):
                    self._unanswered.add(message.id)
                elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
                    # A cancelled request is never answered: do not wait for it at EOF.
                    self._unanswered.discard((message.params or {}).get("requestId"))
                return item
            # The SDK drops a line it cannot decode without a word; JSON-RPC 2.0 says to answer it.
            await self._writer.send(SessionMessage(_undecodable(item)))

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> _DrainingReader:
        return self

    async def __anext__(self) -> Incoming:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def __aenter__(self) -> _DrainingReader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _AnswerTracker:
    def __init__(self, inner: WriteStream[SessionMessage], unanswered: _Unanswered) -> None:
        self._inner = inner
        self._unanswered = unanswered

    async def send(self, item: SessionMessage, /) -> None:
        await self._inner.send(item)
        if isinstance(item.message, JSONRPCResponse | JSONRPCError):
            self._unanswered.discard(item.message.id)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _AnswerTracker:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _undecodable(exc: Exception) -> JSONRPCError:
    not_json = isinstance(exc, ValidationError) and any(e["type"] == "json_invalid" for e in exc.errors())
    code, what = (
        (PARSE_ERROR, "Parse error: the line is not JSON")
        if not_json
        else (
            INVALID_REQUEST,
            "Invalid Request: the line is JSON but not a JSON-RPC 2.0 message",
        )
    )
    logger.warning("stdin: %s", what)
    return JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=code, message=what))


async def serve_stdio(server: Server[Any], *, grace: float) -> None:
    """Run `server` on this process's stdin/stdout until stdin closes and every request is answered."""
    unanswered = _Unanswered()
    async with stdio_server() as (read_stream, write_stream):
        writer = _AnswerTracker(write_stream, unanswered)
        await server.run(
            _DrainingReader(read_stream, writer, unanswered, grace),
            writer,
            server.create_initialization_options(),
        )
