"""Client ID Metadata Documents fetched from their URL (`TWILL_MCP_OAUTH_CIMD=fetch`), and what is never fetched.

The resolver and the HTTP transport are injected: the addresses a name resolves to are the test's to
choose, and every request that would leave is recorded instead.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx2
import pytest
from mcp.shared.auth import InvalidRedirectUriError
from pydantic import AnyUrl, SecretStr

from twill_mcp.transports.oauth.clients import Clients
from twill_mcp.transports.oauth.documents import MAX_DOCUMENT_BYTES, DocumentFetcher
from twill_mcp.transports.oauth.sealing import Keyring

pytestmark = pytest.mark.anyio

CLIENT_ID = "https://app.example.com/oauth/client.json"
PUBLIC = "93.184.216.34"
DOCUMENT = {
    "client_id": CLIENT_ID,
    "client_name": "Example Agent",
    "redirect_uris": ["https://app.example.com/callback", "http://127.0.0.1/callback"],
    "token_endpoint_auth_method": "none",
}


class Upstream:
    """Where fetches would go: each request recorded, each answered as the test scripted."""

    def __init__(self, body: Any = DOCUMENT, status: int = 200, content_type: str = "application/json") -> None:
        self.requests: list[httpx2.Request] = []
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self._answer = httpx2.Response(status, headers={"Content-Type": content_type}, content=raw)

    def transport(self) -> httpx2.MockTransport:
        def handle(request: httpx2.Request) -> httpx2.Response:
            self.requests.append(request)
            return self._answer

        return httpx2.MockTransport(handle)


def resolving_to(*addresses: str) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def clients(upstream: Upstream, *addresses: str, cimd: str = "fetch", clock: Any = None) -> Clients:
    fetcher = DocumentFetcher(
        resolve=resolving_to(*(addresses or (PUBLIC,))),
        transport=upstream.transport(),
        **({"clock": clock} if clock else {}),
    )
    keyring = Keyring(SecretStr(f"k1:{secrets.token_hex(32)}"))
    return Clients(keyring, cimd=cimd, dcr="allowlist", extra_redirects=(), fetcher=fetcher)


async def test_a_document_at_a_public_address_describes_an_unverified_public_client() -> None:
    upstream = Upstream()
    client = await clients(upstream).resolve(CLIENT_ID)
    assert client is not None
    assert client.client_name == "Example Agent"
    assert client.verified_as is None
    assert client.token_endpoint_auth_method == "none"
    assert str(client.validate_redirect_uri(AnyUrl("https://app.example.com/callback"))) == DOCUMENT["redirect_uris"][0]
    with pytest.raises(InvalidRedirectUriError):
        client.validate_redirect_uri(AnyUrl("https://elsewhere.example.com/callback"))


async def test_the_request_goes_to_the_address_that_was_checked_with_the_hosts_name() -> None:
    upstream = Upstream()
    await clients(upstream).resolve(CLIENT_ID)
    [request] = upstream.requests
    assert request.url.host == PUBLIC
    assert request.headers["host"] == "app.example.com"
    assert request.extensions["sni_hostname"] == "app.example.com"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.7",
        "192.168.1.1",
        "172.16.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fc00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
async def test_a_host_resolving_to_a_non_public_address_is_never_fetched(address: str) -> None:
    upstream = Upstream()
    assert await clients(upstream, address).resolve(CLIENT_ID) is None
    assert upstream.requests == []


async def test_one_non_public_address_among_public_ones_is_enough_to_refuse() -> None:
    upstream = Upstream()
    assert await clients(upstream, PUBLIC, "127.0.0.1").resolve(CLIENT_ID) is None
    assert upstream.requests == []


@pytest.mark.parametrize(
    "client_id",
    [
        "http://app.example.com/oauth/client.json",
        "https://app.example.com",
        "https://app.example.com/",
        "https://user:pw@app.example.com/client.json",
        "https://app.example.com/client.json#x",
        "https://127.0.0.1/client.json",
        "https://app.example.com/" + "x" * 600,
    ],
)
async def test_a_client_id_not_shaped_as_a_public_https_document_is_never_fetched(client_id: str) -> None:
    upstream = Upstream({**DOCUMENT, "client_id": client_id})
    assert await clients(upstream).resolve(client_id) is None
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("upstream", "why"),
    [
        (Upstream({**DOCUMENT, "client_id": "https://other.example.com/client.json"}), "names another client"),
        (Upstream({**DOCUMENT, "redirect_uris": ["javascript:alert(1)"]}), "a script redirect"),
        (Upstream({**DOCUMENT, "redirect_uris": ["http://evil.example.com/cb"]}), "plain http off loopback"),
        (Upstream({**DOCUMENT, "redirect_uris": []}), "no redirect URIs"),
        (Upstream({**DOCUMENT, "token_endpoint_auth_method": "private_key_jwt"}), "an auth method not offered"),
        (Upstream(b"x" * (MAX_DOCUMENT_BYTES + 1)), "too large"),
        (Upstream(b"{not json"), "not JSON"),
        (Upstream(content_type="text/html"), "not application/json"),
        (Upstream(status=302), "a redirect, which is not followed"),
        (Upstream(status=404), "not found"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
async def test_a_document_that_breaks_the_rules_is_not_used(upstream: Upstream, why: str) -> None:
    assert await clients(upstream).resolve(CLIENT_ID) is None, why
    assert len(upstream.requests) == 1


async def test_a_document_is_fetched_once_while_it_is_kept() -> None:
    upstream = Upstream()
    registry = clients(upstream)
    for _ in range(5):
        assert await registry.resolve(CLIENT_ID) is not None
    assert len(upstream.requests) == 1


async def test_a_refusal_is_kept_too_so_a_client_id_cannot_make_the_server_fetch_on_every_hit() -> None:
    upstream = Upstream(status=404)
    registry = clients(upstream)
    for _ in range(5):
        assert await registry.resolve(CLIENT_ID) is None
    assert len(upstream.requests) == 1


async def test_a_kept_document_is_fetched_again_once_it_is_old() -> None:
    now = [0.0]
    upstream = Upstream()
    registry = clients(upstream, clock=lambda: now[0])
    await registry.resolve(CLIENT_ID)
    now[0] += 601
    await registry.resolve(CLIENT_ID)
    assert len(upstream.requests) == 2


async def test_with_pinned_documents_only_an_unknown_client_id_is_never_fetched() -> None:
    upstream = Upstream()
    assert await clients(upstream, cimd="pinned").resolve(CLIENT_ID) is None
    assert upstream.requests == []
