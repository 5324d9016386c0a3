"""The Python SDK's own OAuth client (`mcp.client.auth`, the closest local stand-in for claude.ai's discovery)
through the whole flow on real sockets, in both eras: discovery from the 401, registration (DCR, or a pinned
Client ID Metadata Document), the consent page posted as a browser posts it, the code exchanged with PKCE and
`iss` checked, then tool calls that reach Twill with the consented key, a refresh, and a revocation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from tests.conftest import call
from tests.http_thread import stopped_cleanly
from tests.oauth_harness import (
    CLAUDE_CODE,
    CONSENTED_KEY,
    OAuthService,
    browser,
    open_consent,
    redirect_params,
    running_oauth,
    submit,
)

pytestmark = pytest.mark.anyio
CALLBACK = "http://localhost:43118/callback"
ACCESS_SECONDS = 4


@pytest.fixture(autouse=True, scope="module")
def _servers_stop() -> Iterator[None]:
    yield
    stopped_cleanly()


class Storage:
    """The SDK's token storage, in memory: what a host keeps between connections."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class User:
    """The person at the browser: opens the authorization URL the client hands over, pastes the key, approves."""

    def __init__(self, key: str = CONSENTED_KEY) -> None:
        self.key = key
        self.callback: dict[str, str] = {}
        self.consents = 0

    async def open(self, authorization_url: str) -> None:
        self.callback = await anyio.to_thread.run_sync(self._consent, authorization_url)
        self.consents += 1

    def _consent(self, authorization_url: str) -> dict[str, str]:
        with browser() as http:
            return redirect_params(submit(http, open_consent(http, authorization_url), self.key))

    async def come_back(self) -> AuthorizationCodeResult:
        return AuthorizationCodeResult(**self.callback)


def oauth_client(service: OAuthService, user: User, storage: Storage, **options: Any) -> OAuthClientProvider:
    metadata = OAuthClientMetadata(
        redirect_uris=[AnyUrl(CALLBACK)],
        client_name="SDK test client",
        grant_types=["authorization_code", "refresh_token"],
    )
    return OAuthClientProvider(
        service.url, metadata, storage, redirect_handler=user.open, callback_handler=user.come_back, **options
    )


async def current_user(service: OAuthService, mode: str, auth: OAuthClientProvider) -> dict[str, Any]:
    async with (
        httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(30, read=60)) as http,
        Client(streamable_http_client(service.url, http_client=http), mode=mode) as client,
    ):
        result = await call(client, "get_current_user", {})
    assert not result.is_error, result
    assert result.structured_content is not None
    return result.structured_content


async def test_the_sdk_client_registers_consents_and_calls_a_tool_with_the_consented_key(
    oauth_service: OAuthService, protocol_mode: str
) -> None:
    user, storage = User(), Storage()
    oauth_service.fake.reset()
    await current_user(oauth_service, protocol_mode, oauth_client(oauth_service, user, storage))
    assert storage.client is not None
    assert storage.client.client_id.startswith("tmcl_")
    assert user.consents == 1
    tool_call = oauth_service.fake.requests[-1]
    assert tool_call.headers["authorization"] == f"Bearer {CONSENTED_KEY}"


async def test_the_sdk_client_uses_a_pinned_client_id_metadata_document_without_registering(
    oauth_service: OAuthService, protocol_mode: str
) -> None:
    user, storage = User(), Storage()
    auth = oauth_client(oauth_service, user, storage, client_metadata_url=CLAUDE_CODE)
    await current_user(oauth_service, protocol_mode, auth)
    assert storage.client is not None
    assert storage.client.client_id == CLAUDE_CODE


async def test_a_second_connection_reuses_the_stored_token_without_asking_the_user(
    oauth_service: OAuthService, protocol_mode: str
) -> None:
    user, storage = User(), Storage()
    for _ in range(2):
        await current_user(oauth_service, protocol_mode, oauth_client(oauth_service, user, storage))
    assert user.consents == 1


async def test_the_sdk_client_refreshes_an_expired_access_token_without_asking_the_user(protocol_mode: str) -> None:
    # Long enough that the first connection is over before the token expires, even on a loaded machine:
    # a token expiring mid-connection is answered 401, which sends the SDK through consent, not refresh.
    with running_oauth(oauth_access_ttl=ACCESS_SECONDS) as service:
        user, storage = User(), Storage()
        # One client object, as a host keeps it: it knows when its token expires (a 401 instead sends it
        # through consent again: the SDK does not refresh on a 401).
        auth = oauth_client(service, user, storage)
        await current_user(service, protocol_mode, auth)
        first = storage.tokens
        await anyio.sleep(ACCESS_SECONDS + 0.5)
        service.fake.reset()
        await current_user(service, protocol_mode, auth)
        assert user.consents == 1
        assert storage.tokens is not None
        assert first is not None
        assert storage.tokens.refresh_token != first.refresh_token
        # The refresh asked Twill about the key again, then the call went through with it.
        paths = [request.raw_path for request in service.fake.requests]
        assert paths == ["/api/v1/auth/me", "/api/v1/auth/me"]


async def test_after_revocation_the_sdk_client_is_sent_through_consent_again(
    oauth_service: OAuthService, protocol_mode: str
) -> None:
    user, storage = User(), Storage()
    await current_user(oauth_service, protocol_mode, oauth_client(oauth_service, user, storage))
    assert storage.tokens is not None
    assert storage.client is not None
    with browser() as http:
        revoked = http.post(
            oauth_service.issuer + "/revoke",
            data={"client_id": storage.client.client_id, "token": storage.tokens.refresh_token or ""}
            | ({"client_secret": storage.client.client_secret} if storage.client.client_secret else {}),
        )
    assert revoked.status_code == 200
    await current_user(oauth_service, protocol_mode, oauth_client(oauth_service, user, storage))
    assert user.consents == 2
