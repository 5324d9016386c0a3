"""One tool call: check arguments → prepare the request → exchange it with the tool's reader → result."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio
import mcp_types as types
from opentelemetry.trace import get_current_span

from twill_mcp.core import metrics
from twill_mcp.core.credentials import Credentials
from twill_mcp.core.errors import BadUpstreamResponse, ToolCallError
from twill_mcp.spec.compiler import CompiledTool
from twill_mcp.tools.archives import ArchiveReader
from twill_mcp.tools.arguments import ArgumentChecker
from twill_mcp.tools.checks import SchemaCheck
from twill_mcp.tools.composed import ComposedTool, Tool
from twill_mcp.tools.events import EventStreamReader
from twill_mcp.tools.responses import JsonReader, Success
from twill_mcp.tools.results import error_result, success_result
from twill_mcp.upstream.answer import Progress, Reader
from twill_mcp.upstream.http import TwillHttp
from twill_mcp.upstream.outcomes import Effect, after_success, unknown_outcome
from twill_mcp.upstream.request import prepare_request

logger = logging.getLogger(__name__)


ReaderFor = Callable[[Mapping[str, Any], Progress | None], Reader[Success]]
"""A tool's reader for one call, bound to that call's arguments and progress."""


def reader_for(tool: CompiledTool) -> ReaderFor:
    if tool.response_kind == "event-stream":
        return EventStreamReader.binder(tool)
    reader: Reader[Success] = ArchiveReader() if tool.response_kind == "binary" else JsonReader(tool, effect_of(tool))
    return lambda arguments, progress: reader


def effect_of(tool: Tool) -> Effect:
    """What repeating or losing one of the tool's requests means, read off its annotations."""
    hints = tool.annotations
    return Effect(read_only=hints.read_only, idempotent=hints.idempotent, action=tool.action)


def effects(tools: Iterable[Tool]) -> dict[str, Effect]:
    """Each tool's `Effect` by name: what a transport needs to say what cutting a call loses."""
    return {tool.name: effect_of(tool) for tool in tools}


class OperationCall:
    """A compiled tool's one operation: prepare the request, exchange it, read it with the tool's reader.

    What every call of that operation goes through: a tool call, a resource read, a composed tool's step.
    """

    def __init__(self, tool: CompiledTool) -> None:
        self._tool = tool
        self.effect = effect_of(tool)
        self._reader = reader_for(tool)

    async def __call__(
        self, http: TwillHttp, credentials: Credentials, checked: dict[str, Any], progress: Progress | None
    ) -> Success:
        request = prepare_request(self._tool.operation, checked)
        return await http.exchange(request, credentials, self.effect, self._reader(checked, progress))


class ToolCall:
    """Everything one tool needs at call time, prepared once at start-up."""

    def __init__(self, tool: Tool) -> None:
        self.tool = tool
        self._arguments = ArgumentChecker(tool.input_schema)
        if isinstance(tool, ComposedTool):
            self.effect, self._perform = effect_of(tool), tool.perform
        else:
            operation = OperationCall(tool)
            self.effect, self._perform = operation.effect, operation

    async def __call__(
        self,
        http: TwillHttp,
        credentials: Credentials,
        arguments: Any,
        progress: Progress | None = None,
        *,
        era: str | None = None,
    ) -> types.CallToolResult:
        started = time.monotonic()
        metrics.recorder.call_started(self.tool.name)
        try:
            checked = self._arguments.check(arguments)
            success = await self._perform(http, credentials, checked, progress)
            result = success_result(self.tool, success.body, success.extra)
            self._check_published(result)
            outcome = code = "ok"
        except anyio.get_cancelled_exc_class():
            # The client cancelled (notifications/cancelled), went away, or the server is stopping:
            # no result will be sent, so the log is the only place to say what may have happened.
            unknown = unknown_outcome(self.effect)
            outcome = f"cancelled before Twill answered: {unknown}" if unknown else "cancelled"
            self._log(logging.WARNING if unknown else logging.INFO, outcome, started, credentials, era)
            metrics.recorder.call_ended(self.tool.name, "cancelled", time.monotonic() - started)
            raise
        except ToolCallError as error:
            result = error_result(self.tool.name, error)
            code = error.error_code
            outcome = f"error {code}" + (f" (HTTP {error.status})" if error.status else "")
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
            code = "internal_error"
            outcome = f"error {code}"
        self._log(logging.INFO, outcome, started, credentials, era)
        metrics.recorder.call_ended(self.tool.name, code, time.monotonic() - started)
        return result

    @functools.cached_property
    def _published(self) -> SchemaCheck | None:
        """The outputSchema a client will check a success against, where no stricter check came before it.

        A strict tool's body was checked against the whole documented schema, and a composed tool's
        result is ours; any other tool's body is Twill's word, and a client that validates (the SDK's
        does) would fail the call on a body of another shape instead of showing an error.
        """
        tool = self.tool
        if isinstance(tool, ComposedTool) or tool.strict_response or tool.output_schema is None:
            return None
        return SchemaCheck(tool.output_schema)

    def _check_published(self, result: types.CallToolResult) -> None:
        if self._published is None:
            return
        error = next(iter(self._published.errors(result.structured_content)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise BadUpstreamResponse(
                f"Twill answered with a body of another shape than {self.tool.name} publishes "
                f"(at {where}: fails {error.validator!r}).",
                hint=after_success(200, self.effect, "The API may have changed; report this to twill-mcp."),
            )

    def _log(self, level: int, outcome: str, started: float, credentials: Credentials, era: str | None) -> None:
        """The one line every call leaves, however it ended. Argument values stay out: they can carry task content."""
        if logger.isEnabledFor(level):  # when off, not even the line's parts are worked out
            duration = (time.monotonic() - started) * 1000
            # The trace the call is part of: the current span's when tracing is on, else the caller's traceparent's.
            span = get_current_span().get_span_context()
            trace_id = format(span.trace_id, "032x") if span.is_valid else credentials.trace_id
            # The same facts as fields, for JSON logs (the text format shows only the message).
            fields = {
                "tool": self.tool.name,
                "outcome": outcome,
                "duration_ms": round(duration, 1),
                "key": credentials.fingerprint,
                "protocol": era,
                "trace_id": trace_id,
            }
            logger.log(
                level,
                "%s -> %s in %.0f ms (%s%s)",
                self.tool.name,
                outcome,
                duration,
                credentials.fingerprint,
                f", protocol {era}" if era else "",
                extra=fields,
            )
