"""Who the clients are: pinned Client ID Metadata Documents, and stateless dynamic registrations.

A URL-shaped client id is looked up in the pinned documents (`data/oauth-clients.json`), and, with
`TWILL_MCP_OAUTH_CIMD=fetch`, any other is fetched from its URL under the rules of `documents.py`
and shown on the consent page as unverified. A registered client's id
is its registration, sealed: nothing is stored, so a client that registers on every connection
(claude.ai does) costs nothing, and any replica with the secret knows every client. Its secret, when
it asked for one, is a MAC of its id, so it is never stored either.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from mcp.shared.auth import InvalidRedirectUriError, InvalidScopeError, OAuthClientInformationFull
from pydantic import AnyUrl, Field

from twill_mcp.transports.oauth.documents import DocumentFetcher, is_document_url
from twill_mcp.transports.oauth.redirects import allowed_for_registration, matches
from twill_mcp.transports.oauth.sealing import Keyring, Purpose

CLIENTS_FILE = "oauth-clients.json"
# What a token may be asked for. There are no Twill scopes: "twill" is everything the key can do.
# offline_access is listed in the AS metadata only, because claude.ai asks for whatever is listed there.
SCOPE = "twill"
SCOPES = (SCOPE, "offline_access")
GRANT_TYPES = ["authorization_code", "refresh_token"]
# claude.ai's DCR asks for client_secret_post; CIMD and most native clients are public ("none").
# client_secret_basic is not offered: the SDK's authenticator wants client_id in the form even then.
AUTH_METHODS = ("none", "client_secret_post")
MAX_REDIRECT_URIS = 10
MAX_REDIRECT_URI_LENGTH = 512


class ResolvedClient(OAuthClientInformationFull):
    """A client as the SDK's handlers see it, with our redirect rule and scopes."""

    verified_as: str | None = None
    """For a pinned client: the name the consent page shows as verified. None: whatever it calls itself."""
    patterns: list[str] = Field(default_factory=list)

    def validate_redirect_uri(self, redirect_uri: AnyUrl | None) -> AnyUrl:
        if redirect_uri is None:
            exact = [p for p in self.patterns if not p.endswith("*")]
            if len(self.patterns) == 1 and exact:
                return AnyUrl(exact[0])
            raise InvalidRedirectUriError("redirect_uri must be given: the client registered several")
        if not any(matches(pattern, str(redirect_uri)) for pattern in self.patterns):
            # The URI is not quoted back: an attacker-chosen text has no place in our answers.
            raise InvalidRedirectUriError("redirect_uri is not one this client registered")
        return redirect_uri

    def validate_scope(self, requested_scope: str | None) -> list[str] | None:
        if requested_scope is None:
            return [SCOPE]
        scopes = requested_scope.split()
        unknown = [scope for scope in scopes if scope not in SCOPES]
        if unknown:
            raise InvalidScopeError(f"unknown scope; this server offers {' '.join(SCOPES)}")
        return scopes or [SCOPE]


@dataclass(frozen=True, slots=True)
class Registration:
    """What a dynamically registering client asked for, once the policy allowed it."""

    redirect_uris: list[str]
    client_name: str | None
    auth_method: str


