"""The OAuth endpoints, wired: metadata, registration, /authorize, /token, /revoke and the consent page.

The SDK's /authorize and /token handlers are used with three additions it lacks: `iss` on every
authorization response (RFC 9207, errors included), the `resource` parameter checked at /token
(RFC 8707; the SDK parses and ignores it), and the AS metadata fields real clients look for
(`client_id_metadata_document_supported` and `"none"`: without both claude.ai silently uses DCR).
Registration and revocation are ours: the SDK mints stored client ids, and requires a client secret
to revoke, which public clients do not have.
"""

from __future__ import annotations

import functools
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.auth.handlers.authorize import AuthorizationHandler
from mcp.server.auth.handlers.metadata import MetadataHandler, ProtectedResourceMetadataHandler
from mcp.server.auth.handlers.token import TokenHandler
from mcp.server.auth.middleware.client_auth import ClientAuthenticator
from mcp.server.auth.provider import construct_redirect_uri
from mcp.server.auth.routes import (
    AUTHORIZATION_PATH,
    REGISTRATION_PATH,
    REVOCATION_PATH,
    TOKEN_PATH,
    build_metadata,
    build_resource_metadata_url,
    cors_middleware,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.transport_security import RequestBodyLimitMiddleware
from mcp.shared.auth import OAuthMetadata, ProtectedResourceMetadata
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response
from starlette.types import ASGIApp

from twill_mcp.core.config import Settings
from twill_mcp.transports.oauth.clients import AUTH_METHODS, SCOPE, SCOPES, Clients, RegistrationRefused
from twill_mcp.transports.oauth.consent import AttemptLimit, ConsentPage
from twill_mcp.transports.oauth.keycheck import KeyChecker
from twill_mcp.transports.oauth.provider import CONSENT_PATH, Lifetimes, Provider
from twill_mcp.transports.oauth.sealing import Keyring
from twill_mcp.transports.oauth.store import MemoryStore, RedisStore, StoreUnavailable
from twill_mcp.upstream.http import TwillHttp

PRM_ROOT = "/.well-known/oauth-protected-resource"
ASM_PATH = "/.well-known/oauth-authorization-server"
MAX_FORM_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
UNAVAILABLE = {"error": "temporarily_unavailable", "error_description": "the shared store did not answer; try again"}
RESOURCE_NAME = "Twill (twill-mcp)"


@dataclass(frozen=True)
class OAuth:
    """Everything `--auth oauth` adds to the HTTP service."""

    provider: Provider
    routes: list[Route]
    resource_metadata_url: str

    @property
    def open_paths(self) -> frozenset[str]:
        """Paths a client reaches without a bearer token: every OAuth endpoint."""
        return frozenset(route.path for route in self.routes)

    async def grant_of(self, token: str) -> tuple[SecretStr, Callable[[], Awaitable[None]]] | None:
        access = await self.provider.access(token)
        if access is None:
            return None
        return access.twill_key, functools.partial(self.provider.revoke_family, access.family)

    def challenge(self, token_sent: bool) -> str:
        """RFC 6750 §3 with RFC 9728's pointer to the metadata, and the scope to ask for (the SDK omits it)."""
        challenge = f'Bearer resource_metadata="{self.resource_metadata_url}", scope="{SCOPE}"'
        if token_sent:
            challenge += ', error="invalid_token", error_description="the token is invalid, expired or revoked"'
        return challenge


def build_oauth(settings: Settings) -> OAuth:
    # check_auth_mode made sure of both
    assert settings.public_url is not None
    assert settings.oauth_secrets is not None
    issuer = settings.public_url
    # Strings in, and AuthSettings' own parsed values out: a bare AnyHttpUrl would append "/" to the issuer,
    # and clients compare it with the one they derived, exactly.
    auth = AuthSettings.model_validate(
        {
            "issuer_url": issuer,
            "resource_server_url": issuer + settings.path,
            "validate_token_resource": True,
            "client_registration_options": ClientRegistrationOptions(
                enabled=settings.oauth_dcr != "off", valid_scopes=list(SCOPES), default_scopes=[SCOPE]
            ),
            "revocation_options": RevocationOptions(enabled=True),
            "required_scopes": [SCOPE],
        }
    )
    keyring = Keyring(settings.oauth_secrets)
    clients = Clients(
        keyring, cimd=settings.oauth_cimd, dcr=settings.oauth_dcr, extra_redirects=settings.oauth_redirect_allow
    )
    check_key = KeyChecker(TwillHttp(settings))
    provider = Provider(
        issuer=issuer,
        resource=issuer + settings.path,
        keyring=keyring,
        clients=clients,
        store=RedisStore(settings.redis_url.get_secret_value()) if settings.redis_url else MemoryStore(),
        check_key=check_key,
        lifetimes=Lifetimes(
            access=settings.oauth_access_ttl,
            refresh=settings.oauth_refresh_ttl,
            grant=settings.oauth_grant_ttl,
            grace=settings.oauth_refresh_grace,
        ),
    )
    assert auth.resource_server_url is not None
    prm_url = str(build_resource_metadata_url(auth.resource_server_url))
    prm = ProtectedResourceMetadata(
        resource=auth.resource_server_url,
        authorization_servers=[auth.issuer_url],
        scopes_supported=[SCOPE],  # never offline_access here (2026-07-28, SEP-2207)
        resource_name=RESOURCE_NAME,
    )
    prm_handler = cors_middleware(ProtectedResourceMetadataHandler(prm).handle, ["GET", "OPTIONS"])
    consent = ConsentPage(provider, check_key, AttemptLimit(settings.oauth_consent_attempts))
    authenticator = ClientAuthenticator(provider)
    token = ResourceCheckedTokens(provider, authenticator)
    routes = [
        Route(ASM_PATH, cors_middleware(MetadataHandler(_metadata(auth, settings)).handle, ["GET", "OPTIONS"])),
        Route(prm_url.removeprefix(issuer), prm_handler, methods=["GET", "OPTIONS"]),
        Route(PRM_ROOT, prm_handler, methods=["GET", "OPTIONS"]),
        Route(
            AUTHORIZATION_PATH,
            _limited(_with_iss(AuthorizationHandler(provider).handle, issuer)),
            methods=["GET", "POST"],
        ),
        Route(TOKEN_PATH, _cors(_limited(request_response(token.handle))), methods=["POST", "OPTIONS"]),
        Route(
            REVOCATION_PATH, _cors(_limited(request_response(Revocation(provider).handle))), methods=["POST", "OPTIONS"]
        ),
        Route(CONSENT_PATH, _limited(request_response(consent.handle)), methods=["GET", "POST"]),
    ]
    if clients.registration_enabled:
        register = Registration(clients)
        routes.append(
            Route(REGISTRATION_PATH, _cors(_limited(request_response(register.handle))), methods=["POST", "OPTIONS"])
        )
    return OAuth(provider, routes, prm_url)


def _metadata(auth: AuthSettings, settings: Settings) -> OAuthMetadata:
    assert auth.client_registration_options is not None
    assert auth.revocation_options is not None
    metadata = build_metadata(auth.issuer_url, None, auth.client_registration_options, auth.revocation_options)
    metadata.client_id_metadata_document_supported = settings.oauth_cimd != "off"
    metadata.authorization_response_iss_parameter_supported = True
    metadata.token_endpoint_auth_methods_supported = list(AUTH_METHODS)
    metadata.revocation_endpoint_auth_methods_supported = list(AUTH_METHODS)
    return metadata


def _cors(app: ASGIApp) -> ASGIApp:
    from mcp.server.auth.routes import _cors as sdk_cors

    return sdk_cors(app, ["POST", "OPTIONS"])


def _limited(app: ASGIApp) -> ASGIApp:
    return RequestBodyLimitMiddleware(app, MAX_FORM_BYTES)


def _with_iss(handle: Callable[[Request], Awaitable[Response]], issuer: str) -> ASGIApp:
    """The SDK's /authorize, with `iss` added to the redirects it makes itself (its errors): RFC 9207 wants it
    on every authorization response, and a client that saw it advertised refuses one without it."""

    async def handle_with_iss(request: Request) -> Response:
        response = await handle(request)
        location = response.headers.get("location")
        if response.status_code == 302 and location and not location.startswith(issuer + CONSENT_PATH):
            response.headers["location"] = construct_redirect_uri(location, iss=issuer)
        return response

    return request_response(handle_with_iss)


class ResourceCheckedTokens(TokenHandler):
    """The SDK's /token, refusing a `resource` that is not this server (RFC 8707 `invalid_target`)."""

    async def handle(self, request: Request) -> Response:
        form = await request.form()  # Starlette keeps the parsed form: the SDK's handler reads the same one
        resource = form.get("resource")
        provider = self.provider
        assert isinstance(provider, Provider)
        if isinstance(resource, str) and not provider.for_us(resource):
            body = {"error": "invalid_target", "error_description": "resource must be this MCP server's URL"}
            return JSONResponse(body, status_code=400, headers=NO_STORE)
        try:
            response: Response = await super().handle(request)
        except StoreUnavailable:
            return JSONResponse(UNAVAILABLE, status_code=503, headers={**NO_STORE, "Retry-After": "1"})
        return response


@dataclass(frozen=True)
class Registration:
    """RFC 7591 dynamic registration, stateless: the client id is the registration, sealed."""

    clients: Clients

    async def handle(self, request: Request) -> Response:
        try:
            metadata = json.loads(await request.body())
        except ValueError:
            return _registration_error("invalid_client_metadata", "the body must be a JSON object")
        if not isinstance(metadata, dict):
            return _registration_error("invalid_client_metadata", "the body must be a JSON object")
        try:
            client = self.clients.register(metadata)
        except RegistrationRefused as refused:
            return _registration_error(refused.error, refused.description)
        answer: dict[str, Any] = {
            "client_id": client.client_id,
            "client_id_issued_at": client.client_id_issued_at or int(time.time()),
            "redirect_uris": client.patterns,
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "grant_types": client.grant_types,
            "response_types": ["code"],
            "scope": client.scope,
        }
        if client.client_name:
            answer["client_name"] = client.client_name
        if client.client_secret:
            answer |= {"client_secret": client.client_secret, "client_secret_expires_at": 0}
        if isinstance(metadata.get("application_type"), str):
            answer["application_type"] = metadata["application_type"]
        return JSONResponse(answer, status_code=201, headers=NO_STORE)


def _registration_error(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400, headers=NO_STORE)


@dataclass(frozen=True)
class Revocation:
    """RFC 7009 for public clients too: a client with a secret must give it, one without need not."""

    provider: Provider

    async def handle(self, request: Request) -> Response:
        form = await request.form()
        client_id, token = form.get("client_id"), form.get("token")
        if not isinstance(token, str) or not token:
            return JSONResponse({"error": "invalid_request", "error_description": "token is required"}, 400, NO_STORE)
        client = await self.provider.get_client(client_id) if isinstance(client_id, str) else None
        if client is None:
            return JSONResponse({"error": "invalid_client", "error_description": "unknown client"}, 401, NO_STORE)
        if client.client_secret:
            given = form.get("client_secret")
            if not isinstance(given, str) or not hmac.compare_digest(given.encode(), client.client_secret.encode()):
                return JSONResponse(
                    {"error": "invalid_client", "error_description": "wrong client secret"}, 401, NO_STORE
                )
        family = self.provider.family_of(token, client.client_id or "")
        if family is not None:
            try:
                await self.provider.revoke_family(family)
            except StoreUnavailable:
                return JSONResponse(UNAVAILABLE, status_code=503, headers={**NO_STORE, "Retry-After": "1"})
        # 200 whatever the token was (RFC 7009 §2.2): the answer says nothing about tokens it does not know.
        return Response(status_code=200, headers=NO_STORE)
