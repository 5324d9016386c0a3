"""The process's stdin and stdout for the stdio transport, with no thread hop per message.

The SDK reads stdin and writes stdout through anyio's worker threads: a hop to a thread and
back for every line read, and two (write, then flush) for every message written. On a 2-core
machine those hops cost more CPU than everything twill-mcp does for a call. Hosts connect a
stdio server with pipes, and a pipe can be served by the event loop itself (asyncio's pipe
transports), so that is what is done when stdin or stdout is a pipe or a socket. A terminal
or a file keeps a thread: a reading thread of our own (which, unlike the SDK's, a stop signal
does not wait for) and the SDK's writer.

Whichever way stdin is read, lines reach the server through one buffer that is handed
whole chunks, not single lines; reading pauses while `BACKLOG` lines wait there.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import math
import os
import stat
import threading
from collections.abc import AsyncIterator, Callable

import anyio
import anyio.from_thread
import anyio.lowlevel

BACKLOG = 256
"""Lines read but not yet taken by the server at which reading pauses (resuming below half)."""
CHUNK = 65536


def is_pipe(fd: int) -> bool:
    """A pipe or socket, which the event loop can serve; not a terminal or a file."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class StdinLines:
    """The lines of stdin, decoded as the SDK's reader decodes them, until it ends or `stop()` is called."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._send, self._receive = anyio.create_memory_object_stream[str](math.inf)
        self._parts: list[bytes] = []
        self._pipe: asyncio.ReadTransport | None = None
        self._stopped = False
        self._roomy = threading.Event()
        self._roomy.set()

    async def start(self) -> None:
        if is_pipe(self._fd):
            loop = asyncio.get_running_loop()
            # A duplicate, so that closing the transport leaves fd 0 itself alone.
            pipe = os.fdopen(os.dup(self._fd), "rb", buffering=0)
            self._pipe, _ = await loop.connect_read_pipe(lambda: _Feed(self._feed, self._end), pipe)
        else:
            token = anyio.lowlevel.current_token()
            threading.Thread(target=self._pump, args=(token,), name="stdin", daemon=True).start()

    def _pump(self, token: anyio.lowlevel.EventLoopToken) -> None:
        # Raw reads, not sys.stdin: a daemon thread blocked inside a buffered reader aborts the interpreter at exit.
        try:
            while chunk := os.read(self._fd, CHUNK):
                anyio.from_thread.run_sync(self._feed, chunk, token=token)
                self._roomy.wait()
            anyio.from_thread.run_sync(self._end, token=token)
        except (anyio.RunFinishedError, OSError):
            pass  # stopped, or the loop is gone: nobody wants the rest

    def _feed(self, chunk: bytes) -> None:
        if self._stopped:
            return
        if b"\n" not in chunk:
            self._parts.append(chunk)
            return
        first, *lines, rest = chunk.split(b"\n")
        self._parts.append(first)
        try:
            for line in (b"".join(self._parts), *lines):
                # As the SDK's own reader decodes: bad UTF-8 becomes U+FFFD and then a parse error.
                self._send.send_nowait(line.decode("utf-8", errors="replace"))
        except anyio.BrokenResourceError:
            self.stop()  # the server has stopped reading: nobody wants the rest
            return
        self._parts = [rest] if rest else []
        if self._backlog() >= BACKLOG:
            self._hold(True)

    def _end(self) -> None:
        if self._parts and not self._stopped:
            with contextlib.suppress(anyio.BrokenResourceError):
                self._send.send_nowait(b"".join(self._parts).decode("utf-8", errors="replace"))
        self._parts = []
        self.stop()

    def _backlog(self) -> int:
        return self._send.statistics().current_buffer_used

    def _hold(self, hold: bool) -> None:
        if self._pipe is not None and not self._pipe.is_closing():
            (self._pipe.pause_reading if hold else self._pipe.resume_reading)()
        (self._roomy.clear if hold else self._roomy.set)()

    def stop(self) -> None:
        """Read no more: what was read is still delivered, then the lines end."""
        self._stopped = True
        self._send.close()
        self._roomy.set()  # a waiting reading thread goes on to its next read, whose result is dropped
        if self._pipe is not None:
            self._pipe.close()

    def __aiter__(self) -> StdinLines:
        return self

    async def __anext__(self) -> str:
        try:
            line = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None
        if not self._roomy.is_set() and self._backlog() <= BACKLOG // 2:
            self._hold(False)
        return line


class _Feed(asyncio.Protocol):
    def __init__(self, feed: Callable[[bytes], None], end: Callable[[], None]) -> None:
        self._feed = feed
        self._end = end

    def data_received(self, data: bytes) -> None:
        self._feed(data)

    def eof_received(self) -> bool:
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()


class StdoutPipe:
    """Stdout as the SDK's writer uses it (`write`, `flush`), written by the event loop.

    `write` returns once the message is handed to the pipe or buffered, and waits only while
    the host is not reading (the buffer is over asyncio's high-water mark). fd 1 itself points
    at stderr while this owns the pipe, so nothing else printed can reach the protocol stream.
    """

    def __init__(self, transport: asyncio.WriteTransport, flow: _Flow) -> None:
        self._transport = transport
        self._flow = flow

    @classmethod
    @contextlib.asynccontextmanager
    async def claim(cls, fd: int = 1) -> AsyncIterator[StdoutPipe | None]:
        """Stdout as a `StdoutPipe` while in the block, or None when it is not a pipe (the SDK's writer serves)."""
        if not is_pipe(fd):
            yield None
            return
        private = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
        loop = asyncio.get_running_loop()
        flow = _Flow()
        transport, _ = await loop.connect_write_pipe(lambda: flow, os.fdopen(private, "wb", buffering=0))
        os.dup2(2, fd)
        try:
            yield cls(transport, flow)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await flow.drained(transport)
                with contextlib.suppress(OSError):
                    os.set_blocking(private, True)  # the description is fd 1's again below
                    os.dup2(private, fd)
                transport.close()
                await flow.closed.wait()  # asyncio closes the private descriptor a loop turn later

    async def write(self, text: str) -> None:
        if self._flow.lost is not None:
            raise self._flow.lost
        self._transport.write(text.encode("utf-8"))
        await self._flow.room()

    async def flush(self) -> None:
        pass  # written as soon as the pipe takes it: nothing is held back


class _Flow(asyncio.Protocol):
    """Whether the host is reading: asyncio pauses the writer at its high-water mark."""

    def __init__(self) -> None:
        self._resumed = asyncio.Event()
        self._resumed.set()
        self.lost: Exception | None = None
        self.closed = asyncio.Event()

    def pause_writing(self) -> None:
        self._resumed.clear()

    def resume_writing(self) -> None:
        self._resumed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = BrokenPipeError("stdout was closed by the host") if exc is None else exc
        self._resumed.set()
        self.closed.set()

    async def room(self) -> None:
        await self._resumed.wait()
        if self.lost is not None:
            raise self.lost

    async def drained(self, transport: asyncio.WriteTransport) -> None:
        """Until what was written has left or the host has gone."""
        while self.lost is None and transport.get_write_buffer_size():
            await asyncio.sleep(0.005)
