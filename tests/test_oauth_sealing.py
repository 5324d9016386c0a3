"""`--auth oauth` configuration and the sealed token format: what opens, what never does, and rotation."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr

from twill_mcp.core.config import Settings
from twill_mcp.core.errors import ConfigError
from twill_mcp.transports.oauth.sealing import Keyring, Purpose

OLD = secrets.token_hex(32)
NEW = secrets.token_hex(32)


def keyring(text: str) -> Keyring:
    return Keyring(SecretStr(text))


# -- configuration ------------------------------------------------------------------------------


def test_the_public_url_is_kept_as_an_origin_without_a_trailing_slash() -> None:
    assert Settings.load({"TWILL_MCP_PUBLIC_URL": "https://MCP.example.com/"}).public_url == "https://mcp.example.com"


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("http://mcp.example.com", "https"),
        ("https://mcp.example.com/mcp", "origin only"),
        ("https://u:p@mcp.example.com", "origin only"),
        ("mcp.example.com", "origin clients reach"),
    ],
)
def test_a_public_url_that_is_not_an_https_origin_is_refused(given: str, says: str) -> None:
    with pytest.raises(ConfigError, match="TWILL_MCP_PUBLIC_URL") as raised:
        Settings.load({"TWILL_MCP_PUBLIC_URL": given})
    assert says in str(raised.value)


def test_plain_http_is_allowed_for_a_loopback_public_url() -> None:
    assert Settings.load({"TWILL_MCP_PUBLIC_URL": "http://127.0.0.1:8000"}).public_url == "http://127.0.0.1:8000"


def test_a_lone_secret_becomes_a_keyring_of_one_under_kid_k1() -> None:
    settings = Settings.load({"TWILL_MCP_OAUTH_SECRET": OLD})
    assert settings.oauth_secrets is not None
    assert settings.oauth_secrets.get_secret_value() == f"k1:{OLD}"


def test_the_secret_can_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(OLD + "\n")
    settings = Settings.load({"TWILL_MCP_OAUTH_SECRET_FILE": str(path)})
    assert settings.oauth_secrets is not None
    assert settings.oauth_secrets.get_secret_value() == f"k1:{OLD}"


@pytest.mark.parametrize(
    "value",
    [
        "ab" * 31,  # 31 bytes
        "zz" * 32,  # not hex
    ],
)
def test_a_secret_too_short_or_not_hex_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(ConfigError, match="TWILL_MCP_OAUTH_SECRETS") as raised:
        Settings.load({"TWILL_MCP_OAUTH_SECRET": value})
    assert value not in str(raised.value)


def test_two_spellings_of_the_secret_at_once_are_refused() -> None:
    with pytest.raises(ConfigError, match="only one of"):
        Settings.load({"TWILL_MCP_OAUTH_SECRET": OLD, "TWILL_MCP_OAUTH_SECRETS": f"k2:{NEW}"})


def test_a_keyring_with_a_repeated_kid_is_refused() -> None:
    with pytest.raises(ConfigError, match="twice"):
        Settings.load({"TWILL_MCP_OAUTH_SECRETS": f"k1:{NEW},k1:{OLD}"})


def test_every_secret_of_the_keyring_is_among_the_texts_logs_scrub() -> None:
    settings = Settings.load({"TWILL_MCP_OAUTH_SECRETS": f"k2:{NEW},k1:{OLD}"})
    assert {NEW, OLD} <= set(settings.secrets())


def test_the_secret_never_appears_in_the_settings_repr() -> None:
    settings = Settings.load({"TWILL_MCP_OAUTH_SECRETS": f"k2:{NEW},k1:{OLD}"})
    assert NEW not in repr(settings)
    assert OLD not in repr(settings)


# -- sealing ------------------------------------------------------------------------------------


def test_a_sealed_payload_opens_to_itself() -> None:
    ring = keyring(f"k1:{OLD}")
    token = ring.seal(Purpose.ACCESS, {"k": "twk_x", "n": 1})
    assert ring.open(Purpose.ACCESS, token) == {"k": "twk_x", "n": 1}


def test_a_token_names_its_purpose_and_kid_and_shows_nothing_of_its_payload() -> None:
    token = keyring(f"k1:{OLD}").seal(Purpose.ACCESS, {"k": "twk_visible_key"})
    assert token.startswith("tma_k1_")
    assert "twk_visible_key" not in token
    assert b"twk_visible_key" not in base64.urlsafe_b64decode(token[7:] + "===")


def test_sealing_twice_gives_different_tokens() -> None:
    ring = keyring(f"k1:{OLD}")
    assert ring.seal(Purpose.ACCESS, {"a": 1}) != ring.seal(Purpose.ACCESS, {"a": 1})


@pytest.mark.parametrize("other", [Purpose.REFRESH, Purpose.CODE, Purpose.REQUEST, Purpose.CLIENT])
def test_a_token_of_one_purpose_never_opens_as_another(other: Purpose) -> None:
    ring = keyring(f"k1:{OLD}")
    token = ring.seal(other, {"a": 1})
    assert ring.open(Purpose.ACCESS, token) is None
    # Even relabelled with the other prefix: the derived keys differ too.
    assert ring.open(Purpose.ACCESS, "tma" + token[len(other.value) :]) is None


def test_a_token_with_any_byte_changed_opens_as_nothing() -> None:
    ring = keyring(f"k1:{OLD}")
    token = ring.seal(Purpose.ACCESS, {"a": 1})
    raw = base64.urlsafe_b64decode(token[len("tma_k1_") :] + "===")
    for position in range(len(raw)):
        changed = raw[:position] + bytes([raw[position] ^ 1]) + raw[position + 1 :]
        text = "tma_k1_" + base64.urlsafe_b64encode(changed).rstrip(b"=").decode()
        assert ring.open(Purpose.ACCESS, text) is None, position


def test_an_expired_token_opens_as_nothing() -> None:
    ring = keyring(f"k1:{OLD}")
    token = ring.seal(Purpose.CODE, {"exp": 1000})
    assert ring.open(Purpose.CODE, token, now=999) == {"exp": 1000}
    assert ring.open(Purpose.CODE, token, now=1001) is None


def test_another_secret_opens_nothing() -> None:
    token = keyring(f"k1:{OLD}").seal(Purpose.ACCESS, {"a": 1})
    assert keyring(f"k1:{NEW}").open(Purpose.ACCESS, token) is None


def test_after_rotation_old_tokens_open_and_new_ones_are_sealed_under_the_first_kid() -> None:
    before = keyring(f"k1:{OLD}").seal(Purpose.REFRESH, {"a": 1})
    rotated = keyring(f"k2:{NEW},k1:{OLD}")
    assert rotated.open(Purpose.REFRESH, before) == {"a": 1}
    assert rotated.seal(Purpose.REFRESH, {"a": 2}).startswith("tmr_k2_")


def test_once_the_old_secret_is_dropped_its_tokens_open_as_nothing() -> None:
    before = keyring(f"k1:{OLD}").seal(Purpose.REFRESH, {"a": 1})
    assert keyring(f"k2:{NEW}").open(Purpose.REFRESH, before) is None


@pytest.mark.parametrize("junk", ["", "tma", "tma_k1", "tma_k1_", "tma_k1_!!!", "tma_k1_" + "A" * 40, "x" * 500])
def test_junk_opens_as_nothing(junk: str) -> None:
    assert keyring(f"k1:{OLD}").open(Purpose.ACCESS, junk) is None
