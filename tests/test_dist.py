"""What users install: the sdist and wheel, built and checked, and the wheel's console script run from a fresh venv.

The fresh venv gets the wheel alone (`--no-deps`); its dependencies come from the test
venv through a path file, which keeps this to seconds instead of a full download. That
path file cannot hide an undeclared dependency: a test maps every module the installed
package loads to the requirements the wheel declares.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from twill_mcp import __version__

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
CLEAN_ENV = {"PATH": "/usr/bin:/bin"}


def run(*argv: str | Path, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=CLEAN_ENV
    )


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist, and the wheel built from it (not from the checkout), as `python -m build` makes them."""
    out = tmp_path_factory.mktemp("dist")
    # Without isolation the build uses this venv's setuptools instead of downloading one.
    done = run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="session")
def venv(dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel; returns its bin directory."""
    root = tmp_path_factory.mktemp("venv")
    assert run(sys.executable, "-m", "venv", "--without-pip", root).returncode == 0
    python = root / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    done = run(
        sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", dist["wheel"]
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Dependencies from the test venv, searched after the venv's own site-packages.
    Path(purelib, "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return root / "bin"


def test_twine_accepts_both_artifacts(dist: dict[str, Path]) -> None:
    done = run(sys.executable, "-m", "twine", "check", "--strict", dist["sdist"], dist["wheel"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_wheel_contents_pass_check_wheel_contents(dist: dict[str, Path]) -> None:
    done = run(Path(sys.executable).parent / "check-wheel-contents", dist["wheel"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_artifacts_carry_the_bundled_spec_the_task_view_and_the_emulator_notes(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = set(wheel.namelist())
    assert "twill_mcp/data/twill-openapi.json" in names
    assert "twill_mcp/data/task-app.html" in names
    assert "twill_mcp/emulator/GUESSES.md" in names
    assert not any(name.startswith("tests/") for name in names)
    with tarfile.open(dist["sdist"]) as sdist:
        assert any(name.endswith("/twill_mcp/data/twill-openapi.json") for name in sdist.getnames())
        assert any(name.endswith("/twill_mcp/data/task-app.html") for name in sdist.getnames())


def test_the_installed_script_runs_the_installed_package(venv: Path, tmp_path: Path) -> None:
    done = run(venv / "python", "-c", "import twill_mcp; print(twill_mcp.__file__)", cwd=tmp_path)
    assert Path(done.stdout.strip()).is_relative_to(venv.parent), done.stdout + done.stderr
    version = run(venv / "twill-mcp", "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"twill-mcp {__version__}"


def test_the_installed_script_lists_its_tools_as_json(venv: Path, tmp_path: Path) -> None:
    done = run(venv / "twill-mcp", "tools", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    names = [tool["name"] for tool in json.loads(done.stdout)["tools"]]
    assert "cancel_task" in names
    assert all(tool["inputSchema"]["type"] == "object" for tool in json.loads(done.stdout)["tools"])


def test_the_installed_script_cancels_a_task_in_the_sandbox(venv: Path, tmp_path: Path) -> None:
    done = run(venv / "twill-mcp", "call", "cancel_task", "taskIdOrSlug=demo-1", "--sandbox", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["structuredContent"]["success"] is True


def test_the_installed_doctor_passes_in_the_sandbox(venv: Path, tmp_path: Path) -> None:
    done = run(venv / "twill-mcp", "doctor", "--sandbox", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


# Run inside the fresh venv: every module loaded by the server, the emulator and the CLI must come
# from the standard library, twill-mcp itself, or a distribution its declared requirements pull in.
UNDECLARED = """
import importlib.metadata as md, json, sys
from packaging.requirements import Requirement
import twill_mcp.cli, twill_mcp.emulator, twill_mcp.doctor
def closure(name, extras, seen):
    key = (name.lower().replace("_", "-"), extras)
    if key in seen:
        return
    seen.add(key)
    for text in md.requires(name) or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
            closure(req.name, frozenset(req.extras), seen)
seen = set()
closure("twill-mcp", frozenset(), seen)
allowed = {name for name, _ in seen}
owners = md.packages_distributions()
# An empty package (a namespace such as `backports`) is only the trace of an optional import that failed.
def has_code(module):
    return not hasattr(module, "__path__") or any(not key.startswith("__") for key in vars(module))
loaded = {name.split(".")[0] for name, module in list(sys.modules.items()) if module and has_code(module)}
loaded -= {*sys.stdlib_module_names, "twill_mcp", "packaging"}
print(json.dumps(sorted(
    m for m in loaded
    if m in owners and not {d.lower().replace("_", "-") for d in owners[m]} & allowed
)))
"""


def test_every_module_the_package_loads_is_a_declared_dependency(venv: Path, tmp_path: Path) -> None:
    done = run(venv / "python", "-c", UNDECLARED, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # A module loaded only because it happens to be installed (a dependency's optional import, such as
    # anyio's of sniffio) is no missing dependency: the package must still import with it blocked.
    for module in json.loads(done.stdout):
        blocked = (
            f"import sys; sys.modules[{module!r}] = None; import twill_mcp.cli, twill_mcp.emulator, twill_mcp.doctor"
        )
        without = run(venv / "python", "-c", blocked, cwd=tmp_path)
        assert without.returncode == 0, f"twill-mcp needs {module}, which it does not declare: {without.stderr[-500:]}"
