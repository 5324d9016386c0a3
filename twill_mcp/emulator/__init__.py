"""A faithful local emulator of the Twill REST API (https://twill.ai/api/v1) for tests and demos.

Behaviour the public material leaves open is chosen once and listed in GUESSES.md.
"""

from twill_mcp.emulator.app import DEMO_KEY, create_app
from twill_mcp.emulator.demo import DemoData, seed_demo
from twill_mcp.emulator.faults import ConnectionDropped, FaultPlan
from twill_mcp.emulator.recorder import RecordedRequest, RequestRecorder
from twill_mcp.emulator.server import EmulatorServer
from twill_mcp.emulator.state import EmulatorState

__all__ = [
    "DEMO_KEY",
    "ConnectionDropped",
    "DemoData",
    "EmulatorServer",
    "EmulatorState",
    "FaultPlan",
    "RecordedRequest",
    "RequestRecorder",
    "create_app",
    "seed_demo",
]
