"""Configuration from the environment, validated once at start-up.

The API key is held as a `SecretStr` so that no repr, log line or validation
error can print it; it is read from the environment or a file, never from argv.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator

from twill_mcp.core import store
from twill_mcp.core.errors import ConfigError
from twill_mcp.core.network import check_ca_file, proxy_url

DEFAULT_BASE_URL = "https://twill.ai"
API_PREFIX = "/api/v1"
# Twill's published limit per key. Our own budget defaults to it, but is a setting of its own.
TWILL_RATE_LIMIT = 100
MIN_KEY_LENGTH = 8
# Where a key is read from, and what to do when it cannot be used: one wording for a call's error and doctor's FAIL.
KEY_FIXES = {
    "TWILL_API_KEY": (
        "put a real key (Twill workspace settings → API Keys) in TWILL_API_KEY, in the env of this server's entry "
        "in the MCP host's configuration (`twill-mcp install HOST` writes it), then restart the server"
    ),
    "TWILL_API_KEY_FILE": (
        "put only a real key (Twill workspace settings → API Keys) in the file TWILL_API_KEY_FILE names, "
        "then restart the server"
    ),
}
# Example values people paste as they are: a config template's text, not a key (compared lowercased).
PLACEHOLDER_KEYS = frozenset({"xxx", "changeme", "change-me", "replace-me", "replace_me", "todo", "secret", "key"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Environment variable -> setting. Documented in the README's configuration table.
ENVIRONMENT: dict[str, str] = {
    "TWILL_BASE_URL": "base_url",
    "TWILL_MCP_LOG_LEVEL": "log_level",
    "TWILL_MCP_LOG_FORMAT": "log_format",
    "TWILL_MCP_CONNECT_TIMEOUT": "connect_timeout",
    "TWILL_MCP_READ_TIMEOUT": "read_timeout",
    "TWILL_MCP_CALL_TIMEOUT": "call_timeout",
    "TWILL_MCP_SHUTDOWN_GRACE": "shutdown_grace",
    "TWILL_MCP_MAX_RESPONSE_BYTES": "max_response_bytes",
    "TWILL_MCP_MAX_RETRIES": "max_retries",
    "TWILL_MCP_RATE_LIMIT": "rate_limit",
    "TWILL_MCP_TOOLSETS": "toolsets",
    "TWILL_MCP_TOOLS": "tools",
    "TWILL_MCP_EXCLUDE_TOOLS": "exclude_tools",
    "TWILL_MCP_READ_ONLY": "read_only",
    "TWILL_MCP_RAW_TEXT": "raw_text",
    "TWILL_MCP_TRANSPORT": "transport",
    "TWILL_MCP_HOST": "host",
    "TWILL_MCP_PORT": "port",
    "TWILL_MCP_PATH": "path",
    "TWILL_MCP_WORKERS": "workers",
    "TWILL_MCP_AUTH": "auth",
    "TWILL_MCP_HTTP_TOKEN": "http_token",
    "TWILL_MCP_ALLOWED_HOSTS": "allowed_hosts",
    "TWILL_MCP_ALLOWED_ORIGINS": "allowed_origins",
    "TWILL_MCP_PUBLIC_URL": "public_url",
    "TWILL_MCP_OAUTH_ACCESS_TTL": "oauth_access_ttl",
    "TWILL_MCP_OAUTH_REFRESH_TTL": "oauth_refresh_ttl",
    "TWILL_MCP_OAUTH_GRANT_TTL": "oauth_grant_ttl",
    "TWILL_MCP_OAUTH_REFRESH_GRACE": "oauth_refresh_grace",
    "TWILL_MCP_OAUTH_DCR": "oauth_dcr",
    "TWILL_MCP_OAUTH_CIMD": "oauth_cimd",
    "TWILL_MCP_OAUTH_REDIRECT_ALLOW": "oauth_redirect_allow",
    "TWILL_MCP_OAUTH_CONSENT_ATTEMPTS": "oauth_consent_attempts",
    "TWILL_MCP_REDIS_URL": "redis_url",
    # Operating a fleet: where Prometheus scrapes.
    "TWILL_MCP_METRICS_PORT": "metrics_port",
    # The network's own conventions, read as settings rather than by trusting the whole environment.
    # Where both cases are set the lowercase one wins, as in curl and Python's urllib: it comes later.
    "HTTPS_PROXY": "https_proxy",
    "https_proxy": "https_proxy",
    "HTTP_PROXY": "http_proxy",
    "http_proxy": "http_proxy",
    "NO_PROXY": "no_proxy",
    "no_proxy": "no_proxy",
    "SSL_CERT_FILE": "ssl_cert_file",
}


# Settings that hold a secret: passed on only through the environment they came from, scrubbed from logs.
SECRET_FIELDS = ("api_key", "http_token", "https_proxy", "http_proxy", "oauth_secrets", "redis_url")
# Secret URLs: of these only the user:password part is scrubbed, so that logs still say which host.
SECRET_URL_FIELDS = ("https_proxy", "http_proxy", "redis_url")
# The OAuth secret's three spellings; `read_oauth_secrets` turns each into the keyring form "kid:hex,...".
OAUTH_SECRET_VARIABLES = ("TWILL_MCP_OAUTH_SECRETS", "TWILL_MCP_OAUTH_SECRET", "TWILL_MCP_OAUTH_SECRET_FILE")
# The key id a lone TWILL_MCP_OAUTH_SECRET seals under: rotating means naming it in the keyring, "k2:<new>,k1:<old>".
SINGLE_SECRET_KID = "k1"
MIN_SECRET_BYTES = 32
_KID = re.compile(r"[A-Za-z0-9]{1,16}")


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    api_key: SecretStr | None = None
    api_key_problem: str | None = Field(
        None,
        description="Why the configured key is not used, as 'VARIABLE: reason' (a placeholder, a malformed key): "
        "the server still starts, every call answers this, and doctor fails on it.",
    )
    base_url: str = Field(DEFAULT_BASE_URL, description="After validation: the API root, ending in /api/v1.")
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field("text", description="json: one JSON object per stderr line.")
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    call_timeout: float = Field(45.0, gt=0, description="Deadline for one whole tool call, under hosts' ~60 s cut-off.")
    shutdown_grace: float = Field(
        3.0, ge=0, le=30, description="Seconds calls in flight may finish in after SIGINT/SIGTERM (hosts then kill)."
    )
    max_response_bytes: int = Field(1024 * 1024, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    rate_limit: int = Field(
        TWILL_RATE_LIMIT, ge=0, description="Requests per minute per key; 0 turns the client-side budget off."
    )
    toolsets: tuple[str, ...] | None = None
    tools: tuple[str, ...] = ()
    exclude_tools: tuple[str, ...] = ()
    read_only: bool = False
    raw_text: bool = Field(
        False, description="Pass Twill's text on as it came, without removing invisible and control characters."
    )
    # Serving over streamable HTTP (`--transport http`); see twill_mcp/transports/http.py.
    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535, description="0 picks a free port.")
    path: str = Field("/mcp", pattern=r"^/[^\s?#]*$")
    json_response: bool = False
    workers: int = Field(1, ge=1, le=64)
    auth: Literal["env", "passthrough", "oauth"] = "env"
    http_token: SecretStr | None = Field(None, description="Bearer token every inbound request must carry (env auth).")
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    # Reaching Twill; see twill_mcp/core/network.py. Proxy URLs are secrets: they may hold a password.
    https_proxy: SecretStr | None = None
    http_proxy: SecretStr | None = None
    no_proxy: tuple[str, ...] = ()
    ssl_cert_file: str | None = Field(None, description="CA bundle (PEM) to trust instead of the system store.")
    # `--auth oauth`: twill-mcp is its own authorization server; see twill_mcp/transports/oauth/.
    public_url: str | None = Field(
        None, description="The origin clients reach: the issuer; {public_url}{path} is the resource."
    )
    oauth_secrets: SecretStr | None = Field(None, description='The keyring "kid:hex,...": the first seals, all unseal.')
    # Defaults argued in the README: claude.ai refreshes unreliably, and Twill re-authorises every call anyway.
    oauth_access_ttl: int = Field(86400, ge=1, le=31_536_000)
    oauth_refresh_ttl: int = Field(7_776_000, ge=60, le=31_536_000)
    oauth_grant_ttl: int = Field(15_552_000, ge=60, le=63_072_000)
    oauth_refresh_grace: int = Field(120, ge=0, le=600)
    oauth_dcr: Literal["allowlist", "open", "off"] = "allowlist"
    oauth_cimd: Literal["pinned", "fetch", "off"] = "pinned"
    oauth_redirect_allow: tuple[str, ...] = ()
    # A secret: its URL may hold a password.
    redis_url: SecretStr | None = Field(
        None,
        description="The Redis every worker and replica shares: per-key rate budgets, and OAuth's state.",
    )
    oauth_consent_attempts: int = Field(
        10, ge=1, le=10_000, description="Keys the consent page checks per client address and minute."
    )
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Serve Prometheus /metrics on this port.")

    @field_validator(
        "toolsets",
        "tools",
        "exclude_tools",
        "allowed_hosts",
        "allowed_origins",
        "no_proxy",
        "oauth_redirect_allow",
        mode="before",
    )
    @classmethod
    def _names(cls, value: Any) -> Any:
        """Comma-separated in the environment and on the command line."""
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("api_key", "http_token", mode="before")
    @classmethod
    def _clean_key(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
            problem = key_problem(value, placeholders=info.field_name == "api_key")
            if problem is not None:
                # Never echo the value: it is a credential, even when malformed.
                if info.field_name == "http_token":
                    raise ValueError(f"{problem}; use a long random token, e.g. from openssl rand -hex 32")
                raise ValueError(f"{problem}; copy the whole key again from Twill workspace settings → API Keys")
        return value

    @field_validator("https_proxy", "http_proxy", mode="before")
    @classmethod
    def _proxy(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            return proxy_url(value) if value.strip() else None
        return value

    @field_validator("ssl_cert_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        try:
            check_ca_file(value)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot load CA certificates (PEM) from {value!r} ({type(exc).__name__})") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return public_origin(value)

    @field_validator("oauth_secrets", mode="before")
    @classmethod
    def _keyring(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            return ",".join(f"{kid}:{secret.hex()}" for kid, secret in parse_keyring(value)) if value.strip() else None
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _redis(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str) or not value.strip():
            return None
        value = value.strip()
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            # Never echo the value: it may hold a password.
            raise ValueError("must be a redis://, rediss:// or unix:// URL, e.g. redis://redis.internal:6379/0")
        if not store.available():
            raise ValueError(f"needs the redis package, which is not installed: {store.INSTALL_HINT}")
        return value

    @field_validator("transport", "auth", "log_format", "oauth_cimd", "oauth_dcr", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        level = str(value).strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return api_root(value)

    def secrets(self) -> list[str]:
        """Every secret text these settings hold, for logs to scrub; of a proxy, its user:password in the forms a
        library could print it (the URL's, and a Proxy-Authorization header's)."""
        texts = []
        for name in SECRET_FIELDS:
            value: SecretStr | None = getattr(self, name)
            if value is None:
                continue
            text = value.get_secret_value()
            if name == "oauth_secrets":
                # Each secret alone too: a log line could quote one entry of the keyring.
                texts += [text, *(entry.partition(":")[2] for entry in text.split(","))]
            elif name not in SECRET_URL_FIELDS:
                texts.append(text)
            elif userinfo := urlsplit(text).netloc.rpartition("@")[0]:
                # Only the credentials: the host is worth seeing in a log line. The password alone too: a
                # Redis URL's user part is often empty (redis://:password@host), and AUTH sends it bare.
                texts += [userinfo, base64.b64encode(unquote(userinfo).encode()).decode()]
                password = userinfo.partition(":")[2]
                texts += [password, unquote(password)] if len(password) >= MIN_KEY_LENGTH else []
        return texts

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment (and explicit overrides), or a `ConfigError` that says what to fix."""
        env = os.environ if environ is None else environ
        sources = variables(env)
        values: dict[str, Any] = {field: env[var] for field, var in sources.items()}
        # Every problem at once, so that fixing one does not just reveal the next.
        problems: list[str] = []
        try:
            raw, source = read_api_key(env)
        except ConfigError as exc:
            problems += exc.problems
        else:
            # A bad key must not stop the server: a host would only show "connection closed". It starts without
            # one, and every call says what is wrong with it (overrides, such as the sandbox's key, replace it).
            problem = key_problem(raw.strip()) if raw.strip() and overrides.get("api_key") is None else None
            if problem is None:
                values["api_key"] = raw
            else:
                where = f" ({env['TWILL_API_KEY_FILE'].strip()})" if source == "TWILL_API_KEY_FILE" else ""
                values["api_key_problem"] = f"{source}:{where} {problem}"
        try:
            values["oauth_secrets"] = read_oauth_secrets(env)
        except ConfigError as exc:
            problems += exc.problems
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            settings = cls(**values)
        except ValidationError as exc:
            problems += _describe(exc, sources)
        if problems:
            raise ConfigError(*problems)
        return settings


