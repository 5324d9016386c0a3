"""The upstream of the end-to-end tests: the Twill emulator, behind a scripted, recording front.

Real sockets on random ports. Every request is recorded exactly as it arrived on the wire
(raw path, headers, body), so encoding and header assertions stay exact; unless the test
scripted an answer for it (any status, headers, body, delay, or a dropped connection),
it is forwarded to the emulator, which answers as Twill would.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from twill_mcp.emulator import EmulatorServer, EmulatorState
from twill_mcp.emulator.models import Task


@dataclass(frozen=True)
class Recorded:
    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes

    @property
    def segments(self) -> list[str]:
        return self.raw_path.split("?", 1)[0].split("/")


@dataclass
class Scripted:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    """Close the connection without answering."""


class FakeTwill:
    def __init__(self, api_key: str, *other_keys: str) -> None:
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.state = EmulatorState()
        unlimited = {"rate_limit_per_minute": 0, "rate_limit_per_hour": 0}
        self.emulator = EmulatorServer(self.state, api_keys={api_key, *other_keys}, sse_interval=0.01, **unlimited)
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        # http.server writes headers and body apart; without NODELAY each answer waits ~40 ms for an ACK.
        self._httpd.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTwill:
        self.emulator.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        # Nothing reaches the emulator once the front is closed: it may finish stopping on its own.
        self.emulator.stop(wait=False)

    def reset(self) -> None:
        """Forget what was recorded and scripted, for a fixture shared by several tests."""
        with self._lock:
            self.requests.clear()
            self._script.clear()

    def admit(self, *keys: str) -> None:
        """Accept these keys too, as Twill accepts a key once it is created."""
        self.emulator.app.state.api_keys.update(keys)

    def revoke(self, key: str) -> None:
        """Refuse this key from now on (401), as Twill does once a key is revoked in workspace settings."""
        self.emulator.app.state.api_keys.discard(key)

    def add_task(self, task_id: str, slug: str | None = None) -> Task:
        task, _ = self.state.create_task(f"Task {task_id}", task_id=task_id, slug=slug)
        return task

    def task(self, id_or_slug: str) -> Task:
        found = self.state.find_task(id_or_slug)
        assert found is not None
        return found

    def then(self, *responses: Scripted) -> None:
        """Answer the next requests with these, in order, instead of the emulator."""
        self._script.extend(responses)

    def then_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.then(Scripted(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}))

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Scripted:
        with self._lock:
            self.requests.append(Recorded(method, raw_path, headers, body))
            if self._script:
                return self._script.popleft()
        return self._forward(method, raw_path, headers, body)

    def _forward(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Scripted:
        connection = http.client.HTTPConnection("127.0.0.1", self.emulator.port, timeout=30)
        try:
            connection.request(method, raw_path, body=body or None, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            passed = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
            return Scripted(response.status, answer, passed)
        finally:
            connection.close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is what several tests do on purpose, not an error to print.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


_HOP_BY_HOP = {"content-length", "connection", "keep-alive", "transfer-encoding", "date", "server"}


def _handler_for(fake: FakeTwill) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = fake.handle(self.command, self.path, headers, body)
            if answer.delay:
                time.sleep(answer.delay)
            if answer.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
