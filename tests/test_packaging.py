"""The ways to install twill-mcp describe the same server: registry entry, bundle, mcp.json and pyproject.

`server.json` is checked against the released MCP Registry schema it names (kept offline in
tests/schemas/), `manifest.json` by the MCP Bundle CLI itself, which also packs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from packaging.version import Version

import twill_mcp
from twill_mcp.core.config import ENVIRONMENT

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
BUNDLE_TOOLS = Path(__file__).parent / "bundle"
REGISTRY_SCHEMA = Path(__file__).parent / "schemas" / "mcp-registry-2025-12-11" / "server.schema.json"
KEY_VARIABLE = "TWILL_API_KEY"


def load(name: str) -> Any:
    return json.loads((ROOT / name).read_text(encoding="utf-8"))


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SERVER_JSON = load("server.json")
MANIFEST = load("manifest.json")
MCP_JSON = load("mcp.json")
[PACKAGE] = SERVER_JSON["packages"]
[SCRIPT] = PYPROJECT["project"]["scripts"]
KNOWN_VARIABLES = {*ENVIRONMENT, KEY_VARIABLE, "TWILL_API_KEY_FILE"}


def test_server_json_is_valid_against_the_registry_schema_it_names() -> None:
    schema = json.loads(REGISTRY_SCHEMA.read_text(encoding="utf-8"))
    assert SERVER_JSON["$schema"] == schema["$id"]
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(SERVER_JSON)


def test_server_json_meets_the_official_registry_rules_the_schema_cannot_express() -> None:
    namespace, _, _ = SERVER_JSON["name"].partition("/")
    assert SERVER_JSON["name"].count("/") == 1
    assert all(re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", label) for label in namespace.split("."))
    # An exact release: ranges and 'latest' are refused.
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?[0-9A-Za-z.]+)?", PACKAGE["version"])
    # PyPI ownership is proven by this marker in the package's README (its long description).
    assert f"mcp-name: {SERVER_JSON['name']}" in (ROOT / PYPROJECT["project"]["readme"]).read_text(encoding="utf-8")


def test_the_registry_entry_is_the_pypi_package_over_stdio_with_the_key_a_required_secret() -> None:
    assert (PACKAGE["registryType"], PACKAGE["transport"]) == ("pypi", {"type": "stdio"})
    variables = {variable["name"]: variable for variable in PACKAGE["environmentVariables"]}
    assert variables[KEY_VARIABLE]["isRequired"] is True
    assert variables[KEY_VARIABLE]["isSecret"] is True
    assert variables["TWILL_BASE_URL"].get("isRequired", False) is False
    assert not any(variable.get("isSecret") for name, variable in variables.items() if name != KEY_VARIABLE)


def test_the_bundle_asks_for_the_key_as_a_sensitive_setting_and_passes_it_as_the_key_variable() -> None:
    server = MANIFEST["server"]
    assert server["type"] == "uv"
    secret_settings = {name for name, option in MANIFEST["user_config"].items() if option.get("sensitive")}
    assert secret_settings == {"api_key"}
    assert MANIFEST["user_config"]["api_key"]["required"] is True
    assert server["mcp_config"]["env"][KEY_VARIABLE] == "${user_config.api_key}"
    assert (ROOT / server["entry_point"]).is_file()


def test_every_description_names_the_same_package_version_and_command() -> None:
    name, version = PYPROJECT["project"]["name"], twill_mcp.__version__
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "twill_mcp.__version__"}
    assert (PACKAGE["identifier"], PACKAGE["version"], SERVER_JSON["version"]) == (name, version, version)
    assert (MANIFEST["name"], MANIFEST["version"]) == (name, version)
    assert name == SCRIPT
    [host_entry] = MCP_JSON["mcpServers"].values()
    assert host_entry["command"] == SCRIPT
    # The bundle runs the same console script, from the project uv installs out of the bundle.
    assert MANIFEST["server"]["mcp_config"]["args"][-1] == SCRIPT
    assert MANIFEST["description"] == SERVER_JSON["description"]


def test_every_description_passes_only_variables_the_server_reads() -> None:
    [host_entry] = MCP_JSON["mcpServers"].values()
    registry = {variable["name"] for variable in PACKAGE["environmentVariables"]}
    bundle = set(MANIFEST["server"]["mcp_config"]["env"])
    assert KEY_VARIABLE in registry & bundle & set(host_entry["env"])
    assert registry == bundle
    assert registry | bundle | set(host_entry["env"]) <= KNOWN_VARIABLES


def test_the_bundle_and_the_registry_entry_default_to_the_same_base_url() -> None:
    [base_url] = [v for v in PACKAGE["environmentVariables"] if v["name"] == "TWILL_BASE_URL"]
    assert MANIFEST["user_config"]["base_url"]["default"] == base_url["default"]
    assert MANIFEST["server"]["mcp_config"]["env"]["TWILL_BASE_URL"] == "${user_config.base_url}"


@pytest.fixture(scope="session")
def mcpb() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed to run the MCP Bundle CLI")
    cli = BUNDLE_TOOLS / "node_modules" / ".bin" / "mcpb"
    if not cli.exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=BUNDLE_TOOLS, check=True, capture_output=True, timeout=300
        )
    return cli


def test_the_bundle_cli_validates_the_manifest(mcpb: Path) -> None:
    done = subprocess.run([mcpb, "validate", ROOT / "manifest.json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="session")
def packed_bundle(mcpb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("bundle") / "twill-mcp.mcpb"
    done = subprocess.run([mcpb, "pack", ROOT, output], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return output


def test_the_packed_bundle_holds_the_uv_project_and_nothing_else(packed_bundle: Path) -> None:
    with zipfile.ZipFile(packed_bundle) as bundle:
        packed = set(bundle.namelist())
        assert json.loads(bundle.read("manifest.json")) == MANIFEST
    tracked = subprocess.run(
        ["git", "ls-files", "twill_mcp"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked
    assert set(tracked) <= packed
    assert {name for name in packed if not name.startswith("twill_mcp/")} == {
        "manifest.json",
        "pyproject.toml",
        "README.md",
    }
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in packed)


def test_the_unpacked_bundle_runs_as_a_host_starts_it(packed_bundle: Path, tmp_path: Path) -> None:
    """The manifest's own command line, as Claude Desktop runs it: uv installs the project from PyPI."""
    with zipfile.ZipFile(packed_bundle) as bundle:
        bundle.extractall(tmp_path)
    config = MANIFEST["server"]["mcp_config"]
    args = [arg.replace("${__dirname}", str(tmp_path)) for arg in config["args"]]
    uv = Path(sys.executable).parent / config["command"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILL_", "VIRTUAL_ENV", "UV_"))}
    done = subprocess.run(
        [uv, *args, "call", "cancel_task", "taskIdOrSlug=demo-1", "--sandbox"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["structuredContent"]["success"] is True


def test_the_changelog_keeps_a_changelog_and_knows_the_current_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## \[(.+?)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.M)
    assert len(releases) == len(re.findall(r"^## ", text, re.M)), "every release heading is ## [X] - YYYY-MM-DD"
    kinds = set(re.findall(r"^### (.+)$", text, re.M))
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
    names = [name for name, _ in releases]
    assert names[0] == "Unreleased" or names[0] == twill_mcp.__version__
    dated = [name for name, date in releases if date]
    assert all(name != "Unreleased" for name in dated)
    # No release may be newer than the package's own version: that would mean it was never bumped.
    assert all(Version(name) <= Version(twill_mcp.__version__) for name in dated)
