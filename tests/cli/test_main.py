"""The ``rampart`` command itself: help, version, exit codes."""

import pytest

from rampart import __version__
from rampart.cli import audit
from rampart.cli.main import main
from tests.conftest import run_rampart


def test_version() -> None:
    result = run_rampart(["--version"])
    assert result.returncode == 0
    assert result.stdout.strip() == f"rampart {__version__}"


def test_help_lists_the_commands() -> None:
    result = run_rampart(["--help"])
    assert result.returncode == 0
    assert "audit" in result.stdout and "ban" in result.stdout


def test_no_command_prints_help_and_exits_2() -> None:
    result = run_rampart([])
    assert result.returncode == 2
    assert "usage:" in result.stdout


def test_unknown_option_is_a_one_line_usage_error() -> None:
    result = run_rampart(["ban", "test", "--no-such-option"])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("rampart: error:")


def test_audit_runs_and_explains_its_score() -> None:
    result = run_rampart(["audit"])
    assert result.returncode == 0, result.stderr
    assert "score:" in result.stdout and "weights: critical 10" in result.stdout


def test_a_bug_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(audit, "run", broken)
    monkeypatch.delenv("RAMPART_DEBUG", raising=False)
    assert main(["audit"]) == 70
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "internal error: RuntimeError: boom" in line
