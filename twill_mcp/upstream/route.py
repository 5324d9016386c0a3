"""How this process reaches Twill's origin on the network it is on: through which proxy, trusting which CAs."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import httpx2
from pydantic import SecretStr

from twill_mcp.core.config import Settings
from twill_mcp.core.network import bypasses


@dataclass(frozen=True, slots=True)
class Route:
    """How the client reaches Twill's origin."""

    proxy: SecretStr | None
    """None: directly."""
    setting: str
    """The proxy setting for the origin's scheme: `https_proxy` or `http_proxy`."""
    bypassed: bool
    """That setting is given, but NO_PROXY names the origin."""


def route(settings: Settings) -> Route:
    base = httpx2.URL(settings.base_url)
    setting = f"{base.scheme}_proxy"
    proxy: SecretStr | None = getattr(settings, setting)
    port = base.port or (443 if base.scheme == "https" else 80)
    if proxy is not None and bypasses(settings.no_proxy, base.host, port):
        return Route(None, setting, bypassed=True)
    return Route(proxy, setting, bypassed=False)


def tls_context(ssl_cert_file: str | None) -> ssl.SSLContext:
    """Trust exactly SSL_CERT_FILE's CAs when given (as OpenSSL and curl do), else the system's trust store."""
    if ssl_cert_file:
        return ssl.create_default_context(cafile=ssl_cert_file)
    # httpx2's own default, minus its reading of SSL_CERT_* behind our back: truststore on macOS and
    # Windows, OpenSSL's system paths on Linux.
    return httpx2.create_ssl_context(trust_env=False)


def trust_source(ssl_cert_file: str | None) -> str:
    return f"the CAs in {ssl_cert_file} (SSL_CERT_FILE)" if ssl_cert_file else "the system trust store"
