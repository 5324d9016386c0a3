"""A local Twill emulator with a seeded demo workspace, as the upstream of a trial or a demo.

Nothing here reaches Twill: `twill-mcp --sandbox`, `twill-mcp call … --sandbox` and
`twill-mcp sandbox` all use it, so a machine with no Twill key can still show a real
round trip through the whole MCP code path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from twill_mcp.core.config import TWILL_RATE_LIMIT
from twill_mcp.core.errors import ConfigError
from twill_mcp.emulator import DEMO_KEY, EmulatorServer, EmulatorState, FaultPlan, seed_demo


@dataclass(frozen=True)
class Sandbox:
    origin: str
    api_key: str
    demo_tasks: list[str]
    server: EmulatorServer

    @classmethod
    @contextmanager
    def start(
        cls,
        *,
        port: int = 0,
        faults: str | None = None,
        rate_limit: int = TWILL_RATE_LIMIT,
        empty: bool = False,
    ) -> Iterator[Sandbox]:
        """The emulator on 127.0.0.1, seeded with the demo workspace unless `empty`; `rate_limit` 0 turns it off."""
        try:
            plan = FaultPlan.parse(faults) if faults else None
        except ValueError as exc:
            raise ConfigError(f"--faults: {exc}") from None
        state = EmulatorState()
        slugs = [] if empty else [task.slug for task in seed_demo(state).tasks]
        with EmulatorServer(state, faults=plan, port=port, rate_limit_per_minute=rate_limit) as server:
            yield cls(server.origin, DEMO_KEY, slugs, server)

    def wait(self) -> None:
        """Block until interrupted (Ctrl-C)."""
        threading.Event().wait()
