"""Twill's connections on asyncio's transports (`upstream/sockets.py`), against real sockets on loopback.

Each test drives httpx2 through `sockets.transport()` as `TwillHttp` does, against a small asyncio
server that misbehaves in one way; the oracle is what the server saw and what httpx2 raised. TLS and
CONNECT tunnels through this layer are held by tests/test_ca.py and tests/test_proxy.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx2
import pytest

from tests.conftest import loaded_by_start_up
from twill_mcp.upstream import sockets

pytestmark = pytest.mark.anyio

ANSWER = b'{"ok": true}'
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    origin: str
    connections: int = 0


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[Server]:
    server = Server("")

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(accepted, "127.0.0.1", 0)
    server.origin = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    try:
        yield server
    finally:
        listening.close()


@asynccontextmanager
async def client(timeout: float = 5.0) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=sockets.transport(), timeout=timeout) as http:
        yield http


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    return head + await reader.readexactly(length)


def response(body: bytes, *, close: bool = False) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), connection, body)


async def test_a_request_goes_through_the_asyncio_backend_httpx2_was_given() -> None:
    connected: list[str] = []
    original = sockets.AsyncioBackend.connect_tcp

    async def spying(self: sockets.AsyncioBackend, host: str, port: int, **options: object) -> object:
        connected.append(f"{host}:{port}")
        return await original(self, host, port, **options)  # type: ignore[arg-type]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(ANSWER))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sockets.AsyncioBackend, "connect_tcp", spying)
        async with serving(answer) as server, client() as http:
            answered = await http.get(f"{server.origin}/tasks")
    assert answered.content == ANSWER
    assert connected == [server.origin.removeprefix("http://")]


async def test_an_answer_written_in_pieces_is_read_whole_and_the_connection_kept() -> None:
    body = b"x" * 10_000

    async def in_pieces(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            whole = response(body)
            for start in range(0, len(whole), 1000):
                writer.write(whole[start : start + 1000])
                await writer.drain()
                await asyncio.sleep(0.001)

    async with serving(in_pieces) as server, client() as http:
        answers = [await http.get(f"{server.origin}/logs") for _ in range(3)]
    assert [a.content for a in answers] == [body] * 3
    assert server.connections == 1


async def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    async def once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(ANSWER))  # keep-alive offered, then the server changes its mind
        await writer.drain()

    async with serving(once_then_close) as server, client() as http:
        first = await http.get(f"{server.origin}/a")
        await asyncio.sleep(0.05)  # the server's close arrives while the connection sits in the pool
        second = await http.get(f"{server.origin}/b")
    assert (first.content, second.content) == (ANSWER, ANSWER)
    assert server.connections == 2


async def test_an_answer_that_does_not_come_is_a_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with serving(silent) as server, client(timeout=0.2) as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.get(f"{server.origin}/slow")


async def test_a_body_the_server_does_not_read_is_a_write_timeout() -> None:
    async def not_reading(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async with serving(not_reading) as server, client(timeout=0.3) as http:
        with pytest.raises(httpx2.WriteTimeout):
            await http.post(f"{server.origin}/big", content=b"y" * (64 * 1024 * 1024))


async def test_a_server_that_closes_before_answering_is_a_remote_protocol_error() -> None:
    async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with serving(hangs_up) as server, client() as http:
        with pytest.raises(httpx2.RemoteProtocolError, match="without sending a response"):
            await http.post(f"{server.origin}/tasks/t/cancel", json={})


async def test_a_connection_reset_mid_answer_is_a_read_error() -> None:
    async def resets(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        await asyncio.sleep(0.05)
        raw: socket.socket = writer.get_extra_info("socket")
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST

    async with serving(resets) as server, client() as http:
        with pytest.raises(httpx2.ReadError):
            await http.get(f"{server.origin}/tasks")


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with client() as http:
        with pytest.raises(httpx2.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_a_socket_option_the_system_refuses_is_a_connect_error_and_the_connection_is_closed() -> None:
    ended = asyncio.Event()

    async def until_the_clients_end(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        ended.set()

    refused = [(socket.SOL_SOCKET, 0x7FFF, 1)]  # no such option
    async with (
        serving(until_the_clients_end) as server,
        httpx2.AsyncClient(transport=sockets.transport(socket_options=refused)) as http,
    ):
        with pytest.raises(httpx2.ConnectError):
            await http.get(f"{server.origin}/")
        with anyio.fail_after(2):
            await ended.wait()
    assert server.connections == 1


async def test_a_connection_that_is_not_accepted_in_time_is_a_connect_timeout() -> None:
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        filler = await asyncio.open_connection("127.0.0.1", port)  # the backlog's one place, taken
        async with client(timeout=0.2) as http:
            with pytest.raises(httpx2.ConnectTimeout):
                await http.get(f"http://127.0.0.1:{port}/")
        filler[1].close()


async def test_a_large_answer_read_slowly_is_not_held_in_memory_whole_and_arrives_intact() -> None:
    size = 64 * 1024 * 1024
    body = bytes(range(256)) * (size // 256)
    sent = 0

    async def large(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for start in range(0, size, 64 * 1024):
            writer.write(body[start : start + 64 * 1024])
            await writer.drain()
            sent = start + 64 * 1024

    async with serving(large) as server, client() as http, http.stream("GET", f"{server.origin}/logs") as streamed:
        chunks = streamed.aiter_raw()
        received = [await anext(chunks)]
        await asyncio.sleep(0.5)  # a reader that stalls: the server is made to wait, not buffered whole
        sent_while_stalled = sent
        received.extend([chunk async for chunk in chunks])
    assert sent_while_stalled < size // 4
    assert hashlib.sha256(b"".join(received)).digest() == hashlib.sha256(body).digest()


async def test_a_request_cancelled_while_waiting_leaves_the_pool_usable() -> None:
    async def slow_then_fast(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await read_request(reader)
            if b"/slow" in request:
                await asyncio.sleep(5)
            writer.write(response(ANSWER))
            await writer.drain()

    async with serving(slow_then_fast) as server, client() as http:
        with anyio.move_on_after(0.1) as scope:
            await http.get(f"{server.origin}/slow")
        answered = await http.get(f"{server.origin}/fast")
    assert scope.cancelled_caught
    assert answered.content == ANSWER


async def test_a_closed_client_has_closed_its_connections_even_if_the_loop_stops_turning() -> None:
    ended = threading.Event()

    def one_answer(listening: socket.socket) -> None:
        peer, _ = listening.accept()
        with peer:
            peer.recv(65536)
            peer.sendall(response(ANSWER))
            peer.settimeout(5)
            if peer.recv(1) == b"":  # the client's end of the connection
                ended.set()

    with socket.create_server(("127.0.0.1", 0)) as listening:
        serving_thread = threading.Thread(target=one_answer, args=(listening,), daemon=True)
        serving_thread.start()
        async with client() as http:
            await http.get(f"http://127.0.0.1:{listening.getsockname()[1]}/")
        closed_at_once = ended.wait(timeout=1)  # blocks the loop, as a caller's synchronous work would
        serving_thread.join(timeout=5)
    assert closed_at_once


@pytest.mark.slow
def test_start_up_does_not_load_httpcore2_which_waits_for_the_first_call() -> None:
    assert loaded_by_start_up("httpcore2", "twill_mcp.upstream.sockets") == []