class RegistrationRefused(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class Clients:
    def __init__(
        self,
        keyring: Keyring,
        *,
        cimd: str,
        dcr: str,
        extra_redirects: tuple[str, ...],
        fetcher: DocumentFetcher | None = None,
    ) -> None:
        self._keyring = keyring
        self._fetcher = (fetcher or DocumentFetcher()) if cimd == "fetch" else None
        data = _clients_file()
        self._pinned = {entry["client_id"]: entry for entry in data["clients"]} if cimd != "off" else {}
        self._allowlist = (*data["dcr_allowlist"]["redirect_uris"], *extra_redirects)
        self._dcr = dcr

    @property
    def registration_enabled(self) -> bool:
        return self._dcr != "off"

    async def resolve(self, client_id: str) -> ResolvedClient | None:
        """The client a request names: pinned, registered, or (when enabled) described by its fetched document."""
        client = self.get(client_id)
        if client is None and self._fetcher is not None and is_document_url(client_id):
            await self._fetcher.document(client_id)
            client = self.get(client_id)
        return client

    def get(self, client_id: str) -> ResolvedClient | None:
        if client_id in self._pinned:
            return self._pinned_client(self._pinned[client_id])
        if client_id.startswith(Purpose.CLIENT.value + "_") and self.registration_enabled:
            return self._registered(client_id)
        document = self._fetcher.kept(client_id) if self._fetcher is not None else None
        if document is not None:
            return ResolvedClient(
                client_id=client_id,
                patterns=list(document["redirect_uris"]),
                token_endpoint_auth_method="none",
                grant_types=GRANT_TYPES,
                client_name=document["client_name"],
                scope=" ".join(SCOPES),
            )
        return None

    def register(self, metadata: dict[str, Any]) -> ResolvedClient:
        """Check a registration request against the policy, and mint the client it becomes."""
        uris = metadata.get("redirect_uris")
        if not isinstance(uris, list) or not uris or not all(isinstance(uri, str) for uri in uris):
            raise RegistrationRefused("invalid_redirect_uri", "redirect_uris must be a non-empty list of URIs")
        # The client id carries them all, and travels in every URL and token of the client: keep it small.
        if len(uris) > MAX_REDIRECT_URIS or any(len(uri) > MAX_REDIRECT_URI_LENGTH for uri in uris):
            raise RegistrationRefused(
                "invalid_redirect_uri",
                f"at most {MAX_REDIRECT_URIS} redirect URIs of at most {MAX_REDIRECT_URI_LENGTH} characters each",
            )
        open_https = self._dcr == "open"
        # One refused URI refuses the registration; none is named, so nothing the caller sent is echoed.
        if not all(allowed_for_registration(uri, self._allowlist, open_https=open_https) for uri in uris):
            raise RegistrationRefused(
                "invalid_redirect_uri",
                "a redirect URI is not allowed by this server's policy (loopback, or the known clients' callbacks)",
            )
        grant_types = metadata.get("grant_types") or GRANT_TYPES
        if not isinstance(grant_types, list) or "authorization_code" not in grant_types:
            raise RegistrationRefused("invalid_client_metadata", "grant_types must include authorization_code")
        method = metadata.get("token_endpoint_auth_method") or "client_secret_post"
        if method == "client_secret_basic":
            method = "client_secret_post"  # RFC 7591 §3.2.1 lets the server substitute; basic is not offered
        if method not in AUTH_METHODS:
            raise RegistrationRefused(
                "invalid_client_metadata", f"token_endpoint_auth_method must be one of {AUTH_METHODS}"
            )
        name = metadata.get("client_name")
        payload = {"u": uris, "n": name[:100] if isinstance(name, str) else None, "a": method, "iat": int(time.time())}
        client = self._registered(self._keyring.seal(Purpose.CLIENT, payload))
        assert client is not None
        return client

    def _registered(self, client_id: str) -> ResolvedClient | None:
        payload = self._keyring.open(Purpose.CLIENT, client_id)
        if payload is None:
            return None
        secret = None
        if payload["a"] != "none":
            secret = self._keyring.mac("client-secret:" + client_id, Keyring.kid_of(client_id))
        return ResolvedClient(
            client_id=client_id,
            client_secret=secret,
            client_id_issued_at=payload.get("iat"),
            client_secret_expires_at=0 if secret else None,
            redirect_uris=[AnyUrl(uri) for uri in payload["u"]],
            patterns=list(payload["u"]),
            token_endpoint_auth_method=payload["a"],
            grant_types=GRANT_TYPES,
            client_name=payload.get("n"),
            scope=" ".join(SCOPES),
        )

    def _pinned_client(self, entry: dict[str, Any]) -> ResolvedClient:
        return ResolvedClient(
            client_id=entry["client_id"],
            patterns=list(entry["redirect_uris"]),
            token_endpoint_auth_method=entry["token_endpoint_auth_method"],
            grant_types=GRANT_TYPES,
            client_name=entry["client_name"],
            verified_as=entry["verified_as"],
            scope=" ".join(SCOPES),
        )


def pinned_documents() -> list[dict[str, Any]]:
    """The pinned Client ID Metadata Documents as shipped, each with the date it was copied."""
    documents: list[dict[str, Any]] = _clients_file()["clients"]
    return documents


def _clients_file() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("twill_mcp").joinpath("data", CLIENTS_FILE).read_text("utf-8"))
    return data
