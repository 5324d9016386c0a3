"""ASGI wrappers around the SDK's streamable HTTP app, for what it leaves to the server."""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus

import anyio
from mcp_types import INVALID_REQUEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
