"""Benchmark ``rampart ban test`` against ``fail2ban-regex`` on one big auth.log.

Why: rampart's filter engine replaces Fail2ban's, so it must find the same
failures on the same input, at least as fast and in no more memory. Both
tools run here, on the same generated log, in one run; the ratio is what
matters, since absolute figures depend on the machine.

Run: ``.venv/bin/python bench/bench_filter.py [--lines N] [--seed S] [--keep]``.
``RAMPART_BIN`` overrides the rampart command (split like a shell would, e.g.
``RAMPART_BIN="python /tmp/stand_in.py"``); the default is ``.venv/bin/rampart``.
Exit status: 0 same failures, 1 the failures differ, 2 a tool is missing or failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
GENERATOR = BENCH / "gen_authlog.py"
F2B_FILTER = Path("/etc/fail2ban/filter.d/sshd.conf")
# One failure per output line: address, epoch time, user ("" if none or empty).
F2B_OUT_FORMAT = "<ip>\t<time>\t<F-USER>"
SHOW_DIFFS = 10


class BenchError(Exception):
    """A tool is missing or failed; the message says what to do."""


@dataclass(frozen=True)
class Run:
    """One child process: what ran, how long, how much memory at the peak."""

    name: str
    argv: list[str]
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    exit_code: int
    stdout: Path
    stderr: Path


def run_measured(
    name: str, argv: list[str], ok_codes: tuple[int, ...] = (0,), env: dict[str, str] | None = None
) -> Run:
    """Run ``argv`` with output to files; wall time and peak RSS of that child only.

    ``os.wait4`` returns the rusage of exactly this child (and of any
    descendants it reaped), so figures cannot leak between runs. Output goes
    to files, not pipes, so no reader thread competes for the CPU and a large
    output cannot block the child.
    """
    stdout = OUT / f"{name}.stdout"
    stderr = OUT / f"{name}.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        began = time.perf_counter()
        try:
            proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                env={**os.environ, **env} if env else None,
            )
        except OSError as exc:
            raise BenchError(f"{name}: cannot start {argv[0]}: {exc.strerror}") from exc
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped; keep Popen quiet
    code = proc.returncode
    if code not in ok_codes:
        tail = stderr.read_text(errors="replace").strip().splitlines()[-5:]
        raise BenchError(
            f"{name}: {shlex.join(argv)} exited with {code}"
            + ("".join(f"\n  {line}" for line in tail) if tail else "")
        )
    # Linux reports ru_maxrss in KiB.
    cpu = usage.ru_utime + usage.ru_stime
    return Run(name, argv, seconds, cpu, usage.ru_maxrss / 1024, code, stdout, stderr)


def rampart_command() -> list[str]:
    """The rampart command: ``RAMPART_BIN`` if set, else the venv's console script."""
    override = os.environ.get("RAMPART_BIN")
    argv = shlex.split(override) if override else [str(ROOT / ".venv" / "bin" / "rampart")]
    exe = argv[0]
    if not (shutil.which(exe) or (Path(exe).is_file() and os.access(exe, os.X_OK))):
        raise BenchError(
            f"rampart not found at {exe}: install the project "
            "(.venv/bin/pip install -e .) or set RAMPART_BIN"
        )
    return argv


def fail2ban_command() -> str:
    """Path of fail2ban-regex, or a clear error naming the Debian package."""
    exe = shutil.which("fail2ban-regex")
    if exe is None:
        raise BenchError("fail2ban-regex not found: apt-get install fail2ban")
    if not F2B_FILTER.is_file():
        raise BenchError(f"{F2B_FILTER} missing: apt-get install fail2ban")
    return exe


def generator_tag() -> str:
    """Short hash of the generator, so a changed generator never reuses an old log."""
    return hashlib.sha256(GENERATOR.read_bytes()).hexdigest()[:8]


