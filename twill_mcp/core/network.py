"""The network settings' own rules: proxy URLs and NO_PROXY, CA files, ports. Which way a call goes is
`upstream/route.py`.

Only the variables named in config.ENVIRONMENT are read, never the whole environment
(the client keeps `trust_env=False`), so what the doctor reports is what the client does.
NO_PROXY follows httpx's rules (the same as Go's net/http): `*` bypasses every host;
`example.com` matches it and its subdomains; `.example.com` and `*.example.com` only its
subdomains; an IP address or CIDR range matches addresses in it; `host:port` only that port.
Loopback is not special: list it in NO_PROXY to reach it directly.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from urllib.parse import urlsplit

from twill_mcp.core.errors import ConfigError

PROXY_SCHEMES = ("http", "https")
PROXY_EXAMPLE = "http://proxy.example.com:3128"


def proxy_url(value: str) -> str:
    """A proxy URL as curl and httpx take it (no scheme means http://), or a ValueError that never echoes a password."""
    scheme, sep, rest = value.strip().partition("://")
    url = f"{scheme.lower()}://{rest}" if sep else f"http://{scheme}"
    parts = urlsplit(url)
    if parts.scheme.lower() not in PROXY_SCHEMES:
        raise ValueError(f"must be an http:// or https:// proxy URL such as {PROXY_EXAMPLE}, got {mask(url)!r}")
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise ValueError(f"has an invalid port; give one such as {PROXY_EXAMPLE}, got {mask(url)!r}") from None
    if not parts.hostname:
        raise ValueError(f"must name the proxy's host, such as {PROXY_EXAMPLE}, got {mask(url)!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"must be only scheme://host:port (with user:password@ if needed), got {mask(url)!r}")
    return url


def mask(url: str) -> str:
    """The URL with any user:password hidden: proxy credentials are secrets too."""
    scheme, sep, rest = url.rpartition("://")
    _userinfo, at, hostport = rest.rpartition("@")
    return f"{scheme}{sep}***@{hostport}" if at else url


def bypasses(no_proxy: tuple[str, ...], host: str, port: int) -> bool:
    """Whether NO_PROXY sends this host (and port) directly, by httpx's rules (see the module docstring)."""
    host = host.strip("[]").lower()
    return any(_matches(entry.strip().lower(), host, port) for entry in no_proxy)


def _matches(entry: str, host: str, port: int) -> bool:
    if entry == "*":
        return True
    if not entry or "://" in entry:
        # httpx would apply a scheme-qualified entry to that scheme only; nobody writes one for a single origin.
        return False
    network = _network(entry)
    if network is not None:
        try:
            return ipaddress.ip_address(host) in network
        except ValueError:
            return False
    name, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
    if entry_port and entry_port != str(port):
        return False
    name = name.strip("[]")
    if name.startswith("*."):
        name = name[1:]
    if name.startswith("."):
        return host.endswith(name)
    return host == name or host.endswith(f".{name}")


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An IP address or CIDR range without a port (a bare IPv6 address has colons, but no port)."""
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


def _has_port(entry: str) -> bool:
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit() and (not head.startswith("[") or head.endswith("]"))


PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def check_ca_file(ssl_cert_file: str) -> None:
    """What start-up checks of SSL_CERT_FILE: a readable file with a PEM certificate in it.

    Not the whole parse, which `tls_context` does at the first call: a system bundle has some
    140 certificates, ~30 ms to load, that a host would wait for at every start. Raises
    OSError (missing, unreadable) or ValueError (no PEM certificate).
    """
    with open(ssl_cert_file, "rb") as file:
        if PEM_CERTIFICATE not in file.read():
            raise ValueError("no PEM certificate in it")


def port_in_use(host: str, port: int) -> str:
    return (
        f"port {port} on {host} is already in use by another process (another twill-mcp?); stop it, "
        "choose another with --port N, or use --port 0 for any free port"
    )


def check_port_free(host: str, port: int) -> None:
    """Refuse, with what to do, a port another process listens on, before a server logs a bare errno for it."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the server will bind: a port left in TIME_WAIT by a stopped server is free to reuse.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(port_in_use(host, port)) from None
            # Anything else (a privileged port, an address not on this machine) the server reports as it is.
