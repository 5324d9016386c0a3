"""What checking an OAuth access token costs per request (`--auth oauth`): the bearer opened and checked
exactly as `InboundAuth` does it (AES-GCM open, JSON, audience, expiry, the grant's revocation looked up).

No network but the store's: tokens are minted through the provider's own code path, then `grant_of` is timed
N times and the median and p99 printed. With --redis URL the revocation lookup goes to that Redis.

Usage: python bench/oauth_token_check.py [N] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import secrets
import statistics
import sys
import time

import anyio

from twill_mcp.core.config import Settings
from twill_mcp.transports.oauth.routes import build_oauth


async def main(count: int, redis_url: str | None) -> None:
    settings = Settings.load(
        {},
        transport="http",
        auth="oauth",
        public_url="http://127.0.0.1:8000",
        oauth_secrets=f"k1:{secrets.token_hex(32)}",
        redis_url=redis_url,
    )
    oauth = build_oauth(settings)
    provider = oauth.provider
    client = provider.clients.register(
        {"redirect_uris": ["http://127.0.0.1:1/cb"], "token_endpoint_auth_method": "none"}
    )
    request = {"cid": client.client_id, "ru": "http://127.0.0.1:1/cb", "rx": True, "scp": ["twill"], "cc": "x"}
    code = await provider.load_authorization_code(client, provider.mint_code(request, "twk_" + "k" * 40, "bench"))
    assert code is not None
    access = (await provider.exchange_authorization_code(client, code)).access_token
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
