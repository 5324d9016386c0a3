"""Twill tasks as MCP resources, so a host can mention one (`@`) and read it, and completions for their ids.

`twill://tasks/{taskIdOrSlug}` is the task as get_task returns it; `twill://tasks` the first
page of list_tasks. Reads go through the same request path as the tools (the caller's
credentials, the rate budget, the outcome policy); a failure is an MCP error whose message
says what happened and what to do, with the tool error object as its data.
Completions come from the caller's recent tasks: one list_tasks call per key, cached briefly.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError

from twill_mcp.core.credentials import Credentials, CredentialsFor
from twill_mcp.core.errors import ToolCallError
from twill_mcp.server.task_app import TASK_APP, read_task_app
from twill_mcp.spec.compiler import CompiledTool
from twill_mcp.spec.overlay import TASK_APP_URI
from twill_mcp.tools.call import OperationCall
from twill_mcp.tools.responses import JSON
from twill_mcp.upstream.http import TwillHttp

logger = logging.getLogger(__name__)

TASKS_URI = "twill://tasks"
TASK_ARGUMENT = "taskIdOrSlug"
TASK_TEMPLATE = TASKS_URI + "/{" + TASK_ARGUMENT + "}"
_TASK_URI = re.compile(re.escape(TASKS_URI) + r"/([^/?#]+)")


def task_id_of(uri: str) -> str | None:
    """The task a `twill://tasks/{id}` URI names, or None for any other URI."""
    match = _TASK_URI.fullmatch(uri)
    return unquote(match.group(1)) if match else None


# MCP's code for a resource that does not exist (the 2025-era spec's -32002).
RESOURCE_NOT_FOUND = -32002
COMPLETION_TTL_SECONDS = 30.0
MAX_COMPLETIONS = 100

RESOURCES = [
    types.Resource(
        uri=TASKS_URI,
        name="tasks",
        title="Recent Twill tasks",
        description="The first page of the workspace's tasks, newest first, with each latest job's status.",
        mime_type=JSON,
    ),
    TASK_APP,
]
TEMPLATES = [
    types.ResourceTemplate(
        uri_template=TASK_TEMPLATE,
        name="task",
        title="Twill task",
        description="One task and its latest job (status, finalAnswer, PRs), as get_task returns it.",
        mime_type=JSON,
    )
]


class Upstream:
    """One JSON read of a compiled read-only operation, as a tool would make it, outside a tool call."""

    def __init__(self, http: TwillHttp, tools: Mapping[str, CompiledTool]) -> None:
        self._http = http
        self._calls = {
            name: OperationCall(tool)
            for name, tool in tools.items()
            if tool.annotations.read_only and tool.response_kind == "json"
        }

    async def read(self, credentials: Credentials, tool: str, arguments: dict[str, Any]) -> Any:
        """The success body, or the `ToolCallError` the tool would have reported."""
        success = await self._calls[tool](self._http, credentials, arguments, None)
        return success.body


def protocol_error(error: ToolCallError, what: str) -> MCPError:
    """A tool error as an MCP error: the same words an agent would get from the tool, and the error object."""
    code = RESOURCE_NOT_FOUND if error.status == 404 else types.INTERNAL_ERROR
    text = f"Could not read {what}: {error.message}" + (f" {error.hint}" if error.hint else "")
    return MCPError(code=code, message=text, data=error.to_dict())


@dataclass(frozen=True, slots=True)
class _Recent:
    expires: float
    values: list[str]


class TaskResources:
    def __init__(
        self,
        upstream: Upstream,
        credentials: CredentialsFor,
        *,
        completes: Callable[[Any], bool] = lambda ref: False,
        ttl: float = COMPLETION_TTL_SECONDS,
    ) -> None:
        self._upstream = upstream
        self._credentials = credentials
        self._completes = completes
        self._ttl = ttl
        self._recent: dict[str, _Recent] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=RESOURCES)

    async def list_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=TEMPLATES)

    async def read(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri == TASK_APP_URI:
            return read_task_app()  # part of the package: no key, no call to Twill
        if uri == TASKS_URI:
            tool, arguments, what = "list_tasks", {}, "the task list"
        elif (task_id := task_id_of(uri)) is not None:
            tool, arguments, what = "get_task", {TASK_ARGUMENT: task_id}, f"task {task_id!r}"
        else:
            raise MCPError(
                code=RESOURCE_NOT_FOUND,
                message=f"Unknown resource {uri!r}: twill-mcp serves {TASKS_URI}, {TASK_TEMPLATE} and {TASK_APP_URI}.",
            )
        try:
            body = await self._upstream.read(self._credentials(ctx), tool, arguments)
        except ToolCallError as error:
            raise protocol_error(error, what) from None
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type=JSON, text=text)])

    async def complete(
        self, ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        ref = params.ref
        is_task = isinstance(ref, types.ResourceTemplateReference) and ref.uri == TASK_TEMPLATE
        if not (is_task and params.argument.name == TASK_ARGUMENT) and not self._completes(params):
            return types.CompleteResult(completion=types.Completion(values=[]))
        typed = params.argument.value.lower()
        matches = [value for value in await self._recent_tasks(self._credentials(ctx)) if typed in value.lower()]
        return types.CompleteResult(
            completion=types.Completion(
                values=matches[:MAX_COMPLETIONS], total=len(matches), has_more=len(matches) > MAX_COMPLETIONS
            )
        )

    async def _recent_tasks(self, credentials: Credentials) -> list[str]:
        """The slugs of the key's recent tasks, newest first; one list call per key per TTL.

        Held per key: concurrent completions of one key wait for its one list call, and never for another
        key's (a slow answer to one tenant must not delay the next).
        """
        key = credentials.key_id
        lock = self._locks.setdefault(key, anyio.Lock())
        try:
            async with lock:
                return await self._list_recent(credentials)
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]  # nobody waits for it: a key seen once leaves nothing behind

    async def _list_recent(self, credentials: Credentials) -> list[str]:
        now = anyio.current_time()
        self._recent = {key: recent for key, recent in self._recent.items() if recent.expires > now}
        if (recent := self._recent.get(credentials.key_id)) is not None:
            return recent.values
        try:
            body = await self._upstream.read(credentials, "list_tasks", {})
        except ToolCallError as error:
            # A completion is a convenience: no suggestions, not an error, and nothing cached.
            logger.info("no task completions: %s", error.message)
            return []
        tasks = body.get("tasks") if isinstance(body, dict) else None
        values = [
            name
            for task in tasks or []
            if isinstance(task, dict)
            for name in [task.get("slug") or task.get("id")]
            if isinstance(name, str)
        ]
        self._recent[credentials.key_id] = _Recent(anyio.current_time() + self._ttl, values)
        return values
