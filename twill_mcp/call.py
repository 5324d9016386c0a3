"""One tool call, start to finish: arguments -> request -> HTTP -> response -> result."""

from __future__ import annotations

import logging
import time
from typing import Any

import mcp_types as types

from twill_mcp.arguments import ArgumentChecker
from twill_mcp.compiler import CompiledTool
from twill_mcp.errors import ToolCallError
from twill_mcp.request import prepare_request
from twill_mcp.responses import ResponseReader
from twill_mcp.results import error_result, success_result
from twill_mcp.upstream import Effect, TwillHttp

logger = logging.getLogger(__name__)


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

    async def __call__(self, http: TwillHttp, arguments: Any) -> types.CallToolResult:
        started = time.monotonic()
        try:
            checked = self._arguments.check(arguments)
            raw = await http.send(prepare_request(self.tool.operation, checked), self.effect)
            result = success_result(self.tool, self._responses.read(raw))
            outcome = f"HTTP {raw.status}"
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
        return result
