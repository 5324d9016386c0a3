"""Client ID Metadata Documents fetched from the client's own https URL (`TWILL_MCP_OAUTH_CIMD=fetch`).

A client id that is an https URL names the document that describes the client. Fetching it means
this server makes a request to a URL a stranger chose, so it is made only as far as it cannot be
turned against the network the server runs in (SSRF):

- https only, on the default port or an explicit one, with a path, no credentials, no fragment;
- the host must resolve to public addresses only (no loopback, private, link-local, shared, multicast
  or reserved one), and the request goes to the address that was checked (the TLS name is still the
  host's), so a second DNS answer cannot point it elsewhere;
- no redirects, a 5 s deadline, at most 5 KiB read, `application/json`;
- the document must name itself (`client_id` equal to the URL) and only redirect URIs the redirect
  rule accepts;
- answers are kept 10 minutes and refusals 1 minute, in a bounded cache, so a client id cannot be
  used to make this server send a request per hit.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2

from twill_mcp.transports.oauth.redirects import allowed_for_registration

logger = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 5 * 1024
MAX_CLIENT_ID_LENGTH = 512
FETCH_SECONDS = 5.0
KEEP_SECONDS = 600.0
KEEP_REFUSAL_SECONDS = 60.0
MAX_KEPT = 1000

Resolve = Callable[[str, int], Awaitable[list[str]]]
"""The addresses a host name resolves to (injected in tests)."""


class DocumentRefused(Exception):
    """Why a client id's document is not used; for the log, never echoed to the client."""


async def resolve(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_document_url(client_id: str) -> bool:
    """Whether a client id could name a document at all (the spec's shape), before anything is fetched."""
    if len(client_id) > MAX_CLIENT_ID_LENGTH:
        return False
    try:
        parts = urlsplit(client_id)
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and bool(parts.hostname)
        and parts.path not in ("", "/")
        and not parts.fragment
        and parts.username is None
        and parts.password is None
    )


def public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class DocumentFetcher:
    def __init__(
        self,
        *,
        resolve: Resolve = resolve,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolve = resolve
        self._transport = transport
        self._clock = clock
        self._kept: OrderedDict[str, tuple[float, dict[str, Any] | None]] = OrderedDict()

    def kept(self, client_id: str) -> dict[str, Any] | None:
        """The document as last fetched, while it is kept; nothing is fetched."""
        kept = self._kept.get(client_id)
        return kept[1] if kept is not None and kept[0] > self._clock() else None

    async def document(self, client_id: str) -> dict[str, Any] | None:
        """The client's document, checked; None if it is refused (the log says why, once per refusal)."""
        now = self._clock()
        kept = self._kept.get(client_id)
        if kept is not None and kept[0] > now:
            return kept[1]
        try:
            document: dict[str, Any] | None = await self._fetch(client_id)
            until = now + KEEP_SECONDS
        except DocumentRefused as refused:
            logger.warning("client id metadata document not used: %s", refused)
            document, until = None, now + KEEP_REFUSAL_SECONDS
        self._kept[client_id] = (until, document)
        self._kept.move_to_end(client_id)
        while len(self._kept) > MAX_KEPT:
            self._kept.popitem(last=False)
        return document

    async def _fetch(self, client_id: str) -> dict[str, Any]:
        if not is_document_url(client_id):
            raise DocumentRefused("the client id is not an https URL with a path")
        parts = urlsplit(client_id)
        host, port = parts.hostname or "", parts.port or 443
        with anyio.move_on_after(FETCH_SECONDS) as scope:
            body = await self._get(parts, host, port)
        if scope.cancelled_caught:
            raise DocumentRefused(f"{host} did not answer within {FETCH_SECONDS:g} s")
        return _checked(client_id, body)

    async def _get(self, parts: Any, host: str, port: int) -> bytes:
        try:
            addresses = [host] if _is_address(host) else await self._resolve(host, port)
        except OSError as exc:
            raise DocumentRefused(f"{host} does not resolve ({type(exc).__name__})") from None
        if not addresses or not all(public(address) for address in addresses):
            raise DocumentRefused(f"{host} resolves to an address that is not public")
        address = addresses[0]
        netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        url = urlunsplit(("https", netloc, parts.path, parts.query, ""))
        headers = {"Host": parts.netloc, "Accept": "application/json"}
        async with (
            httpx2.AsyncClient(transport=self._transport, follow_redirects=False, trust_env=False) as client,
            client.stream("GET", url, headers=headers, extensions={"sni_hostname": host}) as response,
        ):
            if response.status_code != 200:
                raise DocumentRefused(f"{host} answered HTTP {response.status_code}")
            if response.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
                raise DocumentRefused(f"{host} answered something other than application/json")
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise DocumentRefused(f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
        return body


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _checked(client_id: str, body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise DocumentRefused("the document is not JSON") from None
    if not isinstance(document, dict) or document.get("client_id") != client_id:
        raise DocumentRefused("the document does not name itself as the client id")
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(uri, str) for uri in uris):
        raise DocumentRefused("the document has no redirect_uris")
    if not all(allowed_for_registration(uri, (), open_https=True) for uri in uris):
        raise DocumentRefused("a redirect URI of the document is not one a code may be sent to")
    name = document.get("client_name")
    method = document.get("token_endpoint_auth_method", "none")
    if method != "none":
        raise DocumentRefused("a client described by a document has no secret: token_endpoint_auth_method must be none")
    return {
        "client_id": client_id,
        "redirect_uris": uris,
        "client_name": name[:100] if isinstance(name, str) else None,
    }
