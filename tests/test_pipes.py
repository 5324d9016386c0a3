"""Stdin and stdout of the stdio transport, on real pipes and files: every line whole and in order, no hop per line."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from twill_mcp.transports.pipes import BACKLOG, StdinLines, StdoutPipe, is_pipe

pytestmark = pytest.mark.anyio


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        with contextlib.suppress(OSError):
            os.close(fd)


@pytest.fixture(params=["pipe", "file"])
def stdin_with(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[bytes], int]]:
    """Makes an fd that reads the given bytes then ends: a pipe (read by the event loop) or a file (by a thread)."""
    opened: list[int] = []

    def make(data: bytes) -> int:
        if request.param == "pipe":
            read_end, write_end = os.pipe()
            threading.Thread(target=_write_and_close, args=(write_end, data), daemon=True).start()
            fd = read_end
        else:
            path = tmp_path / "stdin"
            path.write_bytes(data)
            fd = os.open(path, os.O_RDONLY)
        opened.append(fd)
        assert is_pipe(fd) == (request.param == "pipe")
        return fd

    yield make
    for fd in opened:
        os.close(fd)


async def read_all(lines: StdinLines) -> list[str]:
    await lines.start()
    with anyio.fail_after(5):
        return [line async for line in lines]


async def test_lines_longer_than_a_read_arrive_whole(stdin_with: Callable[[bytes], int]) -> None:
    long = "x" * 200_000
    fd = stdin_with(f'{{"a":"{long}"}}\nshort\n'.encode())
    assert await read_all(StdinLines(fd)) == [f'{{"a":"{long}"}}', "short"]


async def test_a_last_line_without_a_newline_is_delivered_at_the_end(stdin_with: Callable[[bytes], int]) -> None:
    fd = stdin_with(b"one\ntwo")
    assert await read_all(StdinLines(fd)) == ["one", "two"]


async def test_bad_utf8_becomes_the_replacement_character(stdin_with: Callable[[bytes], int]) -> None:
    fd = stdin_with(b"caf\xc3\n\xff\xfe\n")
    assert await read_all(StdinLines(fd)) == ["caf\ufffd", "\ufffd\ufffd"]


async def test_many_more_lines_than_the_backlog_arrive_in_order_while_read_slowly(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    sent = [f"line {n}" for n in range(BACKLOG * 4)]
    lines = StdinLines(read_end)
    await lines.start()
    received: list[str] = []
    async with anyio.create_task_group() as tasks:

        async def write() -> None:
            data = "".join(f"{line}\n" for line in sent).encode()
            await anyio.to_thread.run_sync(os.write, write_end, data)  # blocks while the pipe is full
            os.close(write_end)

        tasks.start_soon(write)
        with anyio.fail_after(10):
            async for line in lines:
                received.append(line)
                if len(received) % 64 == 0:
                    await anyio.sleep(0.01)  # a slow server: reading must pause, not drop or reorder
    assert received == sent


@pytest.mark.parametrize("kind", ["pipe", "terminal"])
async def test_stop_ends_the_lines_at_once_though_stdin_stays_open(kind: str, pipe: tuple[int, int]) -> None:
    # Nothing ends the input: the pipe's write end stays open, the terminal's other side sends nothing.
    controller, terminal = os.openpty()
    try:
        lines = StdinLines(pipe[0] if kind == "pipe" else terminal)
        await lines.start()
        await anyio.sleep(0.05)  # the read is under way
        with anyio.fail_after(2):
            lines.stop()
            assert [line async for line in lines] == []
    finally:
        os.close(controller)
        os.close(terminal)


async def test_messages_written_reach_the_pipe_in_order(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    async with StdoutPipe.claim(write_end) as stdout:
        assert stdout is not None
        for n in range(100):
            await stdout.write(f'{{"n":{n}}}\n')
            await stdout.flush()
    os.close(write_end)
    assert _read_to_end(read_end).decode().splitlines() == [f'{{"n":{n}}}' for n in range(100)]


async def test_while_claimed_other_writes_to_the_fd_go_to_stderr_not_the_pipe(
    pipe: tuple[int, int], capfd: pytest.CaptureFixture[str]
) -> None:
    read_end, write_end = pipe
    async with StdoutPipe.claim(write_end) as stdout:
        assert stdout is not None
        os.write(write_end, b"a stray print\n")
        await stdout.write("protocol\n")
    os.write(write_end, b"after\n")  # the fd is the pipe again
    os.close(write_end)
    assert _read_to_end(read_end) == b"protocol\nafter\n"
    assert "a stray print" in capfd.readouterr().err


async def test_a_write_waits_while_the_host_does_not_read_and_loses_nothing(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    message = b"y" * 100_000 + b"\n"  # 20 of them fit neither in the pipe nor under asyncio's high-water mark
    received: list[bytes] = []
    host = threading.Thread(target=lambda: received.append(_read_to_end(read_end)))
    async with StdoutPipe.claim(write_end) as stdout, anyio.create_task_group() as tasks:
        assert stdout is not None
        written = anyio.Event()

        async def produce() -> None:
            for _ in range(20):
                await stdout.write(message.decode())
            written.set()

        tasks.start_soon(produce)
        await anyio.sleep(0.3)
        assert not written.is_set()  # held back while the host reads nothing
        host.start()
        with anyio.fail_after(5):
            await written.wait()
    os.close(write_end)
    host.join(5)
    assert received == [message * 20]


async def test_writing_after_the_host_closed_its_end_raises_a_connection_error(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    async with StdoutPipe.claim(write_end) as stdout:
        assert stdout is not None
        os.close(read_end)
        with anyio.fail_after(2):
            assert isinstance(await _write_until_refused(stdout), ConnectionError)


async def _write_until_refused(stdout: StdoutPipe) -> Exception | None:
    for _ in range(100):  # asyncio notices the closed end within a loop turn or two
        try:
            await stdout.write("x\n")
        except ConnectionError as refused:
            return refused
        await anyio.sleep(0.01)
    return None


async def test_a_file_is_not_claimed_and_is_left_to_the_sdk_writer(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    try:
        async with StdoutPipe.claim(fd) as stdout:
            assert stdout is None
    finally:
        os.close(fd)


def _write_and_close(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
    os.close(fd)


def _read_to_end(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def test_lines_arriving_after_the_server_stopped_reading_are_dropped_quietly(
    pipe: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    read_end, write_end = pipe
    lines = StdinLines(read_end)
    await lines.start()
    await lines._receive.aclose()  # what the SDK's reader does when the server stops
    os.write(write_end, b"late\n")
    await anyio.sleep(0.1)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
