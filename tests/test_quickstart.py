"""The README's two commands work verbatim in a fresh clone: the Quick start and the test command.

Both are read from the README, never retyped here. The clone line is the one thing substituted: the
test clones this repository from its local path (what is committed here is what a user would get),
into the directory the README's `cd` names, so the URL it clones from is checked against pyproject's
`Repository` instead of fetched. The shell gets the system's own `python3` (on Debian and Ubuntu an
externally managed one, which refuses a bare `pip install`) where it is recent enough.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]["Repository"]
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def quick_start() -> tuple[str, str]:
    """The Quick start's clone line and its one command, in the order the README gives them."""
    section = README[README.index("## Quick start") :]
    clone, command = re.findall(r"```sh\n(.+?)\n```", section, re.S)[:2]
    return clone, command


def readme_test_command() -> str:
    match = re.search(r"Run the tests.*?```sh\n(.+?)\n```", README, re.S)
    assert match is not None
    return match.group(1)


def test_the_quick_start_clones_the_published_repository_and_is_one_line_each() -> None:
    clone, command = quick_start()
    assert "\n" not in clone
    assert "\n" not in command
    assert shlex.split(clone)[:3] == ["git", "clone", REPOSITORY + ".git"]


def local_clone(tmp_path: Path) -> str:
    """The README's clone line with this checkout as the origin: `git clone URL && cd DIR` keeps its `cd`."""
    clone, _ = quick_start()
    words = shlex.split(clone)
    assert words[3:5] == ["&&", "cd"], clone
    directory = words[5]
    return f"git clone -q {shlex.quote(str(ROOT))} {shlex.quote(directory)} && cd {shlex.quote(directory)}"


def stock_environment() -> dict[str, str]:
    python = shutil.which("python3", path=SYSTEM_PATH)
    if python is None:
        pytest.skip("no system python3")
    version = subprocess.run([python, "-c", "import sys; print(sys.version_info >= (3, 11))"], capture_output=True)
    if version.stdout.strip() != b"True":
        pytest.skip("the system python3 is older than 3.11")
    # pip's own settings (an index, a wheel cache) stay; what would select another Python does not.
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    return {**env, "PATH": SYSTEM_PATH}


def run(script: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=stock_environment(), capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_quick_start_cancels_a_demo_task_in_a_fresh_clone(tmp_path: Path) -> None:
    _, command = quick_start()
    done = run(f"{local_clone(tmp_path)} && {command}", tmp_path, timeout=540)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout)
    assert result["structuredContent"]["success"] is True
    assert "SANDBOX" in result["content"][-1]["text"]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_readme_test_command_installs_and_runs_the_suite_in_a_fresh_clone(tmp_path: Path) -> None:
    # The whole suite inside the suite would run it twice over: the command is run as written, and pytest is
    # handed one file to collect, so what is checked is the venv, the install and the runner.
    done = run(f"{local_clone(tmp_path)} && {readme_test_command()} -q tests/test_readme.py", tmp_path, timeout=1140)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert re.search(r"\d+ passed", done.stdout), done.stdout[-2000:]
