"""The consent page: the one place a user pastes a Twill key, which Twill checks before any code exists.

GET shows who asks (a pinned client's verified name, else "unverified") and the host the user will
be sent back to, with one password field. POST checks, in order: the `Origin` and `Sec-Fetch-Site` a
browser sends, the CSRF token bound to a cookie and to this request, the per-address attempt limit,
then the key with `GET /auth/me`. The key is never echoed, logged or put in a URL; the page has no
script, cannot be framed or cached, and its CSP lets the form go only here and to the client's
redirect origin (`form-action` governs the 302 after the POST too).
"""

from __future__ import annotations

import hmac
import html
import secrets
import time
from collections import OrderedDict, deque
from typing import Any

from mcp.server.auth.provider import construct_redirect_uri
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from twill_mcp.core.config import MIN_KEY_LENGTH, is_token
from twill_mcp.core.credentials import Credentials
from twill_mcp.transports.oauth.keycheck import KeyChecker, Verdict
from twill_mcp.transports.oauth.provider import Provider
from twill_mcp.transports.oauth.redirects import form_action_source, is_loopback_uri, shown_host

MAX_ADDRESSES = 10_000
COOKIE = "twill_consent"
REFUSED = "Twill did not accept this API key. Check that you copied the whole key, from a cloud workspace."
BUSY = "Twill is busy or could not be reached. Try again in a minute."
MALFORMED = "That does not look like a Twill API key: paste the key alone, without spaces."


class AttemptLimit:
    """At most `per_minute` key checks per client address: the page must not be an oracle for guessing keys."""

    def __init__(self, per_minute: int) -> None:
        self._per_minute = per_minute
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, address: str) -> bool:
        now = time.monotonic()
        attempts = self._attempts.setdefault(address, deque())
        self._attempts.move_to_end(address)
        while attempts and attempts[0] <= now - 60:
            attempts.popleft()
        if len(attempts) >= self._per_minute:
            return False
        attempts.append(now)
        if len(self._attempts) > MAX_ADDRESSES:
            self._attempts.popitem(last=False)
        return True


class ConsentPage:
    def __init__(self, provider: Provider, check_key: KeyChecker, limit: AttemptLimit) -> None:
        self._provider = provider
        self._check_key = check_key
        self._limit = limit
        self._secure = provider.issuer.startswith("https://")
        # The __Host- prefix pins the cookie to this origin, and is only allowed (so only used) over https.
        self._cookie = f"__Host-{COOKIE}" if self._secure else COOKIE

    async def handle(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._post(request)
        return self._get(request)

    def _get(self, request: Request) -> Response:
        sealed = request.query_params.get("req", "")
        consent = self._provider.consent_request(sealed)
        if consent is None:
            return self._page(
                None, sealed, "", "This sign-in link has expired or is not valid. Start again from your app.", 400
            )
        nonce = secrets.token_urlsafe(24)
        response = self._page(consent, sealed, nonce, None, 200)
        response.set_cookie(
            self._cookie, nonce, max_age=600, path="/", secure=self._secure, httponly=True, samesite="lax"
        )
        return response

    async def _post(self, request: Request) -> Response:
        if not self._same_origin(request):
            return _plain("This form must be sent from the page this server showed.", 403)
        form = await request.form()
        sealed = _field(form, "req")
        consent = self._provider.consent_request(sealed)
        if consent is None:
            return self._page(None, sealed, "", "This sign-in link has expired. Start again from your app.", 400)
        nonce = request.cookies.get(self._cookie, "")
        if not nonce or not hmac.compare_digest(_field(form, "csrf"), self._csrf(nonce, sealed)):
            return _plain("This form expired or was not sent from this server's page. Start again from your app.", 403)
        if _field(form, "action") == "deny":
            return self._redirect(consent, error="access_denied")
        address = request.client.host if request.client else "unknown"
        if not self._limit.allow(address):
            return self._page(consent, sealed, nonce, "Too many attempts. Wait a minute, then try again.", 429)
        key = _field(form, "key").strip()
        if not is_token(key) or len(key) < MIN_KEY_LENGTH:
            return self._page(consent, sealed, nonce, MALFORMED, 200)
        checked = await self._check_key(key)
        if checked.verdict is Verdict.REFUSED:
            return self._page(consent, sealed, nonce, REFUSED, 200)
        if checked.verdict is Verdict.UNAVAILABLE:
            return self._page(consent, sealed, nonce, BUSY, 200)
        # Who the grant is for, as Twill names the key; its fingerprint if Twill did not say.
        subject = str(checked.identity.get("apiKeyId") or Credentials(SecretStr(key)).fingerprint)
        return self._redirect(consent, code=self._provider.mint_code(consent, key, subject))

    def _same_origin(self, request: Request) -> bool:
        """What a browser says about where the form came from; a client that is no browser sends neither header
        and is held to the CSRF token alone."""
        origin = request.headers.get("origin")
        if origin is not None and origin != self._provider.issuer:
            return False
        site = request.headers.get("sec-fetch-site")
        return site is None or site in ("same-origin", "none")

    def _csrf(self, nonce: str, sealed: str) -> str:
        return self._provider.keyring.mac(f"csrf:{nonce}:{sealed}") or ""

    def _redirect(self, consent: dict[str, Any], **outcome: str) -> Response:
        target = construct_redirect_uri(consent["ru"], **outcome, state=consent.get("st"), iss=self._provider.issuer)
        response = RedirectResponse(target, status_code=302)
        _secure_headers(response, consent["ru"])
        return response

    def _page(
        self, consent: dict[str, Any] | None, sealed: str, nonce: str, message: str | None, status: int
    ) -> Response:
        body = _render(self._provider, consent, sealed, self._csrf(nonce, sealed) if nonce else "", message)
        response = HTMLResponse(body, status_code=status)
        _secure_headers(response, consent["ru"] if consent else None)
        return response


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _secure_headers(response: Response, redirect_uri: str | None) -> None:
    targets = "'self'" + (f" {form_action_source(redirect_uri)}" if redirect_uri else "")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    # Not no-referrer: with it Chromium sends `Origin: null` on the form post, which the origin check refuses.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
    )


