"""`--auth oauth` under test: its settings against the fake Twill, and a browser's part of the flow as plain HTTP.

The public URL must be known before the app is built (it is the issuer clients compare exactly), so
the service gets a port chosen first, instead of port 0.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2

from tests.conftest import API_KEY, SCANNED
from tests.fake_twill import FakeTwill
from tests.http_thread import serving, settings_for
from twill_mcp.core.config import Settings

SECRET = secrets.token_hex(32)
# The key the user pastes on the consent page: not the server's TWILL_API_KEY, so a request made with it
# proves the consented key was the one used.
CONSENTED_KEY = "twk_consent_" + secrets.token_hex(20)
OTHER_KEY = "twk_other_" + secrets.token_hex(20)
LOOPBACK_CALLBACK = "http://127.0.0.1:43117/callback"
CLAUDE_CODE = "https://claude.ai/oauth/claude-code-client-metadata"


# What must never appear in any byte the service sends: the keys users paste, and the secret.
NEVER_SHOWN = (CONSENTED_KEY, OTHER_KEY, SECRET)


@dataclass
class OAuthService:
    fake: FakeTwill
    settings: Settings
    url: str
    """The MCP endpoint."""

    @property
    def issuer(self) -> str:
        assert self.settings.public_url is not None
        return self.settings.public_url


@contextmanager
def running_oauth(fake: FakeTwill | None = None, **overrides: Any) -> Iterator[OAuthService]:
    """The service in OAuth mode against a fake Twill that knows the consented and the other key."""
    own = fake is None
    fake = fake or FakeTwill(API_KEY, CONSENTED_KEY, OTHER_KEY).start()
    settings = oauth_settings(fake, **overrides)
    try:
        with serving(settings) as url:
            yield OAuthService(fake, settings, url)
    finally:
        if own:
            fake.stop()


def scan(response: httpx2.Response) -> None:
    """Every response a test client receives: no key or secret in its headers or body."""
    response.read()
    text = str(response.headers) + response.text
    for secret in NEVER_SHOWN:
        assert secret not in text, f"a key or secret leaked in the answer to {response.request.url.path}"
    SCANNED["results"] += 1
    SCANNED["result_bytes"] += len(text.encode())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def oauth_settings(fake: FakeTwill, **overrides: Any) -> Settings:
    port = overrides.pop("port", None) or free_port()
    values: dict[str, Any] = {
        "auth": "oauth",
        "port": port,
        "public_url": f"http://127.0.0.1:{port}",
        "oauth_secrets": f"k1:{SECRET}",
        **overrides,
    }
    return settings_for(fake, **values)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def make(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return cls(verifier, challenge)


def authorize_url(issuer: str, client_id: str, pkce: Pkce, **params: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": LOOPBACK_CALLBACK,
        "state": "state-123",
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        "resource": issuer + "/mcp",
        **params,
    }
    return f"{issuer}/authorize?{urlencode(query)}"


def hidden_fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))


def browser() -> httpx2.Client:
    """What stands in for the user's browser: it keeps cookies and does not follow redirects, so each is seen."""
    return httpx2.Client(follow_redirects=False, timeout=30, event_hooks={"response": [scan]})


def open_consent(http: httpx2.Client, authorize: str) -> httpx2.Response:
    """From an authorization URL to the consent page, as a browser follows the first redirect."""
    redirected = http.get(authorize)
    assert redirected.status_code == 302, redirected.text
    page = http.get(redirected.headers["location"])
    assert page.status_code == 200, page.text
    return page


def submit(
    http: httpx2.Client, page: httpx2.Response, key: str, action: str = "approve", **headers: str
) -> httpx2.Response:
    """The consent form posted as Chromium posts it: from the page's own origin."""
    issuer = origin_of(str(page.url))
    sent = {"Origin": issuer, "Sec-Fetch-Site": "same-origin", **headers}
    form = {**hidden_fields(page.text), "key": key, "action": action}
    return http.post(f"{issuer}/consent", data=form, headers=sent)


def redirect_params(response: httpx2.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {name: values[0] for name, values in parse_qs(urlsplit(response.headers["location"]).query).items()}


def register(http: httpx2.Client, issuer: str, **metadata: Any) -> dict[str, Any]:
    body = {"redirect_uris": [LOOPBACK_CALLBACK], "client_name": "Test client", "token_endpoint_auth_method": "none"}
    answer = http.post(f"{issuer}/register", json={**body, **metadata})
    assert answer.status_code == 201, answer.text
    registered: dict[str, Any] = answer.json()
    return registered


def token(http: httpx2.Client, issuer: str, client: dict[str, Any], **form: str) -> httpx2.Response:
    sent = {"client_id": client["client_id"], **form}
    if client.get("client_secret"):
        sent["client_secret"] = client["client_secret"]
    return http.post(f"{issuer}/token", data=sent)


def sign_in(http: httpx2.Client, issuer: str, client: dict[str, Any], key: str = CONSENTED_KEY) -> dict[str, Any]:
    """The whole authorization-code flow for a registered client; the token response."""
    pkce = Pkce.make()
    page = open_consent(http, authorize_url(issuer, client["client_id"], pkce))
    code = redirect_params(submit(http, page, key))["code"]
    answer = token(
        http,
        issuer,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=LOOPBACK_CALLBACK,
        code_verifier=pkce.verifier,
        resource=issuer + "/mcp",
    )
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens
