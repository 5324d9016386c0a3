"""Route handlers, keyed by the bundled spec's operationId."""

from __future__ import annotations

from twill_mcp.emulator.ops import account, jobs, scheduled, tasks
from twill_mcp.emulator.ops.common import Ctx, EmulatorSettings, Handler, Reply

HANDLERS: dict[str, Handler] = {**account.HANDLERS, **tasks.HANDLERS, **jobs.HANDLERS, **scheduled.HANDLERS}

__all__ = ["HANDLERS", "Ctx", "EmulatorSettings", "Handler", "Reply"]
