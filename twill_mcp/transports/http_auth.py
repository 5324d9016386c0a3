"""Who may call the HTTP server, and with which Twill key (`--auth env|passthrough`).

`env`: the key is the server's own (TWILL_API_KEY), as over stdio. Callers prove they may use
it with TWILL_MCP_HTTP_TOKEN when one is set, which the start-up checks require off loopback;
that token is ours and never goes to Twill.

`passthrough`: each request's `Authorization: Bearer <key>` is the caller's own Twill key,
used for that request's calls only. The server's key is never used on a caller's behalf, so
a request without a key is refused here, before anything reaches Twill.

`oauth`: the bearer is an access token this server issued (twill_mcp/transports/oauth/), the caller's
Twill key sealed inside it; anything else, a raw Twill key included, is refused with the challenge that
starts a client's OAuth flow.

The decision is made once per HTTP request, by `InboundAuth`: the caller's key, when the caller
brings one, rides in the ASGI scope under `CALLER_KEY`, where `credentials_for` finds it.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from mcp.server.context import ServerRequestContext
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from twill_mcp.core.config import MIN_KEY_LENGTH, Settings, is_token
from twill_mcp.core.credentials import Credentials, CredentialsFor, server_key, traceparent_of
from twill_mcp.transports.oauth.store import StoreUnavailable

CALLER_KEY = "twill_mcp.caller_key"
# With `--auth oauth`: what ends the caller's grant, for when Twill refuses its key.
CALLER_GRANT_END = "twill_mcp.caller_grant_end"


def bearer(headers: Headers) -> str | None:
    """The token of an `Authorization: Bearer …` header, if it could be a key or token at all."""
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    # As for TWILL_API_KEY: a too-short "key" is none, and scrubbing it would rewrite every message.
    if scheme.lower() != "bearer" or not is_token(token) or len(token) < MIN_KEY_LENGTH:
        return None
    return token


class InboundAuth:
    """Refuses a request without the credential its auth mode needs: 401 with `WWW-Authenticate`.

    Runs before the MCP app, so a refused request never reaches a handler, let alone Twill.
    """

    def __init__(
        self, app: ASGIApp, settings: Settings, *, open_paths: frozenset[str], oauth: OAuthBearer | None = None
    ) -> None:
        self._app = app
        self._passthrough = settings.auth == "passthrough"
        self._oauth = oauth
        token = settings.http_token
        self._token = token.get_secret_value().encode() if token is not None else None
        self._open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._open_paths:
            await self._app(scope, receive, send)
            return
        presented = bearer(Headers(scope=scope))
        if self._oauth is not None:
            try:
                grant = await self._oauth.grant_of(presented) if presented else None
            except StoreUnavailable:
                # Not a 401: that would send the host through sign-in again for a store's hiccup.
                await JSONResponse(
                    {"error": "twill-mcp cannot check tokens right now; send this request again"},
                    status_code=503,
                    headers={"Retry-After": "1"},
                )(scope, receive, send)
                return
            if grant is None:
                await _send_401(self._oauth.challenge(presented is not None), _OAUTH_REFUSAL, send)
                return
            scope[CALLER_KEY], scope[CALLER_GRANT_END] = grant
            await self._app(scope, receive, send)
            return
        problem = self._problem(presented)
        if problem is not None:
            await _unauthorized(problem, send)
            return
        if self._passthrough:
            scope[CALLER_KEY] = SecretStr(presented or "")
        await self._app(scope, receive, send)

    def _problem(self, presented: str | None) -> str | None:
        if self._passthrough:
            return None if presented else "Send your Twill API key as Authorization: Bearer <key>"
        if self._token is None:
            return None
        # Constant-time: the comparison must not tell a caller how much of a guess was right.
        if presented is None or not hmac.compare_digest(presented.encode(), self._token):
            return "Send this server's token as Authorization: Bearer <token>"
        return None


class OAuthBearer(Protocol):
    """What `InboundAuth` asks of the OAuth mode: the key sealed in a token, and the challenge to send instead."""

    async def grant_of(self, token: str) -> tuple[SecretStr, Callable[[], Awaitable[None]]] | None:
        """The key sealed in the token, and what ends its grant; None for anything but a valid access token."""
        ...

    def challenge(self, token_sent: bool) -> str: ...


_OAUTH_REFUSAL = "Sign in: this server's OAuth metadata is named in WWW-Authenticate"


async def _unauthorized(description: str, send: Send) -> None:
    await _send_401('Bearer realm="twill-mcp", error="invalid_token"', description, send)


async def _send_401(challenge: str, description: str, send: Send) -> None:
    body = json.dumps({"error": "invalid_token", "error_description": description}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", challenge.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def credentials_for(settings: Settings) -> CredentialsFor:
    """How a request's Twill credentials are found under the configured auth mode."""
    if settings.auth in ("passthrough", "oauth"):

        def from_request(ctx: ServerRequestContext[Any]) -> Credentials:
            # InboundAuth let the request in only with a key, so a missing one here means no HTTP
            # request at all: then there is no caller's key, and the server's is not a substitute.
            scope = ctx.request.scope if ctx.request is not None else {}
            return Credentials(scope.get(CALLER_KEY), traceparent_of(ctx), on_refused=scope.get(CALLER_GRANT_END))

        return from_request

    return server_key(settings.api_key, settings.api_key_problem)
