"""`twill-mcp install HOST`: write (or merge) a `twill` entry into an MCP host's own configuration file.

The hosts are data (`HOSTS`): where each keeps its file on each OS, the key its servers live under, and what
the user does next. Merging keeps every other entry and setting of the file; a file that does not parse is
refused with the reason, never overwritten. The key goes only into the entry's env (VS Code asks for it with
its own password prompt instead) and is never printed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from twill_mcp.core.config import key_problem
from twill_mcp.core.credentials import Credentials
from twill_mcp.core.logs import REDACTED

SERVER_NAME = "twill"
KEY_VARIABLE = "TWILL_API_KEY"
# What a shared entry (mcp.json, the Cursor link) holds until the user pastes a key: the server starts on it and
# every call says it is a placeholder (config.is_placeholder).
PLACEHOLDER_KEY = "<your Twill API key: Twill workspace settings -> API Keys>"
VSCODE_INPUT_ID = "twill-api-key"
VSCODE_INPUT = {"type": "promptString", "id": VSCODE_INPUT_ID, "description": "Twill API key", "password": True}
Platform = Literal["linux", "darwin", "win32"]


@dataclass(frozen=True, slots=True)
class Host:
    title: str
    user_paths: Mapping[Platform, str]
    """The user-wide file by OS: `~` is the home folder, `$NAME` an environment variable (with a default below)."""
    next_step: str
    servers_key: str = "mcpServers"
    project_path: str | None = None
    """The file in the current folder that `--scope project` writes, where the host has one."""
    project_key: str | None = None
    """In a project file (often committed) the key is a reference the host expands, never the key itself."""
    project_next_step: str = ""
    toml: bool = False
    typed: bool = False
    """Entries say `"type": "stdio"` (the host requires it, or writes it so itself)."""
    key_prompt: bool = False
    """The host asks for the key itself (VS Code's `inputs`), so the file holds no secret."""


def _same_everywhere(path: str) -> dict[Platform, str]:
    return {"linux": path, "darwin": path, "win32": path}


HOSTS: dict[str, Host] = {
    "claude-desktop": Host(
        title="Claude Desktop",
        user_paths={
            "linux": "$XDG_CONFIG_HOME/Claude/claude_desktop_config.json",
            "darwin": "~/Library/Application Support/Claude/claude_desktop_config.json",
            "win32": "$APPDATA/Claude/claude_desktop_config.json",
        },
        next_step="Quit Claude Desktop completely and open it again; twill is then listed under Settings → Developer.",
    ),
    "claude-code": Host(
        title="Claude Code",
        user_paths=_same_everywhere("~/.claude.json"),
        next_step="Run `claude mcp list`: twill is listed as connected (in a session, /mcp shows it).",
        project_path=".mcp.json",
        project_key="${TWILL_API_KEY}",
        project_next_step=(
            "Start Claude Code in this folder with TWILL_API_KEY set, and approve the project's twill server when it "
            "asks (or list it in enabledMcpjsonServers in .claude/settings.local.json)."
        ),
        typed=True,
    ),
    "cursor": Host(
        title="Cursor",
        user_paths=_same_everywhere("~/.cursor/mcp.json"),
        next_step="Open Cursor Settings → MCP: twill is listed; switch it on if it is off.",
        project_path=".cursor/mcp.json",
        project_key="${env:TWILL_API_KEY}",
        project_next_step="Start Cursor with TWILL_API_KEY set, then open Cursor Settings → MCP and switch twill on.",
    ),
    "vscode": Host(
        title="VS Code",
        user_paths={
            "linux": "$XDG_CONFIG_HOME/Code/User/mcp.json",
            "darwin": "~/Library/Application Support/Code/User/mcp.json",
            "win32": "$APPDATA/Code/User/mcp.json",
        },
        next_step=(
            "In VS Code run 'MCP: List Servers' and start twill: it asks for your Twill API key once, with a "
            "password prompt, and keeps it in its secret storage."
        ),
        servers_key="servers",
        project_path=".vscode/mcp.json",
        project_next_step=(
            "Open this folder in VS Code, run 'MCP: List Servers' and start twill: it asks for your Twill API "
            "key once and keeps it in its secret storage (the file holds no secret and can be committed)."
        ),
        typed=True,
        key_prompt=True,
    ),
    "windsurf": Host(
        title="Windsurf",
        user_paths=_same_everywhere("~/.codeium/windsurf/mcp_config.json"),
        next_step="In Windsurf open Cascade → MCP servers and press Refresh: twill is listed.",
    ),
    "gemini": Host(
        title="Gemini CLI",
        user_paths=_same_everywhere("~/.gemini/settings.json"),
        next_step=(
            "Start `gemini` in a folder you trust (Gemini CLI starts no MCP server in an untrusted folder); "
            "/mcp, or `gemini mcp list`, shows twill connected."
        ),
        project_path=".gemini/settings.json",
        project_key="$TWILL_API_KEY",
        project_next_step=(
            "Trust this folder when Gemini CLI asks (it starts no MCP server in an untrusted folder), and start "
            "`gemini` here with TWILL_API_KEY set; /mcp shows twill."
        ),
    ),
    "codex": Host(
        title="Codex CLI",
        user_paths=_same_everywhere("$CODEX_HOME/config.toml"),
        next_step="Run `codex mcp list`: twill is listed; in a `codex` session, /mcp shows its tools.",
        servers_key="mcp_servers",
        toml=True,
    ),
}
# Where an unset variable of a path points, as each host itself defaults it.
PATH_DEFAULTS = {"XDG_CONFIG_HOME": "~/.config", "CODEX_HOME": "~/.codex", "APPDATA": "~/AppData/Roaming"}


class InstallError(Exception):
    """Nothing was written; the message says why and what to do."""


def config_path(host: Host, scope: str, *, platform: str, home: Path, environ: Mapping[str, str], cwd: Path) -> Path:
    if scope == "project":
        if host.project_path is None:
            raise InstallError(f"{host.title} has no project configuration; use --scope user")
        return cwd / host.project_path
    # sys.platform's names; every other Unix keeps its files where Linux does.
    os_name: Platform = "darwin" if platform == "darwin" else "win32" if platform == "win32" else "linux"
    template = host.user_paths[os_name]
    head, sep, rest = template.partition("/")
    if head.startswith("$"):
        variable = head[1:]
        head = environ.get(variable, "").strip() or PATH_DEFAULTS[variable]
    path = head + sep + rest
    return home / path[2:] if path.startswith("~/") else Path(path)


def server_command() -> list[str]:
    """The absolute command of the running twill-mcp: hosts start servers with a minimal PATH."""
    script = Path(sys.argv[0])
    if script.stem == "twill-mcp" and script.exists():
        return [str(script.absolute())]
    # `python -m twill_mcp`: the console script installed beside this interpreter, else the interpreter itself.
    beside = shutil.which("twill-mcp", path=str(Path(sys.executable).parent))
    return [str(Path(beside).absolute())] if beside else [sys.executable, "-m", "twill_mcp"]


def entry_for(host: Host, command: list[str], key: str | None, *, sandbox: bool) -> dict[str, Any]:
    """The server entry this host reads. `key` is what goes into env (a key, or a reference the host expands)."""
    entry: dict[str, Any] = {"type": "stdio"} if host.typed else {}
    entry["command"] = command[0]
    entry["args"] = [*command[1:], *(["--sandbox"] if sandbox else [])]
    if not sandbox:
        entry["env"] = {KEY_VARIABLE: f"${{input:{VSCODE_INPUT_ID}}}" if host.key_prompt else key}
    return entry


@dataclass(frozen=True, slots=True)
class Change:
    path: Path
    before: str | None
    after: str
    action: str
    """What happens to the entry: 'added', 'updated' or 'unchanged'."""


def merge(host: Host, path: Path, entry: Mapping[str, Any]) -> Change:
    """The file's new text with the entry merged in, or an InstallError saying why the file cannot be merged."""
    try:
        before = path.read_text(encoding="utf-8") if path.exists() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise InstallError(f"cannot read {path} ({type(exc).__name__}: {exc})") from None
    merged = _merge_toml if host.toml else _merge_json
    after, action = merged(host, path, before, entry)
    return Change(path, before, after, action)


def _merge_json(host: Host, path: Path, before: str | None, entry: Mapping[str, Any]) -> tuple[str, str]:
    document: Any = {}
    if before is not None and before.strip():
        try:
            document = json.loads(before)
        except ValueError as exc:
            raise InstallError(
                f"{path} is not plain JSON ({exc}): twill-mcp does not merge comments or trailing commas. "
                "Fix the file (or move it away) and run this again; nothing was written"
            ) from None
    if not isinstance(document, dict):
        raise InstallError(f"{path} holds a JSON {type(document).__name__}, not an object; nothing was written")
    servers = document.setdefault(host.servers_key, {})
    if not isinstance(servers, dict):
        raise InstallError(f'"{host.servers_key}" in {path} is not an object; nothing was written')
    action = "unchanged" if servers.get(SERVER_NAME) == entry else "updated" if SERVER_NAME in servers else "added"
    servers[SERVER_NAME] = dict(entry)
    if host.key_prompt and "env" in entry:
        inputs = document.setdefault("inputs", [])
        if not isinstance(inputs, list):
            raise InstallError(f'"inputs" in {path} is not a list; nothing was written')
        if VSCODE_INPUT not in inputs:
            inputs[:] = [item for item in inputs if not (isinstance(item, dict) and item.get("id") == VSCODE_INPUT_ID)]
            inputs.append(dict(VSCODE_INPUT))
            action = "updated" if action == "unchanged" else action
    if action == "unchanged" and before is not None:
        return before, action
    in_place = _written_in(before, document, host, entry) if before is not None and before.strip() else None
    return in_place or json.dumps(document, indent=_indent(before), ensure_ascii=False) + "\n", action


def _written_in(before: str, document: Any, host: Host, entry: Mapping[str, Any]) -> str | None:
    """The file's own text with only the entry (and VS Code's input) written into it, every other byte as it was.

    None where that is not simple (a one-line object, an `inputs` list to edit): the caller then writes the
    merged document whole, with the file's indentation. The result is checked to parse to the merged document.
    """
    if "\n" not in before.strip():
        return None  # a one-line file: written whole, indented
    unit = _indent(before)
    unit_text = unit if isinstance(unit, str) else " " * unit
    try:
        text = before
        top = _skip_space(text, 0)
        members = dict((key, start) for key, start, _ in _members(text, top)[0])
        if host.servers_key in members:
            text = _set_member(text, members[host.servers_key], SERVER_NAME, entry, unit_text)
        else:
            text = _set_member(text, top, host.servers_key, {SERVER_NAME: entry}, unit_text)
        if host.key_prompt and "env" in entry and document["inputs"] != json.loads(before).get("inputs"):
            if "inputs" in members:
                return None
            text = _set_member(text, _skip_space(text, 0), "inputs", document["inputs"], unit_text)
    except (IndexError, ValueError, _NotSimple):
        return None
    return text if json.loads(text) == document else None


class _NotSimple(Exception):
    pass


def _skip_space(text: str, at: int) -> int:
    while text[at] in " \t\r\n":
        at += 1
    return at


def _end_of_string(text: str, at: int) -> int:
    at += 1
    while text[at] != '"':
        at += 2 if text[at] == "\\" else 1
    return at + 1


def _end_of_value(text: str, at: int) -> int:
    """Where the JSON value starting at `at` ends, in text that parsed: strings skipped, brackets counted."""
    if text[at] == '"':
        return _end_of_string(text, at)
    if text[at] not in "{[":
        while at < len(text) and text[at] not in ",}] \t\r\n":
            at += 1
        return at
    depth = 0
    while True:
        if text[at] == '"':
            at = _end_of_string(text, at)
            continue
        if text[at] in "{[":
            depth += 1
        elif text[at] in "}]":
            depth -= 1
            if depth == 0:
                return at + 1
        at += 1


def _members(text: str, start: int) -> tuple[list[tuple[str, int, int]], int]:
    """The object at `start`: each member's key and its value's span, and where the closing brace is."""
    members = []
    at = _skip_space(text, start + 1)
    while text[at] != "}":
        key_end = _end_of_string(text, at)
        key = json.loads(text[at:key_end])
        at = _skip_space(text, _skip_space(text, key_end) + 1)  # past the colon
        end = _end_of_value(text, at)
        members.append((key, at, end))
        at = _skip_space(text, end)
        if text[at] == ",":
            at = _skip_space(text, at + 1)
    return members, at


def _indentation(text: str, at: int) -> str:
    line = text[text.rfind("\n", 0, at) + 1 : at]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _set_member(text: str, start: int, key: str, value: Any, unit: str) -> str:
    members, close = _members(text, start)

    def rendered(indent: str) -> str:
        return json.dumps(value, indent=unit, ensure_ascii=False).replace("\n", "\n" + indent)

    for name, begin, end in members:
        if name == key:
            return text[:begin] + rendered(_indentation(text, begin)) + text[end:]
    if members:
        _, begin, end = members[-1]
        if "\n" not in text[start:begin]:
            raise _NotSimple  # an object on one line: written whole instead
        indent = _indentation(text, begin)
        return text[:end] + f",\n{indent}{json.dumps(key)}: {rendered(indent)}" + text[end:]
    outer = _indentation(text, close) if "\n" in text[start:close] else _indentation(text, start)
    inner = outer + unit
    return text[: start + 1] + f"\n{inner}{json.dumps(key)}: {rendered(inner)}\n{outer}" + text[close:]


def _indent(text: str | None) -> int | str:
    """The file's own indentation, so that a merge changes no more lines than it must."""
    for line in (text or "").splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and stripped != line:
            whitespace = line[: len(line) - len(stripped)]
            return whitespace if "\t" in whitespace else len(whitespace)
    return 2


def _merge_toml(host: Host, path: Path, before: str | None, entry: Mapping[str, Any]) -> tuple[str, str]:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        document = tomlkit.parse(before or "")
    except TOMLKitError as exc:
        raise InstallError(
            f"{path} is not valid TOML ({exc}). Fix the file (or move it away) and run this again; nothing was written"
        ) from None
    servers = document.get(host.servers_key)
    if servers is None:
        servers = tomlkit.table(is_super_table=True)
        document[host.servers_key] = servers
    if not isinstance(servers, dict):
        raise InstallError(f"{host.servers_key} in {path} is not a table; nothing was written")
    existing = servers.get(SERVER_NAME)
    # tomlkit's items compare as their plain values once unwrapped (a table, an inline table, an array).
    unwrap = getattr(existing, "unwrap", None)
    current = unwrap() if callable(unwrap) else existing
    if current == dict(entry) and before is not None:
        return before, "unchanged"
    table = tomlkit.table()
    for name, value in entry.items():
        if isinstance(value, dict):
            inline = tomlkit.inline_table()
            inline.update(value)
            table[name] = inline
        else:
            table[name] = value
    servers[SERVER_NAME] = table
    return tomlkit.dumps(document), "updated" if existing is not None else "added"


def write(change: Change, *, secret: bool) -> Path | None:
    """Write the new text atomically, after a timestamped backup of the old; returns the backup's path."""
    change.path.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if change.before is not None:
        backup = change.path.with_name(f"{change.path.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
        shutil.copy2(change.path, backup)
    # A file that holds a key is the user's alone: group and others lose what they could read, whatever else
    # the mode says. One without keeps its mode (a new one is 0644).
    mode = change.path.stat().st_mode & 0o777 if change.path.exists() else 0o644
    if secret:
        mode = mode & 0o700 | 0o600
        if backup is not None:
            os.chmod(backup, mode)  # it may hold an earlier key
    handle, temporary = tempfile.mkstemp(dir=change.path.parent, prefix=f".{change.path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(change.after)
        os.chmod(temporary, mode)
        os.replace(temporary, change.path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return backup


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("host", choices=tuple(HOSTS), help="the MCP host to add twill-mcp to")
    parser.add_argument(
        "--scope",
        choices=("user", "project"),
        default="user",
        help="user: every project (default); project: this folder's file, where the host has one",
    )
    # SUPPRESS: `twill-mcp --sandbox install HOST` (the shared option, before the command) is not reset here.
    parser.add_argument(
        "--sandbox",
        action="store_true",
        default=argparse.SUPPRESS,
        help="an entry that runs against the sandbox (no key)",
    )
    parser.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    parser.add_argument("--config", metavar="PATH", type=Path, help="the file to write, instead of the host's own")


def run_install(args: argparse.Namespace, ask: Callable[[str], str] | None = None) -> int:
    host = HOSTS[args.host]
    try:
        # Looked up at the call: the hidden prompt is getpass's, whatever replaced it since import.
        return _install(host, args, ask or getpass.getpass)
    except InstallError as exc:
        print(f"twill-mcp install: {exc}", file=sys.stderr)
        return 2


def _install(host: Host, args: argparse.Namespace, ask: Callable[[str], str]) -> int:
    project = args.scope == "project" and args.config is None
    path: Path = args.config or config_path(
        host, args.scope, platform=sys.platform, home=Path.home(), environ=os.environ, cwd=Path.cwd()
    )
    key, told = _key(host, args, ask)
    entry = entry_for(host, server_command(), key, sandbox=args.sandbox)
    change = merge(host, path, entry)
    if args.dry_run:
        print(_dry_run(host, change, entry, secret=key is not None and not project))
        return 0
    backup = None
    if change.action != "unchanged":
        try:
            backup = write(change, secret=key is not None and not project)
        except OSError as exc:
            raise InstallError(f"cannot write {path} ({type(exc).__name__}: {exc}); it was not changed") from None
    verb = {"added": "Added", "updated": "Updated", "unchanged": "Already there:"}[change.action]
    lines = [f"{verb} the {SERVER_NAME} server in {host.title}'s configuration, {path}"]
    if backup is not None:
        lines.append(f"  backup of the previous file: {backup}")
    lines.append(f"  command: {' '.join([entry['command'], *entry['args']])}")
    lines.append(f"  key: {told}")
    lines.append(f"Next: {host.project_next_step if project else host.next_step}")
    print("\n".join(lines))
    return 0


def _key(host: Host, args: argparse.Namespace, ask: Callable[[str], str]) -> tuple[str | None, str]:
    """What goes into the entry's env, and how to tell the user about it without showing it."""
    if args.sandbox:
        return None, "none: the entry runs against the sandbox"
    if host.key_prompt:
        return None, f"{host.title} asks for it with a password prompt the first time it starts twill"
    if args.scope == "project" and host.project_key is not None and args.config is None:
        return host.project_key, f"{host.project_key}, expanded by {host.title}: the project file holds no secret"
    key = os.environ.get(KEY_VARIABLE, "").strip()
    source = f"from {KEY_VARIABLE}"
    if not key:
        try:
            key = ask("Twill API key (Twill workspace settings → API Keys; the input is hidden): ").strip()
        except (EOFError, KeyboardInterrupt):
            key = ""
        source = "as typed"
        if not key:
            raise InstallError(f"no key: set {KEY_VARIABLE}, or type the key when asked (or use --sandbox)")
    if (problem := key_problem(key)) is not None:
        raise InstallError(f"the key {source} {problem}; nothing was written")
    fingerprint = Credentials(SecretStr(key)).fingerprint
    return key, f"{fingerprint} ({source}), in the entry's env only"


def _dry_run(host: Host, change: Change, entry: Mapping[str, Any], *, secret: bool) -> str:
    shown = json.loads(json.dumps(entry))
    if secret and KEY_VARIABLE in shown.get("env", {}):
        shown["env"][KEY_VARIABLE] = REDACTED
    where = "a new file" if change.before is None else "existing file"
    lines = [f"Would write {change.path} ({where}): {SERVER_NAME} {change.action} under {host.servers_key}:"]
    if change.action == "unchanged":
        lines = [f"{change.path} already has this {SERVER_NAME} entry: nothing to write"]
    lines.append(json.dumps({SERVER_NAME: shown}, indent=2, ensure_ascii=False))
    if host.key_prompt and "env" in entry:
        lines.append(f"and, under inputs, the password prompt {json.dumps(VSCODE_INPUT)}")
    lines.append("Nothing was written (--dry-run).")
    return "\n".join(lines)
