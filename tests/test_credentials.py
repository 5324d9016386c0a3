"""What travels with each call: the key, its safe fingerprint, and the scrub of its every form."""

from __future__ import annotations

from types import SimpleNamespace

from pydantic import SecretStr

from twill_mcp.core.credentials import Credentials, server_key

KEY = 'twl_live_a/b"c\\d'


def test_every_form_of_the_key_is_scrubbed_from_a_body() -> None:
    body = b'raw twl_live_a/b"c\\d, json "twl_live_a/b\\"c\\\\d", slashes "twl_live_a\\/b\\"c\\\\d"'
    assert Credentials(SecretStr(KEY)).scrub.body(body) == b'raw [redacted], json "[redacted]", slashes "[redacted]"'


def test_credentials_without_a_key_scrub_nothing() -> None:
    assert Credentials(None).scrub.text("any text at all") == "any text at all"
    assert Credentials(None).scrub.body(b"") == b""


def test_a_well_formed_traceparent_travels_and_a_malformed_one_is_dropped() -> None:
    credentials_for = server_key(SecretStr(KEY))
    good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert credentials_for(SimpleNamespace(meta={"traceparent": good})).traceparent == good
    assert credentials_for(SimpleNamespace(meta={"traceparent": "00-bad"})).traceparent is None
    assert credentials_for(SimpleNamespace(meta=None)).traceparent is None
