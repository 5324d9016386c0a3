"""Configuration: base URL convention, key hygiene, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from twill_mcp.core.config import Settings
from twill_mcp.core.errors import ConfigError

KEY = "twk_live_0123456789abcdef"


@pytest.mark.parametrize(
    ("given", "api_root"),
    [
        ("https://twill.ai", "https://twill.ai/api/v1"),
        ("https://twill.ai/", "https://twill.ai/api/v1"),
        ("https://twill.ai/api/v1", "https://twill.ai/api/v1"),
        ("https://twill.ai/api/v1/", "https://twill.ai/api/v1"),
        ("https://proxy.example.com/twill", "https://proxy.example.com/twill/api/v1"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v1"),
        ("http://localhost:3000/api/v1", "http://localhost:3000/api/v1"),
        ("http://[::1]:9000", "http://[::1]:9000/api/v1"),
    ],
)
def test_the_base_url_is_the_origin_and_api_v1_is_appended_once(given: str, api_root: str) -> None:
    assert Settings.load({"TWILL_BASE_URL": given}).base_url == api_root


def test_the_default_base_url_is_twills_production_api() -> None:
    assert Settings.load({}).base_url == "https://twill.ai/api/v1"


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("http://twill.ai", "https"),
        ("ftp://twill.ai", "http(s)"),
        ("twill.ai", "http(s)"),
        ("https://user:pw@twill.ai", "credentials"),
        ("https://twill.ai/?x=1", "query"),
    ],
)
def test_an_unsafe_or_malformed_base_url_is_refused_with_the_reason(given: str, says: str) -> None:
    with pytest.raises(ConfigError, match="TWILL_BASE_URL") as caught:
        Settings.load({"TWILL_BASE_URL": given})
    assert says in str(caught.value)


def test_the_key_is_read_from_the_environment_and_stripped() -> None:
    settings = Settings.load({"TWILL_API_KEY": f"  {KEY}\n"})
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == KEY


def test_the_key_can_come_from_a_file(tmp_path: pytest.TempPathFactory) -> None:
    key_file = tmp_path / "key"  # type: ignore[operator]
    key_file.write_text(KEY + "\n")
    settings = Settings.load({"TWILL_API_KEY_FILE": str(key_file)})
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == KEY


def test_an_unreadable_key_file_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="TWILL_API_KEY_FILE"):
        Settings.load({"TWILL_API_KEY_FILE": "/nonexistent/key"})


def test_an_empty_key_means_no_key() -> None:
    assert Settings.load({"TWILL_API_KEY": "   "}).api_key is None


def test_the_key_never_appears_in_the_settings_repr() -> None:
    settings = Settings.load({"TWILL_API_KEY": KEY})
    assert KEY not in repr(settings)
    assert KEY not in str(settings.model_dump())


def test_a_key_with_inner_whitespace_is_not_used_and_the_reason_names_the_variable_not_the_key() -> None:
    settings = Settings.load({"TWILL_API_KEY": KEY + " " + KEY})
    assert settings.api_key is None
    assert settings.api_key_problem == "TWILL_API_KEY: contains spaces, line breaks or non-ASCII characters"


@pytest.mark.parametrize(
    "placeholder",
    [
        "<your Twill API key: Twill workspace settings -> API Keys>",
        "<key>",
        "${TWILL_API_KEY}",
        "your-api-key-here",
        "YOUR_TWILL_TOKEN",
        "xxxxxxxxxxxx",
        "changeme",
    ],
)
def test_a_placeholder_key_is_not_used_and_is_named_a_placeholder(placeholder: str) -> None:
    settings = Settings.load({"TWILL_API_KEY": placeholder})
    assert settings.api_key is None
    assert settings.api_key_problem == "TWILL_API_KEY: is a placeholder, not a key"


def test_a_placeholder_in_the_key_file_names_the_file(tmp_path: Path) -> None:
    key_file = tmp_path / "twill.key"
    key_file.write_text("<paste your key here>\n", encoding="utf-8")
    settings = Settings.load({"TWILL_API_KEY_FILE": str(key_file)})
    assert settings.api_key_problem == f"TWILL_API_KEY_FILE: ({key_file}) is a placeholder, not a key"


def test_a_key_that_only_mentions_a_placeholder_word_is_a_key() -> None:
    assert Settings.load({"TWILL_API_KEY": "twk_live_keyboard0123"}).api_key_problem is None


def test_an_explicit_key_replaces_a_bad_one_from_the_environment() -> None:
    settings = Settings.load({"TWILL_API_KEY": "<your key>"}, api_key=KEY)
    assert settings.api_key is not None
    assert settings.api_key_problem is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TWILL_MCP_READ_TIMEOUT", "-1"), ("TWILL_MCP_CALL_TIMEOUT", "soon"), ("TWILL_MCP_LOG_LEVEL", "LOUD")],
)
def test_a_bad_setting_is_a_config_error_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.load({variable: value})


def test_explicit_overrides_win_over_the_environment() -> None:
    assert Settings.load({"TWILL_MCP_LOG_LEVEL": "ERROR"}, log_level="debug").log_level == "DEBUG"


def test_a_key_too_short_to_be_real_is_not_used_and_not_echoed() -> None:
    settings = Settings.load({"TWILL_API_KEY": "e7"})
    assert settings.api_key is None
    assert settings.api_key_problem == "TWILL_API_KEY: is too short"


def test_a_malformed_key_given_explicitly_is_still_a_config_error_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="TWILL_API_KEY: contains spaces") as caught:
        Settings.load({}, api_key=KEY + " " + KEY)
    assert KEY not in str(caught.value)


def test_a_redis_url_is_a_secret_whose_password_is_scrubbed_and_never_echoed() -> None:
    password = "s3cret-redis-password"
    settings = Settings.load({"TWILL_MCP_REDIS_URL": f"redis://:{password}@redis.internal:6379/0"})
    assert password not in repr(settings)
    assert password in settings.secrets()
    assert not any("redis.internal" in secret for secret in settings.secrets())


def test_a_redis_url_of_another_scheme_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.load({"TWILL_MCP_REDIS_URL": "http://:hunter2-password@redis.internal"})
    assert "TWILL_MCP_REDIS_URL: must be a redis://" in str(refused.value)
    assert "hunter2" not in str(refused.value)
