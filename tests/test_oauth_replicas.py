"""`--auth oauth` on three replicas (processes) behind the shipped nginx config, sharing a real redis-server:
a code is used once whichever replica sees it, a revocation or a replayed refresh on one is honoured by the
others, a token minted on one is served by any, and nothing in Redis or in any log reveals a key."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import API_KEY, scan_log
from tests.fake_twill import FakeTwill
from tests.http_process import free_port, http_server_command, spawn, stop, wait_healthy
from tests.http_thread import MODERN, envelope, era_headers
from tests.oauth_harness import (
    CONSENTED_KEY,
    LOOPBACK_CALLBACK,
    SECRET,
    Pkce,
    authorize_url,
    browser,
    open_consent,
    redirect_params,
    register,
    sign_in,
    submit,
    token,
)
from tests.test_loadbalancer import SHIPPED, find_nginx, main_config, render

pytestmark = pytest.mark.slow
REPLICAS = 3


class Replicas:
    def __init__(self, nginx: str, twill_origin: str, redis_url: str, tmp: Path) -> None:
        self.nginx = nginx
        self.tmp = tmp
        self.ports = [free_port() for _ in range(REPLICAS)]
        self.listen = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
            "TWILL_BASE_URL": twill_origin,
            "TWILL_MCP_AUTH": "oauth",
            "TWILL_MCP_PUBLIC_URL": self.issuer,
            "TWILL_MCP_OAUTH_SECRET": SECRET,
            "TWILL_MCP_REDIS_URL": redis_url,
            "TWILL_MCP_OAUTH_CONSENT_ATTEMPTS": "1000",
            "TWILL_MCP_TOOLSETS": "all",
            "TWILL_MCP_LOG_LEVEL": "DEBUG",
        }
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    @property
    def issuer(self) -> str:
        """What clients reach: nginx. Every replica is configured with it, not with its own address."""
        return f"http://127.0.0.1:{self.listen}"

    def replica(self, index: int) -> str:
        """One replica directly, bypassing nginx, to put a request on it for sure."""
        return f"http://127.0.0.1:{self.ports[index]}"

    def start(self) -> None:
        for index, port in enumerate(self.ports):
            log = self.tmp / f"replica-{index}.log"
            self.processes.append((spawn(http_server_command(port), log, self.env), log))
        prefix = self.tmp / "nginx"
        prefix.mkdir()
        site = self.tmp / "site.conf"
        site.write_text(render(SHIPPED.read_text(encoding="utf-8"), self.ports, self.listen, self.tmp / "access.log"))
        (prefix / "nginx.conf").write_text(main_config(site, prefix))
        command = [self.nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"]
        log = self.tmp / "nginx.log"
        self.processes.append((spawn(command, log, dict(os.environ)), log))
        for (process, log), port in zip(self.processes, [*self.ports, self.listen], strict=True):
            wait_healthy(f"http://127.0.0.1:{port}/healthz", process, log)

    def stop(self) -> None:
        for process, _ in reversed(self.processes):
            stop(process)


@pytest.fixture(scope="module")
def twill() -> Iterator[FakeTwill]:
    fake = FakeTwill(API_KEY, CONSENTED_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def replicas(twill: FakeTwill, shared_redis: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    nginx = find_nginx()
    if nginx is None:
        pytest.skip("nginx is not installed (`.ci/run` installs Debian's nginx-light)")
    deployment = Replicas(nginx, twill.origin, shared_redis.url, tmp_path_factory.mktemp("oauth-replicas"))
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
    for _, log in deployment.processes:
        scan_log(log, CONSENTED_KEY, SECRET)


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with browser() as client:
        yield client


def tools_list(base: str, access_token: str) -> int:
    headers = {**era_headers(MODERN), "Authorization": f"Bearer {access_token}"}
    return httpx2.post(base + "/mcp", json=envelope(MODERN), headers=headers, timeout=30).status_code


def consented_code(replicas: Replicas, base: str, http: httpx2.Client, client: dict[str, Any], pkce: Pkce) -> str:
    """Consent through /authorize on `base`; the resource is the deployment's, whichever replica is asked."""
    page = open_consent(http, authorize_url(base, client["client_id"], pkce, resource=replicas.issuer + "/mcp"))
    return redirect_params(submit(http, page, CONSENTED_KEY))["code"]


