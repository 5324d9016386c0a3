"""A binary download (Twill's teleport tar) as an embedded resource, size-capped.

The whole archive is returned base64-encoded inside the result, so it must be small
enough for a tool result: past TWILL_MCP_MAX_RESPONSE_BYTES the call is refused with
the reason, never answered with a truncated archive.
"""

from __future__ import annotations

import base64
from typing import Any

import mcp_types as types

from twill_mcp.core.errors import BadUpstreamResponse
from twill_mcp.tools.responses import Success
from twill_mcp.upstream.answer import Answer, RawResponse

_HEADERS = (("x-twill-session-id", "sessionId"), ("x-twill-job-id", "jobId"))


class ArchiveReader:
    accept = "*/*"
    streams = False

    async def success(self, answer: Answer) -> Success:
        return archive(await answer.read(), "twill://" + answer.path.strip("/"))


def archive(raw: RawResponse, uri: str) -> Success:
    """What the result says of the archive, and the archive itself as a resource under `uri`."""
    if raw.truncated:
        raise BadUpstreamResponse(
            f"The archive is larger than the {len(raw.body)} byte limit for a tool result, so it was not returned.",
            status=raw.status,
            hint="Raise TWILL_MCP_MAX_RESPONSE_BYTES, or download it with Twill's own CLI.",
        )
    mime = raw.incoming.text(raw.headers.get("content-type", "application/octet-stream").split(";")[0].strip())
    info: dict[str, Any] = {"uri": uri, "mimeType": mime, "bytes": len(raw.body)}
    for header, key in _HEADERS:
        if raw.headers.get(header):
            info[key] = raw.incoming.text(raw.headers[header])
    # ASCII only: int() refuses some of what str.isdigit() accepts ("²"), and that would be a crash.
    if (count := raw.headers.get("x-twill-file-count", "")).isascii() and count.isdigit():
        info["fileCount"] = int(count)
    blob = types.BlobResourceContents(uri=uri, mime_type=mime, blob=base64.b64encode(raw.body).decode("ascii"))
    return Success(info, [types.EmbeddedResource(type="resource", resource=blob)])
