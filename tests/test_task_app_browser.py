"""The task view in a real browser, embedded as a host embeds it, against a real twill-mcp.

Debian's Chromium (never a downloaded browser) runs a test host page (app/test-host/host.ts) that
uses ext-apps' own `AppBridge`: it reads the tool's `_meta.ui.resourceUri` from tools/list, reads
the `ui://` resource, runs it in a sandboxed frame under the CSP its `_meta.ui.csp` asks for, and
proxies the view's tools/call requests to twill-mcp's HTTP service (in a thread, against the
emulator) over MCP. The page's origin is a name only the browser knows (http://host.test): every
request from the page or the frame is seen here, and any to another origin is refused and fails
the test. Screenshots of each state are kept in $TWILL_MCP_ARTEFACTS (default build/artefacts); with
UPDATE_SNAPSHOTS=1 the README's two (docs/images) are replaced too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fake_twill import FakeTwill
from tests.http_thread import serving, settings_for, stopped_cleanly
from twill_mcp.emulator.demo import seed_demo
from twill_mcp.emulator.models import FAILED

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
APP = ROOT / "app"
ORIGIN = "http://host.test"
ARTEFACTS = Path(os.environ.get("TWILL_MCP_ARTEFACTS", ROOT / "build" / "artefacts"))
# The README's two pictures: replaced only when asked (their timestamps change every run), as snapshots are.
DOCS = ROOT / "docs" / "images"
UPDATE_DOCS = os.environ.get("UPDATE_SNAPSHOTS") == "1"
HOSTILE = "<img src=x onerror=\"document.title='pwned';window.pwned=1\">"

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (pip install playwright) drives the browser")


@pytest.fixture(scope="module")
def host_script() -> str:
    if shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to bundle the test host")
    if not (APP / "node_modules" / ".bin" / "esbuild").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=APP, check=True, capture_output=True, timeout=300)
    done = subprocess.run(
        ["node_modules/.bin/esbuild", "test-host/host.ts", "--bundle", "--format=iife", "--platform=browser"],
        cwd=APP, check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.stdout


@pytest.fixture(scope="module")
def browser(chromium: Any) -> Iterator[Any]:
    """The suite's one Chromium (conftest), with this module's check that every service it used has stopped."""
    yield chromium
    stopped_cleanly()


@pytest.fixture
def twill() -> Iterator[FakeTwill]:
    fake = FakeTwill("key-for-the-browser-host").start()
    seed_demo(fake.state)
    yield fake
    fake.stop()


@dataclass
class Host:
    page: Any
    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def console_error(self, message: Any) -> None:
        # Chromium logs the proxy's 405 to the host page's GET (see `route`) as a failed load: that one is
        # the test host's own, not the view's.
        own = message.text.startswith("Failed to load resource") and message.location.get("url") == f"{ORIGIN}/mcp"
        if message.type == "error" and not own:
            self.console_errors.append(f"{message.location.get('url')}: {message.text}")

    @property
    def view(self) -> Any:
        return self.page.frame_locator("iframe")

    def log(self, method: str) -> list[dict[str, Any]]:
        logged: list[dict[str, Any]] = self.page.evaluate("() => window.host.log")
        return [entry for entry in logged if entry["method"] == method]

    def screenshot(self, name: str, *also: Path) -> Path:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / f"task-app-{name}.png"
        self.page.locator("iframe").screenshot(path=str(path))
        for copy in also if UPDATE_DOCS else ():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
        return path

    def is_clean(self) -> None:
        assert self.refused == [], f"requests to other origins: {self.refused}"
        assert self.console_errors == []
        assert all(url.startswith(ORIGIN + "/") for url in self.requests), self.requests


@pytest.fixture
def open_host(browser: Any, host_script: str, twill: FakeTwill) -> Iterator[Any]:
    settings = settings_for(twill, api_key="key-for-the-browser-host", allowed_origins=(ORIGIN,))
    contexts: list[Any] = []
    with serving(settings) as mcp_url:

        def start(tool: str, arguments: dict[str, Any], *, theme: str = "light", server_tools: bool = True) -> Host:
            context = browser.new_context(viewport={"width": 720, "height": 900}, locale="en-GB")
            contexts.append(context)
            page = context.new_page()
            host = Host(page)
            page.on("request", lambda request: host.requests.append(request.url))
            page.on("console", lambda message: host.console_error(message))
            page.on("pageerror", lambda error: host.console_errors.append(str(error)))
            page_html = (
                "<!doctype html><html><head><meta charset=utf-8><title>host</title>"
                "<style>body{margin:0;background:#888}iframe{border:0;width:100%;display:block}</style></head>"
                f"<body><div id=view></div><script>{host_script}</script></body></html>"
            )

            def route(request_route: Any) -> None:
                request = request_route.request
                url = request.url
                if url == ORIGIN + "/":
                    request_route.fulfill(status=200, content_type="text/html", body=page_html)
                elif url.startswith(ORIGIN + "/mcp"):
                    if request.method == "GET":
                        # A standalone server-to-client stream would never end, and a proxy that buffers
                        # (this one) cannot relay it: 405 is the answer the transport expects from a server without one.
                        request_route.fulfill(status=405)
                        return
                    answer = request_route.fetch(url=mcp_url)
                    request_route.fulfill(response=answer)
                else:
                    host.refused.append(url)
                    request_route.abort()

            context.route("**/*", route)
            page.goto(ORIGIN + "/")
            options = {"tool": tool, "arguments": arguments, "theme": theme, "serverTools": server_tools}
            page.evaluate("options => window.host.start(options)", options)
            page.wait_for_function("() => window.host.isInitialized()", timeout=15000)
            return host

        yield start
        for context in contexts:
            context.close()


def test_the_view_shows_a_done_task_with_its_pr(open_host: Any) -> None:
    host = open_host("get_task", {"taskIdOrSlug": "demo-2"})
    view = host.view
    sync_api.expect(view.get_by_role("heading", name="Fix the flaky login test")).to_be_visible()
    sync_api.expect(view.locator("#slug")).to_have_text("demo-2")
    sync_api.expect(view.get_by_role("status")).to_contain_text("Completed (latest job COMPLETED)")
    link = view.get_by_role("link", name="twill-demo/web-app#42 Fix flaky login test")
    sync_api.expect(link).to_have_attribute("href", "https://github.com/twill-demo/web-app/pull/42")
    sync_api.expect(view.locator("#answer")).to_have_text("Stabilised the login test by awaiting the session cookie.")
    assert host.page.evaluate("() => window.resourceMimeType") == "text/html;profile=mcp-app"
    assert host.log("ui/notifications/size-changed"), "the view reports its size to the host"
    host.screenshot("done", DOCS / "task-app-done.png")
    host.is_clean()


def test_a_hostile_final_answer_is_shown_as_text_and_runs_nothing(open_host: Any, twill: FakeTwill) -> None:
    _, job = twill.state.create_task("Hostile", slug="hostile")
    assert job is not None
    twill.state.finish_job(job.id, final_answer=HOSTILE)
    host = open_host("get_task", {"taskIdOrSlug": "hostile"})
    sync_api.expect(host.view.locator("#answer")).to_have_text(HOSTILE)
    assert host.view.locator("img").count() == 0
    assert host.page.frames[1].evaluate("() => [document.title, window.pwned]") == ["Twill task", None]
    host.screenshot("hostile")
    host.is_clean()


def test_refresh_calls_get_task_through_the_bridge_and_shows_the_change(open_host: Any, twill: FakeTwill) -> None:
    host = open_host("get_task", {"taskIdOrSlug": "demo-1"})
    view = host.view
    sync_api.expect(view.get_by_role("status")).to_contain_text("Running")
    sync_api.expect(view.get_by_role("button", name="Wait for it")).to_be_enabled()
    host.screenshot("running", DOCS / "task-app-running.png")
    job = twill.state.jobs[twill.task("demo-1").job_ids[-1]]
    twill.state.finish_job(job.id, final_answer="Added the toggle.")
    twill.state.add_pr(twill.task("demo-1"), "twill-demo/web-app", 43, "Dark mode toggle")
    view.get_by_role("button", name="Refresh").click()
    sync_api.expect(view.get_by_role("status")).to_contain_text("Completed")
    sync_api.expect(view.get_by_role("link", name="#43 Dark mode toggle")).to_be_visible()
    assert [(call["params"]["name"], call["params"]["arguments"]) for call in host.log("tools/call")] == [
        ("get_task", {"taskIdOrSlug": "demo-1"})
    ]
    sync_api.expect(view.get_by_role("button", name="Wait for it")).to_be_hidden()
    host.is_clean()


def test_wait_for_it_follows_a_running_task_to_completion(open_host: Any, twill: FakeTwill) -> None:
    host = open_host("get_task", {"taskIdOrSlug": "demo-1"})
    view = host.view
    job = twill.state.jobs[twill.task("demo-1").job_ids[-1]]

    def finish_soon() -> None:
        time.sleep(1.0)
        twill.state.finish_job(job.id, final_answer="Added the toggle.")

    view.get_by_role("button", name="Wait for it").click()
    threading.Thread(target=finish_soon, daemon=True).start()
    sync_api.expect(view.get_by_role("status")).to_contain_text("Completed", timeout=30000)
    sync_api.expect(view.locator("#answer")).to_have_text("Added the toggle.")
    [call] = host.log("tools/call")
    assert (call["params"]["name"], call["params"]["arguments"]) == ("wait_for_task", {"taskIdOrSlug": "demo-1"})
    host.screenshot("followed")
    host.is_clean()


def test_a_failed_task_says_so_with_its_error(open_host: Any, twill: FakeTwill) -> None:
    _, job = twill.state.create_task("Break the build", slug="broken")
    assert job is not None
    twill.state.finish_job(job.id, FAILED, error="Tests failed: 3 of 120")
    host = open_host("get_task", {"taskIdOrSlug": "broken"})
    sync_api.expect(host.view.get_by_role("status")).to_contain_text("Failed (latest job FAILED)")
    host.screenshot("failed")
    host.is_clean()


def test_a_pr_click_is_an_open_link_request_and_the_frame_stays(open_host: Any) -> None:
    host = open_host("get_task", {"taskIdOrSlug": "demo-2"})
    host.view.get_by_role("link", name="#42").click()
    host.page.wait_for_function("() => window.host.log.some(e => e.method === 'ui/open-link')")
    assert [entry["params"] for entry in host.log("ui/open-link")] == [
        {"url": "https://github.com/twill-demo/web-app/pull/42"}
    ]
    sync_api.expect(host.view.get_by_role("heading", name="Fix the flaky login test")).to_be_visible()
    host.is_clean()


def test_the_host_s_dark_theme_changes_the_rendering(open_host: Any) -> None:
    host = open_host("get_task", {"taskIdOrSlug": "demo-2"})
    body = host.view.locator("body")
    sync_api.expect(host.view.get_by_role("heading", name="Fix the flaky login test")).to_be_visible()
    light = body.evaluate("b => getComputedStyle(b).backgroundColor")
    host.page.evaluate("() => window.host.setTheme('dark')")
    sync_api.expect(host.view.locator("html")).to_have_attribute("data-theme", "dark")
    dark = body.evaluate("b => getComputedStyle(b).backgroundColor")
    assert (light, dark) == ("rgb(255, 255, 255)", "rgb(24, 24, 27)")
    host.screenshot("dark")
    host.is_clean()


def test_the_host_s_css_variables_are_followed(open_host: Any) -> None:
    host = open_host("get_task", {"taskIdOrSlug": "demo-2"})
    sync_api.expect(host.view.get_by_role("heading", name="Fix the flaky login test")).to_be_visible()
    host.page.evaluate(
        "() => window.host.setVariables({'--color-background-primary': 'rgb(1, 2, 3)', '--font-sans': 'monospace'})"
    )
    body = host.view.locator("body")
    sync_api.expect(body).to_have_css("background-color", "rgb(1, 2, 3)")
    sync_api.expect(body).to_have_css("font-family", "monospace")
    host.is_clean()


def test_the_controls_work_from_the_keyboard(open_host: Any, twill: FakeTwill) -> None:
    host = open_host("get_task", {"taskIdOrSlug": "demo-1"})
    view = host.view
    sync_api.expect(view.get_by_role("button", name="Refresh")).to_be_enabled()
    twill.state.finish_job(twill.task("demo-1").job_ids[-1], final_answer="Added the toggle.")
    view.get_by_role("heading").click()  # focus into the frame, as a user's first Tab would
    host.page.keyboard.press("Tab")
    sync_api.expect(view.get_by_role("button", name="Refresh")).to_be_focused()
    host.page.keyboard.press("Enter")
    sync_api.expect(view.get_by_role("status")).to_contain_text("Completed")
    host.is_clean()


def test_without_app_initiated_calls_the_controls_are_disabled_with_a_reason(open_host: Any) -> None:
    host = open_host("get_task", {"taskIdOrSlug": "demo-1"}, server_tools=False)
    refresh = host.view.get_by_role("button", name="Refresh")
    sync_api.expect(host.view.get_by_role("status")).to_contain_text("Running")
    sync_api.expect(refresh).to_be_disabled()
    sync_api.expect(host.view.locator("#note")).to_contain_text("does not let the view call tools")
    host.is_clean()


def test_a_created_task_is_followed_from_create_task_s_result_to_completion(open_host: Any, twill: FakeTwill) -> None:
    # create_task's result is only {task: {id, slug, url, title}, job: {id, status}}: enough to show and follow it.
    host = open_host("create_task", {"command": "Write the release notes"})
    view = host.view
    sync_api.expect(view.get_by_role("heading", name="Write the release notes")).to_be_visible()
    sync_api.expect(view.get_by_role("status")).to_contain_text("Running")
    [task] = [t for t in twill.state.tasks.values() if t.title == "Write the release notes"]

    def finish_soon() -> None:
        time.sleep(1.0)
        twill.state.finish_job(task.job_ids[-1], final_answer="Notes written.")

    view.get_by_role("button", name="Wait for it").click()
    threading.Thread(target=finish_soon, daemon=True).start()
    sync_api.expect(view.get_by_role("status")).to_contain_text("Completed", timeout=30000)
    sync_api.expect(view.locator("#answer")).to_have_text("Notes written.")
    [call] = host.log("tools/call")
    assert (call["params"]["name"], call["params"]["arguments"]) == ("wait_for_task", {"taskIdOrSlug": task.slug})
    host.is_clean()


@pytest.mark.parametrize(
    ("slug", "words", "shown"),
    [
        ("demo-3", "Waiting for input (latest job COMPLETED)", "#plan"),
        ("demo-4", "Cancelled (latest job CANCELLED)", None),
    ],
)
def test_a_plan_waiting_for_a_reply_and_a_cancelled_task_say_so(
    open_host: Any, slug: str, words: str, shown: str | None
) -> None:
    host = open_host("get_task", {"taskIdOrSlug": slug})
    sync_api.expect(host.view.get_by_role("status")).to_contain_text(words)
    if shown is not None:
        sync_api.expect(host.view.locator(shown)).to_contain_text("Move theme colours to CSS variables")
    host.screenshot(slug)
    host.is_clean()
