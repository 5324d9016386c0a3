"""Every request exactly as it arrived: raw path, query, headers and body bytes."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    raw_path: str
    """Percent-encoding preserved, without the query string."""
    query_string: str
    headers: dict[str, str]
    """Lower-cased names; repeated headers joined with ", "."""
    header_list: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def target(self) -> str:
        return f"{self.raw_path}?{self.query_string}" if self.query_string else self.raw_path

    def json(self) -> Any:
        return json.loads(self.body)


class RequestRecorder:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def add(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]


def _from_scope(scope: Scope, body: bytes) -> RecordedRequest:
    pairs = tuple((name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in scope["headers"])
    headers: dict[str, str] = {}
    for name, value in pairs:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    raw_path = scope.get("raw_path") or scope["path"].encode()
    # Some ASGI servers leave the query on raw_path; the recording keeps them apart either way.
    path, _, query_in_path = raw_path.decode("latin-1").partition("?")
    query = scope.get("query_string", b"").decode("latin-1") or query_in_path
    return RecordedRequest(scope["method"], path, query, headers, pairs, body)


class RecorderMiddleware:
    """Reads the whole body first, records, then replays it to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        disconnected: Message | None = None
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = message
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        recorder: RequestRecorder = scope["app"].state.recorder
        recorder.add(_from_scope(scope, body))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return disconnected or {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
