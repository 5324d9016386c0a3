"""NO_PROXY by httpx's documented rules (the same as Go's), and proxy URLs shown without their credentials."""

from __future__ import annotations

import pytest

from twill_mcp.core.network import bypasses, mask

# (NO_PROXY, host, port, bypassed): the examples of httpx's and Go's documentation, and their edges.
CASES = [
    ("*", "twill.ai", 443, True),
    ("twill.ai", "twill.ai", 443, True),
    ("twill.ai", "api.twill.ai", 443, True),
    ("twill.ai", "nottwill.ai", 443, False),
    ("twill.ai", "twill.ai.evil.com", 443, False),
    (".twill.ai", "api.twill.ai", 443, True),
    (".twill.ai", "twill.ai", 443, False),
    ("*.twill.ai", "api.twill.ai", 443, True),
    ("*.twill.ai", "twill.ai", 443, False),
    ("TWILL.AI", "twill.ai", 443, True),
    ("twill.ai:443", "twill.ai", 443, True),
    ("twill.ai:8443", "twill.ai", 443, False),
    ("localhost", "localhost", 8080, True),
    ("127.0.0.1", "127.0.0.1", 8080, True),
    ("127.0.0.1:8080", "127.0.0.1", 8080, True),
    ("127.0.0.1:9090", "127.0.0.1", 8080, False),
    ("10.0.0.0/8", "10.1.2.3", 443, True),
    ("10.0.0.0/8", "11.1.2.3", 443, False),
    ("10.0.0.0/8", "twill.ai", 443, False),
    ("::1", "[::1]", 8080, True),
    ("[::1]:8080", "::1", 8080, True),
    ("fd00::/8", "fd12::5", 443, True),
    ("example.com, twill.ai", "twill.ai", 443, True),
    ("", "twill.ai", 443, False),
    ("http://twill.ai", "twill.ai", 443, False),
]


@pytest.mark.parametrize(("no_proxy", "host", "port", "bypassed"), CASES)
def test_no_proxy_rules(no_proxy: str, host: str, port: int, bypassed: bool) -> None:
    assert bypasses(tuple(no_proxy.split(",")), host, port) is bypassed


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://proxy:3128", "http://proxy:3128"),
        ("http://user:pw@proxy:3128", "http://***@proxy:3128"),
        ("https://user@proxy:3128", "https://***@proxy:3128"),
        ("http://user:p@ss@proxy:3128", "http://***@proxy:3128"),
    ],
)
def test_a_proxy_url_is_shown_without_user_or_password(url: str, shown: str) -> None:
    assert mask(url) == shown
