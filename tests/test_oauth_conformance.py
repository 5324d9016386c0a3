"""The official MCP conformance suite's authorization-server mode (`@modelcontextprotocol/conformance`
0.2.0-alpha.12, `conformance authorization`) against twill-mcp's OAuth endpoints, with a real headless Chromium
completing the consent page as the user would: a wrong key first, then the right one."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.http_thread import stopped_cleanly
from tests.oauth_harness import CONSENTED_KEY, OAuthService, browser, free_port, register

pytestmark = pytest.mark.slow
SCENARIOS = ("authorization-server-metadata-endpoint", "authorization-code-grant")


@pytest.fixture(autouse=True, scope="module")
def _servers_stop() -> Iterator[None]:
    yield
    stopped_cleanly()


def authorization_url(process: subprocess.Popen[str], issuer: str, output: list[str]) -> str:
    """The URL the suite asks a person to open, read from its output as it prints it."""
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        if line.startswith(issuer + "/authorize?"):
            return line.strip()
    raise AssertionError("the suite printed no authorization URL:\n" + "".join(output))


def test_the_conformance_suites_authorization_server_scenarios_pass_with_chromium_at_the_consent_page(
    conformance: list[str], chromium: Any, oauth_service: OAuthService, tmp_path: Path
) -> None:
    port = free_port()
    with browser() as http:
        client = register(http, oauth_service.issuer, redirect_uris=[f"http://127.0.0.1:{port}/callback"])
    command = [
        *conformance,
        "authorization",
        "--url",
        oauth_service.issuer,
        "--client-id",
        client["client_id"],
        "--resource",
        oauth_service.url,
        "--port",
        str(port),
        "--output-dir",
        str(tmp_path),
    ]
    output: list[str] = []
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = authorization_url(process, oauth_service.issuer, output)
        # The rest of its output, read meanwhile so that it never blocks on a full pipe.
        assert process.stdout is not None
        reader = threading.Thread(target=lambda: output.extend(process.stdout or []), daemon=True)
        reader.start()
        context = chromium.new_context()
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto(url)
        page.fill("#key", "twk_wrong_0123456789abcdef0123")
        page.click("button[value=approve]")
        assert page.locator("[role=alert]").inner_text().startswith("Twill did not accept this API key")
        page.fill("#key", CONSENTED_KEY)
        with page.expect_navigation(url=f"http://127.0.0.1:{port}/callback*"):
            page.click("button[value=approve]")
        context.close()
        process.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = "".join(output)
    assert CONSENTED_KEY not in text
    results = {
        scenario: json.loads(path.read_text())
        for scenario in SCENARIOS
        for path in tmp_path.glob(f"authorization-server-{scenario}-*/checks.json")
    }
    assert set(results) == set(SCENARIOS), text
    statuses = {check["id"]: check["status"] for checks in results.values() for check in checks}
    assert statuses
    assert set(statuses.values()) == {"SUCCESS"}, (statuses, text)
