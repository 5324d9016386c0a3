"""`python -m twill_mcp.emulator [--port 8787] [--faults latency=0.5,5xx=2] [--key KEY] [--empty]`"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from twill_mcp.emulator.app import DEMO_KEY
from twill_mcp.emulator.demo import seed_demo
from twill_mcp.emulator.faults import FaultPlan
from twill_mcp.emulator.server import EmulatorServer
from twill_mcp.emulator.state import EmulatorState


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twill_mcp.emulator", description="Local Twill API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    parser.add_argument("--key", action="append", help=f"accepted API key (repeatable; default {DEMO_KEY})")
    parser.add_argument("--faults", default="", help='e.g. "latency=0.5,5xx=3,429=2,html=1,drop=1,path=/tasks"')
    parser.add_argument("--rate-limit", type=int, default=100, help="requests per minute per key")
    parser.add_argument("--empty", action="store_true", help="start without the demo tasks")
    args = parser.parse_args(argv)
    try:
        faults = FaultPlan.parse(args.faults)
    except ValueError as exc:
        parser.error(str(exc))
    state = EmulatorState()
    if not args.empty:
        seed_demo(state)
    keys = set(args.key or [DEMO_KEY])
    server = EmulatorServer(
        state, faults=faults, host=args.host, port=args.port, api_keys=keys, rate_limit_per_minute=args.rate_limit
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with server:
        print(f"Twill emulator at {server.base_url} (keys: {', '.join(sorted(keys))})", flush=True)
        while not stop.wait(0.5):  # a timed wait lets the signal handlers run promptly
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
