"""How long an HTTP client may keep a connection open without sending its request, and how many it may hold.

uvicorn times out only an idle connection *between* requests, and stops even that timer at the
first byte: a connection that never sends its headers, or sends them a byte at a time, or stops
half-way through its body, was held open forever, and a handful of such clients could use up a
process's file descriptors. So a request's headers must be complete within
`HEADER_TIMEOUT_SECONDS` of the connection waiting for them, and its body may not pause longer
than `BODY_IDLE_SECONDS`; past `MAX_CONNECTIONS` open connections, uvicorn answers 503. Nothing
times out while twill-mcp itself is answering (a tool call, an SSE stream): only a client that
owes bytes is waited for. `deploy/nginx.conf` sets the same bounds in front.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_SECONDS = 10.0
BODY_IDLE_SECONDS = 10.0
# Per process: well under the usual 1024 file descriptors, which Twill's connection pool shares.
MAX_CONNECTIONS = 512


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose client is too slow to send its request."""

    _waiting: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._arm(BODY_IDLE_SECONDS)  # each chunk of the body restarts the wait for the next
        elif state is not h11.IDLE:
            self._disarm()  # the request is in: the rest is ours to answer
        # IDLE: the headers are still coming, against the deadline set when the wait began

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._arm(HEADER_TIMEOUT_SECONDS)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._waiting = self.loop.call_later(seconds, self._give_up)

    def _disarm(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None

    def _give_up(self) -> None:
        self._waiting = None
        if not self.transport.is_closing():
            # Closing ends a body the app may be waiting for: it sees http.disconnect, as for a client gone.
            self.transport.close()


def connection_limits() -> dict[str, Any]:
    """The uvicorn settings that apply these bounds."""
    return {"http": BoundedH11Protocol, "limit_concurrency": MAX_CONNECTIONS}
