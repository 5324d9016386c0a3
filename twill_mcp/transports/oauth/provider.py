"""The SDK's `OAuthAuthorizationServerProvider`, over sealed tokens: what its /authorize and /token handlers ask.

The SDK checks PKCE, redirect URIs, expiry and scope narrowing; this decides what is in a token and
whether it may be used: the resource it is for, the code used only once, the refresh rotation with
its grace, the family revoked on replay, and the key checked again with Twill on refresh.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    IdentityAssertionParams,
    RefreshToken,
    TokenError,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyUrl, SecretStr

from twill_mcp.transports.oauth.clients import SCOPE, Clients, ResolvedClient
from twill_mcp.transports.oauth.keycheck import KeyChecker, Verdict
from twill_mcp.transports.oauth.sealing import Keyring, Purpose
from twill_mcp.transports.oauth.store import GrantStore

CODE_SECONDS = 60
REQUEST_SECONDS = 600
CONSENT_PATH = "/consent"


class Code(AuthorizationCode):
    twill_key: SecretStr
    jti: str


class Refresh(RefreshToken):
    twill_key: SecretStr
    family: str
    generation: int
    grant_expires_at: int


class Access(AccessToken):
    twill_key: SecretStr
    family: str


@dataclass(frozen=True, slots=True)
class Lifetimes:
    access: int
    refresh: int
    grant: int
    grace: int

    @property
    def longest(self) -> int:
        """How long any token of a grant may live: how long its revocation must be remembered."""
        return max(self.access, self.refresh)


def canonical_resource(uri: str) -> tuple[str, str, str, str]:
    """A resource URI as compared: scheme and host in any case, a trailing slash or not (RFC 8707, the MCP spec)."""
    parts = urlsplit(uri.strip())
    return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query


class Provider:
    def __init__(
        self,
        *,
        issuer: str,
        resource: str,
        keyring: Keyring,
        clients: Clients,
        store: GrantStore,
        check_key: KeyChecker,
        lifetimes: Lifetimes,
    ) -> None:
        self.issuer = issuer
        self.resource = resource
        self._resource = canonical_resource(resource)
        self.keyring = keyring
        self.clients = clients
        self.store = store
        self._check_key = check_key
        self.lifetimes = lifetimes

    def for_us(self, resource: str | None) -> bool:
        """A `resource` parameter names this server (or was left out, which means this server too)."""
        return resource is None or canonical_resource(resource) == self._resource

    # -- clients ----------------------------------------------------------------------------------

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return await self.clients.resolve(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        # Registration has its own handler (routes.register): a sealed id needs no storing.
        raise NotImplementedError

    # -- /authorize → the consent page ----------------------------------------------------------

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        if not self.for_us(params.resource):
            raise AuthorizeError("invalid_target", "resource must be this MCP server's URL")
        request = {
            "cid": client.client_id,
            "ru": str(params.redirect_uri),
            "rx": params.redirect_uri_provided_explicitly,
            "st": params.state,
            "scp": params.scopes or [SCOPE],
            "cc": params.code_challenge,
            "exp": int(time.time()) + REQUEST_SECONDS,
        }
        # The sealed request holds no key: query strings end up in logs and browser history.
        return f"{self.issuer}{CONSENT_PATH}?{urlencode({'req': self.keyring.seal(Purpose.REQUEST, request)})}"

    def consent_request(self, sealed: str) -> dict[str, Any] | None:
        return self.keyring.open(Purpose.REQUEST, sealed)

    def client_of(self, request: dict[str, Any]) -> ResolvedClient | None:
        return self.clients.get(str(request["cid"]))

    def mint_code(self, request: dict[str, Any], twill_key: str, subject: str) -> str:
        payload = {
            "k": twill_key,
            "cid": request["cid"],
            "ru": request["ru"],
            "rx": request["rx"],
            "scp": request["scp"],
            "cc": request["cc"],
            "sub": subject,
            "jti": secrets.token_urlsafe(16),
            "exp": int(time.time()) + CODE_SECONDS,
        }
        return self.keyring.seal(Purpose.CODE, payload)

    # -- /token -------------------------------------------------------------------------------------

    async def load_authorization_code(self, client: OAuthClientInformationFull, authorization_code: str) -> Code | None:
        payload = self.keyring.open(Purpose.CODE, authorization_code)
        if payload is None or payload["cid"] != client.client_id:
            return None
        return Code(
            code=authorization_code,
            scopes=payload["scp"],
            expires_at=payload["exp"],
            client_id=payload["cid"],
            code_challenge=payload["cc"],
            redirect_uri=AnyUrl(payload["ru"]),
            redirect_uri_provided_explicitly=payload["rx"],
            resource=self.resource,
            subject=payload["sub"],
            twill_key=SecretStr(payload["k"]),
            jti=payload["jti"],
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: Code
    ) -> OAuthToken:
        # Claimed only now, after the SDK checked the PKCE verifier: a wrong verifier does not burn the code.
        if not await self.store.claim(authorization_code.jti, CODE_SECONDS * 2):
            raise TokenError("invalid_grant", "authorization code was already used")
        now = int(time.time())
        family = secrets.token_urlsafe(12)
        grant_expires = now + self.lifetimes.grant
        return self._tokens(
            authorization_code.twill_key.get_secret_value(),
            client.client_id or "",
            authorization_code.scopes,
            authorization_code.subject or "",
            family,
            generation=0,
            grant_expires=grant_expires,
        )

    async def exchange_identity_assertion(
        self, client: OAuthClientInformationFull, params: IdentityAssertionParams
    ) -> OAuthToken:
        raise TokenError("unsupported_grant_type", "only authorization_code and refresh_token are offered")

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> Refresh | None:
        payload = self.keyring.open(Purpose.REFRESH, refresh_token)
        if payload is None or payload["cid"] != client.client_id or payload["aud"] != self.resource:
            return None
        if await self.store.revoked(payload["fam"]):
            return None
        return Refresh(
            token=refresh_token, **_granted(payload), generation=payload["gen"], grant_expires_at=payload["gexp"]
        )

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: Refresh, scopes: list[str]
    ) -> OAuthToken:
        lifetimes = self.lifetimes
        generation = await self.store.rotate(
            refresh_token.family, refresh_token.generation, lifetimes.grace, lifetimes.longest
        )
        if generation is None:
            raise TokenError("invalid_grant", "refresh token was already used; the grant is revoked, sign in again")
        key = refresh_token.twill_key.get_secret_value()
        # Only a definite no from Twill ends the grant: when Twill is busy, every tool call is checked by it anyway.
        if (await self._check_key(key)).verdict is Verdict.REFUSED:
            await self.revoke_family(refresh_token.family)
            raise TokenError("invalid_grant", "Twill no longer accepts the API key; connect again with a current key")
        return self._tokens(
            key,
            client.client_id or "",
            scopes,
            refresh_token.subject or "",
            refresh_token.family,
            generation=generation,
            grant_expires=refresh_token.grant_expires_at,
        )

    def _tokens(
        self,
        key: str,
        client_id: str,
        scopes: list[str],
        subject: str,
        family: str,
        *,
        generation: int,
        grant_expires: int,
    ) -> OAuthToken:
        now = int(time.time())
        access_expires = min(now + self.lifetimes.access, grant_expires)
        common = {"k": key, "cid": client_id, "aud": self.resource, "scp": scopes, "fam": family, "sub": subject}
        access = self.keyring.seal(Purpose.ACCESS, {**common, "iat": now, "exp": access_expires})
        refresh_expires = min(now + self.lifetimes.refresh, grant_expires)
        refresh = self.keyring.seal(
            Purpose.REFRESH, {**common, "gen": generation, "gexp": grant_expires, "exp": refresh_expires}
        )
        return OAuthToken(
            access_token=access,
            token_type="Bearer",
            expires_in=access_expires - now,
            scope=" ".join(scopes),
            refresh_token=refresh,
        )

    # -- the bearer on /mcp, and /revoke --------------------------------------------------------------

    async def load_access_token(self, token: str) -> Access | None:
        return await self.access(token)

    async def access(self, token: str) -> Access | None:
        """The access token a request carries, if it is one of ours, for this resource, and not revoked."""
        payload = self.keyring.open(Purpose.ACCESS, token)
        if payload is None or payload["aud"] != self.resource or await self.store.revoked(payload["fam"]):
            return None
        return Access(token=token, **_granted(payload))

    def family_of(self, token: str, client_id: str) -> str | None:
        """The grant a token of `client_id` belongs to, whether it is an access or a refresh token."""
        for purpose in (Purpose.ACCESS, Purpose.REFRESH):
            payload = self.keyring.open(purpose, token)
            if payload is not None and payload["cid"] == client_id:
                return str(payload["fam"])
        return None

    async def revoke_token(self, token: Access | Refresh) -> None:
        await self.revoke_family(token.family)

    async def revoke_family(self, family: str) -> None:
        await self.store.revoke(family, self.lifetimes.longest)


def _granted(payload: dict[str, Any]) -> dict[str, Any]:
    """What an access and a refresh token both say of their grant, from the sealed payload."""
    return {
        "client_id": payload["cid"],
        "scopes": payload["scp"],
        "expires_at": payload["exp"],
        "resource": payload["aud"],
        "subject": payload["sub"],
        "twill_key": SecretStr(payload["k"]),
        "family": payload["fam"],
    }
