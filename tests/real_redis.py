"""A real redis-server on a loopback port, started and stopped by a test (Debian's package; `.ci/run` installs it)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.http_process import free_port

START_TIMEOUT = 10.0


def find_redis_server() -> str | None:
    return shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")


class RedisServer:
    """One redis-server that keeps nothing on disk; stop() and start() again keep its port, as a restart would."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.workdir)]
        log = (self.workdir / "redis.log").open("ab")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            assert self.process.poll() is None, (self.workdir / "redis.log").read_text(errors="replace")
            assert time.monotonic() < deadline, "redis-server did not start in time"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # an outage, not a shutdown: nothing is saved or flushed
            self.process.wait()
            self.process = None

    def answers(self) -> bool:
        """PING answered, asked in RESP over a plain socket: the oracle does not go through the client under test."""
        return self.command("PING") == b"+PONG\r\n"

    def command(self, *words: str) -> bytes:
        request = f"*{len(words)}\r\n" + "".join(f"${len(word.encode())}\r\n{word}\r\n" for word in words)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(request.encode())
                time.sleep(0.01)
                return sock.recv(1 << 16)
        except OSError:
            return b""
