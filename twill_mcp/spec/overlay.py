"""Per-operation hand edits the OpenAPI document cannot express, as data.

The spec stays the single source of truth for paths, parameters and schemas. This
overlay only adds what the spec is silent on: a tight description for an agent (what
it does, when to use it, what it returns), the toolset a tool belongs to, and the
behavioural hints the HTTP method alone cannot tell (for example that cancelling is
destructive yet safe to repeat). Keyed by operationId.
"""

from __future__ import annotations

from typing import Any, TypedDict


class ToolOverlay(TypedDict, total=False):
    name: str
    title: str
    description: str
    arguments: dict[str, str]
    """Descriptions of arguments, by name."""
    local_arguments: dict[str, dict[str, Any]]
    """Arguments of the tool itself (JSON Schemas), never sent to Twill."""
    clears: dict[str, str]
    """Nullable body field -> boolean argument that clears it (sends null); the field itself stops taking null."""
    action: str
    """The action in words ("cancel the task"), for messages about whether it happened."""
    toolset: str
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool
    ui: str
    """The `ui://` resource (an MCP App) a host that renders Apps shows this tool's results in."""


TASK_ID = "Task id (UUID) or slug."
JOB_ID = "Job id, from get_task (latestJob.id) or list_task_jobs."
SCHEDULE_ID = "Scheduled task id, from list_scheduled_tasks."
# The task view (an MCP App, twill_mcp/data/task-app.html): the tools whose result is one task point hosts at it.
TASK_APP_URI = "ui://twill/task.html"
AGENT = "Full provider/model, e.g. claude-code/sonnet, claude-code/opus, codex/gpt-5.5. Omit for the default."