def read_api_key(env: Mapping[str, str]) -> tuple[str, str | None]:
    """The raw key and the variable it came from (None when neither is set): TWILL_API_KEY wins over the file."""
    key = env.get("TWILL_API_KEY", "")
    if key.strip():
        return key, "TWILL_API_KEY"
    key_file = env.get("TWILL_API_KEY_FILE", "").strip()
    if not key_file:
        return "", None
    try:
        return Path(key_file).read_text(encoding="utf-8"), "TWILL_API_KEY_FILE"
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"TWILL_API_KEY_FILE: cannot read {key_file!r} ({type(exc).__name__})") from None


def read_oauth_secrets(env: Mapping[str, str]) -> str | None:
    """The OAuth keyring as "kid:secret,..." from whichever one of its variables is set (None: none is)."""
    given = [name for name in OAUTH_SECRET_VARIABLES if env.get(name, "").strip()]
    if len(given) > 1:
        raise ConfigError(f"{given[0]}: set only one of {', '.join(OAUTH_SECRET_VARIABLES)}")
    if not given:
        return None
    name = given[0]
    if name == "TWILL_MCP_OAUTH_SECRETS":
        return env[name]
    if name == "TWILL_MCP_OAUTH_SECRET":
        return f"{SINGLE_SECRET_KID}:{env[name].strip()}"
    path = env[name].strip()
    try:
        return f"{SINGLE_SECRET_KID}:{Path(path).read_text(encoding='utf-8').strip()}"
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read {path!r} ({type(exc).__name__})") from None


