"""CLI errors point the way: each names what was meant, or the option that gets what was asked for.

The oracles are the issue's cases as a user typed them, and, where a message suggests an option, running the
command again with that option: a suggestion that does not work fails its test.
"""

from __future__ import annotations

import re
import shlex
import signal
import socket
from collections.abc import Iterator

import pytest

from twill_mcp import cli

pytestmark = pytest.mark.usefixtures("no_twill_env")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def listed(capsys: pytest.CaptureFixture[str], *options: str) -> set[str]:
    code, out, _ = run(capsys, "tools", *options)
    assert code == 0
    return {line.split()[0] for line in out.splitlines()[1:]}


def suggested_options(message: str) -> list[list[str]]:
    """Each `--flag VALUE` a message suggests."""
    return [shlex.split(option.rstrip(",")) for option in re.findall(r"(--[a-z-]+ [^\s;()]+)", message)]


def test_a_tool_outside_the_default_toolsets_names_its_toolset(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "call", "list_scheduled_tasks")
    assert code == 2
    assert "unknown tool" not in err
    assert "list_scheduled_tasks is not exposed" in err
    assert "toolset 'scheduled'" in err


def test_every_option_suggested_for_a_hidden_tool_exposes_it(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "call", "list_scheduled_tasks")
    options = suggested_options(err)
    assert len(options) >= 2, err
    for option in options:
        assert "list_scheduled_tasks" in listed(capsys, *option), option


def test_a_deprecated_tool_says_only_naming_it_exposes_it(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "call", "approve_plan")
    assert "deprecated" in err
    [option] = suggested_options(err)
    assert "approve_plan" in listed(capsys, *option)


def test_a_tool_hidden_by_read_only_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "call", "cancel_task", "--read-only")
    assert code == 2
    assert "--read-only" in err


def test_a_tool_hidden_by_exclude_tools_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "call", "cancel_task", "--exclude-tools", "cancel_task")
    assert "--exclude-tools" in err


def test_a_tool_left_out_by_tools_says_how_to_add_it(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "call", "cancel_task", "--tools", "get_task")
    [option] = suggested_options(err)
    assert {"get_task", "cancel_task"} <= listed(capsys, *option)


def test_a_misspelled_tool_suggests_the_real_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "call", "get_tsk", "--sandbox")
    assert code == 2
    assert "did you mean get_task?" in err


def test_a_misspelled_command_suggests_the_real_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "docter")
    assert code == 2
    assert "did you mean doctor?" in err


def test_a_misspelled_option_suggests_the_real_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--sandbx")
    assert code == 2
    assert "did you mean --sandbox?" in err


def test_a_misspelled_shared_option_after_a_command_suggests_the_real_one(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "tools", "--tolsets", "all")
    assert "did you mean --toolsets?" in err


def test_a_misspelled_choice_suggests_the_real_one(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "--transport", "htp")
    assert "did you mean http?" in err


def test_call_without_a_tool_says_the_tool_is_needed_and_its_arguments_are_optional(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "call")
    assert code == 2
    assert "required: tool, ARG=VALUE" not in err
    assert "name the TOOL" in err
    assert "optional" in err
    assert "[NAME=VALUE ...]" in err


@pytest.mark.parametrize(
    "argv",
    [
        ("--sandbox", "call", "get_task", "taskIdOrSlug=demo-2"),
        ("call", "get_task", "taskIdOrSlug=demo-2", "--sandbox"),
    ],
    ids=["before", "after"],
)
def test_a_shared_option_works_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "SANDBOX" in out


def test_a_shared_option_before_the_command_is_not_reset_by_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert listed(capsys, "--toolsets", "all") == listed(capsys, "--toolsets", "all") | {"list_scheduled_tasks"}
    code, out, _ = run(capsys, "--toolsets", "all", "tools")
    assert code == 0
    assert "list_scheduled_tasks" in out


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.fixture
def signals_restored() -> Iterator[None]:
    """Serving installs stop handlers for the process; the test process keeps its own."""
    saved = {stop: signal.getsignal(stop) for stop in (signal.SIGINT, signal.SIGTERM)}
    yield
    for stop, handler in saved.items():
        signal.signal(stop, handler)


@pytest.mark.usefixtures("signals_restored")
def test_serving_http_on_a_busy_port_says_so_and_suggests_port_0(
    capsys: pytest.CaptureFixture[str], busy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILL_API_KEY", "twk_test_0123456789abcdef")
    code, _, err = run(capsys, "--transport", "http", "--port", str(busy_port))
    assert code == 2
    assert f"port {busy_port}" in err
    assert "in use" in err
    assert "--port 0" in err
    assert "Errno" not in err


def test_the_sandbox_on_a_busy_port_says_so_and_suggests_port_0(
    capsys: pytest.CaptureFixture[str], busy_port: int
) -> None:
    code, _, err = run(capsys, "sandbox", "--port", str(busy_port))
    assert code == 2
    assert "in use" in err
    assert "--port 0" in err
    assert "Errno" not in err


def test_a_misspelled_host_for_install_suggests_the_real_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "install", "cursr")
    assert code == 2
    assert err.splitlines()[-1].startswith("twill-mcp install: error:")
    assert "did you mean cursor?" in err
