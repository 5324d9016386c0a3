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

import argparse
import contextlib
import errno
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import mcp_types as types

from twill_mcp import __version__
from twill_mcp.core import metrics
from twill_mcp.core.config import LOG_LEVELS, TWILL_RATE_LIMIT, Settings
from twill_mcp.core.errors import ConfigError
from twill_mcp.core.logs import configure_logging
from twill_mcp.core.network import check_port_free, port_in_use
from twill_mcp.doctor import diagnose, render
from twill_mcp.server.build import mcp_tool, server_for, settle
from twill_mcp.terminal import ProgressLine
from twill_mcp.tools.call import effects
from twill_mcp.tools.catalog import all_tools, exposed_tools
from twill_mcp.tools.composed import Tool
from twill_mcp.tools.surface import DEFAULT_TOOLSETS, hidden_because
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


class Parser(argparse.ArgumentParser):
    """argparse, naming the nearest command, option or choice when one is misspelled."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}{self._suggestion(message)}\n")

    def _suggestion(self, message: str) -> str:
        if choice := re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message):
            wrong, valid = choice.group(1), re.findall(r"'([^']*)'", choice.group(2))
        elif unknown := re.search(r"unrecognized arguments: (.*)", message):
            words = [word.partition("=")[0] for word in unknown.group(1).split() if word.startswith("-")]
            if not words:
                return ""
            wrong, valid = words[0], sorted(self._every_option())
        else:
            return ""
        return _did_you_mean(wrong, valid)

    def _every_option(self) -> set[str]:
        """This parser's options and its commands': a global option given after a command is still named."""
        options = {option for option in self._option_string_actions if option.startswith("--")}
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    options |= {option for option in sub._option_string_actions if option.startswith("--")}
        return options


def _did_you_mean(wrong: str, valid: Sequence[str]) -> str:
    import difflib  # only on the way to an error: start-up does not pay for it

    close = difflib.get_close_matches(wrong, valid, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _surface_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """The options every command shares, accepted before the command or after it.

    A command's copy defaults to SUPPRESS, so that it sets only what was given after the command and does not
    reset what the main parser read before it.
    """
    parser.add_argument(
        "--toolsets",
        metavar="SETS",
        default=default,
        help=f"comma-separated toolsets to expose, or 'all' (default: {','.join(DEFAULT_TOOLSETS)})",
    )
    parser.add_argument(
        "--tools", metavar="NAMES", default=default, help="comma-separated tools to expose (alone: only these)"
    )
    parser.add_argument(
        "--exclude-tools", metavar="NAMES", default=default, help="comma-separated tools to hide (wins over the others)"
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=default,
        help="expose only tools that change nothing (wins over all)",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        default=False if default is None else default,
        help="use a local Twill emulator with a demo workspace instead of the real API (no key needed)",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=default,
        help="stderr log level (default: TWILL_MCP_LOG_LEVEL or INFO)",
    )


def _http_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("serving over HTTP", "see the README's 'Run it as a service'")
    group.add_argument("--transport", type=str.lower, choices=("stdio", "http"), help="default: stdio")
    group.add_argument("--host", help="interface to listen on (default: 127.0.0.1)")
    group.add_argument("--port", type=int, help="port (default: 8000; 0 picks a free one)")
    group.add_argument("--path", help="the MCP endpoint's path (default: /mcp)")
    group.add_argument(
        "--json-response", action="store_true", default=None, help="plain JSON answers instead of SSE streams"
    )
    group.add_argument("--workers", type=int, help="worker processes (default: 1)")
    group.add_argument(
        "--auth",
        type=str.lower,
        choices=("env", "passthrough", "oauth"),
        help="env: the server's TWILL_API_KEY (callers send TWILL_MCP_HTTP_TOKEN if set); "
        "passthrough: each caller's own Twill key as Authorization: Bearer; "
        "oauth: OAuth 2.1 for claude.ai/ChatGPT connectors, the key pasted once on a consent page (default: env)",
    )
    group.add_argument("--allowed-hosts", metavar="HOSTS", help="comma-separated Host values clients may use")
    group.add_argument("--allowed-origins", metavar="ORIGINS", help="comma-separated Origin values browsers may use")


CALL_USAGE = "twill-mcp call TOOL [NAME=VALUE ...] [--json OBJECT] [options]"


def _call_options(parser: argparse.ArgumentParser) -> None:
    # Optional here so that a missing TOOL gets our message: argparse would call NAME=VALUE required too.
    parser.add_argument(
        "tool", nargs="?", metavar="TOOL", help="tool name, e.g. cancel_task (`twill-mcp tools` lists them)"
    )
    parser.add_argument(
        "arguments",
        nargs="*",
        metavar="NAME=VALUE",
        help="optional arguments of the tool; a VALUE is JSON where it parses, except for string arguments",
    )
    parser.add_argument(
        "--json", dest="json_arguments", metavar="OBJECT", help="optional: all arguments as one JSON object"
    )


def _sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--faults", metavar="SPEC", help="fault injection, e.g. latency=0.5,5xx=3,429=2,drop=1")
    parser.add_argument("--rate-limit", type=int, default=TWILL_RATE_LIMIT, help="requests per minute per key (0: off)")
    parser.add_argument("--empty", action="store_true", help="start without the demo tasks")


def _tools_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="the MCP tool objects, as tools/list returns them")


def _install_options(parser: argparse.ArgumentParser) -> None:
    from twill_mcp.install import add_options

    add_options(parser)


# Each command: what it is for, its own options (after the shared ones), and whether it takes the shared ones.
COMMAND_PARSERS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], bool]] = {
    "call": ("Make one tool call and print its result.", _call_options, True),
    "sandbox": ("Serve the local Twill emulator, for other clients.", _sandbox_options, False),
    "tools": ("List the tools the server would expose.", _tools_options, True),
    "doctor": ("Check the configuration, reach Twill, validate the key; exit 1 on any problem.", lambda _: None, True),
    "install": ("Add twill-mcp to an MCP host's configuration.", _install_options, False),
}
COMMANDS = tuple(COMMAND_PARSERS)


def build_parser(argv: Sequence[str] = ("install",)) -> Parser:
    """The command line's parser; `argv` only decides whether install's options are worth importing."""
    parser = Parser(
        prog="twill-mcp",
        usage="twill-mcp [options] [COMMAND [command options]]  (twill-mcp --help lists them)",
        description=(
            "MCP server for the Twill cloud coding-agent API. Without a command it serves MCP over stdio. "
            "The API key comes from TWILL_API_KEY (or a file named by TWILL_API_KEY_FILE), never from arguments."
        ),
    )
    parser.add_argument("--version", action="version", version=f"twill-mcp {__version__}")
    _surface_options(parser)
    _http_options(parser)
    # prog: a command's usage and errors start "twill-mcp NAME", not the main parser's whole usage line.
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND", prog="twill-mcp")
    # After add_subparsers, whose own default (None) would otherwise win: no command means serving.
    parser.set_defaults(command="serve")
    for name, (summary, options, shared) in COMMAND_PARSERS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        if name == "call":
            sub.usage = CALL_USAGE
        # install's options live with its host table, imported only when it is named: serving starts without it.
        if name != "install" or name in argv:
            options(sub)
        if shared:
            _surface_options(sub, default=argparse.SUPPRESS)
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    args = build_parser(argv).parse_args(argv)
    if args.command == "call" and args.tool is None:
        print(f"usage: {CALL_USAGE}", file=sys.stderr)
        print(
            "twill-mcp call: error: name the TOOL to call, e.g. `twill-mcp call get_task taskIdOrSlug=demo-1 "
            "--sandbox`; its NAME=VALUE arguments and --json are optional. `twill-mcp tools` lists the tools.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return args


def load_settings(args: argparse.Namespace, sandbox: Sandbox | None) -> Settings:
    return Settings.load(**settings_overrides(args, sandbox))


def settings_overrides(args: argparse.Namespace, sandbox: Sandbox | None) -> dict[str, Any]:
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
    guess = _did_you_mean(name, [tool.name for tool in everything])
    return f"unknown tool {name!r}{guess} (exposed: {', '.join(tool.name for tool in tools)})"


def _start_sandbox(**options: Any) -> contextlib.AbstractContextManager[Sandbox]:
    from twill_mcp.sandbox import Sandbox

    return Sandbox.start(**options)


def run_sandbox(args: argparse.Namespace) -> int:
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


def run_tools(args: argparse.Namespace) -> int:
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


def run_doctor(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        try:
            sandbox = stack.enter_context(_start_sandbox()) if args.sandbox else None
        except (ConfigError, OSError) as exc:
            print(f"twill-mcp doctor: cannot start the sandbox: {exc}", file=sys.stderr)
            return 2
        checks = diagnose(settings_overrides(args, sandbox), sandboxed=sandbox is not None)
    print(render(checks))
    return 1 if any(check.problem for check in checks) else 0
