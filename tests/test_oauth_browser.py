"""The consent page in a real headless Chromium (Debian's, driven by Playwright; no browser is downloaded).

What only a browser shows: that the form post carries an `Origin` the page accepts (a `no-referrer` policy
would make it `null`), that the CSP lets the post's redirect go back to the client, that a framed page is
blocked, and that a refused key is not put back into the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.http_thread import stopped_cleanly
from tests.oauth_harness import (
    CONSENTED_KEY,
    LOOPBACK_CALLBACK,
    OAuthService,
    Pkce,
    authorize_url,
    browser,
    register,
    token,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def _servers_stop() -> Iterator[None]:
    yield
    stopped_cleanly()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context()
    context.set_default_timeout(10_000)  # a blocked post or redirect shows as a timeout: fail soon
    yield context.new_page()
    context.close()


def consent_in_browser(page: Page, service: OAuthService, pkce: Pkce) -> dict[str, Any]:
    """A registered client sends the user's browser to /authorize; the consent page is then open."""
    with browser() as http:
        client = register(http, service.issuer)
    page.goto(authorize_url(service.issuer, client["client_id"], pkce))
    return client


def test_a_refused_key_then_the_right_one_completes_the_flow_in_chromium(
    page: Page, oauth_service: OAuthService
) -> None:
    pkce = Pkce.make()
    client = consent_in_browser(page, oauth_service, pkce)
    p = page
    p.fill("#key", "twk_wrong_0123456789abcdef0123")
    p.click("button[value=approve]")
    assert p.locator("[role=alert]").inner_text().startswith("Twill did not accept this API key")
    assert p.input_value("#key") == ""
    # The client's loopback listener, answered by the test: the browser must be allowed to get there.
    p.route(LOOPBACK_CALLBACK + "*", lambda route: route.fulfill(status=200, body="signed in"))
    p.fill("#key", CONSENTED_KEY)
    with p.expect_request(lambda request: request.url.startswith(LOOPBACK_CALLBACK)) as arrived:
        p.click("button[value=approve]")
    params = {k: v[0] for k, v in parse_qs(urlsplit(arrived.value.url).query).items()}
    assert (params["state"], params["iss"]) == ("state-123", oauth_service.issuer)
    with browser() as http:
        exchanged = token(
            http,
            oauth_service.issuer,
            client,
            grant_type="authorization_code",
            code=params["code"],
            redirect_uri=LOOPBACK_CALLBACK,
            code_verifier=pkce.verifier,
        )
    assert exchanged.status_code == 200


def test_deny_in_chromium_returns_access_denied_to_the_client(page: Page, oauth_service: OAuthService) -> None:
    consent_in_browser(page, oauth_service, Pkce.make())
    p = page
    p.route(LOOPBACK_CALLBACK + "*", lambda route: route.fulfill(status=200, body="denied"))
    with p.expect_request(lambda request: request.url.startswith(LOOPBACK_CALLBACK)) as arrived:
        p.click("button[value=deny]")
    assert "error=access_denied" in arrived.value.url


def test_chromium_refuses_to_show_the_consent_page_in_a_frame(page: Page, oauth_service: OAuthService) -> None:
    with browser() as http:
        client = register(http, oauth_service.issuer)
        consent_url = http.get(authorize_url(oauth_service.issuer, client["client_id"], Pkce.make())).headers[
            "location"
        ]
    # A page of another origin framing the consent page, as a clickjacking page would; beside it, as the
    # control, a frame of a page that may be framed.
    control = oauth_service.issuer + "/healthz"
    page.set_content(f'<iframe name="consent" src="{consent_url}"></iframe><iframe name="control" src="{control}">')
    page.wait_for_timeout(800)
    frames = {frame.name: frame for frame in page.frames}
    assert '"status":"ok"' in frames["control"].content()
    assert "Twill API key" not in frames["consent"].content()
