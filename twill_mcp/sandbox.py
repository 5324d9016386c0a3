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

from twill_mcp.emulator import DEMO_KEY, EmulatorServer, EmulatorState, FaultPlan, seed_demo
from twill_mcp.errors import ConfigError


@dataclass(frozen=True)
class Sandbox:
    origin: str
    api_key: str
    demo_tasks: list[str]
    server: EmulatorServer

    @classmethod
    @contextmanager
    def start(cls, *, port: int = 0, faults: str | None = None) -> Iterator[Sandbox]:
        try:
            plan = FaultPlan.parse(faults) if faults else None
        except ValueError as exc:
            raise ConfigError(f"--faults: {exc}") from None
        state = EmulatorState()
        demo = seed_demo(state)
        with EmulatorServer(state, faults=plan, port=port) as server:
            yield cls(server.origin, DEMO_KEY, [task.slug for task in demo.tasks], server)

    def wait(self) -> None:
        """Block until interrupted (Ctrl-C)."""
        threading.Event().wait()
