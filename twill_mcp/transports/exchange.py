"""A `tools/call` POST served in one exchange, in both protocol eras: the hot path of the HTTP service.

A stateless POST that carries one tool call needs no session, no stream pair and no dispatcher
task. The SDK's 2025-11-25 path still builds all three for every request (a transport, memory
streams, a task group, a JSON-RPC dispatcher, an SSE response); its 2026-07-28 path passes the
request through Starlette's router and middleware and validates the envelope with pydantic. Here
the body is read and parsed once, the SDK's own single-request entry (`runner.serve_one`, which
its 2026-07-28 path uses) runs the handler chain — middleware, the method's parameter checks, the
tool — and the answer is written as one JSON body; as an SSE stream instead once the call sends a
notification (progress) or has run silent for PING_INTERVAL, as the SDK's own paths do.

Anything else — another method, a notification, GET or DELETE, a request the SDK would refuse
(Host, Origin, Content-Type, Accept, headers that disagree with the body, an unknown protocol
version) — goes to the SDK's app with its body replayed as it came, so that what is refused, and
how, stays the SDK's.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import anyio
from mcp.server.connection import Connection
from mcp.server.lowlevel import Server
from mcp.server.runner import modern_error_data, serve_one
from mcp.server.streamable_http import check_accept_headers
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.exceptions import NoBackChannelError
from mcp.shared.inbound import (
    InboundModernRoute,
    classify_inbound_request,
    find_duplicated_routing_header,
    validate_mcp_param_headers,
)
from mcp.shared.message import ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from mcp_types import DEFAULT_NEGOTIATED_VERSION, INVALID_REQUEST
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PING_INTERVAL = 15.0
"""Seconds a call may run silent before its answer becomes an SSE stream kept open by comment pings
(the SDK's own interval): a proxy's idle-read timeout must not cut a long call."""
METHOD = "tools/call"
_JSON_HEADERS = [(b"content-type", b"application/json")]
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]


class SingleExchange:
    """Serves `tools/call` POSTs on `path` itself; hands everything else to `app`, the SDK's."""

    def __init__(
        self,
        app: ASGIApp,
        server: Server[Any],
        *,
        path: str,
        max_body: int,
        json_response: bool,
        security: TransportSecuritySettings,
    ) -> None:
        self._app = app
        self._server = server
        self._path = path
        self._max_body = max_body
        self._json_response = json_response
        self._security = TransportSecurityMiddleware(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self._path:
            await self._app(scope, receive, send)
            return
        body, whole, pending = await read_body(receive, self._max_body)
        served = False
        if whole:
            request = Request(scope, receive)
            served = await self._serve(request, body, send)
        if served:
            return
        # The app reads the request as it came: the body read so far in one piece, then the rest.
        replay: list[Message] = [{"type": "http.request", "body": body, "more_body": not whole}, *pending]

        async def replayed() -> Message:
            return replay.pop(0) if replay else await receive()

        await self._app(scope, replayed, send)

    async def _serve(self, request: Request, body: bytes, send: Send) -> bool:
        """Answer the request if it is a tool call this path serves; False to leave it to the SDK's app."""
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
            return False
        if not isinstance(message, dict) or "id" not in message or "method" not in message:
            return False
        headers = request.headers
        version = headers.get("mcp-protocol-version")
        legacy = version is None or version in HANDSHAKE_PROTOCOL_VERSIONS
        request_id = message["id"]
        if not _valid_id(request_id):
            if not legacy:
                return False  # the SDK's 2026-07-28 path refuses it itself
            # Its 2025-11-25 path would take the message for a notification: 202 and never an answer.
            await _refuse_id(request_id, send)
            return True
        params = message.get("params")
        if message["method"] != METHOD or message.get("jsonrpc") != "2.0" or not isinstance(params, dict):
            return False
        if await self._security.validate_request(request, is_post=True) is not None:
            return False
        has_json, has_sse = check_accept_headers(request)
        if legacy:
            if not has_json or not (has_sse or self._json_response):
                return False
            connection = Connection.from_envelope(version or DEFAULT_NEGOTIATED_VERSION, None, None)
        else:
            route = self._modern_route(message, params, request)
            if route is None or not has_json or not (has_sse or self._json_response):
                return False
            connection = Connection.from_envelope(route.protocol_version, route.client_info, route.client_capabilities)
        meta = params.get("_meta")
        token = meta.get("progressToken") if isinstance(meta, dict) else None
        exchange = Exchange(request, send, request_id, token, streams=not self._json_response)
        state = self._server.session_manager._lifespan_state  # entered once, by the SDK's app's lifespan
        try:
            try:
                result = await serve_one(
                    self._server, exchange, METHOD, params, connection=connection, lifespan_state=state
                )
                answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "result": result}
            except Exception as exc:  # the SDK's mapping: its own errors as they are, anything else a generic one
                error = modern_error_data(exc).model_dump(mode="json", by_alias=True, exclude_none=True)
                answer = {"jsonrpc": "2.0", "id": request_id, "error": error}
            await exchange.answer(answer)
        finally:
            exchange.close()
        return True

    def _modern_route(
        self, message: dict[str, Any], params: dict[str, Any], request: Request
    ) -> InboundModernRoute | None:
        """The request's era and client, when its headers agree with its body as 2026-07-28 requires."""
        if find_duplicated_routing_header(request.headers.items()) is not None:
            return None
        route = classify_inbound_request(message, headers=request.headers)
        if not isinstance(route, InboundModernRoute):
            return None
        arguments = params.get("arguments")
        name = params.get("name")
        lookup = self._server.get_tool_input_schema
        if isinstance(arguments, Mapping) and isinstance(name, str) and lookup is not None:
            schema = lookup(name)
            if schema is not None and validate_mcp_param_headers(schema, arguments, request.headers) is not None:
                return None
        return route


class Exchange:
    """One tool call's `DispatchContext`: its notifications and its answer go to this POST's response.

    JSON until the call sends a notification or has run for PING_INTERVAL; from then on an SSE stream.
    The back-channel is closed, as on every stateless request: nothing can carry a client's reply.
    """

    can_send_request = False

    def __init__(
        self, request: Request, send: Send, request_id: str | int, progress_token: Any, *, streams: bool
    ) -> None:
        self.transport = TransportContext(kind="streamable-http", can_send_request=False, headers=request.headers)
        self.request_id = request_id
        self.message_metadata = ServerMessageMetadata(request_context=request)
        self._send = send
        self._progress_token = progress_token
        self._streams = streams
        self._streaming = False  # the response is an SSE stream from its first frame on
        self._writer: asyncio.Lock | None = None  # its frames go out one at a time (a ping, a notification)
        self._pinger: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(PING_INTERVAL, self._keep_alive) if streams else None

    @functools.cached_property
    def cancel_requested(self) -> anyio.Event:
        # Never set: a stateless request has no channel for a notifications/cancelled (a client cancels by
        # going away, which CancelOnDisconnect acts on). Made only if asked for: an Event costs a backend lookup.
        return anyio.Event()

    async def send_raw_request(self, method: str, params: Mapping[str, Any] | None, opts: Any = None) -> dict[str, Any]:
        raise NoBackChannelError(method)

    async def notify(self, method: str, params: Mapping[str, Any] | None, opts: Any = None) -> None:
        if not self._streams:
            return  # a JSON response has nowhere to put a notification
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = dict(params)
        await self._event(_sse(message), more=True)

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        if self._progress_token is None:
            return
        params: dict[str, Any] = {"progressToken": self._progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await self.notify("notifications/progress", params)

    async def answer(self, message: dict[str, Any]) -> None:
        self.close()
        if self._streaming:
            await self._event(_sse(message), more=False)
            return
        await _send_json(self._send, HTTPStatus.OK, message)

    def close(self) -> None:
        """No more pings: the call is answered, or was cut off."""
        if self._timer is not None:
            self._timer.cancel()
        if self._pinger is not None:
            self._pinger.cancel()

    async def _event(self, frame: bytes, *, more: bool) -> None:
        if self._writer is None:
            self._writer = asyncio.Lock()
        async with self._writer:
            if not self._streaming:
                self._streaming = True
                await self._send({"type": "http.response.start", "status": HTTPStatus.OK, "headers": _SSE_HEADERS})
            await self._send({"type": "http.response.body", "body": frame, "more_body": more})

    def _keep_alive(self) -> None:
        self._pinger = asyncio.get_running_loop().create_task(self._ping())

    async def _ping(self) -> None:
        while True:
            await self._event(b": ping\r\n\r\n", more=True)
            await asyncio.sleep(PING_INTERVAL)


def _sse(message: dict[str, Any]) -> bytes:
    return b"event: message\r\ndata: " + _json(message) + b"\r\n\r\n"


def _valid_id(request_id: Any) -> bool:
    """MCP's rule for a request's id: a string or an integer, never null (nor a boolean, which JSON tells apart)."""
    return isinstance(request_id, str) or (isinstance(request_id, int) and not isinstance(request_id, bool))


async def _refuse_id(request_id: Any, send: Send) -> None:
    problem = f"A request's id must be a string or an integer, not {json.dumps(request_id)[:40]}."
    error = {"code": INVALID_REQUEST, "message": problem}
    await _send_json(send, HTTPStatus.BAD_REQUEST, {"jsonrpc": "2.0", "id": None, "error": error})


async def _send_json(send: Send, status: HTTPStatus, message: dict[str, Any]) -> None:
    body = _json(message)
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _json(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


async def read_body(receive: Receive, limit: int) -> tuple[bytes, bool, list[Message]]:
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
