"""`twill-mcp doctor`: why a setup does not work, one line per check, with the fix for each problem.

It checks what the server would check at start-up, then makes the one call that
proves the rest (`GET /auth/me`) through the same code path as every tool, so a
green doctor means a tool call would get through. The key itself is never shown:
only where it came from and its fingerprint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import anyio
import httpx2

from twill_mcp.core import store
from twill_mcp.core.config import ENVIRONMENT, KEY_FIXES, TWILL_RATE_LIMIT, Settings, read_api_key, variables
from twill_mcp.core.credentials import Credentials
from twill_mcp.core.errors import ConfigError
from twill_mcp.core.logs import configure_logging
from twill_mcp.core.network import mask
from twill_mcp.tools.catalog import compiled_by_name, exposed_tools
from twill_mcp.upstream.budget import Kept, budgets_for
from twill_mcp.upstream.route import route, trust_source

KEY_CHECK_TOOL = "get_current_user"
GET_A_KEY = "create one in Twill (workspace settings → API Keys) and set TWILL_API_KEY, or TWILL_API_KEY_FILE to a file"
# What to do about a problem with a setting, by the variable its message starts with.
FIXES = {
    "TWILL_API_KEY_FILE": "point it at a readable file that holds only the key",
    "TWILL_API_KEY": KEY_FIXES["TWILL_API_KEY"],
    "TWILL_BASE_URL": "unset it for https://twill.ai, or give your Twill origin over https",
    "SSL_CERT_FILE": "point it at a PEM file of the CA certificates to trust, or unset it for the system store",
}
PROXY_FIX = "give the proxy as http://host:port, with user:password@ before the host if it needs them"
SURFACE_FIX = "correct --toolsets/--tools/--exclude-tools or TWILL_MCP_TOOLSETS/_TOOLS/_EXCLUDE_TOOLS"


@dataclass(frozen=True, slots=True)
class Check:
    subject: str
    text: str
    problem: bool = False
    skipped: bool = False

    def line(self) -> str:
        mark = "FAIL" if self.problem else "skip" if self.skipped else "ok"
        return f"{mark:<5}{self.subject}: {self.text}"


def render(checks: Sequence[Check]) -> str:
    problems = sum(check.problem for check in checks)
    verdict = f"{problems} problem{'s' * (problems != 1)} found" if problems else "all checks passed"
    return "\n".join([*(check.line() for check in checks), verdict])


def diagnose(overrides: Mapping[str, Any], *, sandboxed: bool, environ: Mapping[str, str] | None = None) -> list[Check]:
    """Every check, in the order a user would fix them; the network ones only once the configuration holds."""
    env = os.environ if environ is None else environ
    checks: list[Check] = []
    try:
        settings = Settings.load(env, **overrides)
    except ConfigError as exc:
        checks += [_config_problem(problem) for problem in exc.problems]
        return [*checks, Check("Twill", "not contacted until the configuration is fixed", skipped=True)]
    # The checks say what went wrong; log lines would only repeat it. Whatever is logged, the key is not.
    configure_logging("ERROR", secrets=settings.secrets())
    checks.append(_key_check(settings, env, sandboxed))
    if settings.auth == "oauth":
        checks += [_oauth_check(settings), _shared_state_check(settings), _pinned_clients_check(settings)]
    checks.append(Check("base URL", settings.base_url + (" (the local sandbox)" if sandboxed else "")))
    checks.append(_proxy_check(settings, env, sandboxed))
    checks.append(Check("TLS trust", trust_source(settings.ssl_cert_file)))
    checks.append(_surface_check(settings))
    checks.append(_budget_check(settings))
    if settings.api_key is None:
        return [*checks, Check("Twill", "not contacted: there is no key to check", skipped=True)]
    return [*checks, *anyio.run(_reach, settings, sandboxed)]


def _config_problem(problem: str) -> Check:
    name, _, message = problem.partition(": ")
    fix = PROXY_FIX if name.lower().endswith("_proxy") else FIXES.get(name, "see the Configuration table in the README")
    return Check(name, f"{message} — fix: {fix}", problem=True)


def _key_check(settings: Settings, env: Mapping[str, str], sandboxed: bool) -> Check:
    if settings.api_key is None and settings.auth == "oauth":
        return Check("API key", "not used with --auth oauth: each user's key comes from the consent page")
    if settings.api_key_problem is not None:
        # The server starts on such a key, so that a host shows the reason in a call; doctor is where it fails loudly.
        variable, _, reason = settings.api_key_problem.partition(": ")
        return Check(variable, f"{reason} — fix: {KEY_FIXES[variable]}", problem=True)
    if settings.api_key is None:
        return Check("API key", f"not set — fix: {GET_A_KEY}", problem=True)
    source = "the sandbox's demo key" if sandboxed else read_api_key(env)[1]
    return Check("API key", f"{Credentials(settings.api_key).fingerprint}, from {source}")


def _oauth_check(settings: Settings) -> Check:
    """What `--auth oauth` starts with: the issuer, and the keyring by kid only (a secret is never shown)."""
    problems = []
    if settings.public_url is None:
        problems.append("TWILL_MCP_PUBLIC_URL is not set — fix: set it to the https origin clients reach")
    if settings.oauth_secrets is None:
        problems.append("no secret — fix: set TWILL_MCP_OAUTH_SECRET to the output of openssl rand -hex 32")
    if problems:
        return Check("OAuth", "; ".join(problems), problem=True)
    assert settings.oauth_secrets is not None
    kids = [entry.partition(":")[0] for entry in settings.oauth_secrets.get_secret_value().split(",")]
    return Check("OAuth", f"issuer {settings.public_url}; sealing with {kids[0]}, opening {', '.join(kids)}")


# Vendors change their callbacks every few months; a copy older than this deserves a look.
PINNED_STALE_DAYS = 120


def _pinned_clients_check(settings: Settings) -> Check:
    """How old the pinned Client ID Metadata Documents are: a vendor's new callback fails until they are updated."""
    from twill_mcp.transports.oauth.clients import pinned_documents

    if settings.oauth_cimd == "off":
        return Check("pinned clients", "off (TWILL_MCP_OAUTH_CIMD=off): clients register dynamically")
    documents = pinned_documents()
    oldest = min(date.fromisoformat(document["copied"]) for document in documents)
    age = (date.today() - oldest).days
    text = (
        f"{len(documents)} ({', '.join(d['verified_as'] for d in documents)}), the oldest copied {oldest} ({age} days)"
    )
    if age > PINNED_STALE_DAYS:
        fix = "check the vendors' documents for new redirect URIs, or update twill-mcp"
        return Check("pinned clients", f"{text} — fix: {fix}", problem=True)
    return Check("pinned clients", text)


