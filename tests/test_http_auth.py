"""Who may use the HTTP service and with which Twill key: `--auth env` (the server's key, behind a token off
loopback) and `--auth passthrough` (each caller's own key), DNS-rebinding protection, start-up refusals."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator

import anyio
import httpx2
import mcp_types as types
import pytest
from pydantic import SecretStr

from tests.conftest import API_KEY, call, error_of
from tests.fake_twill import FakeTwill, Scripted
from tests.http_thread import LEGACY, MODERN, envelope, era_headers, mcp_client, serving, settings_for, stopped_cleanly
from twill_mcp import cli
from twill_mcp.core.credentials import Credentials

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True, scope="module")
def _servers_stop() -> Iterator[None]:
    yield
    stopped_cleanly()


TOKEN = "inbound_" + secrets.token_hex(16)
USER_A = "twk_user_a_" + secrets.token_hex(12)
USER_B = "twk_user_b_" + secrets.token_hex(12)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(fake: FakeTwill, *keys: str) -> None:
    """Make the emulator accept these keys as Twill would accept its users' keys."""
    fake.emulator.app.state.api_keys.update(keys)


# --auth env with TWILL_MCP_HTTP_TOKEN


@pytest.mark.parametrize("presented", [None, "wrong-token", "Basic " + TOKEN], ids=["missing", "wrong", "not-bearer"])
async def test_env_mode_with_a_token_refuses_a_request_without_it(fake_twill: FakeTwill, presented: str | None) -> None:
    headers = era_headers(MODERN)
    if presented is not None:
        headers["Authorization"] = presented if presented.startswith("Basic") else f"Bearer {presented}"
    with serving(settings_for(fake_twill, http_token=TOKEN)) as url, httpx2.Client() as http:
        answer = http.post(url, json=envelope(MODERN), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer ")
    assert answer.json()["error"] == "invalid_token"
    assert fake_twill.requests == []


async def test_env_mode_with_the_token_calls_twill_with_the_servers_key_not_the_token(
    fake_twill: FakeTwill, protocol_mode: str
) -> None:
    fake_twill.add_task("t1")
    with serving(settings_for(fake_twill, http_token=TOKEN)) as url:
        async with mcp_client(url, protocol_mode, bearer(TOKEN)) as client:
            result = await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    assert result.structured_content == {"success": True, "task": {"id": "t1"}}
    [request] = fake_twill.requests
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert TOKEN not in str(request.headers)


async def test_env_mode_on_loopback_without_a_token_needs_no_inbound_auth(fake_twill: FakeTwill) -> None:
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        answer = http.post(url, json=envelope(MODERN), headers=era_headers(MODERN))
    assert answer.status_code == 200


# DNS rebinding


@pytest.mark.parametrize("era", [MODERN, LEGACY])
@pytest.mark.parametrize(
    ("header", "value", "status"), [("Host", "evil.example", 421), ("Origin", "http://evil.example", 403)]
)
async def test_a_foreign_host_or_origin_is_refused_on_loopback(
    fake_twill: FakeTwill, era: str, header: str, value: str, status: int
) -> None:
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        answer = http.post(url, json=envelope(era), headers={**era_headers(era), header: value})
    assert answer.status_code == status
    assert answer.json()["error"]["message"] == f"Invalid {header} header"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_a_loopback_host_without_a_port_is_accepted_as_a_local_proxy_sends_it(
    fake_twill: FakeTwill, host: str
) -> None:
    with serving(settings_for(fake_twill)) as url, httpx2.Client() as http:
        answer = http.post(url, json=envelope(MODERN), headers={**era_headers(MODERN), "Host": host})
    assert answer.status_code == 200


async def test_off_loopback_only_the_allowed_hosts_and_origins_get_through(fake_twill: FakeTwill) -> None:
    settings = settings_for(
        fake_twill,
        host="0.0.0.0",
        http_token=TOKEN,
        allowed_hosts="mcp.example.com",
        allowed_origins="https://app.example.com",
    )
    headers = {**era_headers(MODERN), **bearer(TOKEN)}
    with serving(settings) as url, httpx2.Client() as http:

        def status(**extra: str) -> int:
            return http.post(url, json=envelope(MODERN), headers={**headers, **extra}).status_code

        assert status(Host="mcp.example.com") == 200
        assert status(Host="mcp.example.com", Origin="https://app.example.com") == 200
        assert status(Host="mcp.example.com", Origin="http://localhost:3000") == 403
        assert status() == 421  # 127.0.0.1:port is not a name this server was told it is reached by


# Start-up refusals


@pytest.mark.parametrize(
    ("arguments", "environment", "names"),
    [
        (["--host", "0.0.0.0", "--allowed-hosts", "mcp.example.com"], {}, "TWILL_MCP_HTTP_TOKEN"),
        (["--host", "0.0.0.0"], {"TWILL_MCP_HTTP_TOKEN": TOKEN}, "--allowed-hosts"),
        (["--host", "0.0.0.0", "--auth", "passthrough"], {}, "--allowed-hosts"),
        (["--auth", "passthrough"], {"TWILL_MCP_HTTP_TOKEN": TOKEN}, "TWILL_MCP_HTTP_TOKEN applies to --auth env only"),
        ([], {"TWILL_MCP_HTTP_TOKEN": "hunter2"}, "TWILL_MCP_HTTP_TOKEN: is too short"),
    ],
    ids=["no-token", "no-allowed-hosts", "passthrough-no-allowed-hosts", "token-with-passthrough", "short-token"],
)
def test_an_unprotected_exposure_is_refused_at_start_up_naming_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    environment: dict[str, str],
    names: str,
) -> None:
    for variable in ("TWILL_API_KEY", "TWILL_MCP_HTTP_TOKEN", "TWILL_MCP_ALLOWED_HOSTS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("TWILL_API_KEY", API_KEY)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert cli.main(["--transport", "http", "--port", "0", *arguments]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err
    assert names in err
    for secret in [API_KEY, *environment.values()]:
        assert secret not in err


# --auth passthrough


@pytest.mark.parametrize("presented", [None, "Bearer", "Bearer two words", "Token twk_long_enough", "Bearer short"])
async def test_passthrough_refuses_a_request_without_a_key_and_sends_nothing(
    fake_twill: FakeTwill, presented: str | None
) -> None:
    fake_twill.add_task("t1")
    headers = era_headers(MODERN, "tools/call", "cancel_task")
    if presented is not None:
        headers["Authorization"] = presented
    body = envelope(MODERN, "tools/call", {"name": "cancel_task", "arguments": {"taskIdOrSlug": "t1"}})
    with serving(settings_for(fake_twill, auth="passthrough")) as url, httpx2.Client() as http:
        answer = http.post(url, json=body, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer ")
    assert fake_twill.requests == []
    assert fake_twill.task("t1").status != "CANCELLED"


async def test_passthrough_sends_each_users_calls_with_exactly_that_users_key(
    fake_twill: FakeTwill, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    register(fake_twill, USER_A, USER_B)
    calls = 25
    for user in ("a", "b"):
        for i in range(calls):
            fake_twill.add_task(f"{user}-{i}")
    # The server has a key of its own; it must never stand in for a user's.
    with serving(settings_for(fake_twill, auth="passthrough", api_key=API_KEY)) as url:
        async with (
            mcp_client(url, MODERN, bearer(USER_A)) as alice,
            mcp_client(url, LEGACY, bearer(USER_B)) as bob,
            anyio.create_task_group() as tg,
        ):
            for i in range(calls):
                for client, user in ((alice, "a"), (bob, "b")):
                    tg.start_soon(call, client, "cancel_task", {"taskIdOrSlug": f"{user}-{i}"})
    keys = {"a": USER_A, "b": USER_B}
    assert len(fake_twill.requests) == 2 * calls
    for request in fake_twill.requests:
        task = request.segments[-2]
        assert request.headers["authorization"] == f"Bearer {keys[task[0]]}", task
    assert all(fake_twill.task(f"{u}-{i}").status == "CANCELLED" for u in keys for i in range(calls))
    # Not even at DEBUG does a user's key reach the log: only its fingerprint does.
    assert USER_A not in caplog.text
    assert USER_B not in caplog.text
    assert Credentials(SecretStr(USER_A)).fingerprint in caplog.text


async def test_passthrough_never_uses_the_servers_own_key(fake_twill: FakeTwill) -> None:
    register(fake_twill, USER_A)
    fake_twill.add_task("t1")
    with serving(settings_for(fake_twill, auth="passthrough", api_key=API_KEY)) as url:
        async with mcp_client(url, MODERN, bearer(USER_A)) as client:
            await call(client, "get_task", {"taskIdOrSlug": "t1"})
            await call(client, "cancel_task", {"taskIdOrSlug": "t1"})
    assert [r.headers["authorization"] for r in fake_twill.requests] == [f"Bearer {USER_A}"] * 2


async def test_passthrough_a_key_twill_rejects_is_that_users_error_only(fake_twill: FakeTwill) -> None:
    register(fake_twill, USER_A)
    fake_twill.add_task("t1")
    with serving(settings_for(fake_twill, auth="passthrough")) as url:
        async with (
            mcp_client(url, MODERN, bearer("twk_not_a_user")) as mallory,
            mcp_client(url, MODERN, bearer(USER_A)) as alice,
        ):
            refused = await call(mallory, "get_task", {"taskIdOrSlug": "t1"})
            accepted = await call(alice, "get_task", {"taskIdOrSlug": "t1"})
    assert error_of(refused)["code"] == "unauthorized"
    assert "twk_not_a_user" not in refused.model_dump_json()
    assert not accepted.is_error


async def test_passthrough_rate_budgets_are_per_key(fake_twill: FakeTwill) -> None:
    register(fake_twill, USER_A, USER_B)
    fake_twill.add_task("t1")
    with serving(settings_for(fake_twill, auth="passthrough", rate_limit=2)) as url:
        async with mcp_client(url, MODERN, bearer(USER_A)) as alice, mcp_client(url, MODERN, bearer(USER_B)) as bob:
            for _ in range(2):
                assert not (await call(alice, "get_task", {"taskIdOrSlug": "t1"})).is_error
            spent = await call(alice, "get_task", {"taskIdOrSlug": "t1"})
            fresh = await call(bob, "get_task", {"taskIdOrSlug": "t1"})
    assert error_of(spent)["code"] == "rate_limited"
    assert not fresh.is_error
    assert [r.headers["authorization"] for r in fake_twill.requests] == [f"Bearer {USER_A}"] * 2 + [f"Bearer {USER_B}"]


async def test_passthrough_one_users_slow_completion_never_delays_anothers(fake_twill: FakeTwill) -> None:
    # Issue 23, case 7: completions of all keys shared one lock, so B waited out A's slow list_tasks.
    register(fake_twill, USER_A, USER_B)
    fake_twill.add_task("t1", slug="fix-login")
    slow = 4.0
    fake_twill.then(Scripted(200, b'{"tasks": [], "nextCursor": null}', {"Content-Type": "application/json"}, slow))
    ref = types.ResourceTemplateReference(type="ref/resource", uri="twill://tasks/{taskIdOrSlug}")
    argument = {"name": "taskIdOrSlug", "value": "fix"}
    with serving(settings_for(fake_twill, auth="passthrough")) as url:
        async with (
            mcp_client(url, MODERN, bearer(USER_A)) as alice,
            mcp_client(url, MODERN, bearer(USER_B)) as bob,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(alice.complete, ref, argument)
            with anyio.fail_after(5):
                while not fake_twill.requests:  # A's list_tasks is at Twill, answered in `slow` seconds
                    await anyio.sleep(0.01)
            started = time.monotonic()
            completed = await bob.complete(ref, argument)
            waited = time.monotonic() - started
            tg.cancel_scope.cancel()  # A's answer is not what this is about
    assert completed.completion.values == ["fix-login"]
    assert waited < slow / 2
    assert [r.headers["authorization"] for r in fake_twill.requests] == [f"Bearer {USER_A}", f"Bearer {USER_B}"]
