"""The Redis every replica shares (TWILL_MCP_REDIS_URL): the one place a client of it is made.

Whatever keeps state in it (the rate budgets, and later other per-fleet state) asks for a client here,
so that timeouts, retries and how the URL is shown are decided once. The `redis` package is an
optional extra and is imported only when a URL is configured: serving without one never loads it.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from pydantic import SecretStr

from twill_mcp.core.network import mask

if TYPE_CHECKING:
    from redis.asyncio import Redis

# Every key twill-mcp writes starts with this, so that a Redis shared with other software stays readable.
KEY_PREFIX = "twill-mcp:"
# A shared store slower than this is treated as down. Not much shorter: the clock runs while the process's own event
# loop is busy too, and a burst of calls on a busy machine kept a healthy Redis waiting past 0.25 s.
TIMEOUT_SECONDS = 1.0
# Connections per process: a burst of calls queues for one instead of opening a socket each (a connect storm is
# slower than the commands themselves, which take microseconds in Redis).
MAX_CONNECTIONS = 16
INSTALL_HINT = "pip install 'twill-mcp[redis]'"


def available() -> bool:
    """The optional `redis` package is installed (checked without importing it)."""
    return importlib.util.find_spec("redis") is not None


def shown(url: SecretStr) -> str:
    """The URL as logs, doctor and errors may show it: any user:password hidden."""
    return mask(url.get_secret_value())


def connect(url: SecretStr, timeout: float = TIMEOUT_SECONDS) -> Redis:
    """A client for the URL: short timeouts and no retries of its own, since every caller has a fallback and
    a retry would only make a call wait longer for a store that is down. Connects lazily, at the first command."""
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = BlockingConnectionPool.from_url(
        url.get_secret_value(),
        max_connections=MAX_CONNECTIONS,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        client_name="twill-mcp",
    )
    client: Redis = Redis.from_pool(pool)  # the client owns the pool: closing it closes the connections
    return client
