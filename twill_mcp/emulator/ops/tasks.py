"""Task operations."""

from __future__ import annotations

from starlette.responses import Response

from twill_mcp.emulator.cursors import page_newest_first
from twill_mcp.emulator.errors import conflict, field_error, not_found, validation_error
from twill_mcp.emulator.models import COMPLETED
from twill_mcp.emulator.ops.common import Ctx, Handler, Reply, check_agent, check_files, harness
from twill_mcp.emulator.teleport import session_archive

REMOVED = (
    "This endpoint was removed from the Twill API. Plans and permission questions are answered "
    "in the Twill task chat; prefix a task's command with /plan to plan first."
)


async def create_task(ctx: Ctx) -> Reply:
    command: str = ctx.field("command")
    if not command.strip():
        raise field_error("command", "Must not be empty")
    check_agent("agent", ctx.field("agent"))
    check_files(ctx.field("files"))
    parent_id = ctx.field("parentId")
    if parent_id is not None and ctx.state.find_task(parent_id) is None:
        raise field_error("parentId", "Parent task not found")
    task, job = ctx.state.create_task(
        command,
        title=ctx.field("title"),
        agent=ctx.field("agent"),
        user_intent=ctx.field("userIntent", "SWE"),
        parent_id=parent_id,
    )
    assert job is not None
    now = ctx.state.now()
    return Reply({"task": task.ref_view(), "job": job.summary_view(now)})


async def list_tasks(ctx: Ctx) -> Reply:
    state = ctx.state
    with state.lock:
        tasks = state.list_tasks()
        limit, cursor = ctx.query["limit"], ctx.query.get("cursor")
        page, next_cursor = page_newest_first(tasks, lambda t: t.seq, limit, cursor, "tasks")
        now = state.now()
        items = [task.list_item_view(state.latest_job(task), now) for task in page]
    return Reply({"tasks": items, "nextCursor": next_cursor})


async def get_task(ctx: Ctx) -> Reply:
    state = ctx.state
    with state.lock:
        task = ctx.task()
        latest = state.latest_job(task)
        now = state.now()
        return Reply(
            {
                "task": task.detail_view(state.task_updated_at(task)),
                "latestJob": latest.latest_job_view(now) if latest else None,
            }
        )


async def send_message(ctx: Ctx) -> Reply:
    state = ctx.state
    message: str = ctx.field("message")
    if not message.strip():
        raise field_error("message", "Must not be empty")
    agent = ctx.field("agent")
    check_agent("agent", agent)
    check_files(ctx.field("files"))
    with state.lock:
        task = ctx.task()
        latest = state.latest_job(task)
        if agent and latest and harness(agent) != harness(latest.agent_provider):
            raise field_error("agent", "The agent harness of a task cannot change; only the model can")
        job = state.send_message(task, message, agent=agent, user_intent=ctx.field("userIntent"))
        return Reply({"job": job.summary_view(state.now())})


async def list_task_jobs(ctx: Ctx) -> Reply:
    state = ctx.state
    with state.lock:
        task = ctx.task()
        newest_first = list(reversed(state.jobs_of(task)))
        scope = f"jobs:{task.id}"
        page, next_cursor = page_newest_first(
            newest_first, lambda j: j.seq, ctx.query["limit"], ctx.query.get("cursor"), scope
        )
        now = state.now()
        # Each page is in chronological order; the cursor walks back to older jobs.
        return Reply({"jobs": [job.task_job_view(now) for job in reversed(page)], "nextCursor": next_cursor})


async def _approve(ctx: Ctx, what: str) -> Reply:
    if not ctx.settings.legacy_endpoints:
        raise not_found(REMOVED)
    state = ctx.state
    with state.lock:
        task = ctx.task()
        latest = state.latest_job(task)
        now = state.now()
        if latest is None or latest.status_at(now) != COMPLETED or latest.plan_outcome != "READY":
            raise validation_error(f"No {what} is ready for approval")
        job = state.send_message(task, f"Approved {what}; implement it.", user_intent="SWE")
        return Reply({"success": True, "job": job.summary_view(state.now())})


async def approve_plan(ctx: Ctx) -> Reply:
    return await _approve(ctx, "plan")


async def approve_criteria(ctx: Ctx) -> Reply:
    return await _approve(ctx, "criteria")


async def cancel_task(ctx: Ctx) -> Reply:
    task = ctx.task()
    ctx.state.cancel_task(task)
    return Reply({"success": True, "task": {"id": task.id}})


async def archive_task(ctx: Ctx) -> Reply:
    task = ctx.task()
    ctx.state.archive_task(task)
    return Reply({"success": True, "task": {"id": task.id}})


async def export_claude_teleport_session(ctx: Ctx) -> Response:
    state = ctx.state
    with state.lock:
        task = ctx.task()
        job = state.latest_job(task)
        now = state.now()
        if job is None or job.is_finished(now):
            raise conflict("The task's sandbox is no longer alive; its session cannot be exported")
        if harness(job.agent_provider) != "claude-code":
            raise conflict("Teleport is only available for Claude Code tasks")
        archive = session_archive(task, job, now)
    headers = {
        "X-Twill-Session-Id": archive.session_id,
        "X-Twill-Job-Id": job.id,
        "X-Twill-File-Count": str(archive.file_count),
    }
    return Response(archive.data, media_type="application/x-tar", headers=headers)


HANDLERS: dict[str, Handler] = {
    "createTask": create_task,
    "listTasks": list_tasks,
    "getTask": get_task,
    "sendMessage": send_message,
    "listTaskJobs": list_task_jobs,
    "approvePlan": approve_plan,
    "approveCriteria": approve_criteria,
    "cancelTask": cancel_task,
    "archiveTask": archive_task,
    "exportClaudeTeleportSession": export_claude_teleport_session,
}