def _plain(text: str, status: int) -> Response:
    response = Response(text, status_code=status, media_type="text/plain; charset=utf-8")
    _secure_headers(response, None)
    return response


STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}"
    ".host{font-size:1.4rem;font-weight:600}.warn{color:#8a4b00}.error{color:#b00020;font-weight:600}"
    "input[type=password]{width:100%;padding:.5rem;font-size:1rem}button{padding:.5rem 1.2rem;margin:.8rem .5rem 0 0}"
)


def _render(provider: Provider, consent: dict[str, Any] | None, sealed: str, csrf: str, message: str | None) -> str:
    esc = html.escape
    error = f'<p class="error" role="alert">{esc(message)}</p>' if message else ""
    if consent is None:
        return (
            f"<!doctype html><html><head><title>Twill</title><style>{STYLE}</style></head><body>{error}</body></html>"
        )
    client = provider.client_of(consent)
    if client is not None and client.verified_as:
        who = f"<strong>{esc(client.verified_as)}</strong> (verified)"
    else:
        name = client.client_name if client is not None and client.client_name else "An application"
        who = f'<strong>{esc(name)}</strong> <span class="warn">(unverified: it named itself)</span>'
    redirect = consent["ru"]
    local = (
        '<p class="warn">It returns to this computer (localhost): approve only if you started this yourself.</p>'
        if is_loopback_uri(redirect)
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Connect to Twill</title><style>{STYLE}</style></head>
<body>
<h1>Connect to Twill</h1>
<p>{who} asks to use Twill on your behalf, with everything your Twill API key can do.</p>
<p>After you approve, you will be sent back to</p>
<p class="host">{esc(shown_host(redirect))}</p>
{local}{error}
<form method="post" action="{esc(provider.issuer)}/consent">
<input type="hidden" name="req" value="{esc(sealed)}">
<input type="hidden" name="csrf" value="{esc(csrf)}">
<label for="key">Twill API key</label>
<input type="password" id="key" name="key" autocomplete="off" spellcheck="false">
<p>Create one in Twill under workspace settings → API Keys. It is checked with Twill now, and kept only
sealed inside the tokens this server issues; revoking it in Twill disconnects every app using it.</p>
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button>
</form>
</body></html>
"""
