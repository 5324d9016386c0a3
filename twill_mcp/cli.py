"""Command line: `twill-mcp` serves MCP over stdio."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence

import anyio

from twill_mcp import __version__
from twill_mcp.compiler import CompiledTool, compile_spec
from twill_mcp.config import LOG_LEVELS, Settings
from twill_mcp.errors import ConfigError
from twill_mcp.logs import configure_logging
from twill_mcp.server import build_server
from twill_mcp.spec import load_bundled_spec
from twill_mcp.stdio import serve_stdio
from twill_mcp.surface import DEFAULT_TOOLSETS, select_tools
from twill_mcp.upstream import TwillHttp

logger = logging.getLogger("twill_mcp")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="twill-mcp",
        description="MCP server for the Twill cloud coding-agent API. Serves MCP over stdio. "
        "The API key comes from TWILL_API_KEY (or a file named by TWILL_API_KEY_FILE), never from arguments.",
    )
    parser.add_argument("--version", action="version", version=f"twill-mcp {__version__}")
    parser.add_argument(
        "--toolsets",
        metavar="SETS",
        help=f"comma-separated toolsets to expose, or 'all' (default: {','.join(DEFAULT_TOOLSETS)})",
    )
    parser.add_argument("--tools", metavar="NAMES", help="comma-separated tools to expose (alone: only these)")
    parser.add_argument("--exclude-tools", metavar="NAMES", help="comma-separated tools to hide (wins over the others)")
    parser.add_argument(
        "--read-only", action="store_true", default=None, help="expose only tools that change nothing (wins over all)"
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        help="stderr log level (default: TWILL_MCP_LOG_LEVEL or INFO)",
    )
    return parser.parse_args(argv)


def exposed_tools(settings: Settings) -> list[CompiledTool]:
    return select_tools(
        compile_spec(load_bundled_spec()),
        toolsets=settings.toolsets,
        include=settings.tools,
        exclude=settings.exclude_tools,
        read_only=settings.read_only,
    )


async def serve(settings: Settings, tools: list[CompiledTool]) -> None:
    async with TwillHttp(settings) as http:
        await serve_stdio(build_server(http, tools), grace=settings.call_timeout + 1)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = Settings.load(
            log_level=args.log_level,
            toolsets=args.toolsets,
            tools=args.tools,
            exclude_tools=args.exclude_tools,
            read_only=args.read_only,
        )
        tools = exposed_tools(settings)
    except ConfigError as exc:
        print(f"twill-mcp: configuration error: {exc}", file=sys.stderr)
        return 2
    key = settings.api_key.get_secret_value() if settings.api_key else ""
    configure_logging(settings.log_level, secrets=[key])
    if not key:
        logger.warning("TWILL_API_KEY is not set: tools are listed, but every call will ask for a key")
    logger.info("twill-mcp %s serving %d tools over stdio; Twill API at %s", __version__, len(tools), settings.base_url)
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(serve, settings, tools)
    return 0
