"""Which compiled tools a server exposes: toolsets, named tools, exclusions, read-only.

Every tool an agent sees costs context on every turn, and some hosts send only the
first 40 tools, so the default surface is the everyday workflow, not the whole API.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from twill_mcp.core.errors import ConfigError
from twill_mcp.tools.composed import Tool

DEFAULT_TOOLSETS = ("tasks", "jobs", "account")
ALL = "all"


def select_tools(
    tools: Sequence[Tool],
    *,
    toolsets: Iterable[str] | None = None,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    read_only: bool = False,
) -> list[Tool]:
    """The tools to expose, in spec order.

    `toolsets` None means the defaults, unless tools are named with `include`, which
    then stand alone. A named tool is exposed even when hidden (deprecated). `exclude`
    wins over both, and `read_only` over everything.
    """
    include, exclude = set(include), set(exclude)
    known_sets = sorted({tool.toolset for tool in tools})
    names = [tool.name for tool in tools]
    if toolsets is not None:
        toolsets = set(toolsets)
        _refuse_unknown("toolset", toolsets - {ALL} - set(known_sets), [*known_sets, ALL])
    _refuse_unknown("tool", (include | exclude) - set(names), names)

    if toolsets is None:
        chosen = set() if include else set(DEFAULT_TOOLSETS)
    else:
        chosen = set(known_sets) if ALL in toolsets else toolsets
    selected = [
        tool
        for tool in tools
        if ((tool.toolset in chosen and not tool.hidden) or tool.name in include)
        and tool.name not in exclude
        and (tool.annotations.read_only or not read_only)
    ]
    if not selected:
        raise ConfigError("this selection leaves no tools; check --toolsets, --tools, --exclude-tools and --read-only")
    return selected


def _refuse_unknown(kind: str, unknown: set[str], valid: Sequence[str]) -> None:
    if unknown:
        raise ConfigError(f"unknown {kind}(s): {', '.join(sorted(unknown))}. Valid {kind}s: {', '.join(valid)}")
