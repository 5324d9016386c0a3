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

    chosen = _chosen(toolsets, include, known_sets)
    selected = [tool for tool in tools if _hidden_because(tool, chosen, include, exclude, read_only) is None]
    if not selected:
        raise ConfigError("this selection leaves no tools; check --toolsets, --tools, --exclude-tools and --read-only")
    return selected


def hidden_because(
    name: str,
    tools: Sequence[Tool],
    *,
    toolsets: Iterable[str] | None = None,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    read_only: bool = False,
) -> str:
    """Why `select_tools` with these options leaves this known tool out, and the option that would expose it."""
    include = set(include)
    [tool] = [tool for tool in tools if tool.name == name]
    chosen = _chosen(None if toolsets is None else set(toolsets), include, sorted({t.toolset for t in tools}))
    return _hidden_because(tool, chosen, include, set(exclude), read_only) or "it is exposed"


def _chosen(toolsets: set[str] | None, include: set[str], known_sets: Sequence[str]) -> set[str]:
    if toolsets is None:
        # Named tools stand alone; otherwise the defaults.
        return set() if include else set(DEFAULT_TOOLSETS)
    return set(known_sets) if ALL in toolsets else toolsets


def _hidden_because(tool: Tool, chosen: set[str], include: set[str], exclude: set[str], read_only: bool) -> str | None:
    """The one rule of what is listed: None when the tool is, else why not and what would list it."""
    if tool.name in exclude:
        return "--exclude-tools (TWILL_MCP_EXCLUDE_TOOLS) hides it; take it out of that list"
    if read_only and not tool.annotations.read_only:
        return "it changes things, and --read-only (TWILL_MCP_READ_ONLY) exposes only tools that change nothing"
    if tool.name in include:
        return None
    if tool.hidden:
        return f"it is deprecated, so only naming it exposes it: --tools {tool.name}"
    if tool.toolset in chosen:
        return None
    if not chosen:
        named = sorted(include)
        more = ",".join([*named, tool.name])
        return f"it is not in the list given to --tools ({', '.join(named)}); add it: --tools {more}"
    widened = ",".join([*sorted(chosen), tool.toolset])
    return (
        f"it is in the toolset {tool.toolset!r}, which is not exposed (exposed: {', '.join(sorted(chosen))}); "
        f"add it with --toolsets {widened} (TWILL_MCP_TOOLSETS), --toolsets all, or --tools {tool.name}"
    )


def _refuse_unknown(kind: str, unknown: set[str], valid: Sequence[str]) -> None:
    if unknown:
        raise ConfigError(f"unknown {kind}(s): {', '.join(sorted(unknown))}. Valid {kind}s: {', '.join(valid)}")
