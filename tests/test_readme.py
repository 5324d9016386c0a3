"""The README documents what the code does: its tool table, error codes and test command cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import load_script
from twill_mcp.core import errors
from twill_mcp.spec.compiler import compile_spec
from twill_mcp.spec.openapi import load_bundled_spec
from twill_mcp.upstream.outcomes import MAYBE_DONE

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_tool_reference_is_the_one_generated_from_the_spec() -> None:
    assert load_script("tool_reference").reference(compile_spec(load_bundled_spec())) in README


def test_every_error_code_of_ours_is_in_the_error_table() -> None:
    ours = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.ToolCallError) and cls is not errors.ApiError
    }
    for code in ours:
        assert f"| `{code}` |" in README, code


def test_ci_runs_the_readme_test_command() -> None:
    command = re.search(r"Run the tests.*?```sh\n(.+?)\n```", README, re.S)
    assert command is not None
    assert command.group(1) in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_statuses_the_readme_says_are_retried_are_the_ones_the_policy_retries() -> None:
    line = re.search(r"^- a (`\d{3}`.*?), a read timeout", README, re.M | re.S)
    assert line is not None
    assert {int(status) for status in re.findall(r"`(\d{3})`", line.group(1))} == MAYBE_DONE


def test_every_relative_link_in_the_readme_points_to_a_file_that_exists() -> None:
    targets = re.findall(r"\]\(((?![a-z][a-z0-9+.-]*:)[^)#\s]+)[^)]*\)", README)
    assert "docs/internals.md" in targets
    for target in targets:
        assert (ROOT / target).exists(), target
