"""A long fuzz run, outside CI: generated arguments and ids through one in-process server against the emulator.

    python bench/fuzz.py [--examples 10000]
    python bench/fuzz.py --hostile [--examples 10000] [--seed 23]

Payloads come from tests/strategies.py (valid or invalid by construction). Reports, per
kind: inputs, crashes (a protocol error or an exception instead of a tool result),
requests sent for invalid input (non-ids included), valid input not sent, malformed request paths — all
expected to be 0 — and inputs per second. Bounded by the example count; stops by itself.

`--hostile` turns it around: the arguments are fine and Twill's answers are hostile (see
bench/hostile.py): random nesting, the key in every JSON encoding, control and format
characters, oversized and malformed bodies and event streams, odd `Retry-After` values.
It reports answers, crashes, JSON-RPC errors, internal errors, key leaks, hidden characters
that reached the agent, and RSS at start and at its peak; all but the RSS must be 0, and the
RSS growth must stay under its bound.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import API_KEY, serving
from tests.fake_twill import FakeTwill
from tests.strategies import invalid_arguments, non_ids, path_ids, valid_arguments
from twill_mcp.core.config import Settings
from twill_mcp.spec.compiler import compile_spec
from twill_mcp.spec.openapi import load_bundled_spec

TOOLS = {tool.name: tool for tool in compile_spec(load_bundled_spec()) if tool.response_kind == "json"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10_000, help="inputs per kind (default 10000)")
    parser.add_argument("--hostile", action="store_true", help="hostile upstream answers instead of arguments")
    parser.add_argument("--seed", type=int, default=23, help="the hostile answers' random seed (default 23)")
    args = parser.parse_args()
    if args.hostile:
        from bench.hostile import run_hostile

        return run_hostile(args.examples, args.seed)
    fake = FakeTwill(API_KEY).start()
    config = Settings.load({"TWILL_API_KEY": API_KEY, "TWILL_BASE_URL": fake.origin}, max_retries=0, rate_limit=0)
    report: dict[str, dict[str, Any]] = {}
    run = settings(max_examples=args.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    try:
        with (
            start_blocking_portal() as portal,
            portal.wrap_async_context_manager(serving(config, list(TOOLS.values()))) as client,
        ):

            def call(counts: Counter[str], name: str, arguments: Any) -> tuple[Any, int]:
                before = len(fake.requests)
                counts["inputs"] += 1
                try:
                    result = portal.call(client.call_tool, name, arguments)
                except Exception:
                    counts["crashes"] += 1
                    return None, len(fake.requests) - before
                if API_KEY in json.dumps(result.model_dump(mode="json")):
                    counts["key_leaks"] += 1
                return result, len(fake.requests) - before

            def measure(kind: str, body: Any) -> None:
                counts: Counter[str] = Counter()
                started = time.monotonic()
                run(body(counts))()
                seconds = time.monotonic() - started
                report[kind] = {**counts, "seconds": round(seconds, 1), "per_second": round(counts["inputs"] / seconds)}
                print(kind, json.dumps(report[kind]), file=sys.stderr, flush=True)

            def valid(counts: Counter[str]) -> Any:
                @given(data=st.data(), name=st.sampled_from(sorted(TOOLS)))
                def body(data: st.DataObject, name: str) -> None:
                    result, sent = call(counts, name, data.draw(valid_arguments(TOOLS[name])))
                    if result is not None and sent != 1:
                        counts["valid_not_sent"] += 1

                return body

            def invalid(counts: Counter[str]) -> Any:
                @given(data=st.data(), name=st.sampled_from(sorted(TOOLS)))
                def body(data: st.DataObject, name: str) -> None:
                    result, sent = call(counts, name, data.draw(invalid_arguments(TOOLS[name])))
                    if sent:
                        counts["sent_for_invalid_input"] += 1
                    elif result is not None and not result.is_error:
                        counts["invalid_accepted"] += 1

                return body

            def ids(counts: Counter[str]) -> Any:
                @given(task_id=path_ids())
                def body(task_id: str) -> None:
                    _, sent = call(counts, "cancel_task", {"taskIdOrSlug": task_id})
                    segments = fake.requests[-1].raw_path.split("/") if sent else []
                    well_formed = (
                        sent == 1
                        and len(segments) == 6
                        and segments[:4] == ["", "api", "v1", "tasks"]
                        and segments[5] == "cancel"
                        and unquote(segments[4]) == task_id
                    )
                    if not well_formed:
                        counts["malformed_paths"] += 1

                return body

            def refused_ids(counts: Counter[str]) -> Any:
                @given(task_id=non_ids())
                def body(task_id: str) -> None:
                    result, sent = call(counts, "cancel_task", {"taskIdOrSlug": task_id})
                    if sent:
                        counts["sent_for_invalid_input"] += 1
                    elif result is not None and not result.is_error:
                        counts["invalid_accepted"] += 1

                return body

            measure("valid_arguments", valid)
            measure("invalid_arguments", invalid)
            measure("ids", ids)
            measure("non_ids", refused_ids)
    finally:
        fake.stop()
    print(json.dumps(report, indent=2))
    bad = ("crashes", "key_leaks", "valid_not_sent", "sent_for_invalid_input", "invalid_accepted", "malformed_paths")
    return 1 if any(kind.get(name) for kind in report.values() for name in bad) else 0


if __name__ == "__main__":
    sys.exit(main())