def redeem_at(http: httpx2.Client, base: str, client: dict[str, Any], code: str, verifier: str) -> httpx2.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": LOOPBACK_CALLBACK}
    return token(http, base, client, **form, code_verifier=verifier)


def test_the_whole_flow_works_through_the_load_balancer(replicas: Replicas, http: httpx2.Client) -> None:
    tokens = sign_in(http, replicas.issuer, register(http, replicas.issuer))
    assert all(tools_list(replicas.issuer, tokens["access_token"]) == 200 for _ in range(REPLICAS * 2))


def test_a_token_minted_on_one_replica_is_served_by_every_other(replicas: Replicas, http: httpx2.Client) -> None:
    client, pkce = register(http, replicas.replica(0)), Pkce.make()
    code = consented_code(replicas, replicas.replica(0), http, client, pkce)
    tokens = redeem_at(http, replicas.replica(0), client, code, pkce.verifier).json()
    assert [tools_list(replicas.replica(i), tokens["access_token"]) for i in range(REPLICAS)] == [200] * REPLICAS


def test_a_code_redeemed_on_one_replica_is_refused_on_another(replicas: Replicas, http: httpx2.Client) -> None:
    client, pkce = register(http, replicas.issuer), Pkce.make()
    code = consented_code(replicas, replicas.issuer, http, client, pkce)
    assert redeem_at(http, replicas.replica(0), client, code, pkce.verifier).status_code == 200
    again = redeem_at(http, replicas.replica(1), client, code, pkce.verifier)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


def test_a_revocation_on_one_replica_is_honoured_by_the_others(replicas: Replicas, http: httpx2.Client) -> None:
    client = register(http, replicas.issuer)
    tokens = sign_in(http, replicas.issuer, client)
    revoked = http.post(
        replicas.replica(0) + "/revoke", data={"client_id": client["client_id"], "token": tokens["access_token"]}
    )
    assert revoked.status_code == 200
    assert [tools_list(replicas.replica(i), tokens["access_token"]) for i in range(REPLICAS)] == [401] * REPLICAS


def test_a_refresh_token_replayed_on_another_replica_revokes_the_grant(replicas: Replicas, http: httpx2.Client) -> None:
    client = register(http, replicas.issuer)
    first = sign_in(http, replicas.issuer, client)
    second = token(http, replicas.replica(0), client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    third = token(
        http, replicas.replica(1), client, grant_type="refresh_token", refresh_token=second.json()["refresh_token"]
    )
    assert third.status_code == 200
    replay = token(http, replicas.replica(2), client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert replay.json()["error"] == "invalid_grant"
    assert tools_list(replicas.replica(0), third.json()["access_token"]) == 401


def everything_in(store: Any, key: bytes) -> bytes:
    """A key's value of whatever type as plain bytes (the rate budgets beside OAuth's state are sorted sets)."""
    kind = store.type(key)
    if kind == b"string":
        return bytes(store.get(key) or b"")
    if kind == b"zset":
        return b"".join(store.zrange(key, 0, -1))
    if kind == b"hash":
        return b"".join(k + v for k, v in store.hgetall(key).items())
    if kind == b"set":
        return b"".join(store.smembers(key))
    if kind == b"list":
        return b"".join(store.lrange(key, 0, -1))
    raise AssertionError(f"a Redis value of an unexpected type: {kind!r}")


def test_nothing_in_redis_reveals_a_key_or_token(replicas: Replicas, shared_redis: Any, http: httpx2.Client) -> None:
    import redis

    client = register(http, replicas.issuer)
    tokens = sign_in(http, replicas.issuer, client)
    token(http, replicas.issuer, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    store = redis.Redis.from_url(shared_redis.url)
    dumped = b"".join(key + everything_in(store, key) for key in store.scan_iter("*"))
    assert dumped
    for secret in (CONSENTED_KEY, SECRET, tokens["access_token"], tokens["refresh_token"]):
        assert secret.encode() not in dumped
