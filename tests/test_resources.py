"""Task resources, completions and prompts through the SDK's client, in both protocol eras, against the emulator."""

from __future__ import annotations

import json

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import Launch
from tests.fake_twill import FakeTwill
from twill_mcp.server.resources import RESOURCE_NOT_FOUND

pytestmark = pytest.mark.anyio
TEMPLATE = "twill://tasks/{taskIdOrSlug}"


def lists_made(fake: FakeTwill) -> int:
    return sum(1 for r in fake.requests if r.raw_path.split("?")[0] == "/api/v1/tasks")


async def test_the_task_template_is_listed_as_json(in_memory: Launch) -> None:
    async with in_memory() as client:
        templates = (await client.list_resource_templates()).resource_templates
    assert [(t.uri_template, t.mime_type) for t in templates] == [(TEMPLATE, "application/json")]


async def test_reading_a_task_returns_what_twill_answered_for_it(fake_twill: FakeTwill, in_memory: Launch) -> None:
    task = fake_twill.add_task("0b6d3c0e-1111-4222-8333-944455556666", slug="fix-login")
    async with in_memory() as client:
        result = await client.read_resource("twill://tasks/fix-login")
    [contents] = result.contents
    assert isinstance(contents, types.TextResourceContents)
    assert (contents.uri, contents.mime_type) == ("twill://tasks/fix-login", "application/json")
    body = json.loads(contents.text)
    assert (body["task"]["id"], body["task"]["slug"]) == (task.id, "fix-login")
    assert [r.raw_path for r in fake_twill.requests] == ["/api/v1/tasks/fix-login"]


async def test_reading_the_task_list_returns_its_first_page(fake_twill: FakeTwill, in_memory: Launch) -> None:
    fake_twill.add_task("0b6d3c0e-1111-4222-8333-944455556667", slug="docs")
    async with in_memory() as client:
        listed = [r.uri for r in (await client.list_resources()).resources]
        result = await client.read_resource("twill://tasks")
    assert listed == ["twill://tasks", "ui://twill/task.html"]
    assert [t["slug"] for t in json.loads(result.contents[0].text)["tasks"]] == ["docs"]


async def test_reading_an_unknown_task_is_a_resource_not_found_error_that_says_so(in_memory: Launch) -> None:
    async with in_memory() as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource("twill://tasks/no-such-task")
    assert raised.value.code == RESOURCE_NOT_FOUND
    assert "Task not found" in raised.value.error.message
    assert "retrying will not help" in raised.value.error.message


async def test_reading_a_uri_twill_mcp_does_not_serve_names_the_ones_it_does(in_memory: Launch) -> None:
    async with in_memory() as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource("twill://jobs/1")
    assert raised.value.code == RESOURCE_NOT_FOUND
    assert TEMPLATE in raised.value.error.message


async def test_a_rejected_key_is_an_error_with_twills_words(in_memory: Launch) -> None:
    async with in_memory(TWILL_API_KEY="twk_wrong") as client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource("twill://tasks")
    assert "API key was rejected" in raised.value.error.message
    assert "twk_wrong" not in raised.value.error.message


async def test_task_ids_complete_from_recent_tasks_with_one_list_call(fake_twill: FakeTwill, in_memory: Launch) -> None:
    for n, slug in enumerate(["fix-login", "fix-logout", "docs"]):
        fake_twill.add_task(f"0b6d3c0e-1111-4222-8333-94445555660{n}", slug=slug)
    ref = types.ResourceTemplateReference(type="ref/resource", uri=TEMPLATE)
    async with in_memory() as client:
        fixes = await client.complete(ref, {"name": "taskIdOrSlug", "value": "fix"})
        everything = await client.complete(ref, {"name": "taskIdOrSlug", "value": ""})
    assert sorted(fixes.completion.values) == ["fix-login", "fix-logout"]
    assert sorted(everything.completion.values) == ["docs", "fix-login", "fix-logout"]
    assert lists_made(fake_twill) == 1


async def test_the_review_prompt_completes_its_task_argument_too(fake_twill: FakeTwill, in_memory: Launch) -> None:
    fake_twill.add_task("0b6d3c0e-1111-4222-8333-944455556669", slug="review-me")
    ref = types.PromptReference(type="ref/prompt", name="review_twill_task")
    async with in_memory() as client:
        result = await client.complete(ref, {"name": "task", "value": "rev"})
    assert result.completion.values == ["review-me"]


async def test_prompts_are_listed_with_their_arguments(in_memory: Launch) -> None:
    async with in_memory() as client:
        prompts = (await client.list_prompts()).prompts
    arguments = {p.name: [(a.name, bool(a.required)) for a in p.arguments or []] for p in prompts}
    assert arguments == {
        "delegate_to_twill": [("what", True), ("repository", False)],
        "review_twill_task": [("task", True)],
    }


async def test_the_delegate_prompt_walks_through_create_wait_and_report(in_memory: Launch) -> None:
    async with in_memory() as client:
        result = await client.get_prompt("delegate_to_twill", {"what": "Fix the footer", "repository": "acme/web"})
    [message] = result.messages
    text = message.content.text
    assert "Fix the footer" in text
    assert "acme/web" in text
    assert text.index("create_task") < text.index("wait_for_task") < text.index("finalAnswer")


async def test_the_review_prompt_embeds_the_task_and_its_jobs(fake_twill: FakeTwill, in_memory: Launch) -> None:
    task = fake_twill.add_task("0b6d3c0e-1111-4222-8333-944455556670", slug="reviewed")
    async with in_memory() as client:
        result = await client.get_prompt("review_twill_task", {"task": "reviewed"})
    ask, task_message, jobs_message = result.messages
    assert "Summarise" in ask.content.text
    assert json.loads(task_message.content.resource.text)["task"]["id"] == task.id
    assert len(json.loads(jobs_message.content.resource.text)["jobs"]) == 1


async def test_reviewing_an_unknown_task_is_an_error(in_memory: Launch) -> None:
    async with in_memory() as client:
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("review_twill_task", {"task": "no-such-task"})
    assert raised.value.code == RESOURCE_NOT_FOUND
    assert "Task not found" in raised.value.error.message
