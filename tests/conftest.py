"""Shared helpers: run the real ``rampart`` command and read what it printed."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

FAIL2BAN_FILTERS = Path("/etc/fail2ban/filter.d")

needs_fail2ban = pytest.mark.skipif(
    not (FAIL2BAN_FILTERS / "sshd.conf").is_file(),
    reason="Fail2ban's filters are not installed (apt-get install fail2ban)",
)


def run_rampart(
    args: Sequence[str], *, env: dict[str, str] | None = None, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``rampart ARGS`` as a user would, in a child process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rampart.cli.main", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=input_text,
        timeout=120,
        check=False,
    )


@pytest.fixture
def fail2ban_clock() -> Iterator[None]:
    """Fail2ban's test time zone (CET/CEST, fixed rules, no tzdata needed)."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "CET-01CEST-02,M3.5.0,M10.5.0"
    time.tzset()
    yield
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()
