"""OAuth clients nobody here wrote, on real sockets: the official TypeScript SDK client (Node.js) discovers,
registers or uses a pinned client id, goes through the consent page, and calls a tool that reaches Twill with
the consented key."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_thread import stopped_cleanly
from tests.oauth_harness import CLAUDE_CODE, CONSENTED_KEY, OAuthService

pytestmark = pytest.mark.slow
CALLBACK = "http://localhost:43119/callback"


@pytest.fixture(autouse=True, scope="module")
def _servers_stop() -> Iterator[None]:
    yield
    stopped_cleanly()


def run_ts_oauth(interop: Path, service: OAuthService, **plan: Any) -> dict[str, Any]:
    full = {"url": service.url, "key": CONSENTED_KEY, "redirect": CALLBACK, "tool": "get_current_user", **plan}
    done = subprocess.run(
        ["node", str(interop / "ts_oauth_client.mjs"), json.dumps(full)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert CONSENTED_KEY not in done.stdout + done.stderr
    return out


def test_the_typescript_client_registers_consents_and_calls_a_tool_with_the_consented_key(
    ts_interop: Path, oauth_service: OAuthService
) -> None:
    oauth_service.fake.reset()
    out = run_ts_oauth(ts_interop, oauth_service)
    assert out["unauthorizedFirst"] is True
    assert out["clientId"].startswith("tmcl_")
    assert out["iss"] == oauth_service.issuer
    assert out["hasRefreshToken"] is True
    assert not out["result"].get("isError")
    assert oauth_service.fake.requests[-1].headers["authorization"] == f"Bearer {CONSENTED_KEY}"


def test_the_typescript_client_uses_a_pinned_client_id_metadata_document(
    ts_interop: Path, oauth_service: OAuthService
) -> None:
    out = run_ts_oauth(ts_interop, oauth_service, clientMetadataUrl=CLAUDE_CODE)
    assert out["clientId"] == CLAUDE_CODE
    assert not out["result"].get("isError")
