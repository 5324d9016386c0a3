"""`twill-mcp install HOST`: one command adds twill-mcp to a host's own configuration, and keeps the rest of it.

Each test runs the command in-process with a temporary HOME (and working folder). The oracles are the hosts'
documented files and shapes — the paths the issue lists per OS, `mcpServers` / VS Code's `servers` with its
`inputs` prompt / Codex's `[mcp_servers.NAME]` TOML table — read back with the standard library's parsers,
and the files as they were before.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY
from twill_mcp import cli
from twill_mcp.install import HOSTS, config_path

# Where each host keeps its user-wide file on Linux, as the issue (and each host's documentation) names it.
LINUX_PATHS = {
    "claude-desktop": ".config/Claude/claude_desktop_config.json",
    "claude-code": ".claude.json",
    "cursor": ".cursor/mcp.json",
    "vscode": ".config/Code/User/mcp.json",
    "windsurf": ".codeium/windsurf/mcp_config.json",
    "gemini": ".gemini/settings.json",
    "codex": ".codex/config.toml",
}
SERVERS_KEY = {"vscode": "servers", "codex": "mcp_servers"}
JSON_HOSTS = [host for host in LINUX_PATHS if host != "codex"]
KEYED_HOSTS = [host for host in LINUX_PATHS if host != "vscode"]
# A realistic file each host already has: another server and settings of the host's own.
EXISTING_JSON = {
    "theme": "dark",
    "numStartups": 12,
    "SERVERS": {"github": {"command": "npx", "args": ["-y", "@github/mcp"], "env": {"GITHUB_TOKEN": "ghp_other"}}},
}
EXISTING_TOML = """# Codex settings, kept as they are
model = "o3"  # the model I like

[mcp_servers.github]
command = "npx"
args = ["-y", "@github/mcp"]
env = { GITHUB_TOKEN = "ghp_other" }

