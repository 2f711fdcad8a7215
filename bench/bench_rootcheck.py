"""Benchmark ``rampart rootcheck`` against ``chkrootkit`` on this host, in one run.

Why: the rootkit checks replace a chkrootkit (or OSSEC rootcheck) run from
cron, so they should cost no more than it does while covering the same
ground (known rootkit files, hidden processes, hidden ports, promiscuous
interfaces, suspicious files in /dev and temporary folders).

Both tools run as child processes on the real host, with empty /tmp and
/var/tmp (tmpfs mounted in a private mount namespace: chkrootkit forks a
shell per file there, so a busy /tmp would decide its time; ``--host-tmp``
keeps the real ones); ``--repeat N``
alternates them and keeps each one's fastest run. Wall seconds and CPU
seconds (user + system) come from ``os.wait4`` on that very child. The
report also shows what each one flagged (chkrootkit: its ``INFECTED``,
``Warning`` and ``PROMISC`` lines; rampart: its findings by rule).

Run: ``.venv/bin/python bench/bench_rootcheck.py [--repeat N]``. Needs root
and the ``chkrootkit`` Debian package (``make test-deps`` installs it).
``RAMPART_BIN`` overrides the rampart command. Results: stdout and
``bench/out/bench_rootcheck.json``. Exit status: 0 measured, 2 a tool is
missing or failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"


def timed(argv: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds, exit status and stdout of ``argv``."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    return wall, usage.ru_utime + usage.ru_stime, child.returncode, output


def chkrootkit_flags(output: str) -> dict[str, int]:
    """chkrootkit's flagged checks (INFECTED, WARNING, Vulnerable ...) and the lines listed."""
    words = ("INFECTED", "WARNING", "Vulnerable", "PROMISC", "Possible")
    flagged: dict[str, int] = {}
    current = None
    for line in output.splitlines():
        if line.startswith(("Searching", "Checking")):
            current = None
            if any(word in line for word in words):
                current = " ".join(line.split()[:-1]).rstrip(".")
                flagged[current] = 0
        elif current is not None and line.strip() and not line.startswith("WARNING:"):
            flagged[current] += 1
    return flagged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (chkrootkit is slow)")
    parser.add_argument(
        "--host-tmp", action="store_true", help="keep the host's /tmp and /var/tmp (slow)"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_rootcheck: run as root (both tools read every process)", file=sys.stderr)
        return 2
    chkrootkit = shutil.which("chkrootkit") or shutil.which("chkrootkit", path="/usr/sbin")
    if chkrootkit is None:
        print("bench_rootcheck: chkrootkit is missing (make test-deps)", file=sys.stderr)
        return 2
    rampart = shlex.split(os.environ.get("RAMPART_BIN", str(ROOT / ".venv/bin/rampart")))
    # Both run with empty /tmp and /var/tmp (tmpfs in a private mount namespace):
    # chkrootkit forks a shell for every file there, so another process's
    # temporary files would decide its time; the rest of the host is as it is.
    fresh = [
        "unshare", "--mount", "--propagation", "private", "sh", "-c",
        'mount -t tmpfs bench /tmp && mount -t tmpfs bench /var/tmp && exec "$@"', "sh",
    ]  # fmt: skip
    if args.host_tmp:
        fresh = []
    tools = {
        "chkrootkit": [*fresh, chkrootkit],
        "rampart": [*fresh, *rampart, "rootcheck", "--json"],
    }
    best: dict[str, tuple[float, float, int, str]] = {}
    for _ in range(max(1, args.repeat)):
        for name, argv in tools.items():
            result = timed(argv)
            if name not in best or result[0] < best[name][0]:
                best[name] = result
    rampart_out = best["rampart"][3]
    if best["rampart"][2] not in (0, 1) or not rampart_out.strip():
        print("bench_rootcheck: rampart rootcheck failed", file=sys.stderr)
        return 2
    report: dict[str, Any] = json.loads(rampart_out)
    by_rule = Counter(f"{f['rule_id']} {f['description']}" for f in report["findings"])
    flagged = chkrootkit_flags(best["chkrootkit"][3])
    print(f"{'tool':<12} {'wall s':>8} {'cpu s':>8}  flagged")
    for name in tools:
        wall, cpu, _, _ = best[name]
        count = len(report["findings"]) if name == "rampart" else len(flagged)
        print(f"{name:<12} {wall:>8.2f} {cpu:>8.2f}  {count}")
    ratio = best["chkrootkit"][0] / best["rampart"][0]
    print(f"rampart is {ratio:.1f}x chkrootkit's speed (wall, best of {args.repeat})")
    print("rampart findings by rule:", dict(by_rule) or "none")
    print("chkrootkit flagged (lines listed; bench/out/chkrootkit.out has them):")
    for check, lines in flagged.items() or [("nothing", 0)]:
        print(f"  {check}: {lines}")
    OUT.mkdir(exist_ok=True)
    (OUT / "chkrootkit.out").write_text(best["chkrootkit"][3])
    (OUT / "rootcheck.json").write_text(rampart_out)
    result = {
        name: {"wall": best[name][0], "cpu": best[name][1], "status": best[name][2]}
        for name in tools
    }
    result["ratio"] = ratio  # type: ignore[assignment]
    (OUT / "bench_rootcheck.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
