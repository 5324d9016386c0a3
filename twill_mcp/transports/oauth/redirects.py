"""Where an authorization response may be sent: the one rule for pinned clients, registrations and requests.

A pattern matches a redirect URI exactly, except that (a) a loopback `http` pattern matches on any
port (RFC 8252 §7.3: Claude Code registers `http://localhost/callback` and listens on a random port),
and (b) a final `*` path segment stands for one segment (ChatGPT's per-connector callback). Some
forms are never a place to send a code: script and file schemes, fragments, credentials, and plain
http off loopback.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from twill_mcp.core.config import is_loopback

NEVER_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "blob", "about", "ftp", "ws", "wss"})


def acceptable(uri: str) -> bool:
    """Whether `uri` could ever be a redirect target, whatever the policy."""
    try:
        parts = urlsplit(uri)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return False
    if not parts.scheme or parts.scheme.lower() in NEVER_SCHEMES or not port_ok:
        return False
    if "#" in uri or parts.username is not None or parts.password is not None or not parts.netloc:
        return False
    if parts.scheme == "http":
        return parts.hostname is not None and is_loopback(parts.hostname)
    return True


def is_loopback_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname is not None and is_loopback(parts.hostname)


def matches(pattern: str, uri: str) -> bool:
    """Whether the redirect URI of a request is one the pattern registered."""
    if not acceptable(uri):
        return False
    if uri == pattern:
        return True
    want, got = urlsplit(pattern), urlsplit(uri)
    if is_loopback_uri(pattern) and is_loopback_uri(uri):
        # Any port, and "/" stands for an empty path; everything else exactly.
        return (want.hostname, want.path or "/", want.query) == (got.hostname, got.path or "/", got.query)
    if pattern.endswith("/*"):
        prefix = pattern[:-1]
        rest = uri[len(prefix) :]
        return uri.startswith(prefix) and bool(rest) and not any(ch in rest for ch in "/?#")
    return False


def allowed_for_registration(uri: str, allowlist: tuple[str, ...], *, open_https: bool) -> bool:
    """Whether a dynamically registered client may name `uri`: loopback, the allowlist, or (open) any https."""
    if not acceptable(uri):
        return False
    if is_loopback_uri(uri) or any(matches(pattern, uri) for pattern in allowlist):
        return True
    return open_https and urlsplit(uri).scheme == "https"


def form_action_source(uri: str) -> str:
    """The CSP `form-action` source the consent page needs so its redirect to `uri` is not blocked."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:"


def shown_host(uri: str) -> str:
    """What the consent page names as where the user will be sent back: the host, or the app's scheme."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        return parts.hostname or ""
    return f"{parts.scheme}://{parts.netloc}"
