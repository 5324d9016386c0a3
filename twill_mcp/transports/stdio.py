"""Serve MCP over stdio, answering every request read before the input ended or a stop signal came.

When a host closes stdin, the SDK ends the session at once and answers requests
still in flight with "Connection closed". For a call that was already sent to
Twill that hides the real outcome (was the task cancelled?). So end-of-input is
held back until every request read so far has been answered, for at most the
call deadline, then the server exits.

Hosts stop a stdio server with SIGINT, then SIGTERM, then SIGKILL, without closing stdin first.
The first SIGINT or SIGTERM stops reading (as if stdin had ended) and gives the requests in
flight the shutdown grace (`draining.py`); a second one exits at once. Stdin and stdout are
ours (`pipes.py`), not the SDK's: its reader blocks in a worker thread that cannot be
interrupted, so a stop would wait for the host's next line, and its threads cost a hop per message.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, cast

import anyio
import anyio.abc
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_REQUEST, PARSE_ERROR, ErrorData
from mcp_types.jsonrpc import JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse
from pydantic import ValidationError

from twill_mcp.transports.draining import STOP_SIGNALS, InFlight, signal_name
from twill_mcp.transports.eras import serve_both_eras
from twill_mcp.transports.pipes import StdinLines, StdoutPipe
from twill_mcp.upstream.outcomes import Effect

logger = logging.getLogger(__name__)

Incoming = SessionMessage | Exception


class _DrainingReader:
    def __init__(
        self, inner: ReadStream[Incoming], writer: WriteStream[SessionMessage], in_flight: InFlight, grace: float
    ) -> None:
        self._inner = inner
        self._writer = writer
        self._in_flight = in_flight
        self.grace = grace
        """How long requests in flight may still run once the input has ended."""

    async def receive(self) -> Incoming:
        while True:
            try:
                item = await self._inner.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                await self._in_flight.drain(self.grace)
                raise
            if isinstance(item, SessionMessage):
                message = item.message
                if isinstance(message, JSONRPCRequest):
                    tool = (message.params or {}).get("name") if message.method == "tools/call" else None
                    self._in_flight.add(message.id, message.method, tool if isinstance(tool, str) else None)
                elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
                    # A cancelled request is never answered: do not wait for it at EOF.
                    self._in_flight.discard((message.params or {}).get("requestId"))
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
    def __init__(self, inner: WriteStream[SessionMessage], in_flight: InFlight) -> None:
        self._inner = inner
        self._in_flight = in_flight

    async def send(self, item: SessionMessage, /) -> None:
        message = item.message
        if isinstance(message, JSONRPCError) and message.id is not None and (lost := self._in_flight.lost(message.id)):
            # The SDK answers a request cut at exit with a bare "Connection closed"; say what it means.
            error = message.error.model_copy(update={"message": f"twill-mcp stopped: {lost}"})
            item = SessionMessage(message.model_copy(update={"error": error}), metadata=item.metadata)
        await self._inner.send(item)
        if isinstance(message, JSONRPCResponse | JSONRPCError):
            self._in_flight.discard(message.id)

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


async def serve_stdio(
    server: Server[Any], *, eof_grace: float, stop_grace: float, effects: Mapping[str, Effect]
) -> None:
    """Run `server` on this process's stdin/stdout until stdin ends or a stop signal comes, then drain.

    `eof_grace` bounds the wait for answers after stdin ends, `stop_grace` after SIGINT/SIGTERM.
    """
    in_flight = InFlight(effects)
    lines = StdinLines(sys.stdin.fileno())
    try:
        async with (
            StdoutPipe.claim() as stdout,
            stdio_server(stdin=cast("anyio.AsyncFile[str]", lines), stdout=cast("anyio.AsyncFile[str]", stdout)) as (
                read_stream,
                write_stream,
            ),
        ):
            writer = _AnswerTracker(write_stream, in_flight)
            reader = _DrainingReader(read_stream, writer, in_flight, eof_grace)
            async with anyio.create_task_group() as tasks:
                await tasks.start(_stop_on_signals, lines, reader, in_flight, stop_grace)
                await lines.start()
                await serve_both_eras(server, reader, writer, server.create_initialization_options())
                tasks.cancel_scope.cancel()
    except* ConnectionError:
        # The host closed its end of stdout (it went away, or is done with us): no answer can reach it now.
        logger.warning("stdout was closed by the host: stopping")
        in_flight.cut_all("because stdout was closed")


async def _stop_on_signals(
    lines: StdinLines,
    reader: _DrainingReader,
    in_flight: InFlight,
    grace: float,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        task_status.started()
        stopping = False
        async for signum in signals:
            name = signal_name(signum)
            if stopping:
                in_flight.exit_at_once(signum)
            stopping = True
            logger.info("%s: reading no more requests; %d in flight get up to %g s", name, len(in_flight), grace)
            reader.grace = min(reader.grace, grace)
            in_flight.hurry(grace)
            lines.stop()
