"""ASGI wrappers around the SDK's streamable HTTP app, for what it leaves to the server."""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus

import anyio
from mcp_types import INVALID_REQUEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twill_mcp.transports.eras import MODERN

logger = logging.getLogger(__name__)


class CancelOnDisconnect:
    """A client that goes away mid-call cancels the call, and with it the request to Twill.

    Once the request body is in, the connection is watched for `http.disconnect`; on one,
    the request's handling is cancelled, as `notifications/cancelled` does over stdio.
    The SDK does this itself only for 2026-07-28 SSE responses.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        with anyio.CancelScope() as handling:
            watch = _Watch(receive, send, handling)
            try:
                await self._app(scope, watch.receive, watch.send)
            finally:
                watch.stop()


class _Watch:
    """One request's connection, watched by a bare asyncio task once the body is in.

    Not an anyio task group: its task, events and cancelling the watcher at the end cost
    ~45 µs a request, a few percent of a whole call. uvicorn runs on asyncio, and the task
    cannot outlive the request: `stop` ends it.
    """

    __slots__ = ("_answered", "_handling", "_receive", "_send", "_watcher")

    def __init__(self, receive: Receive, send: Send, handling: anyio.CancelScope) -> None:
        self._receive = receive
        self._send = send
        self._handling = handling
        self._watcher: asyncio.Task[Message] | None = None
        self._answered = False

    async def receive(self) -> Message:
        if self._watcher is not None:
            # Only the watcher reads the connection now; the app learns of the disconnect from it.
            # Shielded: the app giving up on its own wait must not end the watching.
            return await asyncio.shield(self._watcher)
        message = await self._receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            self._watcher = asyncio.create_task(self._watch())
        return message

    async def send(self, message: Message) -> None:
        await self._send(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self._answered = True

    async def _watch(self) -> Message:
        while (message := await self._receive())["type"] != "http.disconnect":
            pass
        if not self._answered:
            logger.info("client disconnected before the answer: cancelling its request")
            self._handling.cancel()
        return message

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()


class JsonRpcRefusals:
    """The SDK's plain-text refusals (wrong Content-Type, foreign Host or Origin, body too large)
    as JSON-RPC errors with the same status, so every client can parse why it was refused."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        held: Message | None = None
        text = b""

        async def app_send(message: Message) -> None:
            nonlocal held, text
            if message["type"] == "http.response.start" and _plain_refusal(message):
                held = message
                return
            if held is None:
                await send(message)
                return
            text += message.get("body", b"")
            if message.get("more_body", False):
                return
            error = {
                "code": INVALID_REQUEST,
                "message": text.decode("utf-8", "replace") or HTTPStatus(held["status"]).phrase,
            }
            body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()
            headers = [(k, v) for k, v in held["headers"] if k.lower() not in (b"content-type", b"content-length")]
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({**held, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self._app(scope, receive, app_send)


def _plain_refusal(start: Message) -> bool:
    if not 400 <= start["status"] < 500 or start["status"] == 401:
        return False
    content_type = dict(start.get("headers", [])).get(b"content-type", b"")
    return not content_type or content_type.startswith(b"text/plain")


class RequestIds:
    """A request whose `id` is neither a string nor an integer is answered 400 Invalid Request.

    MCP requires one of the two (never null). The SDK's 2025-11-25 path, failing to read such a
    message as a request, took it for a notification: `202 Accepted` and no answer ever, so the
    client waited forever. The 2026-07-28 path refuses it itself, and is left to do so.
    """

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self._app = app
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or _modern(scope):
            await self._app(scope, receive, send)
            return
        body, whole, pending = await _read_body(receive, self._max_body)
        if whole and (problem := _bad_id(body)) is not None:
            answer = {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": problem}}
            payload = json.dumps(answer).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
            await send({"type": "http.response.start", "status": HTTPStatus.BAD_REQUEST, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return
        # The app reads the request as it came: the body read so far in one piece, then the rest.
        replay: list[Message] = [{"type": "http.request", "body": body, "more_body": not whole}, *pending]

        async def replayed() -> Message:
            return replay.pop(0) if replay else await receive()

        await self._app(scope, replayed, send)


def _modern(scope: Scope) -> bool:
    return any(name == b"mcp-protocol-version" and value == MODERN.encode() for name, value in scope["headers"])


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool, list[Message]]:
    """The body read up to its end, or until it passes `limit` or the client goes: (body, whole, what ended it)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False, [message]
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True, []
        if size > limit:
            return b"".join(chunks), False, []  # the app reads the rest, and refuses it as too large


def _bad_id(body: bytes) -> str | None:
    """What is wrong with the request's id, or None when it is fine or not a request (the SDK judges the rest)."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or "method" not in message or "id" not in message:
        return None
    request_id = message["id"]
    if isinstance(request_id, str) or (isinstance(request_id, int) and not isinstance(request_id, bool)):
        return None
    return f"A request's id must be a string or an integer, not {json.dumps(request_id)[:40]}."
