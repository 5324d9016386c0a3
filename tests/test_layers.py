"""The package's layers and the one direction its imports may run.

From the top: the commands, the transports, the MCP server, a tool call, the request path to Twill,
the compiled spec, and the core every layer may use. A module may import its own layer and the ones
below it, never one above. The emulator stands beside the stack: it uses only the spec and the core,
and only the sandbox command starts it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "twill_mcp"

LAYERS = ("core", "spec", "upstream", "tools", "server", "transports", "commands")
EMULATOR_MAY_IMPORT = {"core", "spec", "emulator"}


def layer_of(module: str) -> str:
    """`twill_mcp.a.b` → the layer it belongs to."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in {"__init__", "__version__"}:
        return "core"
    # Modules at the top of the package are the commands; every other module is its folder's.
    return parts[0] if (PACKAGE / parts[0]).is_dir() else "commands"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every twill_mcp module this source imports, at any depth of its code (lazy imports count too)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("twill_mcp"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            if origin.startswith("twill_mcp"):
                # `from twill_mcp.spec import pathids` imports the module twill_mcp.spec.pathids.
                found.update(
                    f"{origin}.{alias.name}" if is_module(f"{origin}.{alias.name}") else origin for alias in node.names
                )
    return found


def is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.is_dir() or path.with_suffix(".py").exists()


def may_import(importer: str, target: str) -> bool:
    here, there = layer_of(importer), layer_of(target)
    if here == "emulator":
        return there in EMULATOR_MAY_IMPORT
    if there == "emulator":
        return importer.endswith(".sandbox")
    return LAYERS.index(there) <= LAYERS.index(here)


def violations(path: Path, source: str | None = None) -> list[str]:
    module = module_name(path)
    text = path.read_text(encoding="utf-8") if source is None else source
    targets = imported(text, module, is_package=path.name == "__init__.py")
    return [
        f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
        for target in sorted(targets)
        if not may_import(module, target)
    ]


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_import_runs_down_the_layers_or_within_one() -> None:
    assert [line for path in package_files() for line in violations(path)] == []


def test_every_module_belongs_to_a_known_layer() -> None:
    assert {layer_of(module_name(path)) for path in package_files()} <= {*LAYERS, "emulator"}


@pytest.mark.parametrize(
    ("planted", "importing"),
    [
        ("core", "twill_mcp.cli"),
        ("spec", "twill_mcp.server.build"),
        ("upstream", "twill_mcp.server.resources"),
        ("emulator", "twill_mcp.cli"),
        ("tools", "twill_mcp.emulator"),
    ],
)
def test_a_planted_upward_import_is_caught(planted: str, importing: str) -> None:
    victim = next(path for path in package_files() if layer_of(module_name(path)) == planted)
    planted_source = victim.read_text(encoding="utf-8") + f"\nimport {importing}\n"
    assert violations(victim) == []
    assert [line for line in violations(victim, planted_source) if importing in line] != []
