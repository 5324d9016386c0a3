"""Twill's answer to one attempt, as the request path hands it to a reader: capped, the key scrubbed.

`Answer` is the answer as it arrives (read whole or line by line); `RawResponse` is a body read
whole; a `Reader` is what one call makes of a successful answer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import httpx2

from twill_mcp.core.credentials import Scrub
from twill_mcp.upstream.decode import Incoming

T_co = TypeVar("T_co", covariant=True)
Progress = Callable[[float, str], Awaitable[None]]
"""Reports how far a long call has come to the client: (count so far, what happened)."""


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: httpx2.Headers
    body: bytes
    truncated: bool
    """The body was longer than the configured cap and was cut there."""
    incoming: Incoming
    """How what the body holds is decoded for this call (key scrubbed, text sanitized)."""


class Answer:
    """Twill's answer to one attempt as it arrives: read whole or line by line, capped, the key scrubbed."""

    def __init__(
        self, path: str, response: httpx2.Response, cap: int, deadline: float, scrub: Scrub, incoming: Incoming
    ) -> None:
        self.path = path
        """The request's path under the API root, as sent: what the answer is about."""
        self._response = response
        self._cap = cap
        self._scrub = scrub
        self.incoming = incoming
        """How text and JSON in this answer are decoded for the agent."""
        self.status = response.status_code
        self.headers = _scrubbed(response.headers, scrub)
        self.deadline = deadline
        """When the whole call must be over (anyio clock): a reader that waits must end before it."""
        self.truncated = False

    async def read(self) -> RawResponse:
        """The body up to the cap; past it, cut and marked truncated."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in self._response.aiter_bytes():
            size += len(chunk)
            if size > self._cap:
                chunks.append(chunk[: len(chunk) - (size - self._cap)])
                self.truncated = True
                break
            chunks.append(chunk)
        body = self._scrub.body(b"".join(chunks))
        return RawResponse(self.status, self.headers, body, self.truncated, self.incoming)

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines until it ends or passes the cap (then `truncated` is set).

        A line ends at CR, LF or CRLF only, as event streams define it: a U+2028 or U+0085 inside
        an event's JSON is text (`str.splitlines`, which httpx's line reader uses, splits there).
        The cap counts every byte as it arrives, so a line that never ends is never held whole.
        """
        size = 0
        pending = bytearray()
        async for chunk in self._response.aiter_bytes():
            size += len(chunk)
            if size > self._cap:
                self.truncated = True
                return
            pending += chunk
            start = 0
            for end in _LINE_END.finditer(pending):
                if end.group() == b"\r" and end.end() == len(pending):
                    break  # the LF of a CRLF may be in the next chunk
                yield self._line(pending[start : end.start()])
                start = end.end()
            del pending[:start]
        if pending:
            yield self._line(pending.removesuffix(b"\r"))

    def _line(self, line: bytes | bytearray) -> str:
        return self._scrub.text(line.decode("utf-8", "replace"))


_LINE_END = re.compile(rb"\r\n|\r|\n")


class Reader(Protocol[T_co]):
    """How one call reads a successful answer (2xx); what any other answer means is read once, in `failures`."""

    accept: str
    streams: bool
    """The answer is followed as it arrives (a quiet spell is not a failure) rather than read whole."""

    async def success(self, answer: Answer) -> T_co: ...


def _scrubbed(headers: httpx2.Headers, scrub: Scrub) -> httpx2.Headers:
    if not any(scrub.found_in(value) for value in headers.values()):
        return headers
    # In the encoding the values were read in: a non-ASCII one (latin-1) must not fail to be written back.
    return httpx2.Headers([(name, scrub.text(value)) for name, value in headers.multi_items()], headers.encoding)
