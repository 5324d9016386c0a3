"""Job operations: log stream and cancel."""

from __future__ import annotations

from starlette.responses import StreamingResponse

from twill_mcp.emulator.ops.common import Ctx, Handler, Reply
from twill_mcp.emulator.sse import job_log_events


async def stream_job_logs(ctx: Ctx) -> StreamingResponse:
    job = ctx.job()
    events = job_log_events(
        ctx.state,
        job.id,
        interval=ctx.settings.sse_interval,
        max_seconds=ctx.settings.sse_max_seconds,
        closing=ctx.closing,
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


async def cancel_job(ctx: Ctx) -> Reply:
    job = ctx.state.cancel_job(ctx.job().id)
    return Reply({"success": True, "job": job.summary_view(ctx.state.now())})


HANDLERS: dict[str, Handler] = {
    "streamJobLogs": stream_job_logs,
    "cancelJob": cancel_job,
}
