"""What the server reads from a task body (get_task's answer): its latest job, and whether that job is over.

`wait_for_task` and the subscriptions both read it; permissive, as any body from Twill: a field of
another shape is as good as missing.
"""

from __future__ import annotations

from typing import Any

FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
NOT_STARTED = "PENDING"


def latest_job(task: Any) -> dict[str, Any] | None:
    """get_task's `latestJob`, when the body has one."""
    job = task.get("latestJob") if isinstance(task, dict) else None
    return job if isinstance(job, dict) else None


def job_status(task: Any) -> str | None:
    """The latest job's status (`RUNNING`, `COMPLETED`, ...), if the body says."""
    status = (latest_job(task) or {}).get("status")
    return status if isinstance(status, str) else None


def latest_job_id(task: Any) -> str | None:
    job_id = (latest_job(task) or {}).get("id")
    return job_id if isinstance(job_id, str) and job_id else None
