"""The real host CLIs read what `twill-mcp install` wrote and start the server: each lists twill as connected.

Run where the CLIs are on PATH (`npm install @anthropic-ai/claude-code @google/gemini-cli @openai/codex`);
skipped where one is absent. Each gets a fresh HOME, so nothing of the user's own configuration is touched.
Codex's `mcp list` does not start servers: it is held to listing the entry, enabled.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SERVER_COMMAND

pytestmark = pytest.mark.slow

KEY = "twk_test_0123456789abcdef0123"


def cli_or_skip(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not on PATH")
    return found


def installed(home: Path, host: str) -> dict[str, str]:
    env = {**os.environ, "HOME": str(home), "TWILL_API_KEY": KEY}
    for variable in ("XDG_CONFIG_HOME", "CODEX_HOME"):
        env.pop(variable, None)
    done = subprocess.run([*SERVER_COMMAND, "install", host], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return env


def listing(command: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr


def test_claude_code_lists_the_installed_server_as_connected(tmp_path: Path) -> None:
    claude = cli_or_skip("claude")
    env = installed(tmp_path, "claude-code")
    out = listing([claude, "mcp", "list"], env, tmp_path)
    [line] = [line for line in out.splitlines() if line.startswith("twill:")]
    assert "Connected" in line, out


def test_gemini_cli_lists_the_installed_server_as_connected_in_a_trusted_folder(tmp_path: Path) -> None:
    gemini = cli_or_skip("gemini")
    env = installed(tmp_path, "gemini")
    # What answering Gemini CLI's trust prompt for this folder writes.
    (tmp_path / ".gemini" / "trustedFolders.json").write_text(json.dumps({str(tmp_path): "TRUST_FOLDER"}))
    out = listing([gemini, "mcp", "list"], env, tmp_path)
    [line] = [line for line in out.splitlines() if "twill:" in line]
    assert "Connected" in line, out


def test_codex_lists_the_installed_server_enabled_with_its_key_masked(tmp_path: Path) -> None:
    codex = cli_or_skip("codex")
    env = installed(tmp_path, "codex")
    out = listing([codex, "mcp", "list"], env, tmp_path)
    [line] = [line for line in out.splitlines() if line.startswith("twill ")]
    assert "enabled" in line
    assert KEY not in out