[profiles.fast]
model = "o4-mini"
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_twill_env: None) -> Path:
    """An empty home folder and project folder; the hosts' path variables unset, so their defaults apply."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for variable in ("XDG_CONFIG_HOME", "CODEX_HOME", "APPDATA"):
        monkeypatch.delenv(variable, raising=False)
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    return home


@pytest.fixture
def key(home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TWILL_API_KEY", API_KEY)
    return API_KEY


def install(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["install", *argv])
    out, err = capsys.readouterr()
    assert API_KEY not in out + err
    return code, out, err


def read(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    return tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)


def entry(home: Path, host: str) -> dict[str, Any]:
    return read(home / LINUX_PATHS[host])[SERVERS_KEY.get(host, "mcpServers")]["twill"]


def running_twill_mcp() -> str:
    script = shutil.which("twill-mcp", path=str(Path(sys.executable).parent))
    assert script is not None
    return script


def write_existing(home: Path, host: str) -> Path:
    path = home / LINUX_PATHS[host]
    path.parent.mkdir(parents=True, exist_ok=True)
    if host == "codex":
        path.write_text(EXISTING_TOML, encoding="utf-8")
    else:
        existing = {k.replace("SERVERS", SERVERS_KEY.get(host, "mcpServers")): v for k, v in EXISTING_JSON.items()}
        path.write_text(json.dumps(existing, indent=4) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("host", list(LINUX_PATHS))
@pytest.mark.usefixtures("key")
def test_install_into_an_empty_home_writes_the_hosts_own_file(
    capsys: pytest.CaptureFixture[str], home: Path, host: str
) -> None:
    code, out, _ = install(capsys, host)
    assert code == 0
    assert str(home / LINUX_PATHS[host]) in out
    written = entry(home, host)
    assert written["command"] == running_twill_mcp()
    assert Path(written["command"]).is_absolute()
    assert written["args"] == []


@pytest.mark.parametrize("host", KEYED_HOSTS)
@pytest.mark.usefixtures("home")
def test_the_key_goes_into_the_entrys_env_and_is_never_printed(
    capsys: pytest.CaptureFixture[str], home: Path, key: str, host: str
) -> None:
    _, out, err = install(capsys, host)
    assert entry(home, host)["env"] == {"TWILL_API_KEY": key}
    assert key not in out + err


@pytest.mark.usefixtures("key")
def test_an_existing_file_that_now_holds_the_key_is_readable_only_by_its_owner(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    path = write_existing(home, "cursor")
    path.chmod(0o644)
    install(capsys, "cursor")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.usefixtures("key")
def test_a_new_file_that_holds_the_key_is_readable_only_by_its_owner(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    install(capsys, "cursor")
    assert stat.S_IMODE((home / LINUX_PATHS["cursor"]).stat().st_mode) == 0o600


def test_a_file_without_a_key_keeps_its_mode(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    path = write_existing(home, "vscode")
    path.chmod(0o644)
    install(capsys, "vscode")  # VS Code asks for the key itself: the file holds none
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.usefixtures("key")
def test_vs_code_gets_a_password_prompt_and_no_key_in_the_file(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    install(capsys, "vscode")
    path = home / LINUX_PATHS["vscode"]
    document = read(path)
    assert document["servers"]["twill"]["type"] == "stdio"
    reference = document["servers"]["twill"]["env"]["TWILL_API_KEY"]
    [prompt] = [item for item in document["inputs"] if f"${{input:{item['id']}}}" == reference]
    assert prompt["type"] == "promptString"
    assert prompt["password"] is True
    assert API_KEY not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("host", JSON_HOSTS)
@pytest.mark.usefixtures("key")
def test_every_other_entry_and_setting_of_a_json_file_is_kept(
    capsys: pytest.CaptureFixture[str], home: Path, host: str
) -> None:
    path = write_existing(home, host)
    before = read(path)
    assert install(capsys, host)[0] == 0
    after = read(path)
    servers = SERVERS_KEY.get(host, "mcpServers")
    del after[servers]["twill"]
    if host == "vscode":
        del after["inputs"]
    assert after == before


HAND_FORMATTED = """{
  "SERVERS": {
    "github": { "command": "npx", "args": ["-y", "@github/mcp"],
                "env": {"GITHUB_TOKEN": "ghp_other"} }
  },
  "telemetry": false
}
"""


def only_added_lines(before: str, after: str) -> bool:
    """Every line of `before` is still in `after`, or there with a comma added (the member before one of ours)."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    removed = [line[2:] for line in diff if line.startswith("- ")]
    added = [line[2:] for line in diff if line.startswith("+ ")]
    return all(line + "," in added for line in removed)


@pytest.mark.parametrize("host", ["cursor", "vscode", "claude-code"])
@pytest.mark.usefixtures("key")
def test_a_hand_formatted_json_file_changes_only_by_the_lines_of_the_new_entry(
    capsys: pytest.CaptureFixture[str], home: Path, host: str
) -> None:
    path = home / LINUX_PATHS[host]
    path.parent.mkdir(parents=True, exist_ok=True)
    before = HAND_FORMATTED.replace("SERVERS", SERVERS_KEY.get(host, "mcpServers"))
    path.write_text(before, encoding="utf-8")
    assert install(capsys, host)[0] == 0
    assert only_added_lines(before, path.read_text(encoding="utf-8"))


