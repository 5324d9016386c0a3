"""Command line.

twill-mcp [options]                 serve MCP over stdio (the default)
twill-mcp --transport http [options] serve MCP over streamable HTTP, for many clients
twill-mcp --sandbox [options]       the same, against a local Twill emulator with demo data
twill-mcp call TOOL [ARG=VALUE ...] one tool call through the MCP code path, result on stdout
twill-mcp sandbox [--port N]        serve the Twill emulator alone, for other clients
twill-mcp tools [--json] [options]  the tools the server would expose, as a table or as MCP tool objects
twill-mcp doctor [--sandbox]        check the configuration, the connection and the key, one line per check
twill-mcp install HOST [--dry-run]  add twill-mcp to an MCP host's configuration (see twill_mcp/install.py)

The shared options (--sandbox, --toolsets, --log-level, ...) may come before or after the command.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types

from twill_mcp import __version__
from twill_mcp.core import metrics
from twill_mcp.core.config import Settings
from twill_mcp.core.errors import ConfigError
from twill_mcp.core.logs import configure_logging
from twill_mcp.core.network import check_port_free, port_in_use
from twill_mcp.server.build import mcp_tool, server_for, settle
from twill_mcp.tools.call import effects
from twill_mcp.tools.catalog import all_tools, exposed_tools
from twill_mcp.tools.composed import Tool
from twill_mcp.tools.surface import hidden_because
from twill_mcp.transports.draining import shutdown_grace
from twill_mcp.transports.stdio import serve_stdio

if TYPE_CHECKING:
    # The emulator is imported only where a sandbox is asked for: serving starts without it.
    from twill_mcp.sandbox import Sandbox

logger = logging.getLogger("twill_mcp")
HTTP_OPTIONS = (
    "transport",
    "host",
    "port",
    "path",
    "json_response",
    "workers",
    "auth",
    "allowed_hosts",
    "allowed_origins",
)

# What the command line makes of no arguments at all, as hosts start the server: serve over stdio with what
# the environment says. Without argparse, which serving then does not import (tests/test_cli.py holds the two
# equal).
SERVE_DEFAULTS = SimpleNamespace(
    command="serve",
    sandbox=False,
    **dict.fromkeys(("toolsets", "tools", "exclude_tools", "read_only", "log_level", *HTTP_OPTIONS)),
)


def parse_args(argv: Sequence[str]) -> Any:
    if not argv:
        return SimpleNamespace(**vars(SERVE_DEFAULTS))
    from twill_mcp.commandline import parse_args as parsed

    return parsed(argv)


def load_settings(args: Any, sandbox: Sandbox | None) -> Settings:
    return Settings.load(**settings_overrides(args, sandbox))


def settings_overrides(args: Any, sandbox: Sandbox | None) -> dict[str, Any]:
    """What the command line (and the sandbox, when used) sets over the environment."""
    upstream: dict[str, Any] = {}
    if sandbox is not None:
        # The emulator runs in this process: a proxy could not reach it, and would only see the demo traffic.
        upstream = {"base_url": sandbox.origin, "api_key": sandbox.api_key, "no_proxy": ("*",)}
    serving = {option: getattr(args, option, None) for option in HTTP_OPTIONS}
    return {
        "log_level": args.log_level,
        "toolsets": args.toolsets,
        "tools": args.tools,
        "exclude_tools": args.exclude_tools,
        "read_only": args.read_only,
        **serving,
        **upstream,
    }


def parse_call_arguments(tool: Tool | None, pairs: Sequence[str], as_json: str | None) -> dict[str, Any]:
    """`k=v` pairs; a value is JSON where it parses, except for string-typed arguments."""
    arguments: dict[str, Any] = {}
    if as_json:
        try:
            arguments = json.loads(as_json)
        except ValueError as exc:
            raise ConfigError(f"--json is not valid JSON ({exc})") from None
        if not isinstance(arguments, dict):
            raise ConfigError("--json must be a JSON object")
    properties = tool.input_schema.get("properties", {}) if tool else {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"argument {pair!r} is not NAME=VALUE")
        if properties.get(name, {}).get("type") == "string":
            arguments[name] = text
            continue
        try:
            arguments[name] = json.loads(text)
        except ValueError:
            arguments[name] = text
    return arguments


async def serve(settings: Settings, tools: list[Tool], sandboxed: bool) -> None:
    server = server_for(settings, tools, sandbox=sandboxed)
    settle()
    await serve_stdio(
        server, eof_grace=settings.call_timeout + 1, stop_grace=shutdown_grace(settings), effects=effects(tools)
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command == "sandbox":
        return run_sandbox(args)
    if args.command == "tools":
        return run_tools(args)
    if args.command == "doctor":
        return run_doctor(args)
    if args.command == "install":
        from twill_mcp.install import run_install

        return run_install(args)
    if args.command == "serve":
        # Until serving starts nothing is in flight, so a host's stop signal ends start-up at once and quietly.
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, lambda signum, frame: os._exit(0))
    with contextlib.ExitStack() as stack:
        try:
            sandbox = stack.enter_context(_start_sandbox()) if args.sandbox else None
            settings = load_settings(args, sandbox)
            tools = exposed_tools(settings)
            arguments = {}
            if args.command == "call":
                if args.tool not in {tool.name for tool in tools}:
                    print(f"twill-mcp: {not_exposed(args.tool, settings, tools)}", file=sys.stderr)
                    return 2
                by_name = {tool.name: tool for tool in tools}
                arguments = parse_call_arguments(by_name[args.tool], args.arguments, args.json_arguments)
        except ConfigError as exc:
            print(f"twill-mcp: configuration error: {exc}", file=sys.stderr)
            return 2
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        configure_logging(
            settings.log_level if args.command == "serve" else "WARNING",
            secrets=settings.secrets(),
            log_format=settings.log_format,
        )
        callers_keys = settings.auth in ("passthrough", "oauth")
        passthrough = args.command == "serve" and settings.transport == "http" and callers_keys
        if settings.api_key_problem and not passthrough:
            variable, _, reason = settings.api_key_problem.partition(": ")
            logger.warning("%s %s: tools are listed, but every call will say so until it is fixed", variable, reason)
        elif not key and not passthrough:
            logger.warning("TWILL_API_KEY is not set: tools are listed, but every call will ask for a key")
        where = f"a local Twill emulator (sandbox) at {settings.base_url}" if sandbox else settings.base_url
        if args.command == "call":
            from twill_mcp.terminal import ProgressLine

            progress = ProgressLine.on(sys.stderr, args.tool)
            try:
                # Imported here: serving need not pay for loading the SDK's client.
                from twill_mcp.inprocess import call_once

                result = anyio.run(call_once, settings, tools, args.tool, arguments, sandbox is not None, progress)
            finally:
                if progress is not None:
                    progress.close()
            print(
                json.dumps(
                    result.model_dump(by_alias=True, exclude_none=True, mode="json"), indent=2, ensure_ascii=False
                )
            )
            return 1 if result.is_error else 0
        if settings.transport == "http":
            # Imported here: stdio, the common case, need not pay for loading uvicorn.
            from twill_mcp.transports.http import serve_http

            try:
                with contextlib.suppress(KeyboardInterrupt):
                    serve_http(settings, tools, sandboxed=sandbox is not None, where=where)
            except ConfigError as exc:
                print(f"twill-mcp: configuration error: {exc}", file=sys.stderr)
                return 2
            return 0
        if settings.metrics_port is not None:
            try:
                check_port_free(settings.host, settings.metrics_port)
            except ConfigError as exc:
                print(f"twill-mcp: configuration error: {exc}", file=sys.stderr)
                return 2
            metrics.start(settings.metrics_port, settings.host)
        logger.info("twill-mcp %s serving %d tools over stdio; Twill API: %s", __version__, len(tools), where)
        with contextlib.suppress(KeyboardInterrupt):
            anyio.run(serve, settings, tools, sandbox is not None)
    # Every request is answered or logged as cut. Tearing the interpreter down would free every SDK model
    # one by one, a few hundred ms that a host stopping the server waits through: skip it.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)


def not_exposed(name: str, settings: Settings, tools: Sequence[Tool]) -> str:
    """Why a tool name cannot be called, and the option that would expose it (or the name meant)."""
    everything = all_tools()
    if name in {tool.name for tool in everything}:
        reason = hidden_because(
            name,
            everything,
            toolsets=settings.toolsets,
            include=settings.tools,
            exclude=settings.exclude_tools,
            read_only=settings.read_only,
        )
        return f"{name} is not exposed: {reason}"
    from twill_mcp.commandline import did_you_mean

    guess = did_you_mean(name, [tool.name for tool in everything])
    return f"unknown tool {name!r}{guess} (exposed: {', '.join(tool.name for tool in tools)})"


def _start_sandbox(**options: Any) -> contextlib.AbstractContextManager[Sandbox]:
    from twill_mcp.sandbox import Sandbox

    return Sandbox.start(**options)


def run_sandbox(args: Any) -> int:
    try:
        sandbox_cm = _start_sandbox(port=args.port, faults=args.faults, rate_limit=args.rate_limit, empty=args.empty)
        with sandbox_cm as sandbox:
            print(f"Twill emulator (sandbox) serving {sandbox.server.base_url}", flush=True)
            print(f"  demo key:  {sandbox.api_key}", flush=True)
            print(f"  demo tasks: {', '.join(sandbox.demo_tasks) or 'none (--empty)'}", flush=True)
            print(f"  try: TWILL_BASE_URL={sandbox.origin} TWILL_API_KEY={sandbox.api_key} twill-mcp", flush=True)
            print("Ctrl-C stops it.", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                sandbox.wait()
    except OSError as exc:
        busy = exc.errno == errno.EADDRINUSE
        print(f"twill-mcp sandbox: {port_in_use('127.0.0.1', args.port) if busy else exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"twill-mcp sandbox: {exc}", file=sys.stderr)
        return 2
    return 0


def run_tools(args: Any) -> int:
    try:
        tools = exposed_tools(load_settings(args, None))
    except ConfigError as exc:
        print(f"twill-mcp: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        listing = types.ListToolsResult(tools=[mcp_tool(tool) for tool in tools])
        print(json.dumps(listing.model_dump(by_alias=True, exclude_none=True, mode="json"), indent=2))
    else:
        print(tools_table(tools))
    return 0


def tools_table(tools: Sequence[Tool]) -> str:
    rows = [("TOOL", "TOOLSET", "HINTS", "TITLE")]
    rows += [(tool.name, tool.toolset, tool.annotations.summary, tool.title) for tool in tools]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[3]]) for row in rows
    )


def run_doctor(args: Any) -> int:
    from twill_mcp.doctor import diagnose, render

    with contextlib.ExitStack() as stack:
        try:
            sandbox = stack.enter_context(_start_sandbox()) if args.sandbox else None
        except (ConfigError, OSError) as exc:
            print(f"twill-mcp doctor: cannot start the sandbox: {exc}", file=sys.stderr)
            return 2
        checks = diagnose(settings_overrides(args, sandbox), sandboxed=sandbox is not None)
    print(render(checks))
    return 1 if any(check.problem for check in checks) else 0
