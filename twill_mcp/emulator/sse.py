"""The job log stream (Server-Sent Events), replaying what SKILL v1.4 describes.

Pacing uses real time (the interval), while job status and timestamps come from the
state's clock, so a test can finish a job, or move the fake clock, mid-stream.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio

from twill_mcp.emulator.models import TERMINAL
from twill_mcp.emulator.state import EmulatorState
from twill_mcp.emulator.times import iso

TRACE_URL_TTL = 300.0


def sse_data(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


async def job_log_events(
    state: EmulatorState, job_id: str, *, interval: float, max_seconds: float, closing: threading.Event
) -> AsyncIterator[bytes]:
    yield sse_data({"type": "connected", "jobId": job_id})
    status = state.job_status(job_id)
    now = state.now()
    if status in TERMINAL:
        url = f"https://traces.twill.ai/jobs/{job_id}/trace.jsonl?signature=emulator"
        yield sse_data({"type": "trace_url", "url": url, "expiresAt": iso(now + TRACE_URL_TTL)})
        yield sse_data({"type": "historical_complete"})
        yield sse_data({"type": "complete", "status": status.lower()})
        return
    history = [{"timestamp": iso(now), "status": status, "message": f"Job {status.lower()}"}]
    yield sse_data({"type": "trace_records", "records": history})
    yield sse_data({"type": "historical_complete"})
    deadline = anyio.current_time() + max_seconds
    step = 0
    while anyio.current_time() < deadline and not closing.is_set():
        await anyio.sleep(interval)
        current = state.job_status(job_id)
        if current != status:
            status = current
            # Not `status`: the spec reserves that key for the lower-case values of `complete`.
            yield sse_data({"type": "status", "jobStatus": status})
        if status in TERMINAL:
            yield sse_data({"type": "complete", "status": status.lower()})
            return
        step += 1
        yield sse_data({"type": "log", "timestamp": iso(state.now()), "message": f"Agent step {step}"})
    # A real deployment cuts long streams too; say so, then end, so clients never hang
    # and a stopping server need not cancel the stream.
    reason = "Server shutting down" if closing.is_set() else "Stream timed out"
    yield sse_data({"type": "error", "message": f"{reason}; reconnect to keep following the job"})
