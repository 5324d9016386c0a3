"""The OAuth rules that need no server: where a code may be sent, who is pinned, and refresh rotation."""

from __future__ import annotations

import json
import secrets
from importlib import resources

import pytest
from pydantic import AnyUrl, SecretStr

from twill_mcp.transports.oauth.clients import Clients, RegistrationRefused
from twill_mcp.transports.oauth.redirects import acceptable, allowed_for_registration, form_action_source, matches
from twill_mcp.transports.oauth.sealing import Keyring
from twill_mcp.transports.oauth.store import GrantStore, MemoryStore, RedisStore

pytestmark = pytest.mark.anyio

PINNED = json.loads(resources.files("twill_mcp").joinpath("data/oauth-clients.json").read_text("utf-8"))
ALLOWLIST = tuple(PINNED["dcr_allowlist"]["redirect_uris"])
CURSOR = [
    "cursor://anysphere.cursor-mcp/oauth/callback",
    "https://www.cursor.com/agents/mcp/oauth/callback",
    "http://localhost:8787/callback",
]


def clients(dcr: str = "allowlist", extra: tuple[str, ...] = ()) -> Clients:
    return Clients(Keyring(SecretStr(f"k1:{secrets.token_hex(32)}")), cimd="pinned", dcr=dcr, extra_redirects=extra)


# -- redirect URIs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "javascript://x/%0aalert(1)",
        "data://text/html,hi",
        "file:///etc/passwd",
        "https://claude.ai/api/mcp/auth_callback#frag",
        "https://user:pw@claude.ai/api/mcp/auth_callback",
        "http://example.com/callback",
        "relative/path",
    ],
)
def test_script_and_file_schemes_fragments_credentials_and_remote_http_are_never_redirect_targets(uri: str) -> None:
    assert not acceptable(uri)
    assert not allowed_for_registration(uri, ALLOWLIST, open_https=True)


def test_a_loopback_pattern_matches_the_same_path_on_any_port() -> None:
    assert matches("http://localhost/callback", "http://localhost:58135/callback")
    assert matches("http://127.0.0.1:33418/", "http://127.0.0.1:5000/")


def test_a_loopback_pattern_does_not_match_another_path_or_host() -> None:
    assert not matches("http://localhost/callback", "http://localhost:58135/other")
    assert not matches("http://localhost/callback", "http://127.0.0.1:58135/callback")


def test_a_trailing_star_stands_for_exactly_one_path_segment() -> None:
    pattern = "https://chatgpt.com/connector/oauth/*"
    assert matches(pattern, "https://chatgpt.com/connector/oauth/abc123")
    assert not matches(pattern, "https://chatgpt.com/connector/oauth/")
    assert not matches(pattern, "https://chatgpt.com/connector/oauth/a/b")
    assert not matches(pattern, "https://chatgpt.com/connector/oauth/a?next=https://evil.example")


def test_an_https_pattern_matches_only_itself() -> None:
    assert matches("https://claude.ai/api/mcp/auth_callback", "https://claude.ai/api/mcp/auth_callback")
    assert not matches("https://claude.ai/api/mcp/auth_callback", "https://claude.ai/api/mcp/auth_callback2")
    assert not matches("https://claude.ai/api/mcp/auth_callback", "https://claude.ai:8443/api/mcp/auth_callback")


def test_every_pinned_redirect_passes_the_redirect_rules() -> None:
    for client in PINNED["clients"]:
        for uri in client["redirect_uris"]:
            assert acceptable(uri.replace("*", "x")), (client["client_id"], uri)


def test_every_pinned_document_says_when_it_was_copied() -> None:
    for client in PINNED["clients"]:
        assert client["copied"] >= "2026-01-01", client["client_id"]


def test_the_form_action_source_is_the_redirect_origin_or_an_apps_scheme() -> None:
    assert form_action_source("https://claude.ai/api/mcp/auth_callback") == "https://claude.ai"
    assert form_action_source("http://127.0.0.1:5000/cb") == "http://127.0.0.1:5000"
    assert form_action_source("cursor://anysphere.cursor-mcp/oauth/callback") == "cursor:"


# -- registration -------------------------------------------------------------------------------


def test_cursors_three_redirect_uris_register_as_one_client() -> None:
    client = clients().register({"redirect_uris": CURSOR, "token_endpoint_auth_method": "none"})
    assert client.patterns == CURSOR


def test_claudes_registration_asking_for_a_client_secret_gets_one() -> None:
    client = clients().register(
        {
            "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
            "token_endpoint_auth_method": "client_secret_post",
        }
    )
    assert client.client_secret


