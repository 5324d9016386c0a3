"""The command line's grammar: commands, options, and the messages for a misspelled one.

Parsed only when there are arguments: a host starts `twill-mcp` with none, and serving then needs
neither argparse nor this module (`cli.SERVE_DEFAULTS` is what they make of no arguments).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from twill_mcp import __version__
from twill_mcp.core.config import LOG_LEVELS, TWILL_RATE_LIMIT
from twill_mcp.tools.surface import DEFAULT_TOOLSETS


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
        return did_you_mean(wrong, valid)

    def _every_option(self) -> set[str]:
        """This parser's options and its commands': a global option given after a command is still named."""
        options = {option for option in self._option_string_actions if option.startswith("--")}
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    options |= {option for option in sub._option_string_actions if option.startswith("--")}
        return options


def did_you_mean(wrong: str, valid: Sequence[str]) -> str:
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
