"""A custom CA: SSL_CERT_FILE names the CAs to trust; without it a private CA's certificate is refused, clearly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import API_KEY, send
from tests.tls_twill import TlsTwill, tls_twill
from twill_mcp.core.config import Settings
from twill_mcp.core.errors import ConfigError, UpstreamUnreachable
from twill_mcp.upstream.http import TwillHttp
from twill_mcp.upstream.outcomes import Effect
from twill_mcp.upstream.request import PreparedRequest

pytestmark = pytest.mark.anyio

WHO_AM_I = PreparedRequest("GET", "/auth/me")
READING = Effect(read_only=True, idempotent=True, action="read")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsTwill]:
    with tls_twill(tmp_path_factory.mktemp("tls")) as server:
        yield server


def settings(upstream: TlsTwill, **env: str) -> Settings:
    return Settings.load({"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": upstream.origin, **env}, max_retries=0)


async def test_a_call_succeeds_when_ssl_cert_file_names_the_ca(upstream: TlsTwill) -> None:
    async with TwillHttp(settings(upstream, SSL_CERT_FILE=str(upstream.ca_file))) as http:
        raw = await send(http, WHO_AM_I, READING)
    assert raw.status == 200
    assert upstream.paths[-1] == "/api/v1/auth/me"


async def test_without_the_ca_the_certificate_is_refused_and_nothing_is_sent(upstream: TlsTwill) -> None:
    before = len(upstream.paths)
    async with TwillHttp(settings(upstream)) as http:
        with pytest.raises(UpstreamUnreachable) as caught:
            await send(http, WHO_AM_I, READING)
    assert "certificate" in str(caught.value), caught.value
    assert "nothing was sent" in str(caught.value)
    assert len(upstream.paths) == before


def test_a_file_without_certificates_stops_start_up(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"SSL_CERT_FILE: cannot load CA certificates \(PEM\) from .*ca\.pem"):
        Settings.load({"SSL_CERT_FILE": str(not_pem)})


def test_a_missing_file_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"SSL_CERT_FILE: .*FileNotFoundError"):
        Settings.load({"SSL_CERT_FILE": str(tmp_path / "nowhere.pem")})


async def test_a_damaged_certificate_fails_the_first_call_clearly_and_nothing_is_sent(
    upstream: TlsTwill, tmp_path: Path
) -> None:
    # Start-up only checks for a PEM certificate (parsing a whole system bundle costs every start ~30 ms).
    damaged = tmp_path / "damaged.pem"
    damaged.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    before = len(upstream.paths)
    async with TwillHttp(settings(upstream, SSL_CERT_FILE=str(damaged))) as http:
        with pytest.raises(UpstreamUnreachable) as caught:
            await send(http, WHO_AM_I, READING)
    assert "SSL_CERT_FILE" in str(caught.value)
    assert "nothing was sent" in str(caught.value)
    assert "doctor" in (caught.value.hint or "")
    assert len(upstream.paths) == before
