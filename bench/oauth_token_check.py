"""What checking an OAuth access token costs per request (`--auth oauth`): the bearer opened and checked
exactly as `InboundAuth` does it (AES-GCM open, JSON, audience, expiry, the grant's revocation looked up).

No network but the store's: tokens are minted through the provider's own code path, then `grant_of` is timed
N times and the median and p99 printed. With --redis URL the revocation lookup goes to that Redis.
bench/features.py (`python bench/perf.py --only features`) mints its tokens here too, and prices the check
in CPU time next to its target.

Usage: python bench/oauth_token_check.py [N] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import secrets
import statistics
import sys
import time
from collections.abc import Mapping

import anyio

from twill_mcp.core.config import Settings
from twill_mcp.transports.oauth.routes import OAuth, build_oauth

PUBLIC_URL = "http://127.0.0.1:8000"
"""The issuer tokens are for; a server started with the same TWILL_MCP_PUBLIC_URL and secret accepts them."""
REDIRECT = "http://127.0.0.1:1/cb"


def oauth_env(secret: str | None = None, public_url: str = PUBLIC_URL) -> dict[str, str]:
    """What `--auth oauth` reads beyond the rest of the settings: the bench process and the server it starts
    both load these, so a token sealed here opens there."""
    return {"TWILL_MCP_PUBLIC_URL": public_url, "TWILL_MCP_OAUTH_SECRET": secret or secrets.token_hex(32)}


def oauth_settings(env: Mapping[str, str], redis_url: str | None = None) -> Settings:
    """The settings of `twill-mcp --transport http --auth oauth` under `env`, the grants in Redis at `redis_url`."""
    return Settings.load(dict(env), transport="http", auth="oauth", redis_url=redis_url)


async def minted(settings: Settings, twill_key: str) -> tuple[OAuth, str]:
    """The OAuth mode these settings build, and an access token of it for `twill_key`: registered, consented,
    the code exchanged, as /register, /consent and /token do it (the code's single use claimed in this
    process's store; an access token itself needs no store to be accepted, only its grant not revoked)."""
    oauth = build_oauth(settings)
    provider = oauth.provider
    client = provider.clients.register({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"})
    request = {"cid": client.client_id, "ru": REDIRECT, "rx": True, "scp": ["twill"], "cc": "x"}
    code = await provider.load_authorization_code(client, provider.mint_code(request, twill_key, "bench"))
    assert code is not None
    return oauth, (await provider.exchange_authorization_code(client, code)).access_token


async def main(count: int, redis_url: str | None) -> None:
    oauth, access = await minted(oauth_settings(oauth_env(), redis_url), "twk_" + "k" * 40)
    samples = []
    for _ in range(count):
        started = time.perf_counter_ns()
        grant = await oauth.grant_of(access)
        samples.append(time.perf_counter_ns() - started)
        assert grant is not None
    samples.sort()
    median, p99 = statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000
    where = f"revocations in Redis at {redis_url}" if redis_url else "revocations in this process"
    print(f"token check ({where}): median {median:.1f} µs, p99 {p99:.1f} µs over {count}; token {len(access)} chars")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    redis = None
    if "--redis" in arguments:
        index = arguments.index("--redis")
        redis = arguments[index + 1]
        del arguments[index : index + 2]
    anyio.run(main, int(arguments[0]) if arguments else 20000, redis)
