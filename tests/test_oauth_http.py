"""`--auth oauth` over real sockets: discovery, registration, /authorize, the consent page, /token, /revoke, and
a token's sealed key reaching Twill; every security case of issue 19 as its own test.

The browser's part is plain HTTP here (`tests/oauth_harness.py`); every answer any test receives is
scanned for the keys and the secret.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.conftest import call, error_of
from tests.fake_twill import Scripted
from tests.http_thread import MODERN, envelope, era_headers, mcp_client, stopped_cleanly
from tests.oauth_harness import (
    CLAUDE_CODE,
    CONSENTED_KEY,
    LOOPBACK_CALLBACK,
    OTHER_KEY,
    SECRET,
    OAuthService,
    Pkce,
    authorize_url,
    browser,
    free_port,
    hidden_fields,
    open_consent,
    redirect_params,
    register,
    running_oauth,
    sign_in,
    submit,
    token,
)
from twill_mcp.core.config import Settings
from twill_mcp.core.errors import ConfigError
from twill_mcp.transports.http import check_auth_mode

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True, scope="module")
def _servers_stop() -> Iterator[None]:
    yield
    stopped_cleanly()


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with browser() as client:
        yield client


def bearer(access_token: str) -> dict[str, str]:
    return {**era_headers(MODERN), "Authorization": f"Bearer {access_token}"}


def list_tools(service: OAuthService, http: httpx2.Client, access_token: str) -> httpx2.Response:
    return http.post(service.url, json=envelope(MODERN), headers=bearer(access_token))


def refresh(http: httpx2.Client, service: OAuthService, client: dict[str, str], refresh_token: str) -> httpx2.Response:
    return token(http, service.issuer, client, grant_type="refresh_token", refresh_token=refresh_token)


# -- discovery ----------------------------------------------------------------------------------


def test_the_authorization_server_metadata_names_the_issuer_exactly_as_the_public_url(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    metadata = http.get(oauth_service.issuer + "/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == oauth_service.issuer
    assert metadata["authorization_endpoint"] == oauth_service.issuer + "/authorize"


def test_the_metadata_offers_client_id_documents_public_clients_iss_and_revocation(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    metadata = http.get(oauth_service.issuer + "/.well-known/oauth-authorization-server").json()
    assert metadata["client_id_metadata_document_supported"] is True
    assert "none" in metadata["token_endpoint_auth_methods_supported"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["revocation_endpoint"] == oauth_service.issuer + "/revoke"
    assert "none" in metadata["revocation_endpoint_auth_methods_supported"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]


@pytest.mark.parametrize("path", ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"])
def test_the_protected_resource_metadata_names_the_resource_and_its_server(
    oauth_service: OAuthService, http: httpx2.Client, path: str
) -> None:
    metadata = http.get(oauth_service.issuer + path).json()
    assert metadata["resource"] == oauth_service.url
    assert metadata["authorization_servers"] == [oauth_service.issuer]
    assert "offline_access" not in metadata["scopes_supported"]


def test_a_request_without_a_token_is_challenged_with_the_metadata_url_and_scope(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    answer = http.post(oauth_service.url, json=envelope(MODERN), headers=era_headers(MODERN))
    assert answer.status_code == 401
    challenge = answer.headers["www-authenticate"]
    assert f'resource_metadata="{oauth_service.issuer}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert 'scope="twill"' in challenge
    assert "error=" not in challenge


def test_a_raw_twill_key_is_no_bearer_here(oauth_service: OAuthService, http: httpx2.Client) -> None:
    oauth_service.fake.reset()
    answer = list_tools(oauth_service, http, CONSENTED_KEY)
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    assert oauth_service.fake.requests == []


def test_a_refresh_token_is_no_bearer(oauth_service: OAuthService, http: httpx2.Client) -> None:
    tokens = sign_in(http, oauth_service.issuer, register(http, oauth_service.issuer))
    assert list_tools(oauth_service, http, tokens["refresh_token"]).status_code == 401


def test_a_tampered_access_token_is_refused(oauth_service: OAuthService, http: httpx2.Client) -> None:
    access = sign_in(http, oauth_service.issuer, register(http, oauth_service.issuer))["access_token"]
    middle = len(access) // 2
    tampered = access[:middle] + ("A" if access[middle] != "A" else "B") + access[middle + 1 :]
    assert list_tools(oauth_service, http, tampered).status_code == 401


def test_a_token_of_another_deployment_with_the_same_secret_is_refused(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    access = sign_in(http, oauth_service.issuer, register(http, oauth_service.issuer))["access_token"]
    with running_oauth(oauth_service.fake) as other:
        assert list_tools(other, http, access).status_code == 401


# -- /authorize ---------------------------------------------------------------------------------


def test_plain_pkce_is_refused_and_the_error_redirect_carries_iss(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    url = authorize_url(oauth_service.issuer, client["client_id"], Pkce.make(), code_challenge_method="plain")
    params = redirect_params(http.get(url))
    assert params["error"] == "invalid_request"
    assert params["iss"] == oauth_service.issuer
    assert params["state"] == "state-123"


def test_a_resource_other_than_this_server_is_invalid_target_with_iss(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    url = authorize_url(oauth_service.issuer, client["client_id"], Pkce.make(), resource="https://other.example/mcp")
    params = redirect_params(http.get(url))
    assert (params["error"], params["iss"]) == ("invalid_target", oauth_service.issuer)


def test_the_resource_matches_whatever_the_case_of_scheme_and_host(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    shouted = oauth_service.url.replace("http://", "HTTP://")
    answer = http.get(authorize_url(oauth_service.issuer, client["client_id"], Pkce.make(), resource=shouted))
    assert urlsplit(answer.headers["location"]).path == "/consent"


def test_an_unregistered_redirect_uri_is_a_400_and_no_redirect(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    url = authorize_url(oauth_service.issuer, client["client_id"], Pkce.make(), redirect_uri="https://evil.example/cb")
    answer = http.get(url)
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "evil.example" not in answer.text


def test_an_unknown_client_is_a_400_and_no_redirect(oauth_service: OAuthService, http: httpx2.Client) -> None:
    answer = http.get(authorize_url(oauth_service.issuer, "tmcl_k1_forged", Pkce.make()))
    assert answer.status_code == 400
    assert "location" not in answer.headers


def test_a_pinned_client_id_needs_no_registration_and_returns_to_loopback_on_any_port(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    url = authorize_url(oauth_service.issuer, CLAUDE_CODE, Pkce.make(), redirect_uri="http://localhost:58135/callback")
    page = open_consent(http, url)
    assert "Claude Code</strong> (verified)" in page.text


# -- the consent page ---------------------------------------------------------------------------


def test_the_consent_page_names_a_registered_client_as_unverified_and_the_host_it_returns_to(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer, client_name="Claude")
    page = open_consent(http, authorize_url(oauth_service.issuer, client["client_id"], Pkce.make()))
    assert '<strong>Claude</strong> <span class="warn">(unverified' in page.text
    assert '<p class="host">127.0.0.1</p>' in page.text
    assert 'type="password"' in page.text
    assert "Twill API key" in page.text


def test_the_client_name_is_shown_as_text_never_as_markup(oauth_service: OAuthService, http: httpx2.Client) -> None:
    client = register(http, oauth_service.issuer, client_name="<script>alert(1)</script>")
    page = open_consent(http, authorize_url(oauth_service.issuer, client["client_id"], Pkce.make()))
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text


def test_the_consent_page_cannot_be_framed_cached_sniffed_or_leak_a_referrer(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    headers = open_consent(http, authorize_url(oauth_service.issuer, client["client_id"], Pkce.make())).headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    # Not no-referrer: Chromium then posts the form with `Origin: null`.
    assert headers["referrer-policy"] == "same-origin"


def test_the_consent_page_may_send_its_form_only_here_and_to_the_redirect_origin(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    headers = open_consent(http, authorize_url(oauth_service.issuer, client["client_id"], Pkce.make())).headers
    assert "form-action 'self' http://127.0.0.1:43117;" in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]


def test_approving_with_a_key_twill_accepts_redirects_with_a_code_the_state_and_iss(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    page = open_consent(http, authorize_url(oauth_service.issuer, client["client_id"], Pkce.make()))
    answer = submit(http, page, CONSENTED_KEY)
    assert answer.headers["location"].startswith(LOOPBACK_CALLBACK + "?")
    params = redirect_params(answer)
    assert params["code"].startswith("tmc_")
    assert (params["state"], params["iss"]) == ("state-123", oauth_service.issuer)


def test_the_key_is_checked_with_twills_auth_me_through_the_request_path(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    page = open_consent(http, authorize_url(oauth_service.issuer, client["client_id"], Pkce.make()))
    oauth_service.fake.reset()
    submit(http, page, CONSENTED_KEY)
    [check] = oauth_service.fake.requests
    assert (check.method, check.raw_path) == ("GET", "/api/v1/auth/me")
    assert check.headers["authorization"] == f"Bearer {CONSENTED_KEY}"
    assert check.headers["user-agent"].startswith("twill-mcp/")


def test_a_key_twill_refuses_re_renders_the_page_saying_so_without_echoing_it(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    wrong = "twk_wrong_" + secrets.token_hex(16)
    client = register(http, oauth_service.issuer)
    page = open_consent(http, authorize_url(oauth_service.issuer, client["client_id"], Pkce.make()))
    answer = submit(http, page, wrong)
    assert answer.status_code == 200
    assert "Twill did not accept this API key" in answer.text
    assert wrong not in answer.text
    # The form is there to try again, with the same request.
    assert hidden_fields(answer.text)["req"] == hidden_fields(page.text)["req"]


def test_twill_being_busy_re_renders_the_page_asking_to_try_again(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    page = open_consent(http, authorize_url(oauth_service.issuer, client["client_id"], Pkce.make()))
    retries = oauth_service.settings.max_retries
    oauth_service.fake.then(*[Scripted(status=503) for _ in range(retries + 1)])
    answer = submit(http, page, CONSENTED_KEY)
    assert answer.status_code == 200
    assert "Twill is busy" in answer.text


def test_deny_redirects_with_access_denied_the_state_and_iss(oauth_service: OAuthService, http: httpx2.Client) -> None:
    client = register(http, oauth_service.issuer)
    page = open_consent(http, authorize_url(oauth_service.issuer, client["client_id"], Pkce.make()))
    oauth_service.fake.reset()
    params = redirect_params(submit(http, page, "", action="deny"))
    assert params == {"error": "access_denied", "state": "state-123", "iss": oauth_service.issuer}
    assert oauth_service.fake.requests == []


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["other-origin", "null-origin", "cross-site"],
)
def test_a_consent_post_a_browser_marks_as_from_elsewhere_is_refused(
    oauth_service: OAuthService, http: httpx2.Client, headers: dict[str, str]
) -> None:
    client = register(http, oauth_service.issuer)
    page = open_consent(http, authorize_url(oauth_service.issuer, client["client_id"], Pkce.make()))
    oauth_service.fake.reset()
    answer = submit(http, page, CONSENTED_KEY, **headers)
    assert answer.status_code == 403
    assert oauth_service.fake.requests == []


def test_a_consent_post_without_the_pages_cookie_is_refused(oauth_service: OAuthService, http: httpx2.Client) -> None:
    client = register(http, oauth_service.issuer)
    page = open_consent(http, authorize_url(oauth_service.issuer, client["client_id"], Pkce.make()))
    with browser() as attacker:
        answer = submit(attacker, page, CONSENTED_KEY)
    assert answer.status_code == 403


def test_a_csrf_token_of_another_consent_request_is_refused(oauth_service: OAuthService, http: httpx2.Client) -> None:
    client = register(http, oauth_service.issuer)
    first = open_consent(http, authorize_url(oauth_service.issuer, client["client_id"], Pkce.make()))
    second = open_consent(http, authorize_url(oauth_service.issuer, client["client_id"], Pkce.make()))
    form = {**hidden_fields(second.text), "csrf": hidden_fields(first.text)["csrf"], "key": CONSENTED_KEY}
    answer = http.post(oauth_service.issuer + "/consent", data={**form, "action": "approve"})
    assert answer.status_code == 403


def test_a_forged_consent_request_is_refused(oauth_service: OAuthService, http: httpx2.Client) -> None:
    answer = http.get(oauth_service.issuer + "/consent?req=tmq_k1_forged")
    assert answer.status_code == 400
    assert "expired or is not valid" in answer.text


def test_key_checks_past_the_per_address_limit_are_refused_without_asking_twill(http: httpx2.Client) -> None:
    with running_oauth(oauth_consent_attempts=2) as service:
        client = register(http, service.issuer)
        page = open_consent(http, authorize_url(service.issuer, client["client_id"], Pkce.make()))
        for _ in range(2):
            submit(http, page, "twk_guess_" + secrets.token_hex(8))
        service.fake.reset()
        answer = submit(http, page, CONSENTED_KEY)
        assert answer.status_code == 429
        assert service.fake.requests == []


# -- /token -------------------------------------------------------------------------------------


def consented_code(http: httpx2.Client, service: OAuthService, client: dict[str, str], pkce: Pkce) -> str:
    page = open_consent(http, authorize_url(service.issuer, client["client_id"], pkce))
    return redirect_params(submit(http, page, CONSENTED_KEY))["code"]


def redeem(
    http: httpx2.Client, service: OAuthService, client: dict[str, str], code: str, verifier: str
) -> httpx2.Response:
    return token(
        http,
        service.issuer,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=LOOPBACK_CALLBACK,
        code_verifier=verifier,
    )


def test_a_code_is_redeemed_once(oauth_service: OAuthService, http: httpx2.Client) -> None:
    client, pkce = register(http, oauth_service.issuer), Pkce.make()
    code = consented_code(http, oauth_service, client, pkce)
    assert redeem(http, oauth_service, client, code, pkce.verifier).status_code == 200
    again = redeem(http, oauth_service, client, code, pkce.verifier)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


def test_a_wrong_code_verifier_is_refused_and_does_not_burn_the_code(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client, pkce = register(http, oauth_service.issuer), Pkce.make()
    code = consented_code(http, oauth_service, client, pkce)
    wrong = redeem(http, oauth_service, client, code, Pkce.make().verifier)
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert redeem(http, oauth_service, client, code, pkce.verifier).status_code == 200


def test_a_code_of_one_client_is_refused_for_another(oauth_service: OAuthService, http: httpx2.Client) -> None:
    client, pkce = register(http, oauth_service.issuer), Pkce.make()
    code = consented_code(http, oauth_service, client, pkce)
    thief = register(http, oauth_service.issuer)
    assert redeem(http, oauth_service, thief, code, pkce.verifier).json()["error"] == "invalid_grant"


def test_a_resource_other_than_this_server_at_the_token_endpoint_is_invalid_target(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client, pkce = register(http, oauth_service.issuer), Pkce.make()
    code = consented_code(http, oauth_service, client, pkce)
    answer = token(
        http,
        oauth_service.issuer,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=LOOPBACK_CALLBACK,
        code_verifier=pkce.verifier,
        resource="https://other.example/mcp",
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_target")


def test_a_client_registered_with_a_secret_must_send_it(oauth_service: OAuthService, http: httpx2.Client) -> None:
    client = register(http, oauth_service.issuer, token_endpoint_auth_method="client_secret_post")
    assert client["client_secret"]
    pkce = Pkce.make()
    code = consented_code(http, oauth_service, client, pkce)
    answer = redeem(http, oauth_service, {"client_id": client["client_id"]}, code, pkce.verifier)
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")


def test_a_refresh_rotates_both_tokens_and_the_new_access_token_works(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    first = sign_in(http, oauth_service.issuer, client)
    answer = refresh(http, oauth_service, client, first["refresh_token"])
    assert answer.status_code == 200
    second = answer.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert list_tools(oauth_service, http, second["access_token"]).status_code == 200


def test_a_refresh_checks_the_key_with_twill_again(oauth_service: OAuthService, http: httpx2.Client) -> None:
    client = register(http, oauth_service.issuer)
    first = sign_in(http, oauth_service.issuer, client)
    oauth_service.fake.reset()
    refresh(http, oauth_service, client, first["refresh_token"])
    assert [request.raw_path for request in oauth_service.fake.requests] == ["/api/v1/auth/me"]


def test_two_parallel_refreshes_of_one_token_both_succeed_within_the_grace(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    first = sign_in(http, oauth_service.issuer, client)
    one = refresh(http, oauth_service, client, first["refresh_token"])
    two = refresh(http, oauth_service, client, first["refresh_token"])
    assert (one.status_code, two.status_code) == (200, 200)
    assert list_tools(oauth_service, http, one.json()["access_token"]).status_code == 200


def test_replaying_an_older_refresh_token_revokes_the_whole_grant(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    first = sign_in(http, oauth_service.issuer, client)
    second = refresh(http, oauth_service, client, first["refresh_token"]).json()
    third = refresh(http, oauth_service, client, second["refresh_token"]).json()
    replay = refresh(http, oauth_service, client, first["refresh_token"])
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    assert list_tools(oauth_service, http, third["access_token"]).status_code == 401
    assert refresh(http, oauth_service, client, third["refresh_token"]).status_code == 400


def test_a_refresh_after_the_key_was_revoked_at_twill_ends_the_grant(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    doomed = "twk_doomed_" + secrets.token_hex(16)
    oauth_service.fake.admit(doomed)
    client = register(http, oauth_service.issuer)
    tokens = sign_in(http, oauth_service.issuer, client, key=doomed)
    oauth_service.fake.revoke(doomed)
    answer = refresh(http, oauth_service, client, tokens["refresh_token"])
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
    assert list_tools(oauth_service, http, tokens["access_token"]).status_code == 401


def test_an_access_token_expires_after_its_lifetime_and_a_refresh_brings_a_working_one(http: httpx2.Client) -> None:
    with running_oauth(oauth_access_ttl=1) as service:
        client = register(http, service.issuer)
        tokens = sign_in(http, service.issuer, client)
        assert tokens["expires_in"] == 1
        time.sleep(2.1)
        assert list_tools(service, http, tokens["access_token"]).status_code == 401
        fresh = refresh(http, service, client, tokens["refresh_token"]).json()
        assert list_tools(service, http, fresh["access_token"]).status_code == 200


# -- /revoke -------------------------------------------------------------------------------------


def test_a_public_client_revokes_its_access_token_without_a_secret(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    tokens = sign_in(http, oauth_service.issuer, client)
    answer = http.post(
        oauth_service.issuer + "/revoke", data={"client_id": client["client_id"], "token": tokens["access_token"]}
    )
    assert answer.status_code == 200
    assert list_tools(oauth_service, http, tokens["access_token"]).status_code == 401


def test_revoking_the_refresh_token_ends_its_access_tokens_too(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    client = register(http, oauth_service.issuer)
    tokens = sign_in(http, oauth_service.issuer, client)
    http.post(
        oauth_service.issuer + "/revoke", data={"client_id": client["client_id"], "token": tokens["refresh_token"]}
    )
    assert list_tools(oauth_service, http, tokens["access_token"]).status_code == 401
    assert refresh(http, oauth_service, client, tokens["refresh_token"]).status_code == 400


def test_another_clients_token_is_not_revoked(oauth_service: OAuthService, http: httpx2.Client) -> None:
    client, other = register(http, oauth_service.issuer), register(http, oauth_service.issuer)
    tokens = sign_in(http, oauth_service.issuer, client)
    answer = http.post(
        oauth_service.issuer + "/revoke", data={"client_id": other["client_id"], "token": tokens["access_token"]}
    )
    assert answer.status_code == 200
    assert list_tools(oauth_service, http, tokens["access_token"]).status_code == 200


# -- registration ---------------------------------------------------------------------------------


def test_a_registration_with_a_redirect_outside_the_policy_is_refused(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    answer = http.post(oauth_service.issuer + "/register", json={"redirect_uris": ["https://evil.example/cb"]})
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_redirect_uri")
    assert "evil.example" not in answer.text


def test_a_javascript_redirect_is_refused_even_with_open_registration(http: httpx2.Client) -> None:
    with running_oauth(oauth_dcr="open") as service:
        answer = http.post(service.issuer + "/register", json={"redirect_uris": ["javascript://x/%0aalert(1)"]})
    assert answer.json()["error"] == "invalid_redirect_uri"


# -- tool calls -----------------------------------------------------------------------------------


async def test_a_tool_call_with_the_token_reaches_twill_with_the_consented_key(
    oauth_service: OAuthService, protocol_mode: str
) -> None:
    with browser() as http:
        tokens = sign_in(http, oauth_service.issuer, register(http, oauth_service.issuer))
    oauth_service.fake.reset()
    async with mcp_client(
        oauth_service.url, protocol_mode, {"Authorization": f"Bearer {tokens['access_token']}"}
    ) as client:
        result = await call(client, "get_current_user", {})
    assert not result.is_error
    [request] = oauth_service.fake.requests
    assert request.headers["authorization"] == f"Bearer {CONSENTED_KEY}"


async def doomed_grant(service: OAuthService) -> dict[str, str]:
    """Tokens for a key that Twill then revokes."""
    doomed = "twk_doomed_" + secrets.token_hex(16)
    service.fake.admit(doomed)
    with browser() as http:
        tokens = sign_in(http, service.issuer, register(http, service.issuer), key=doomed)
    service.fake.revoke(doomed)
    return tokens


async def test_a_tool_call_after_the_key_was_revoked_at_twill_says_to_reconnect(oauth_service: OAuthService) -> None:
    tokens = await doomed_grant(oauth_service)
    async with mcp_client(oauth_service.url, MODERN, {"Authorization": f"Bearer {tokens['access_token']}"}) as client:
        result = await call(client, "get_current_user", {})
    error = error_of(result)
    assert error["status"] == 401
    assert "reconnect the Twill connector" in error["hint"]


async def test_a_key_revoked_at_twill_ends_the_grant_so_the_next_request_is_challenged(
    oauth_service: OAuthService,
) -> None:
    tokens = await doomed_grant(oauth_service)
    async with mcp_client(oauth_service.url, MODERN, {"Authorization": f"Bearer {tokens['access_token']}"}) as client:
        await call(client, "get_current_user", {})
    with browser() as http:
        assert list_tools(oauth_service, http, tokens["access_token"]).status_code == 401


def test_two_users_tokens_each_reach_twill_with_their_own_key(oauth_service: OAuthService, http: httpx2.Client) -> None:
    mine = sign_in(http, oauth_service.issuer, register(http, oauth_service.issuer))
    theirs = sign_in(http, oauth_service.issuer, register(http, oauth_service.issuer), key=OTHER_KEY)
    oauth_service.fake.reset()
    for tokens in (mine, theirs):
        body = envelope(MODERN, "tools/call", {"name": "get_current_user", "arguments": {}})
        http.post(
            oauth_service.url,
            json=body,
            headers={**bearer(tokens["access_token"]), "Mcp-Method": "tools/call", "Mcp-Name": "get_current_user"},
        )
    keys = [request.headers["authorization"] for request in oauth_service.fake.requests]
    assert keys == [f"Bearer {CONSENTED_KEY}", f"Bearer {OTHER_KEY}"]


# -- secret rotation ------------------------------------------------------------------------------


def test_tokens_issued_before_a_secret_rotation_keep_working_after_it(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    # The same public URL (so the same resource), the keyring now sealing with a new secret.
    port = free_port()
    with running_oauth(oauth_service.fake, port=port) as before:
        client = register(http, before.issuer)
        tokens = sign_in(http, before.issuer, client)
    stopped_cleanly()
    rotated = f"k2:{secrets.token_hex(32)},k1:{SECRET}"
    with running_oauth(oauth_service.fake, port=port, oauth_secrets=rotated) as after:
        assert list_tools(after, http, tokens["access_token"]).status_code == 200
        renewed = refresh(http, after, client, tokens["refresh_token"]).json()
        assert renewed["access_token"].startswith("tma_k2_")


def test_tokens_of_a_secret_dropped_from_the_keyring_are_refused(
    oauth_service: OAuthService, http: httpx2.Client
) -> None:
    port = free_port()
    with running_oauth(oauth_service.fake, port=port) as before:
        tokens = sign_in(http, before.issuer, register(http, before.issuer))
    stopped_cleanly()
    with running_oauth(oauth_service.fake, port=port, oauth_secrets=f"k2:{secrets.token_hex(32)}") as after:
        assert list_tools(after, http, tokens["access_token"]).status_code == 401


# -- start-up --------------------------------------------------------------------------------------


def oauth_mode(**values: object) -> Settings:
    base: dict[str, object] = {
        "auth": "oauth",
        "public_url": "https://mcp.example.com",
        "oauth_secrets": f"k1:{SECRET}",
    }
    base |= {"allowed_hosts": "mcp.example.com"}
    return Settings.load({}, **{**base, **values})


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"public_url": ""}, "TWILL_MCP_PUBLIC_URL"),
        ({"oauth_secrets": ""}, "openssl rand -hex 32"),
        ({"allowed_hosts": "other.example.com"}, "--allowed-hosts"),
        ({"workers": 2}, "--workers above 1 needs TWILL_MCP_REDIS_URL"),
        ({"http_token": "inbound_" + secrets.token_hex(8)}, "TWILL_MCP_HTTP_TOKEN applies to --auth env only"),
    ],
    ids=["no-public-url", "no-secret", "host-not-allowed", "workers", "http-token"],
)
def test_oauth_mode_refuses_to_start_without_what_it_needs_saying_what_to_set(
    change: dict[str, object], says: str
) -> None:
    settings = oauth_mode(**change)
    if change.get("public_url") == "":
        settings = settings.model_copy(update={"public_url": None})
    if change.get("oauth_secrets") == "":
        settings = settings.model_copy(update={"oauth_secrets": None})
    with pytest.raises(ConfigError, match=says.replace("-", "\\-")):
        check_auth_mode(settings)


def test_oauth_mode_with_its_settings_starts() -> None:
    check_auth_mode(oauth_mode())


# -- logs ------------------------------------------------------------------------------------------


def test_a_whole_flow_logs_no_key_secret_or_token(
    oauth_service: OAuthService, http: httpx2.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = register(http, oauth_service.issuer)
    tokens = sign_in(http, oauth_service.issuer, client)
    refreshed = refresh(http, oauth_service, client, tokens["refresh_token"]).json()
    list_tools(oauth_service, http, refreshed["access_token"])
    logged = caplog.text
    for secret in (CONSENTED_KEY, SECRET, tokens["access_token"], tokens["refresh_token"], refreshed["access_token"]):
        assert secret not in logged