def _shared_state_check(settings: Settings) -> Check:
    """Where OAuth's used codes and revoked grants live. Whether that Redis answers is the rate budget's line,
    which shares it: one unreachable Redis is one problem."""
    if settings.redis_url is None:
        where = "in this process (one process per replica; a revocation does not reach other replicas)"
        return Check("shared state", where)
    return Check("shared state", f"in Redis at {store.shown(settings.redis_url)}, beside the rate budgets")


def _proxy_check(settings: Settings, env: Mapping[str, str], sandboxed: bool) -> Check:
    way = route(settings)
    if sandboxed:
        return Check("proxy", "none: the sandbox runs in this process")
    if way.proxy is not None:
        source = variables(env).get(way.setting, way.setting.upper())
        return Check("proxy", f"{mask(way.proxy.get_secret_value())}, from {source}")
    if way.bypassed:
        return Check("proxy", f"none: {httpx2.URL(settings.base_url).host} is in NO_PROXY")
    return Check("proxy", f"none ({way.setting.upper()} is not set)")


def _surface_check(settings: Settings) -> Check:
    try:
        tools = exposed_tools(settings)
    except ConfigError as exc:
        return Check("tools", f"{exc} — fix: {SURFACE_FIX}", problem=True)
    toolsets = sorted({tool.toolset for tool in tools})
    return Check("tools", f"{len(tools)} exposed, from the toolsets {', '.join(toolsets)}")


def _budget_check(settings: Settings) -> Check:
    variable = next(var for var, field in ENVIRONMENT.items() if field == "rate_limit")
    if settings.rate_limit == 0:
        return Check(
            "rate budget", f"off ({variable}=0): parallel calls past Twill's {TWILL_RATE_LIMIT}/minute get 429s"
        )
    text = f"{settings.rate_limit} requests/minute per key, queued client-side (Twill allows {TWILL_RATE_LIMIT}/minute)"
    if settings.redis_url is None:
        return Check("rate budget", f"{text}, per process (TWILL_MCP_REDIS_URL is not set)")
    where = store.shown(settings.redis_url)
    if anyio.run(_kept, settings) == "shared":
        return Check("rate budget", f"{text}, shared by every replica through Redis at {where}")
    fix = "start Redis or correct TWILL_MCP_REDIS_URL; until then each process keeps to its own budget"
    return Check("rate budget", f"{text}, but Redis at {where} does not answer — fix: {fix}", problem=True)


async def _kept(settings: Settings) -> Kept:
    budgets = budgets_for(settings)
    try:
        return await budgets.kept()
    finally:
        await budgets.aclose()


async def _reach(settings: Settings, sandboxed: bool) -> list[Check]:
    # Imported here: `twill-mcp` imports doctor at start-up, and serving need not load the SDK's client.
    from twill_mcp.inprocess import call_once

    tool = compiled_by_name()[KEY_CHECK_TOOL]
    started = time.monotonic()
    result = await call_once(settings, [tool], tool.name, {}, sandboxed)
    elapsed = f"{(time.monotonic() - started) * 1000:.0f} ms"
    body = result.structured_content or {}
    if not result.is_error:
        reached = Check("Twill", f"reached {settings.base_url} in {elapsed}")
        name, slug, ident = (body.get(field, "?") for field in ("workspaceName", "workspaceSlug", "workspaceId"))
        return [reached, Check("key check", f'valid, for the workspace "{name}" (slug {slug}, id {ident})')]
    error = body.get("error", {})
    code, status, message = error.get("code", "?"), error.get("status"), error.get("message", "")
    if status is None:
        # Nothing came back from Twill: the transport failed before or while asking.
        fix = "check the network (and a proxy, if you need one) and TWILL_BASE_URL"
        if "certificate" in message.lower():
            fix = "if your network inspects TLS, set SSL_CERT_FILE to a PEM bundle with its CA (and the public ones)"
        return [Check("Twill", f"{message} — fix: {fix}", problem=True)]
    reached = Check("Twill", f"reached {settings.base_url} in {elapsed}")
    if status in (401, 403):
        fix = "the key is wrong, revoked or expired (or belongs to a personal workspace): " + GET_A_KEY
        return [reached, Check("key check", f"Twill refused the key (HTTP {status} {code}) — fix: {fix}", problem=True)]
    if status == 429:
        wait = error.get("retryAfter")
        fix = f"wait {wait:g} s" if isinstance(wait, int | float) else "wait a minute"
        text = f"Twill says this key's rate limit is used up — fix: {fix}, and check what else uses the key"
        return [reached, Check("key check", text, problem=True)]
    text = f"Twill answered HTTP {status} {code}: {message} — fix: try again later; if it persists, report it to Twill"
    return [reached, Check("key check", text, problem=True)]