@pytest.mark.usefixtures("key")
def test_a_codex_toml_file_keeps_its_comments_tables_and_layout(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    path = write_existing(home, "codex")
    assert install(capsys, "codex")[0] == 0
    text = path.read_text(encoding="utf-8")
    for line in EXISTING_TOML.splitlines():
        assert line in text.splitlines()
    document = tomllib.loads(text)
    assert document["profiles"] == {"fast": {"model": "o4-mini"}}
    assert document["mcp_servers"]["github"]["env"] == {"GITHUB_TOKEN": "ghp_other"}


@pytest.mark.parametrize("host", list(LINUX_PATHS))
@pytest.mark.usefixtures("key")
def test_installing_twice_changes_nothing_the_second_time(
    capsys: pytest.CaptureFixture[str], home: Path, host: str
) -> None:
    path = write_existing(home, host)
    install(capsys, host)
    first = path.read_bytes()
    files = set(path.parent.iterdir())
    code, out, _ = install(capsys, host)
    assert code == 0
    assert "Already there" in out
    assert path.read_bytes() == first
    assert set(path.parent.iterdir()) == files


@pytest.mark.usefixtures("key")
def test_a_changed_file_is_backed_up_first(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    path = write_existing(home, "cursor")
    original = path.read_bytes()
    _, out, _ = install(capsys, "cursor")
    [backup] = [p for p in path.parent.iterdir() if p.name.endswith(".bak")]
    assert backup.read_bytes() == original
    assert str(backup) in out


@pytest.mark.usefixtures("key")
def test_an_older_twill_entry_is_replaced_and_said_to_be(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    path = home / LINUX_PATHS["cursor"]
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"mcpServers": {"twill": {"command": "uvx", "args": ["twill-mcp"]}}}), encoding="utf-8")
    _, out, _ = install(capsys, "cursor")
    assert out.startswith("Updated")
    assert entry(home, "cursor")["command"] == running_twill_mcp()


@pytest.mark.parametrize(
    ("host", "text"),
    [
        ("cursor", '{"mcpServers": {}, // my servers\n}'),
        ("vscode", '{\n  "servers": {},\n}'),
        ("claude-desktop", "[1, 2]"),
        ("codex", "[mcp_servers\ncommand = 1"),
    ],
)
@pytest.mark.usefixtures("key")
def test_a_file_that_cannot_be_parsed_is_refused_with_the_reason_and_left_alone(
    capsys: pytest.CaptureFixture[str], home: Path, host: str, text: str
) -> None:
    path = home / LINUX_PATHS[host]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    code, _, err = install(capsys, host)
    assert code == 2
    assert str(path) in err
    assert "nothing was written" in err
    assert path.read_text(encoding="utf-8") == text
    assert list(path.parent.glob("*.bak")) == []


@pytest.mark.usefixtures("key")
def test_dry_run_shows_the_entry_without_the_key_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    code, out, _ = install(capsys, "claude-desktop", "--dry-run")
    assert code == 0
    assert running_twill_mcp() in out
    assert "[redacted]" in out
    assert list(home.rglob("*")) == []