def test_a_registration_with_one_unlisted_redirect_is_refused_naming_none_of_them() -> None:
    evil = "https://evil.example/cb"
    with pytest.raises(RegistrationRefused) as refused:
        clients().register({"redirect_uris": ["http://localhost:1/cb", evil]})
    assert refused.value.error == "invalid_redirect_uri"
    assert evil not in refused.value.description


def test_open_registration_admits_any_https_redirect() -> None:
    assert clients(dcr="open").register({"redirect_uris": ["https://app.example/cb"]}).patterns


def test_configured_redirects_widen_the_allowlist() -> None:
    widened = clients(extra=("https://app.example/cb",))
    assert widened.register({"redirect_uris": ["https://app.example/cb"]}).patterns == ["https://app.example/cb"]


def test_a_registered_client_id_resolves_to_the_same_client_and_secret() -> None:
    registry = clients()
    client = registry.register({"redirect_uris": ["http://localhost:1/cb"], "client_name": "Mine"})
    again = registry.get(client.client_id or "")
    assert again is not None
    assert (again.client_secret, again.client_name, again.patterns) == (client.client_secret, "Mine", client.patterns)


def test_a_registered_client_id_is_unknown_to_a_server_with_another_secret() -> None:
    client = clients().register({"redirect_uris": ["http://localhost:1/cb"]})
    assert clients().get(client.client_id or "") is None


def test_a_pinned_client_is_known_without_registering_and_marked_verified() -> None:
    claude = clients().get("https://claude.ai/oauth/mcp-oauth-client-metadata")
    assert claude is not None
    assert claude.verified_as == "claude.ai"
    assert str(claude.validate_redirect_uri(AnyUrl("https://claude.com/api/mcp/auth_callback")))


# -- refresh rotation ---------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.slow)])
def clock_and_store(request: pytest.FixtureRequest) -> tuple[Clock, GrantStore]:
    """Each store, with the same oracle: the one in this process and the one in a real Redis."""
    clock = Clock()
    if request.param == "memory":
        return clock, MemoryStore(clock)
    # One server for the session: each test uses ids of its own.
    return clock, RedisStore(request.getfixturevalue("shared_redis").url, clock)


def family() -> str:
    return secrets.token_hex(8)


async def test_each_refresh_moves_the_family_to_the_next_generation(clock_and_store: tuple[Clock, GrantStore]) -> None:
    _, store = clock_and_store
    f = family()
    assert await store.rotate(f, 0, grace=120, ttl=1000) == 1
    assert await store.rotate(f, 1, grace=120, ttl=1000) == 2


async def test_the_previous_generation_refreshes_again_within_the_grace(
    clock_and_store: tuple[Clock, GrantStore],
) -> None:
    clock, store = clock_and_store
    f = family()
    assert await store.rotate(f, 0, grace=120, ttl=1000) == 1
    clock.now += 60
    assert await store.rotate(f, 0, grace=120, ttl=1000) == 1
    assert not await store.revoked(f)


async def test_the_previous_generation_after_the_grace_revokes_the_family(
    clock_and_store: tuple[Clock, GrantStore],
) -> None:
    clock, store = clock_and_store
    f = family()
    await store.rotate(f, 0, grace=120, ttl=1000)
    clock.now += 121
    assert await store.rotate(f, 0, grace=120, ttl=1000) is None
    assert await store.revoked(f)


async def test_an_older_generation_revokes_the_family_at_once(clock_and_store: tuple[Clock, GrantStore]) -> None:
    _, store = clock_and_store
    f = family()
    for generation in range(3):
        await store.rotate(f, generation, grace=120, ttl=1000)
    assert await store.rotate(f, 1, grace=120, ttl=1000) is None
    assert await store.rotate(f, 3, grace=120, ttl=1000) is None


async def test_a_code_is_claimed_once(clock_and_store: tuple[Clock, GrantStore]) -> None:
    _, store = clock_and_store
    jti = family()
    assert await store.claim(jti, 120)
    assert not await store.claim(jti, 120)


async def test_a_revoked_family_stays_revoked(clock_and_store: tuple[Clock, GrantStore]) -> None:
    _, store = clock_and_store
    f = family()
    await store.revoke(f, 1000)
    assert await store.revoked(f)
    assert await store.rotate(f, 0, grace=120, ttl=1000) is None


async def test_a_revocation_in_this_process_is_forgotten_only_after_its_ttl() -> None:
    clock = Clock()
    store = MemoryStore(clock)
    await store.revoke("f", ttl=100)
    clock.now += 99
    assert await store.revoked("f")
    clock.now += 2
    assert not await store.revoked("f")


def test_a_registration_with_too_many_redirect_uris_is_refused() -> None:
    many = [f"http://localhost:{port}/cb" for port in range(1000, 1011)]
    with pytest.raises(RegistrationRefused, match="at most 10"):
        clients().register({"redirect_uris": many})