def ensure_log(lines: int, seed: int) -> Path:
    """Generate the log once per (lines, seed, generator) and reuse it afterwards."""
    path = OUT / f"auth-{lines}-s{seed}-{generator_tag()}.log"
    if path.is_file():
        print(f"log: {path.relative_to(ROOT)} (cached)", flush=True)
        return path
    for stale in OUT.glob(f"auth-{lines}-s{seed}-*.log"):
        stale.unlink()  # written by an older generator; 100 MiB each at the default size
    print(f"log: generating {lines:,} lines -> {path.relative_to(ROOT)}", flush=True)
    subprocess.run(
        [sys.executable, str(GENERATOR), str(path), "--lines", str(lines), "--seed", str(seed)],
        check=True,
    )
    return path


def log_facts(path: Path) -> dict[str, int | float]:
    """Lines, bytes and the share of lines that mention sshd (what a filter must look at)."""
    total = sshd = 0
    with path.open("rb") as fh:
        for line in fh:
            total += 1
            if b"sshd" in line:
                sshd += 1
    return {
        "lines": total,
        "bytes": path.stat().st_size,
        "sshd_lines": sshd,
        "sshd_fraction": round(sshd / total, 4) if total else 0.0,
    }


# A failure as both tools can report it: (host, epoch time rounded to ms, user or "").
Failure = tuple[str, float, str]
K = TypeVar("K", str, tuple[str, float], tuple[str, str])


def read_fail2ban(path: Path) -> list[Failure]:
    """Parse ``fail2ban-regex -o '<ip>\\t<time>\\t<F-USER>'`` output."""
    out: list[Failure] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line:
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise BenchError(f"{path}:{n}: unexpected fail2ban-regex output {line!r}")
        out.append((parts[0], round(float(parts[1]), 3), parts[2]))
    return out


def read_rampart(path: Path) -> list[Failure]:
    """Parse ``rampart ban test --json``: one JSON object per failure per line."""
    out: list[Failure] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            host, when, user = obj["host"], obj["time"], obj.get("user")
        except (ValueError, KeyError, TypeError) as exc:
            raise BenchError(
                f"{path}:{n}: not a rampart failure object ({exc}): {line[:120]!r}"
            ) from exc
        out.append((str(host), round(float(when), 3), "" if user is None else str(user)))
    return out


def diff_counters(title: str, left: Counter[K], right: Counter[K]) -> int:
    """Print the first differences of two multisets; return how many keys differ."""
    keys = sorted(
        (k for k in left.keys() | right.keys() if left[k] != right[k]),
        key=lambda k: (-abs(left[k] - right[k]), str(k)),
    )
    if keys:
        print(f"  {title}: {len(keys)} differ (fail2ban vs rampart), first {SHOW_DIFFS}:")
        for k in keys[:SHOW_DIFFS]:
            print(f"    {k!s:<60} {left[k]:>8} {right[k]:>8}")
    return len(keys)


def compare(f2b: list[Failure], ram: list[Failure], check_details: bool) -> dict[str, int]:
    """Same failures? Totals and per-host counts always; time and user unless told not to."""
    result = {
        "fail2ban_failures": len(f2b),
        "rampart_failures": len(ram),
        "fail2ban_hosts": len({f[0] for f in f2b}),
        "rampart_hosts": len({f[0] for f in ram}),
    }
    print(
        f"failures: fail2ban {len(f2b):,} from {result['fail2ban_hosts']:,} hosts, "
        f"rampart {len(ram):,} from {result['rampart_hosts']:,} hosts"
    )
    result["hosts_differing"] = diff_counters(
        "per-host counts", Counter(f[0] for f in f2b), Counter(f[0] for f in ram)
    )
    if check_details:
        result["host_time_differing"] = diff_counters(
            "per (host, time) counts",
            Counter((f[0], f[1]) for f in f2b),
            Counter((f[0], f[1]) for f in ram),
        )
        result["host_user_differing"] = diff_counters(
            "per (host, user) counts",
            Counter((f[0], f[2]) for f in f2b),
            Counter((f[0], f[2]) for f in ram),
        )
    return result


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def show_lines(log: Path, f2b: list[Failure], ram: list[Failure]) -> None:
    """Print the log lines behind the first differing (host, time) failures.

    fail2ban-regex cannot print line numbers, so a line is found by its
    syslog timestamp (local time, as both tools read it) and its address.
    """
    left, right = Counter(f[:2] for f in f2b), Counter(f[:2] for f in ram)
    keys = sorted(k for k in left.keys() | right.keys() if left[k] != right[k])[:SHOW_DIFFS]
    if not keys:
        return
    wanted: dict[str, list[str]] = {}
    for host, when in keys:
        t = time.localtime(when)
        stamp = f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {time.strftime('%H:%M:%S', t)}"
        wanted.setdefault(stamp, []).append(host)
    print(f"  log lines behind the first {len(keys)} differing (host, time) pairs:")
    with log.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            hosts = wanted.get(line[:15])
            if hosts and any(h in line for h in hosts):
                print(f"    {n}: {line.rstrip()}")