def parse_keyring(text: str) -> list[tuple[str, bytes]]:
    """ "k2:<hex>,k1:<hex>" → [(kid, secret)], first the one that seals. Errors never quote a secret."""
    keyring: list[tuple[str, bytes]] = []
    for position, entry in enumerate(text.split(","), start=1):
        kid, colon, hexed = entry.strip().partition(":")
        if not colon or not _KID.fullmatch(kid):
            raise ValueError(f"entry {position} must be kid:hex, the kid 1-16 letters or digits")
        try:
            secret = bytes.fromhex(hexed.strip())
        except ValueError:
            raise ValueError(f"entry {position} ({kid}) is not hex; make one with: openssl rand -hex 32") from None
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"entry {position} ({kid}) is shorter than {MIN_SECRET_BYTES} bytes; use openssl rand -hex 32"
            )
        if kid in {k for k, _ in keyring}:
            raise ValueError(f"the kid {kid} appears twice")
        keyring.append((kid, secret))
    return keyring


def public_origin(url: str) -> str:
    """TWILL_MCP_PUBLIC_URL as the issuer: scheme://host[:port], no trailing slash (clients compare it exactly)."""
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be the origin clients reach, such as https://mcp.example.com, got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path:
        raise ValueError("must be an origin only: no path, query, fragment or credentials")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError("must use https (plain http is allowed only for localhost / 127.0.0.1 / ::1)")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def key_problem(value: str, *, placeholders: bool = True) -> str | None:
    """Why a non-empty key (or token) cannot be sent as one, or None; the reason never quotes the value."""
    if placeholders and is_placeholder(value):
        return "is a placeholder, not a key"
    if not is_token(value):
        return "contains spaces, line breaks or non-ASCII characters"
    if len(value) < MIN_KEY_LENGTH:
        # Also what keeps redaction sane: scrubbing a one-letter "key" would rewrite every message.
        return "is too short"
    return None


