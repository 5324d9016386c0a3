"""One tool call, start to finish: arguments -> request -> HTTP -> response -> result."""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import anyio
import mcp_types as types

from twill_mcp.archives import archive_result
from twill_mcp.arguments import ArgumentChecker
from twill_mcp.compiler import CompiledTool
from twill_mcp.errors import ToolCallError
from twill_mcp.events import Progress, follow_events
from twill_mcp.request import PreparedRequest, prepare_request
from twill_mcp.responses import ResponseReader
from twill_mcp.results import error_result, success_result
from twill_mcp.upstream import Effect, RawResponse, TwillHttp

logger = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"


class ToolCall:
    """Everything one tool needs at call time, prepared once at start-up."""

    def __init__(self, tool: CompiledTool) -> None:
        self.tool = tool
        self.effect = Effect(
            read_only=tool.annotations.read_only,
            idempotent=tool.annotations.idempotent,
            what=tool.effect,
        )
        self._arguments = ArgumentChecker(tool.input_schema)
        self._responses = ResponseReader(tool, self.effect)

    async def __call__(self, http: TwillHttp, arguments: Any, progress: Progress | None = None) -> types.CallToolResult:
        started = time.monotonic()
        try:
            checked = self._arguments.check(arguments)
            request = prepare_request(self.tool.operation, checked)
            result = await self._perform(http, request, checked, progress)
            outcome = "ok"
        except anyio.get_cancelled_exc_class():
            # The client cancelled (notifications/cancelled) or the server is stopping: no
            # result will be sent, so the log is the only place to say what may have happened.
            if not self.effect.read_only:
                logger.warning(
                    "%s cancelled by the client before Twill answered: outcome_unknown, whether Twill did %s",
                    self.tool.name,
                    self.effect.what,
                )
            raise
        except ToolCallError as error:
            result = error_result(self.tool.name, error)
            outcome = f"error {error.error_code}" + (f" (HTTP {error.status})" if error.status else "")
        except Exception:
            # A bug of ours must not take the server down or leave the agent without an answer.
            logger.exception("unexpected failure in %s", self.tool.name)
            result = error_result(
                self.tool.name,
                ToolCallError(
                    "twill-mcp failed unexpectedly while handling this call.",
                    hint="This is a bug in twill-mcp; the server's log has the details. "
                    "Check the state in Twill before calling again.",
                ),
            )
            outcome = "error internal_error"
        # Argument values stay out of logs: they can carry task content.
        logger.info("%s -> %s in %.0f ms", self.tool.name, outcome, (time.monotonic() - started) * 1000)
        return _without_key(result, http)

    async def _perform(
        self, http: TwillHttp, request: PreparedRequest, arguments: dict[str, Any], progress: Progress | None
    ) -> types.CallToolResult:
        kind = self.tool.response_kind
        if kind == "event-stream":
            max_seconds = float(arguments.get("maxSeconds", 30))
            consume = functools.partial(
                follow_events,
                http,
                max_seconds=max_seconds,
                max_events=int(arguments.get("maxEvents", 500)),
                max_bytes=http.max_response_bytes,
                deadline=anyio.current_time() + http.call_timeout,
                progress=progress,
            )
            # A quiet stream is not a dead one: reads may wait as long as the window itself.
            read_timeout = max(min(max_seconds, http.call_timeout), 1.0) + 1
            outcome = await http.exchange(request, self.effect, consume, accept=EVENT_STREAM, read_timeout=read_timeout)
            if isinstance(outcome, RawResponse):
                self._responses.check(outcome)
                return success_result(self.tool, {})
            return success_result(self.tool, outcome.as_result())
        raw = await http.send(request, self.effect)
        if kind == "binary":
            if not 200 <= raw.status < 300:
                self._responses.check(raw)
            info, resource = archive_result(raw, "twill://" + request.path.strip("/"))
            return success_result(self.tool, info, extra=[resource])
        return success_result(self.tool, self._responses.read(raw))


def _without_key(result: types.CallToolResult, http: TwillHttp) -> types.CallToolResult:
    """The result with the key scrubbed, in case Twill or a proxy echoed the Authorization header."""
    dumped = result.model_dump_json(by_alias=True)
    clean = http.redact(dumped)
    return result if clean == dumped else types.CallToolResult.model_validate_json(clean)