def summary_matched(path: Path) -> int | None:
    """The 'N matched' figure of fail2ban-regex's summary (a cross-check of -o)."""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("Lines: ") and " matched" in line:
            for part in line.split(","):
                words = part.split()
                if len(words) == 2 and words[1] == "matched":
                    return int(words[0])
    return None


def read_engine(path: Path) -> str | None:
    """The matcher rampart says it used ("native", or "python (not native: why)")."""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("Engine: "):
            return line.removeprefix("Engine: ")
    return None


def row(name: str, lines: int, run: Run | None) -> str:
    if run is None:
        return f"{name:<10} {lines:>10,} {'-':>9} {'-':>8} {'-':>10} {'-':>13}"
    return (
        f"{name:<10} {lines:>10,} {run.seconds:>9.2f} {run.cpu_seconds:>8.2f} "
        f"{lines / run.seconds:>10,.0f} {run.peak_rss_mib:>13.1f}"
    )


def write_json(path: Path, data: object) -> None:
    """Write atomically: a reader never sees half a result."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="log size (default 1M)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the tools' raw outputs in bench/out (the log is always kept)",
    )
    parser.add_argument(
        "--fail2ban-only",
        action="store_true",
        help="measure the anchor alone (no rampart needed, no comparison)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="time each tool N times, alternating, and keep the fastest",
    )
    parser.add_argument(
        "--with-python",
        action="store_true",
        help="also time rampart's pure-Python matcher (RAMPART_NATIVE=0), for the record",
    )
    parser.add_argument(
        "--hosts-only",
        action="store_true",
        help="compare totals and per-host counts only, not times and users",
    )
    args = parser.parse_args(argv)
    if args.lines < 1:
        parser.error("--lines must be at least 1")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    OUT.mkdir(exist_ok=True)
    runs: list[Run] = []
    try:
        f2b = fail2ban_command()
        f2b_version = subprocess.run(
            [f2b, "-V"], capture_output=True, text=True, check=False, timeout=60
        ).stdout.strip()
        ram = None if args.fail2ban_only else rampart_command()
        log = ensure_log(args.lines, args.seed)
        facts = log_facts(log)
        lines = int(facts["lines"])
        print(
            f"log: {lines:,} lines, {facts['bytes'] / 2**20:.1f} MiB, "
            f"{100 * facts['sshd_fraction']:.1f} % mention sshd",
            flush=True,
        )

        load = os.getloadavg()[0]
        if load > 0.5:
            print(
                f"warning: load average {load:.2f} before the runs; other work on this "
                "machine slows the tools (see 'cpu s'; --repeat keeps the best)",
                flush=True,
            )

        # Timed runs: each tool's normal summary mode, as an operator would run it.
        # -r: print addresses raw, never resolve names (no DNS in the timing).
        # With --repeat the tools alternate and each keeps its fastest run.
        f2b_sum: Run | None = None
        ram_sum: Run | None = None
        for _ in range(args.repeat):
            r = run_measured("fail2ban", [f2b, "-r", str(log), str(F2B_FILTER)])
            runs.append(r)
            print(row("fail2ban", lines, r), flush=True)
            f2b_sum = r if f2b_sum is None or r.seconds < f2b_sum.seconds else f2b_sum
            if ram is not None:
                r = run_measured(
                    "rampart", [*ram, "ban", "test", str(log), str(F2B_FILTER)], ok_codes=(0, 1)
                )
                runs.append(r)
                print(row("rampart", lines, r), flush=True)
                ram_sum = r if ram_sum is None or r.seconds < ram_sum.seconds else ram_sum
        assert f2b_sum is not None
        engine = read_engine(ram_sum.stdout) if ram_sum is not None else None
        if engine is not None:
            print(f"rampart engine: {engine}", flush=True)
        if ram is not None and args.with_python:
            r = run_measured(
                "rampart-python",
                [*ram, "ban", "test", str(log), str(F2B_FILTER)],
                ok_codes=(0, 1),
                env={"RAMPART_NATIVE": "0"},
            )
            runs.append(r)
            print(row("python", lines, r), flush=True)

        # Correctness runs: one line per failure from each tool (also timed, for the record).
        f2b_list = run_measured(
            "fail2ban-list", [f2b, "-r", "-o", F2B_OUT_FORMAT, str(log), str(F2B_FILTER)]
        )
        runs.append(f2b_list)
        f2b_failures = read_fail2ban(f2b_list.stdout)
        matched = summary_matched(f2b_sum.stdout)
        if matched is not None and matched != len(f2b_failures):
            print(
                f"warning: fail2ban-regex summary says {matched:,} matched lines, "
                f"-o printed {len(f2b_failures):,} failures"
            )
        comparison: dict[str, int] = {
            "fail2ban_failures": len(f2b_failures),
            "fail2ban_hosts": len({f[0] for f in f2b_failures}),
        }
        if ram is not None:
            ram_list = run_measured(
                "rampart-json",
                [*ram, "ban", "test", "--json", str(log), str(F2B_FILTER)],
                ok_codes=(0, 1),
            )
            runs.append(ram_list)
            ram_failures = read_rampart(ram_list.stdout)
            comparison = compare(f2b_failures, ram_failures, check_details=not args.hosts_only)
            if any(v for k, v in comparison.items() if k.endswith("_differing")):
                show_lines(log, f2b_failures, ram_failures)
        else:
            print(
                f"failures: fail2ban {len(f2b_failures):,} from "
                f"{comparison['fail2ban_hosts']:,} hosts (rampart not run)"
            )
    except BenchError as exc:
        print(f"bench_filter: {exc}", file=sys.stderr)
        return 2
    finally:
        if not args.keep:
            for r in runs:
                r.stdout.unlink(missing_ok=True)
                r.stderr.unlink(missing_ok=True)

    same = all(v == 0 for k, v in comparison.items() if k.endswith("_differing")) and (
        ram is None or comparison["fail2ban_failures"] == comparison["rampart_failures"]
    )
    print()
    print(
        f"{'tool':<10} {'lines':>10} {'seconds':>9} {'cpu s':>8} {'lines/s':>10} "
        f"{'peak RSS MiB':>13}"
    )
    print(row("fail2ban", lines, f2b_sum))
    print(row("rampart", lines, ram_sum))
    ratios: dict[str, float] = {}
    if ram_sum is not None:
        ratios = {
            "speed": f2b_sum.seconds / ram_sum.seconds,
            "cpu_speed": f2b_sum.cpu_seconds / max(ram_sum.cpu_seconds, 1e-9),
            "memory": ram_sum.peak_rss_mib / f2b_sum.peak_rss_mib,
        }
        print(
            f"rampart/fail2ban: speed x{ratios['speed']:.2f} (higher is better; "
            f"x{ratios['cpu_speed']:.2f} in CPU seconds), "
            f"memory x{ratios['memory']:.2f} (lower is better)"
        )
    print(
        "same failures: "
        + ("yes" if same and ram is not None else "not checked" if ram is None else "NO")
    )

    result = {
        "benchmark": "filter",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load,
        },
        "fail2ban_version": f2b_version,
        "rampart_engine": engine if ram is not None else None,
        "log": {"path": str(log.relative_to(ROOT)), "seed": args.seed, **facts},
        "runs": [
            {
                **{k: v for k, v in asdict(r).items() if k not in ("stdout", "stderr")},
                "lines_per_second": lines / r.seconds,
                "used_for_ratios": r is f2b_sum or r is ram_sum,
            }
            for r in runs
        ],
        "ratios_rampart_over_fail2ban": ratios,
        "comparison": comparison,
        "same_failures": same if ram is not None else None,
    }
    write_json(OUT / "bench_filter.json", result)
    print(f"result: {(OUT / 'bench_filter.json').relative_to(ROOT)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