def test_sandbox_writes_an_entry_that_needs_no_key(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_prompt(prompt: str) -> str:
        raise AssertionError("asked for a key")

    monkeypatch.setattr("getpass.getpass", no_prompt)
    code, _, _ = install(capsys, "windsurf", "--sandbox")
    assert code == 0
    written = entry(home, "windsurf")
    assert written["args"] == ["--sandbox"]
    assert "TWILL_API_KEY" not in written.get("env", {})


def test_sandbox_before_the_command_is_the_same_option(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    assert cli.main(["--sandbox", "install", "cursor"]) == 0
    assert entry(home, "cursor")["args"] == ["--sandbox"]


def test_without_the_variable_the_key_is_asked_for_hidden(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    def typed(prompt: str) -> str:
        prompts.append(prompt)
        return API_KEY + "\n"

    monkeypatch.setattr("getpass.getpass", typed)
    code, _, _ = install(capsys, "gemini")
    assert code == 0
    assert len(prompts) == 1
    assert entry(home, "gemini")["env"] == {"TWILL_API_KEY": API_KEY}


@pytest.mark.parametrize("given", ["<your Twill API key>", "twk live 0123456789"])
def test_a_placeholder_or_malformed_key_is_refused_and_nothing_written(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv("TWILL_API_KEY", given)
    code, _, err = install(capsys, "cursor")
    assert code == 2
    assert "nothing was written" in err
    assert given not in err
    assert list(home.rglob("*")) == []


@pytest.mark.usefixtures("key")
def test_project_scope_writes_the_folders_file_with_a_reference_not_the_key(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    code, out, _ = install(capsys, "claude-code", "--scope", "project")
    assert code == 0
    path = Path.cwd() / ".mcp.json"
    assert read(path)["mcpServers"]["twill"]["env"] == {"TWILL_API_KEY": "${TWILL_API_KEY}"}
    assert API_KEY not in path.read_text(encoding="utf-8")
    assert "approve" in out


@pytest.mark.usefixtures("key")
def test_project_scope_is_refused_for_a_host_without_one(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    code, _, err = install(capsys, "claude-desktop", "--scope", "project")
    assert code == 2
    assert "--scope user" in err


@pytest.mark.parametrize(
    ("host", "hint"),
    [("claude-desktop", "open it again"), ("gemini", "trust"), ("vscode", "MCP: List Servers"), ("codex", "mcp list")],
)
@pytest.mark.usefixtures("key", "home")
def test_it_ends_with_what_to_do_next(capsys: pytest.CaptureFixture[str], host: str, hint: str) -> None:
    _, out, _ = install(capsys, host)
    assert out.splitlines()[-1].startswith("Next: ")
    assert hint in out.splitlines()[-1]


@pytest.mark.parametrize(
    ("host", "platform", "expected"),
    [
        ("claude-desktop", "darwin", "HOME/Library/Application Support/Claude/claude_desktop_config.json"),
        ("claude-desktop", "win32", "APPDATA/Claude/claude_desktop_config.json"),
        ("vscode", "darwin", "HOME/Library/Application Support/Code/User/mcp.json"),
        ("vscode", "win32", "APPDATA/Code/User/mcp.json"),
        ("cursor", "win32", "HOME/.cursor/mcp.json"),
        ("codex", "darwin", "HOME/.codex/config.toml"),
    ],
)
def test_each_os_has_the_hosts_own_path(host: str, platform: str, expected: str) -> None:
    home, appdata = Path("/h"), "/h/AppData/Roaming"
    path = config_path(HOSTS[host], "user", platform=platform, home=home, environ={"APPDATA": appdata}, cwd=Path("/p"))
    assert path == Path(expected.replace("HOME", str(home)).replace("APPDATA", appdata))


def test_codex_home_and_xdg_config_home_move_the_files_as_they_move_the_hosts() -> None:
    def at(host: str, environ: dict[str, str]) -> Path:
        return config_path(HOSTS[host], "user", platform="linux", home=Path("/h"), environ=environ, cwd=Path("/p"))

    assert at("codex", {"CODEX_HOME": "/c"}) == Path("/c/config.toml")
    assert at("vscode", {"XDG_CONFIG_HOME": "/x"}) == Path("/x/Code/User/mcp.json")


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.usefixtures("home")
async def test_the_written_sandbox_entry_starts_a_server_that_answers_a_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    install(capsys, "claude-desktop", "--sandbox")
    written = entry(Path(os.environ["HOME"]), "claude-desktop")
    # A host's minimal environment: the entry has to carry all it needs.
    params = StdioServerParameters(command=written["command"], args=written["args"], env={"PATH": "/usr/bin:/bin"})
    async with Client(stdio_client(params)) as client:
        result = await client.call_tool("get_task", {"taskIdOrSlug": "demo-2"})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["task"]["slug"] == "demo-2"


@pytest.mark.slow
def test_parsing_a_serving_command_line_imports_neither_install_nor_difflib() -> None:
    # A host waits for start-up: what only `install` or an error message needs is imported on the way there.
    import subprocess

    script = (
        "import sys\n"
        "from twill_mcp import cli\n"
        "cli.parse_args(['--sandbox', '--toolsets', 'all'])\n"
        "print(sorted({'twill_mcp.install', 'difflib', 'tomlkit'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