OVERLAY: dict[str, ToolOverlay] = {
    "getCurrentUser": {
        "description": "Check the API key: returns the workspace and user it belongs to "
        "(workspaceId, workspaceName, workspaceSlug, userId, apiKeyId).",
        "toolset": "account",
    },
    "listRepositories": {
        "description": "List the GitHub repositories connected to the workspace (fullName, defaultBranch).",
        "toolset": "account",
    },
    "createTask": {
        "description": "Start a new Twill task: a cloud coding agent works on `command` and opens a PR. "
        "The agent picks the repository itself; name it in the command. Returns {task: {id, slug, url}, job}. "
        "Follow it with wait_for_task.",
        "arguments": {
            "command": "What the agent should do, in plain words. Start with /plan to get a plan first.",
            "agent": AGENT,
            "parentId": "Id of an existing task to branch this one from.",
        },
        "action": "create the task",
        "toolset": "tasks",
        "ui": TASK_APP_URI,
    },
    "listTasks": {
        "description": "List the workspace's tasks with their latest job status and PRs. Paginated.",
        "toolset": "tasks",
    },
    "getTask": {
        "description": "Get one task and its latest job: status, plan, finalAnswer (the agent's result) and PRs. "
        "To wait for a run to end, use wait_for_task.",
        "arguments": {"taskIdOrSlug": TASK_ID},
        "toolset": "tasks",
        "ui": TASK_APP_URI,
    },
    "sendMessage": {
        "description": "Send a follow-up message to a task, which starts a new agent run on it. "
        "Warning: this cancels the task's running job, if any. Returns {job: {id, status}}.",
        "arguments": {"taskIdOrSlug": TASK_ID, "agent": AGENT + " The harness cannot change."},
        "action": "post the message",
        "destructive": True,
        "toolset": "tasks",
    },
    "listTaskJobs": {
        "description": "List a task's jobs (its runs and chat history) with each job's input, finalAnswer and error. "
        "The next page holds older jobs.",
        "arguments": {"taskIdOrSlug": TASK_ID},
        "toolset": "tasks",
    },
    "approvePlan": {
        "description": "Deprecated: Twill removed plan approval; answer the plan in the task chat with send_message.",
        "arguments": {"taskIdOrSlug": TASK_ID},
        "action": "approve the plan",
        "toolset": "tasks",
    },
    "approveCriteria": {
        "description": "Deprecated: approve a Ralph-loop task's acceptance criteria.",
        "arguments": {"taskIdOrSlug": TASK_ID},
        "action": "approve the criteria",
        "toolset": "tasks",
    },
    "cancelTask": {
        "description": (
            "Cancel a running Twill task and all of its jobs; the task is marked CANCELLED. "
            "Safe to repeat: cancelling a cancelled task leaves it cancelled. "
            "Returns {success, task: {id}}."
        ),
        "arguments": {"taskIdOrSlug": "The task's id (UUID) or slug, as Twill shows it."},
        "action": "cancel the task",
        "destructive": True,
        "idempotent": True,
        "toolset": "tasks",
    },
    "archiveTask": {
        "description": "Archive a task: it leaves the task list. Cancels nothing by itself.",
        "arguments": {"taskIdOrSlug": TASK_ID},
        "action": "archive the task",
        "destructive": True,
        "idempotent": True,
        "toolset": "tasks",
    },
    "exportClaudeTeleportSession": {
        "title": "Export Claude Code session",
        "description": "Download a Claude Code task's session files (a tar of JSONL) to resume it locally. "
        "Only while the task's sandbox is alive. Returns the archive as an embedded resource.",
        "arguments": {"taskIdOrSlug": TASK_ID},
        "toolset": "teleport",
    },
    "streamJobLogs": {
        "title": "Watch job logs",
        "description": "Follow a job's live log stream until it completes, or for at most maxSeconds / maxEvents. "
        "Returns the final status (completed, failed, cancelled) if reached, event counts and the last events.",
        "arguments": {"jobId": JOB_ID},
        "local_arguments": {
            "maxSeconds": {"type": "number", "minimum": 1, "maximum": 50, "default": 30},
            "maxEvents": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 500},
        },
        "toolset": "jobs",
    },
    "cancelJob": {
        "description": "Cancel one running job of a task; the task stays open for new messages.",
        "arguments": {"jobId": JOB_ID},
        "action": "cancel the job",
        "destructive": True,
        "idempotent": True,
        "toolset": "jobs",
    },
    "listScheduledTasks": {
        "description": "List the workspace's scheduled (cron) tasks.",
        "toolset": "scheduled",
    },
    "createScheduledTask": {
        "description": "Create a task that runs `message` on a cron schedule (needs a Pro or Max plan).",
        "arguments": {"agentProviderId": AGENT},
        "action": "create the scheduled task",
        "toolset": "scheduled",
    },
    "getScheduledTask": {
        "description": "Get one scheduled task.",
        "arguments": {"scheduledTaskId": SCHEDULE_ID},
        "toolset": "scheduled",
    },
    "updateScheduledTask": {
        "description": 'Change some fields of a scheduled task; fields left out (or null, or "") stay as they are. '
        "To remove the model override, pass clearAgentProviderId: true instead of agentProviderId.",
        "arguments": {
            "scheduledTaskId": SCHEDULE_ID,
            "agentProviderId": AGENT.replace("Omit for the default.", "Omit to keep the current one."),
            "clearAgentProviderId": "true removes the model override: the schedule then runs with the default agent.",
        },
        "clears": {"agentProviderId": "clearAgentProviderId"},
        "action": "update the scheduled task",
        "idempotent": True,
        "toolset": "scheduled",
    },
    "deleteScheduledTask": {
        "description": "Delete a scheduled task for good.",
        "arguments": {"scheduledTaskId": SCHEDULE_ID},
        "action": "delete the scheduled task",
        "toolset": "scheduled",
    },
    "pauseScheduledTask": {
        "description": "Pause a scheduled task: it stops running until resumed.",
        "arguments": {"scheduledTaskId": SCHEDULE_ID},
        "action": "pause the scheduled task",
        "idempotent": True,
        "toolset": "scheduled",
    },
    "resumeScheduledTask": {
        "description": "Resume a paused scheduled task.",
        "arguments": {"scheduledTaskId": SCHEDULE_ID},
        "action": "resume the scheduled task",
        "idempotent": True,
        "toolset": "scheduled",
    },
}
