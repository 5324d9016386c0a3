"""ASGI wrappers around the SDK's streamable HTTP app, for what it leaves to the server."""

from __future__ import annotations

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
        body_read = anyio.Event()
        gone = anyio.Event()
        answered = False

        async def app_receive() -> Message:
            if body_read.is_set():
                # Only the watcher reads the connection now; the app learns of the disconnect from it.
                await gone.wait()
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
            elif not message.get("more_body", False):
                body_read.set()
            return message

        async def app_send(message: Message) -> None:
            nonlocal answered
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True

        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                await body_read.wait()
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone.set()
                if not answered:
                    logger.info("client disconnected before the answer: cancelling its request")
                    tg.cancel_scope.cancel()

            tg.start_soon(watch)
            await self._app(scope, app_receive, app_send)
            tg.cancel_scope.cancel()


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
