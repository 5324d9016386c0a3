"""The Claude Code session archive served by the teleport endpoint."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from dataclasses import dataclass

from twill_mcp.emulator.models import Job, Task
from twill_mcp.emulator.times import iso


@dataclass(frozen=True)
class SessionArchive:
    data: bytes
    session_id: str
    file_count: int


def session_archive(task: Task, job: Job, now: float) -> SessionArchive:
    # Stable per task, as a resumed Claude Code session keeps its id.
    session_id = str(uuid.uuid5(uuid.NAMESPACE_URL, task.url))
    user_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{task.url}/{job.id}/user"))
    records = [
        {
            "type": "user",
            "sessionId": session_id,
            "uuid": user_uuid,
            "parentUuid": None,
            "timestamp": iso(job.created_at),
            "message": {"role": "user", "content": job.input or ""},
        },
        {
            "type": "assistant",
            "sessionId": session_id,
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{task.url}/{job.id}/assistant")),
            "parentUuid": user_uuid,
            "timestamp": iso(now),
            "message": {"role": "assistant", "content": [{"type": "text", "text": "Working on it."}]},
        },
    ]
    payload = "".join(json.dumps(record) + "\n" for record in records).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(f"{session_id}.jsonl")
        info.size = len(payload)
        info.mtime = int(now)
        tar.addfile(info, io.BytesIO(payload))
    return SessionArchive(buffer.getvalue(), session_id, 1)
