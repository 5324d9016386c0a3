"""Prompts for the two things people do with Twill from a chat: delegate a task, and review one.

Hosts show prompts as slash commands. `delegate_to_twill` only words the workflow
(create_task → wait_for_task → report); `review_twill_task` reads the task and its jobs
through the same request path as the tools and hands them to the model to summarise.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from twill_mcp.core.credentials import CredentialsFor
from twill_mcp.core.errors import ToolCallError
from twill_mcp.server.resources import TASK_ARGUMENT, TASKS_URI, Upstream, protocol_error
from twill_mcp.tools.responses import JSON
from twill_mcp.tools.waiting import NAME as WAIT_TOOL

DELEGATE = "delegate_to_twill"
REVIEW = "review_twill_task"
REVIEW_ARGUMENT = "task"

PROMPTS = [
    types.Prompt(
        name=DELEGATE,
        title="Delegate to Twill",
        description="Hand a coding task to Twill's cloud agent, wait for it, and report the PR and the agent's answer.",
        arguments=[
            types.PromptArgument(name="what", description="What Twill should do, in plain words.", required=True),
            types.PromptArgument(
                name="repository", description="The repository to work in (owner/name), if not obvious from the task."
            ),
        ],
    ),
    types.Prompt(
        name=REVIEW,
        title="Review a Twill task",
        description="Summarise a Twill task: what was asked, each run's outcome, the PRs and what is left to do.",
        arguments=[types.PromptArgument(name=REVIEW_ARGUMENT, description="Task id or slug.", required=True)],
    ),
]


def delegate_text(what: str, repository: str | None) -> str:
    where = f" in the repository {repository}" if repository else ""
    # create_task takes no repository field any more: the command itself must name it.
    names = f" that names {repository}" if repository else ""
    return (
        f"Delegate this to Twill's cloud coding agent{where}:\n\n{what}\n\n"
        f"1. Call create_task with a clear, self-contained command{names}.\n"
        f"2. Call {WAIT_TOOL} with the new task's slug. While its result has done=false, call it again "
        "with the same slug; tell the user the status in one line between calls.\n"
        "3. When done: if the status is COMPLETED, report the pull request(s) (task.task.prs: URL, title, state) "
        "and the agent's finalAnswer (task.latestJob.finalAnswer), briefly. If it FAILED or was CANCELLED, "
        "say so and quote the error; offer to send a follow-up with send_message.\n"
        "Do not poll with get_task in between."
    )


class TwillPrompts:
    def __init__(self, upstream: Upstream, credentials: CredentialsFor) -> None:
        self._upstream = upstream
        self._credentials = credentials

    @staticmethod
    def completes(params: types.CompleteRequestParams) -> bool:
        """The review prompt's task argument completes like the task resource's."""
        ref = params.ref
        return isinstance(ref, types.PromptReference) and ref.name == REVIEW and params.argument.name == REVIEW_ARGUMENT

    async def list_prompts(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=PROMPTS)

    async def get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        arguments = params.arguments or {}
        if params.name == DELEGATE:
            what = _required(arguments, "what")
            text = delegate_text(what, arguments.get("repository") or None)
            return types.GetPromptResult(
                description="Delegate to Twill", messages=[_user(types.TextContent(type="text", text=text))]
            )
        if params.name == REVIEW:
            return await self._review(ctx, _required(arguments, REVIEW_ARGUMENT))
        raise MCPError(
            code=types.INVALID_PARAMS,
            message=f"Unknown prompt {params.name!r}. Available prompts: {', '.join(p.name for p in PROMPTS)}.",
        )

    async def _review(self, ctx: ServerRequestContext[Any], task_id: str) -> types.GetPromptResult:
        credentials = self._credentials(ctx)
        try:
            task = await self._upstream.read(credentials, "get_task", {TASK_ARGUMENT: task_id})
            jobs = await self._upstream.read(credentials, "list_task_jobs", {TASK_ARGUMENT: task_id})
        except ToolCallError as error:
            raise protocol_error(error, f"task {task_id!r}") from None
        uri = f"{TASKS_URI}/{task_id}"
        ask = (
            f"Review the Twill task {task_id}, from the task and its jobs below. Summarise in a few lines: what was "
            "asked, the outcome of each run (status, finalAnswer or error), the pull requests (URL, state), and "
            "what, if anything, is left to do. Say plainly if the latest run is still going."
        )
        return types.GetPromptResult(
            description=f"Review of Twill task {task_id}",
            messages=[
                _user(types.TextContent(type="text", text=ask)),
                _user(_embedded(uri, task)),
                _user(_embedded(f"{uri}/jobs", jobs)),
            ],
        )


def _required(arguments: dict[str, str], name: str) -> str:
    value = (arguments.get(name) or "").strip()
    if not value:
        raise MCPError(code=types.INVALID_PARAMS, message=f"The prompt needs the argument {name!r}.")
    return value


def _user(content: types.ContentBlock) -> types.PromptMessage:
    return types.PromptMessage(role="user", content=content)


def _embedded(uri: str, body: Any) -> types.EmbeddedResource:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return types.EmbeddedResource(
        type="resource", resource=types.TextResourceContents(uri=uri, mime_type=JSON, text=text)
    )
