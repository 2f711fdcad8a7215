"""init/check lower their own CPU and I/O priority (never raise it)."""

import shutil
import subprocess
import sys

import pytest

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
