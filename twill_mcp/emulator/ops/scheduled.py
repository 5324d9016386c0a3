"""Scheduled-task operations."""

from __future__ import annotations

from typing import Any

from twill_mcp.emulator import cron
from twill_mcp.emulator.errors import FORBIDDEN, EmulatedError, field_error
from twill_mcp.emulator.models import ScheduledTask
from twill_mcp.emulator.ops.common import Ctx, Handler, Reply, check_agent


def _view(ctx: Ctx, scheduled: ScheduledTask) -> dict[str, Any]:
    return scheduled.view(ctx.state.next_run_at(scheduled))


def _check(body: dict[str, Any]) -> None:
    if "cronExpression" in body:
        try:
            cron.parse_cron(body["cronExpression"])
        except ValueError as exc:
            raise field_error("cronExpression", str(exc)) from None
    if "timezone" in body:
        try:
            cron.parse_timezone(body["timezone"])
        except ValueError as exc:
            raise field_error("timezone", str(exc)) from None
    # Only the shape is checked: SKILL v1.4 says the id itself is not validated on save.
    check_agent("agentProviderId", body.get("agentProviderId"))
    for name in ("title", "message"):
        if name in body and not body[name].strip():
            raise field_error(name, "Must not be empty")


async def list_scheduled_tasks(ctx: Ctx) -> Reply:
    with ctx.state.lock:
        return Reply({"scheduledTasks": [_view(ctx, s) for s in ctx.state.list_scheduled_tasks()]})


async def create_scheduled_task(ctx: Ctx) -> Reply:
    body = ctx.body or {}
    _check(body)
    if not ctx.state.scheduled_tasks_allowed:
        raise EmulatedError(403, FORBIDDEN, "Scheduled tasks require a Pro or Max plan")
    scheduled = ctx.state.create_scheduled_task(
        body["title"],
        body["message"],
        body["cronExpression"],
        timezone=body.get("timezone", "UTC"),
        agent_provider_id=body.get("agentProviderId"),
    )
    return Reply({"scheduledTask": _view(ctx, scheduled)})


async def get_scheduled_task(ctx: Ctx) -> Reply:
    return Reply({"scheduledTask": _view(ctx, ctx.scheduled_task())})


async def update_scheduled_task(ctx: Ctx) -> Reply:
    body = ctx.body or {}
    _check(body)
    scheduled = ctx.scheduled_task()
    return Reply({"scheduledTask": _view(ctx, ctx.state.update_scheduled_task(scheduled, body))})


async def delete_scheduled_task(ctx: Ctx) -> Reply:
    ctx.state.delete_scheduled_task(ctx.scheduled_task().id)
    return Reply({"success": True})


async def pause_scheduled_task(ctx: Ctx) -> Reply:
    scheduled = ctx.state.set_scheduled_enabled(ctx.scheduled_task(), False)
    return Reply({"scheduledTask": _view(ctx, scheduled)})


async def resume_scheduled_task(ctx: Ctx) -> Reply:
    scheduled = ctx.state.set_scheduled_enabled(ctx.scheduled_task(), True)
    return Reply({"scheduledTask": _view(ctx, scheduled)})


HANDLERS: dict[str, Handler] = {
    "listScheduledTasks": list_scheduled_tasks,
    "createScheduledTask": create_scheduled_task,
    "getScheduledTask": get_scheduled_task,
    "updateScheduledTask": update_scheduled_task,
    "deleteScheduledTask": delete_scheduled_task,
    "pauseScheduledTask": pause_scheduled_task,
    "resumeScheduledTask": resume_scheduled_task,
}
