"""Twill's connections on asyncio's own transports: the network layer under httpx2, without anyio's.

httpcore2's default backend reaches a socket through anyio's streams: every read and write
enters a cancel scope and an exception map, and the check "has the server closed this idle
connection?", which the pool runs on every idle connection at every request and release, looks
the socket up through anyio's typed attributes and polls it. Here each connection is an
`asyncio.Protocol` that keeps what arrives: a read takes bytes already there without waiting,
and that check reads the protocol's own state, no system call. The HTTP itself (h11, the pool,
keep-alive, proxies, TLS verification) stays httpx2's.

Timeouts and failures are httpcore2's own exceptions, which httpx2 maps as it maps its default
backend's, so what a failed request means is decided in one place (`upstream/http.py`).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2

# Unread bytes past which the socket is no longer read until the reader catches up (a log stream
# read slowly, say), and below which it is read again: asyncio's own streams pause at 64 KiB.
PAUSE_AT = 256 * 1024
RESUME_AT = 64 * 1024
# As anyio's `connect_tcp`, which httpcore2's default backend uses: IPv6 and IPv4 raced (RFC 8305).
HAPPY_EYEBALLS_DELAY = 0.25

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


def transport(**options: Any) -> httpx2.AsyncHTTPTransport:
    """httpx2's transport, given these options, with its connections on `AsyncioBackend`.

    httpx2 builds the pool (direct, or through the proxy in `options`) but takes no backend, so it
    is given one afterwards; `tests/test_sockets.py` fails if httpx2 stops building it there.
    """
    built = httpx2.AsyncHTTPTransport(**options)
    built._pool._network_backend = AsyncioBackend()
    return built


class AsyncioBackend(httpcore2.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        received = _Received()
        try:
            async with asyncio.timeout(timeout):
                raw, _ = await loop.create_connection(
                    lambda: received,
                    host,
                    port,
                    local_addr=(local_address, 0) if local_address else None,
                    happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
                )
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc)) from exc
        assert isinstance(raw, asyncio.Transport)
        sock = raw.get_extra_info("socket")
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
        except OSError as exc:
            raw.abort()  # connected, but not as asked: not handed on, and not left open
            raise httpcore2.ConnectError(str(exc)) from exc
        return AsyncioStream(received)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioStream(httpcore2.AsyncNetworkStream):
    """One connection, as httpcore2 reads and writes it: one request at a time."""

    def __init__(self, received: _Received) -> None:
        self._received = received

    @property
    def _raw(self) -> asyncio.Transport:
        # The protocol's transport: the socket's, then, after `start_tls`, the TLS one over it.
        raw = self._received.transport
        assert raw is not None  # set when the connection was made, before this stream was
        return raw

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        received = self._received
        if not received.ready:
            await received.wait(received.arrival, timeout, httpcore2.ReadTimeout)
        if received.buffer:
            return received.take(max_bytes)
        if received.error is not None:
            raise httpcore2.ReadError(received.why_closed())
        return b""  # the server closed the connection: httpcore2 decides what that means

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        received = self._received
        if received.lost or self._raw.is_closing():
            raise httpcore2.WriteError(received.why_closed())
        self._raw.write(buffer)
        if received.writing_paused:
            await received.wait(received.drained, timeout, httpcore2.WriteTimeout)
            if received.lost:
                raise httpcore2.WriteError(received.why_closed())

    async def aclose(self) -> None:
        # As anyio closes a socket: asyncio closes it at the loop's next turn, which is let to come here (a
        # caller that blocks the loop next would otherwise hold the connection open); what was still unsent
        # is then dropped rather than left to keep the socket open for a peer that does not read.
        self._raw.close()
        await asyncio.sleep(0)
        self._raw.abort()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                secured = await loop.start_tls(self._raw, self._received, ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            self._raw.close()
            raise httpcore2.ConnectTimeout("the TLS handshake timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            self._raw.close()
            raise httpcore2.ConnectError(str(exc)) from exc
        if secured is None:  # the connection closed during the handshake
            raise httpcore2.ConnectError("the connection closed during the TLS handshake")
        assert isinstance(secured, asyncio.Transport)
        self._received.transport = secured
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # Asked of an idle connection only: bytes or an end arrived that no request asked for.
            return self._received.ready
        if info in _TRANSPORT_INFO:
            return self._raw.get_extra_info(_TRANSPORT_INFO[info])
        return None


_TRANSPORT_INFO = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername", "socket": "socket"}


class _Received(asyncio.Protocol):
    """What arrived on one connection and is not read yet, and whether it may still be written to."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.lost = False
        self.ended = False
        self.error: BaseException | None = None
        self.writing_paused = False
        self.transport: asyncio.Transport | None = None
        self.arrival: list[asyncio.Future[None]] = []
        self.drained: list[asyncio.Future[None]] = []
        self._reading_paused = False

    @property
    def ready(self) -> bool:
        """A read would return at once: bytes are here, or no more will come."""
        return bool(self.buffer) or self.ended

    def why_closed(self) -> str:
        error = self.error
        return (str(error) or type(error).__name__) if error is not None else "the connection is closed"

    def take(self, max_bytes: int) -> bytes:
        buffer = self.buffer
        if len(buffer) <= max_bytes:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:max_bytes])
            del buffer[:max_bytes]
        if self._reading_paused and len(buffer) <= RESUME_AT and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    async def wait(
        self, waiters: list[asyncio.Future[None]], timeout: float | None, timed_out: type[Exception]
    ) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        waiters.append(waiter)
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter, timed_out)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            waiters.remove(waiter)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        _wake(self.arrival)
        if not self._reading_paused and len(self.buffer) > PAUSE_AT and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.ended = True
        _wake(self.arrival)
        return False  # close our side too: HTTP/1.1 sends nothing after the server's end

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = self.ended = True
        self.error = exc
        _wake(self.arrival)
        _wake(self.drained)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        _wake(self.drained)


def _wake(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None], timed_out: type[Exception]) -> None:
    if not waiter.done():
        waiter.set_exception(timed_out("timed out"))