def is_placeholder(value: str) -> bool:
    """Template text rather than a key: `<your key>`, an unexpanded `${VAR}`, `your-api-key`, `xxx`…"""
    lowered = value.lower()
    return (
        (value.startswith("<") and value.endswith(">"))
        or (value.startswith("${") and value.endswith("}"))
        or ("your" in lowered and ("key" in lowered or "token" in lowered))
        or lowered in PLACEHOLDER_KEYS
        or set(lowered) <= set("x.*-_")
    )


def variables(env: Mapping[str, str]) -> dict[str, str]:
    """Setting -> the variable it is read from, for those set; the last of ENVIRONMENT's names for it wins."""
    return {field: var for var, field in ENVIRONMENT.items() if env.get(var, "").strip()}


def _describe(exc: ValidationError, sources: Mapping[str, str]) -> list[str]:
    """Validation problems by setting name, without the offending values (one may be the key)."""
    names = (
        {field: var for var, field in ENVIRONMENT.items()}
        | dict(sources)
        | {
            "api_key": "TWILL_API_KEY",
            "oauth_secrets": "TWILL_MCP_OAUTH_SECRETS",
            "json_response": "--json-response",
        }
    )
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        field = str(err["loc"][0]) if err["loc"] else "configuration"
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{names.get(field, field)}: {message}")
    return problems


_TOKEN = re.compile(r"[!-~]+")


def is_token(value: str) -> bool:
    """A key or token a header can carry as is: printable ASCII, no spaces (checked on every request's bearer)."""
    return _TOKEN.fullmatch(value) is not None


def api_root(base_url: str) -> str:
    """Normalise TWILL_BASE_URL, which names the origin as in Twill's own agent skill.

    `https://twill.ai` becomes `https://twill.ai/api/v1`; a value that already ends
    in `/api/v1` is kept as is, so it is never doubled.
    """
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http(s) URL such as {DEFAULT_BASE_URL}, got {base_url!r}")
    if parts.username or parts.password:
        raise ValueError("must not contain credentials; put the key in TWILL_API_KEY")
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query or fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        # The bearer key would cross the network in clear text.
        raise ValueError("must use https (plain http is allowed only for localhost / 127.0.0.1 / ::1)")
    return url if parts.path.endswith(API_PREFIX) else url + API_PREFIX


# The names a client on this machine may give a loopback server in its Host header (the SDK's own list).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    """Only this machine can reach the host: the one case where no inbound auth is needed."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False
