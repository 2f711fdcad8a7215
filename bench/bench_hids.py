"""Benchmark ``rampart hids replay`` against OSSEC's ``ossec-logtest -a`` on one big auth.log.

Why: rampart's log rules replace OSSEC's analysisd, so they must keep up with
it on the same lines (goal: at least twice its lines per second). Both tools
run here on the same generated Debian auth.log (sshd brute force, PAM, sudo,
su, cron), each with its own shipped rules, in one run; the ratio is what
matters. The alert counts of both are printed side by side: the rule sets
differ (rampart's are its own), so they are compared, not required equal.

OSSEC is not part of rampart and is never committed: build it outside the
repository (``make TARGET=local`` in ossec-hids) and point ``OSSEC_LOGTEST`` at
its ``ossec-logtest`` (default ``/work/ossec/bin/ossec-logtest``; its install
directory, two levels up, holds ``etc/ossec.conf`` and the rules). Without it
the anchor is reported unavailable and rampart's figure is printed alone.

Run: ``.venv/bin/python bench/bench_hids.py [--lines N] [--seed S] [--min-level L] [--repeat R]``.
With ``--repeat`` both tools run R times, alternately, and each one's fastest
run (least CPU) is reported: on a shared, loaded machine the least is the
figure other work disturbed least.
Exit status: 0 done, 2 rampart is missing or failed.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench_filter import OUT, ROOT, BenchError, ensure_log, rampart_command

DEFAULT_LOGTEST = Path("/work/ossec/bin/ossec-logtest")
_RAMPART_ALERT = re.compile(r"^\S+ level +(\d+) rule (\d+): ")
_OSSEC_RULE = re.compile(r"^Rule: (\d+) \(level (\d+)\)")


@dataclass(frozen=True)
class Timed:
    """One child process: how long it ran and what it printed (in a file)."""

    name: str
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    stdout: Path


def run_timed(name: str, argv: list[str], stdin: Path | None = None) -> Timed:
    """Run ``argv`` (stdin from a file), output to files; wall, CPU and peak RSS of that child."""
    stdout, stderr = OUT / f"{name}.stdout", OUT / f"{name}.stderr"
    with (
        stdout.open("wb") as out,
        stderr.open("wb") as err,
        stdin.open("rb") if stdin else open(os.devnull, "rb") as source,
    ):
        began = time.perf_counter()
        try:
            proc = subprocess.Popen(argv, stdin=source, stdout=out, stderr=err, cwd=ROOT)
        except OSError as exc:
            raise BenchError(f"{name}: cannot start {argv[0]}: {exc.strerror}") from exc
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = stderr.read_text(errors="replace").strip().splitlines()[-5:]
        raise BenchError(f"{name}: {shlex.join(argv)} exited with {code}: " + " | ".join(tail))
    cpu = usage.ru_utime + usage.ru_stime
    return Timed(name, seconds, cpu, usage.ru_maxrss / 1024, stdout)


def rampart_alerts(path: Path) -> Counter[tuple[int, int]]:
    """(level, rule) of each alert line ``rampart hids replay`` printed."""
    counts: Counter[tuple[int, int]] = Counter()
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            found = _RAMPART_ALERT.match(line)
            if found:
                counts[(int(found[1]), int(found[2]))] += 1
    return counts


def ossec_alerts(path: Path) -> Counter[tuple[int, int]]:
    """(level, rule) of each alert ``ossec-logtest -a`` printed (its ``Rule:`` lines)."""
    counts: Counter[tuple[int, int]] = Counter()
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            found = _OSSEC_RULE.match(line)
            if found:
                counts[(int(found[2]), int(found[1]))] += 1
    return counts


def by_level(counts: Counter[tuple[int, int]]) -> Counter[int]:
    levels: Counter[int] = Counter()
    for (level, _rule), count in counts.items():
        levels[level] += count
    return levels


def ossec_command() -> list[str] | None:
    """``ossec-logtest -a`` with its install directory, or None when it is not built."""
    logtest = Path(os.environ.get("OSSEC_LOGTEST", DEFAULT_LOGTEST))
    if not (logtest.is_file() and os.access(logtest, os.X_OK)):
        return None
    home = logtest.resolve().parent.parent
    config = home / "etc" / "ossec.conf"
    if not config.is_file():
        print(f"anchor: {config} is missing (ossec-logtest needs its ossec.conf)")
        return None
    return [str(logtest), "-a", "-D", str(home), "-c", str(config)]


def best_of(runs: list[Timed]) -> Timed:
    """The run that took the least CPU, with the least wall time of all runs."""
    least = min(runs, key=lambda run: run.cpu_seconds)
    wall = min(run.seconds for run in runs)
    return Timed(least.name, wall, least.cpu_seconds, least.peak_rss_mib, least.stdout)


def report(name: str, run: Timed, lines: int, alerts: Counter[tuple[int, int]]) -> float:
    rate = lines / run.seconds
    print(
        f"{name:<8} {run.seconds:7.2f} s wall {run.cpu_seconds:7.2f} s CPU "
        f"{rate:>10,.0f} lines/s {run.peak_rss_mib:7.1f} MiB peak "
        f"{sum(alerts.values()):>8,} alerts"
    )
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000, help="lines in the log")
    parser.add_argument("--seed", type=int, default=1, help="generator seed")
    parser.add_argument(
        "--min-level", type=int, default=1, help="rampart's alert level (OSSEC's default: 1)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each tool, alternately; the best is kept"
    )
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat)
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        log = ensure_log(args.lines, args.seed)
        rampart = rampart_command()
        lines = sum(1 for _ in log.open("rb"))
        print(f"input: {lines:,} lines of sshd/PAM/sudo/su/cron (bench/gen_authlog.py)")
        print(f"input: each tool's best of {repeat} run(s), alternately")
        replay = [*rampart, "hids", "replay", str(log), "--min-level", str(args.min_level)]
        anchor = ossec_command()
        ours_runs: list[Timed] = []
        theirs_runs: list[Timed] = []
        for _ in range(repeat):
            ours_runs.append(run_timed("hids-rampart", replay))
            if anchor is not None:
                try:
                    theirs_runs.append(run_timed("hids-ossec", anchor, stdin=log))
                except BenchError as error:
                    print(f"anchor failed, rampart's figure alone: {error}")
                    anchor = None
    except BenchError as error:
        print(f"bench_hids: {error}", file=sys.stderr)
        return 2
    ours = best_of(ours_runs)
    our_alerts = rampart_alerts(ours.stdout)
    our_rate = report("rampart", ours, lines, our_alerts)
    if anchor is None or not theirs_runs:
        print("anchor unavailable: no ossec-logtest (set OSSEC_LOGTEST); rampart's figure alone")
        return 0
    theirs = best_of(theirs_runs)
    their_alerts = ossec_alerts(theirs.stdout)
    their_rate = report("ossec", theirs, lines, their_alerts)
    print(
        f"ratio: rampart {our_rate / their_rate:.2f}x OSSEC's lines/s (goal: 2x); "
        f"by CPU time {theirs.cpu_seconds / ours.cpu_seconds:.2f}x"
    )
    ours_by_level, theirs_by_level = by_level(our_alerts), by_level(their_alerts)
    print("alerts per level:  level   rampart     ossec")
    for level in sorted(ours_by_level.keys() | theirs_by_level.keys(), reverse=True):
        print(
            f"                   {level:>5} {ours_by_level[level]:>9,} {theirs_by_level[level]:>9,}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
