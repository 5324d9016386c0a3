"""A Twill-compatible HTTP server on 127.0.0.1 for end-to-end tests.

Real sockets on a random port. It answers `POST /api/v1/tasks/{taskIdOrSlug}/cancel`
as the spec documents (bearer check, 200 / 401 / 404 with Twill's error envelope),
records every request exactly as it arrived on the wire (raw path, headers, body),
and can be told to answer the next requests with a scripted fault instead.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


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


@dataclass
class Task:
    id: str
    slug: str
    status: str = "IMPLEMENTING"


class FakeTwill:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.tasks: dict[str, Task] = {}
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTwill:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def add_task(self, task_id: str, slug: str | None = None) -> Task:
        task = Task(task_id, slug or f"slug-{task_id}")
        self.tasks[task_id] = task
        return task

    def then(self, *responses: Scripted) -> None:
        """Answer the next requests with these, in order, instead of the normal behaviour."""
        self._script.extend(responses)

    def then_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.then(Scripted(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}))

    # -- behaviour ---------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Scripted:
        with self._lock:
            self.requests.append(Recorded(method, raw_path, headers, body))
            if self._script:
                return self._script.popleft()
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "unauthorized", "Invalid or missing API key")
        parts = raw_path.split("?", 1)[0].split("/")
        # ['', 'api', 'v1', 'tasks', '<segment>', 'cancel']
        if method == "POST" and len(parts) == 6 and parts[1:4] == ["api", "v1", "tasks"] and parts[5] == "cancel":
            task = self._find(unquote(parts[4]))
            if task is None:
                return _error(404, "not_found", "Task not found")
            task.status = "CANCELLED"
            return _json(200, {"success": True, "task": {"id": task.id}})
        return _error(404, "not_found", "Not found")

    def _find(self, id_or_slug: str) -> Task | None:
        return self.tasks.get(id_or_slug) or next((t for t in self.tasks.values() if t.slug == id_or_slug), None)


def _json(status: int, body: Any) -> Scripted:
    return Scripted(status, json.dumps(body).encode(), {"Content-Type": "application/json"})


def _error(status: int, code: str, message: str) -> Scripted:
    return _json(status, {"error": {"code": code, "message": message}})


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
