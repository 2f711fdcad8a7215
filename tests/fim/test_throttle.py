"""init/check lower their own CPU and I/O priority (never raise it)."""

import shutil
import subprocess
import sys

import pytest

from rampart.fim.throttle import RateLimit

CHILD = """
import os, subprocess
from rampart.fim.throttle import lower_priority
print(lower_priority(15, "idle", 7))
print(os.getpriority(os.PRIO_PROCESS, 0))
print(subprocess.run(["ionice", "-p", str(os.getpid())], capture_output=True, text=True).stdout)
print(lower_priority(5, "best-effort", 4))
print(os.getpriority(os.PRIO_PROCESS, 0))
print(subprocess.run(["ionice", "-p", str(os.getpid())], capture_output=True, text=True).stdout)
"""


@pytest.mark.skipif(shutil.which("ionice") is None, reason="ionice (util-linux) is missing")
def test_priorities_are_lowered_in_a_child_process() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    lines = [line for line in out if line]
    assert lines[0] == "[]", "no problem reported"
    assert lines[1] == "15"
    assert lines[2].startswith("idle")
    assert lines[4] == "15", "a lower niceness is never asked back"
    assert lines[5].startswith("best-effort: prio 4")


class FakeTime:
    """A clock that moves only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_files_per_second() -> None:
    fake = FakeTime()
    limit = RateLimit(100, "files/s", fake.clock, fake.sleep)
    for _ in range(300):
        limit.take(1 << 20)
    assert fake.slept, "over the burst, readers wait"
    assert fake.now == pytest.approx(2.0), "300 files at 100/s after a burst of 100"


def test_megabytes_per_second() -> None:
    fake = FakeTime()
    limit = RateLimit(10, "mb/s", fake.clock, fake.sleep)
    for _ in range(50):
        limit.take(1_000_000)
    assert fake.now == pytest.approx(4.0), "50 MB at 10 MB/s after a burst of 10 MB"
