"""The one helper that runs programs: no shell, a deadline, one-line errors."""

import sys

import pytest

from rampart.system import CommandError, run


def test_runs_with_arguments_and_input() -> None:
    result = run(
        [sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"],
        input_text="a; echo not a shell",
    )
    assert result.stdout.strip() == "A; ECHO NOT A SHELL"


def test_missing_program() -> None:
    with pytest.raises(CommandError, match="program not found"):
        run(["/nonexistent/rampart-no-such-program"])


def test_timeout() -> None:
    with pytest.raises(CommandError, match="no answer within"):
        run([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2)


def test_failure_names_the_program_and_its_last_word() -> None:
    script = "import sys; sys.stderr.write('first\\nthe real reason\\n'); sys.exit(3)"
    with pytest.raises(CommandError) as raised:
        run([sys.executable, "-c", script])
    assert str(raised.value) == f"{sys.executable}: the real reason"
    assert run([sys.executable, "-c", script], check=False).returncode == 3
