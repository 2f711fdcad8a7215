"""Benchmark ``rampart audit`` against ``lynis audit system --quick`` on this host.

Why: rampart's audit replaces a Lynis run, so it must be much faster (goal:
rampart <= 5 s wall) and it must report the weaknesses that matter. Both
tools run here, in one run, each as a child process:

1. **Real host** (timing): each tool as it is, ``--repeat N`` alternates the
   two and keeps each one's fastest run. Wall seconds, CPU seconds and peak
   RSS come from ``os.wait4`` on that very child.
2. **Weakened host** (findings): both tools run again, each inside a private
   mount namespace (``unshare --mount --propagation private``) in which this
   script (re-executed as a runner with ``--inside``) bind-mounts weakened
   files over the real ones before it execs the tool. The mounts exist only
   for that process tree and vanish when it exits; the real files are never
   written. What is planted, and how, is printed before the run.
3. A side-by-side table: for each planted weakness, what rampart reported
   (check id and status, from its JSON) and what Lynis reported (its report
   file: warnings, suggestions, executed and skipped test ids), plus each
   tool's totals.

Run: ``.venv/bin/python bench/bench_audit.py [--repeat N] [--keep]``. Needs
root and ``unshare`` (util-linux); installs the ``lynis`` Debian package with
apt-get if it is missing. ``RAMPART_BIN`` overrides the rampart command (split
like a shell would); the default is ``.venv/bin/rampart``. Results: a table on
stdout and ``bench/out/bench_audit.json``. Exit status: 0 measured, 2 a tool
is missing or failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
WORK = OUT / "audit"
GOAL_SECONDS = 5.0
TOOL_TIMEOUT = 300.0

SSHD_CONFIG = Path("/etc/ssh/sshd_config")
SUDOERS_D = Path("/etc/sudoers.d")
NGINX_SITES = Path("/etc/nginx/sites-enabled")
RUN_DIR = Path("/run")

# The weakened sshd_config: no Include, so no drop-in can override these.
WEAK_SSHD = """\
# planted by bench/bench_audit.py (bind-mounted in a private mount namespace)
Port 22
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM yes
Subsystem sftp /usr/lib/openssh/sftp-server
"""
WEAK_SUDOERS = "# planted by bench/bench_audit.py\napp ALL=(ALL) NOPASSWD: ALL\n"
WEAK_SITE = """\
# planted by bench/bench_audit.py: an internal site, no auth_basic, no allow list
server {
    listen 80;
    server_name staging.example.com;
    root /var/www/html;
    location / {
        try_files $uri $uri/ =404;
    }
}
"""


class BenchError(Exception):
    """A tool is missing or failed; the message says what to do (exit 2)."""


@dataclass(frozen=True)
class Run:
    """One child process: what ran, how long, how much CPU and memory."""

    name: str
    argv: list[str]
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Weakness:
    """One planted weakness and where each tool would report it."""

    key: str
    planted: str
    rampart_checks: tuple[str, ...]
    lynis_tests: tuple[str, ...]
    lynis_words: tuple[str, ...]  # a warning/suggestion about it names one of these
    lynis_note: str  # what Lynis 3.0.8's tests cover here (read in /usr/share/lynis/include)


_SSH_NOTE = "SSH-7402..7440 run only if an sshd process is running"
WEAKNESSES = (
    Weakness(
        "ssh-port",
        "sshd Port 22",
        ("SSH-001",),
        ("SSH-7408",),
        ("port",),
        _SSH_NOTE + "; SSH-7408 suggests on Port 22",
    ),
    Weakness(
        "ssh-root",
        "sshd PermitRootLogin yes",
        ("SSH-002",),
        ("SSH-7408",),
        ("permitrootlogin",),
        _SSH_NOTE + "; SSH-7408 suggests on PermitRootLogin yes",
    ),
    Weakness(
        "ssh-password",
        "sshd PasswordAuthentication yes",
        ("SSH-003",),
        ("SSH-7408",),
        ("passwordauthentication",),
        "SSH-7408's option list has no PasswordAuthentication; no Lynis test reads it",
    ),
    Weakness(
        "sudo-nopasswd",
        "sudoers.d: app ALL=(ALL) NOPASSWD: ALL",
        ("SYS-001",),
        ("AUTH-9250", "AUTH-9252"),
        ("nopasswd",),
        "AUTH-9250/9252 check the sudoers files' presence, owner and mode, not NOPASSWD",
    ),
    Weakness(
        "nginx-staging",
        "nginx server_name staging.example.com, no auth",
        ("WEB-001",),
        ("HTTP-6702", "HTTP-6704", "HTTP-6706", "HTTP-6708"),
        ("staging", "auth_basic", "server_name"),
        "no Lynis test reads server_name or auth_basic; HTTP-6704.. run only if nginx is running",
    ),
)


# --------------------------------------------------------------------------- runner


def inside(plan_path: Path, argv: list[str]) -> int:
    """In the new mount namespace: mount what the plan says, then exec the tool."""
    plan = json.loads(plan_path.read_text())
    for mount in plan["mounts"]:
        result = subprocess.run(
            mount, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            print(
                f"bench_audit runner: {shlex.join(mount)}: {result.stderr.strip()}", file=sys.stderr
            )
            return 2
    run_sshd = plan.get("run_sshd")
    if run_sshd and not Path("/run/sshd").is_dir():
        # Decided here, not when planning: /run/sshd may come and go while the bench runs.
        overlay = [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={RUN_DIR},upperdir={run_sshd['upper']},workdir={run_sshd['work']}",
            str(RUN_DIR),
        ]
        result = subprocess.run(
            overlay, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            print(
                f"bench_audit runner: {shlex.join(overlay)}: {result.stderr.strip()}",
                file=sys.stderr,
            )
            return 2
        os.makedirs("/run/sshd", exist_ok=True)  # in the overlay's upper dir, not the host
        print("bench_audit runner: /run/sshd made in an overlay over /run", file=sys.stderr)
    os.execvp(argv[0], argv)  # noqa: S606 -- the tool itself, by argv; no shell


# --------------------------------------------------------------------------- processes


def run_measured(name: str, argv: list[str], ok_codes: tuple[int, ...] = (0,)) -> Run:
    """Run ``argv`` with output to files; wall time, CPU and peak RSS of that child.

    ``os.wait4`` returns the rusage of exactly this child and of the
    descendants it reaped, so figures cannot leak between runs.
    """
    stdout = WORK / f"{name}.stdout"
    stderr = WORK / f"{name}.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        began = time.perf_counter()
        try:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT
            )
        except OSError as exc:
            raise BenchError(f"{name}: cannot start {argv[0]}: {exc.strerror}") from exc
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    if code not in ok_codes:
        said = stderr.read_text(errors="replace").strip().splitlines()
        raise BenchError(
            f"{name}: {shlex.join(argv)} exited {code}" + (f": {said[-1]}" if said else "")
        )
    return Run(
        name,
        argv,
        seconds,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        code,
        str(stdout),
        str(stderr),
    )


def rampart_command() -> list[str]:
    env = os.environ.get("RAMPART_BIN")
    argv = shlex.split(env) if env else [str(ROOT / ".venv" / "bin" / "rampart")]
    if not env and not Path(argv[0]).exists():
        raise BenchError(f"{argv[0]} not found: make run (or set RAMPART_BIN)")
    return argv


def ensure_lynis() -> str:
    """The lynis command, installing the Debian package if it is missing."""
    found = shutil.which("lynis") or shutil.which("lynis", path="/usr/sbin:/usr/bin")
    if found:
        return found
    print("installing lynis (apt-get install lynis)...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "lynis"],
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    found = shutil.which("lynis", path="/usr/sbin:/usr/bin")
    if not found:
        raise BenchError("lynis not found and apt-get install lynis failed")
    return found


def lynis_argv(lynis: str, tag: str) -> list[str]:
    return [
        lynis,
        "audit",
        "system",
        "--quick",
        "--no-colors",
        "--logfile",
        str(WORK / f"lynis-{tag}.log"),
        "--report-file",
        str(WORK / f"lynis-{tag}.report"),
    ]


# --------------------------------------------------------------------------- planting


def plant(root: Path) -> tuple[dict[str, list[Any]], list[str], list[str]]:
    """Write the weakened files under ``root``; the mounts to make; what was planted/skipped."""
    mounts: list[list[str]] = []
    run_sshd: dict[str, str] | None = None
    said: list[str] = []
    skipped: list[str] = []
    if SSHD_CONFIG.exists():
        sshd = root / "sshd_config"
        sshd.write_text(WEAK_SSHD)
        mounts.append(["mount", "--bind", str(sshd), str(SSHD_CONFIG)])
        said.append(
            f"{SSHD_CONFIG}: file bind-mounted over it (Port 22, PermitRootLogin yes, "
            "PasswordAuthentication yes; no Include)"
        )
        # sshd -T (both tools read sshd's settings through it) refuses to run without its
        # privilege separation directory, which systemd makes when sshd starts.
        upper, work = root / "run-upper", root / "run-work"
        upper.mkdir()
        work.mkdir()
        run_sshd = {"upper": str(upper), "work": str(work)}
        said.append(
            "/run: if /run/sshd is missing when the tool starts, an overlay is mounted "
            "over /run (writes go to a temporary dir) and an empty /run/sshd made in "
            "it, so `sshd -T` runs"
        )
    else:
        skipped.append(f"ssh items: {SSHD_CONFIG} missing (openssh-server not installed)")
    if Path("/etc/sudoers").exists() and SUDOERS_D.is_dir():
        drop = root / "sudoers.d"
        drop.mkdir()
        (drop / "app").write_text(WEAK_SUDOERS)
        (drop / "app").chmod(0o440)
        mounts.append(["mount", "--bind", str(drop), str(SUDOERS_D)])
        said.append(
            f"{SUDOERS_D}: dir bind-mounted over it, holding 'app' (app ALL=(ALL) NOPASSWD: ALL)"
        )
    else:
        skipped.append(
            "sudoers item: sudo is not installed (/etc/sudoers, /etc/sudoers.d "
            "missing), nothing to bind-mount over"
        )
    if NGINX_SITES.is_dir():
        sites = root / "sites-enabled"
        sites.mkdir()
        (sites / "staging").write_text(WEAK_SITE)
        mounts.append(["mount", "--bind", str(sites), str(NGINX_SITES)])
        said.append(
            f"{NGINX_SITES}: dir bind-mounted over it, holding only 'staging' "
            "(server_name staging.example.com, listen 80, no auth_basic, no allow)"
        )
    else:
        skipped.append(f"nginx item: {NGINX_SITES} missing (nginx not installed)")
    return {"mounts": mounts, "run_sshd": run_sshd}, said, skipped


def in_namespace(plan: Path, argv: list[str]) -> list[str]:
    """``argv`` run by this script's runner inside a private mount namespace."""
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        sys.executable,
        str(Path(__file__).resolve()),
        "--inside",
        str(plan),
        "--",
        *argv,
    ]


# --------------------------------------------------------------------------- reading results


def read_rampart(run: Run) -> dict[str, Any]:
    try:
        return json.loads(Path(run.stdout).read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"{run.name}: no JSON on stdout: {exc}") from exc


def read_lynis(path: Path) -> dict[str, Any]:
    """Lynis's report file: key=value lines, ``key[]=`` ones repeated."""
    if not path.exists():
        raise BenchError(f"lynis wrote no report file {path}")
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        if key.endswith("[]"):
            lists.setdefault(key[:-2], []).append(value)
        else:
            values[key] = value

    def ids(key: str) -> set[str]:
        return {t for t in values.get(key, "").split("|") if t}

    return {
        "hardening_index": int(values["hardening_index"])
        if values.get("hardening_index", "").isdigit()
        else None,
        "warnings": lists.get("warning", []),
        "suggestions": lists.get("suggestion", []),
        "tests_executed": ids("tests_executed"),
        "tests_skipped": ids("tests_skipped"),
        "lynis_tests_done": values.get("lynis_tests_done"),
    }


def rampart_says(report: dict[str, Any], w: Weakness) -> str:
    found = [f for f in report.get("findings", []) if f["check"] in w.rampart_checks]
    if not found:
        return "no such finding"
    parts = []
    for f in found:
        text = f"{f['check']} {f['status'].upper()}"
        if f["status"] == "fail":
            text += f" ({f['severity']}): {f['evidence'][:90]}"
        elif f["status"] == "skipped":
            text += f": {f.get('reason', '')[:90]}"
        parts.append(text)
    return "; ".join(parts)


def lynis_says(report: dict[str, Any], w: Weakness) -> str:
    hits = []
    for kind in ("warnings", "suggestions"):
        for item in report[kind]:
            test, _, rest = item.partition("|")
            if test in w.lynis_tests and any(word in rest.lower() for word in w.lynis_words):
                hits.append(
                    f"{kind[:-1]} {test}: {rest.split('|')[0]} "
                    f"{rest.split('|')[1] if rest.count('|') else ''}".strip()
                )
    if hits:
        return "; ".join(hits)
    run = sorted(t for t in w.lynis_tests if t in report["tests_executed"])
    skip = sorted(t for t in w.lynis_tests if t in report["tests_skipped"])
    said = "nothing reported"
    if run:
        said += f" (ran {', '.join(run)})"
    if skip:
        said += f" ({', '.join(skip)} skipped)"
    if not run and not skip:
        said += " (no matching test ran)"
    return said


# --------------------------------------------------------------------------- output


def row(run: Run) -> str:
    return f"  {run.name:<16} {run.seconds:9.2f} {run.cpu_seconds:9.2f} {run.peak_rss_mib:10.1f}"


def timing_table(title: str, lynis: Run, rampart: Run) -> None:
    print(f"\n{title}")
    print(f"  {'tool':<16} {'wall s':>9} {'CPU s':>9} {'peak MiB':>10}")
    print(row(lynis))
    print(row(rampart))
    print(
        f"  ratio lynis/rampart: wall {lynis.seconds / rampart.seconds:.1f}x, "
        f"CPU {lynis.cpu_seconds / rampart.cpu_seconds:.1f}x"
    )


def totals(ram: dict[str, Any], ly: dict[str, Any]) -> dict[str, Any]:
    counts = ram.get("counts", {})
    return {
        "rampart": {"score": ram.get("score"), **counts},
        "lynis": {
            "hardening_index": ly["hardening_index"],
            "warnings": len(ly["warnings"]),
            "suggestions": len(ly["suggestions"]),
            "tests_executed": len(ly["tests_executed"]),
            "tests_skipped": len(ly["tests_skipped"]),
        },
    }


def fmt_totals(t: dict[str, Any]) -> str:
    r, ly = t["rampart"], t["lynis"]
    return (
        f"rampart score {r['score']}, {r.get('fail')} failed, {r.get('pass')} passed, "
        f"{r.get('skipped')} skipped | lynis hardening index {ly['hardening_index']}, "
        f"{ly['warnings']} warnings, {ly['suggestions']} suggestions, "
        f"{ly['tests_executed']} tests run, {ly['tests_skipped']} skipped"
    )


def write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    tmp.replace(path)


def leftover_mounts() -> list[str]:
    """Host mounts over any path this script plants on (should be none)."""
    watched = {str(SSHD_CONFIG), str(SUDOERS_D), str(NGINX_SITES), str(RUN_DIR)}
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if line.split()[4] in watched]


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="real-host runs per tool, alternating; keep each one's best",
    )
    parser.add_argument("--keep", action="store_true", help="keep the planted files")
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("tool", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        return inside(args.inside, args.tool)
    try:
        return bench(args)
    except BenchError as exc:
        print(f"bench_audit: {exc}", file=sys.stderr)
        return 2


def bench(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        raise BenchError("run as root (both audits read root-only files; unshare needs root)")
    if not shutil.which("unshare"):
        raise BenchError("unshare not found: apt-get install util-linux")
    WORK.mkdir(parents=True, exist_ok=True)
    lynis = ensure_lynis()
    rampart = [*rampart_command(), "audit", "--json"]
    ok_rampart = (0, 1)  # 1 = findings at or above --fail-on; still a result
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"warning: load average {load:.2f} before the runs; other work on this "
            "machine slows both tools",
            file=sys.stderr,
        )

    # 1. real host, timing
    best: dict[str, Run] = {}
    for i in range(max(1, args.repeat)):
        order = ("lynis", "rampart") if i % 2 == 0 else ("rampart", "lynis")
        for tool in order:
            print(f"real host, run {i + 1}: {tool}...", flush=True)
            run = (
                run_measured(f"lynis-real-{i + 1}", lynis_argv(lynis, f"real-{i + 1}"))
                if tool == "lynis"
                else run_measured(f"rampart-real-{i + 1}", rampart, ok_rampart)
            )
            if tool not in best or run.seconds < best[tool].seconds:
                best[tool] = run
    ly_real, ra_real = best["lynis"], best["rampart"]
    lynis_real = read_lynis(Path(ly_real.argv[ly_real.argv.index("--report-file") + 1]))
    rampart_real = read_rampart(ra_real)

    # 2. weakened host, in a private mount namespace
    plant_root = Path(tempfile.mkdtemp(prefix="plant-", dir=WORK))
    plan, planted, skipped = plant(plant_root)
    plan_path = plant_root / "plan.json"
    write_json(plan_path, plan)
    print(
        "\nweakened host: each tool runs under `unshare --mount --propagation private`; "
        "before it execs the tool, this script (as runner) mounts:"
    )
    for line in planted:
        print(f"  planted  {line}")
    for line in skipped:
        print(f"  skipped  {line}")
    print(f"  (files under {plant_root}; the real files are not written)", flush=True)
    print("weakened host: lynis...", flush=True)
    ly_weak = run_measured("lynis-weak", in_namespace(plan_path, lynis_argv(lynis, "weak")))
    print("weakened host: rampart...", flush=True)
    ra_weak = run_measured("rampart-weak", in_namespace(plan_path, rampart), ok_rampart)
    lynis_weak = read_lynis(WORK / "lynis-weak.report")
    rampart_weak = read_rampart(ra_weak)
    left = leftover_mounts()
    runner_said = {
        run.name: [
            line
            for line in Path(run.stderr).read_text(errors="replace").splitlines()
            if line.startswith("bench_audit runner:")
        ]
        for run in (ly_weak, ra_weak)
    }
    for name, lines in runner_said.items():
        print(f"  {name}: " + ("; ".join(lines) or "/run/sshd present, no overlay needed"))
    if not args.keep:
        shutil.rmtree(plant_root, ignore_errors=True)

    # 3. report
    timing_table("real host (timing)", ly_real, ra_real)
    goal_met = ra_real.seconds <= GOAL_SECONDS
    print(
        f"  goal: rampart <= {GOAL_SECONDS:g} s wall: "
        f"{'met' if goal_met else 'NOT met'} ({ra_real.seconds:.2f} s)"
    )
    timing_table("weakened host (in the namespace; includes the runner's mounts)", ly_weak, ra_weak)

    planted_keys = {w.key for w in WEAKNESSES}
    if any("sudo" in s for s in skipped):
        planted_keys.discard("sudo-nopasswd")
    if any("nginx" in s for s in skipped):
        planted_keys.discard("nginx-staging")
    if any("ssh" in s for s in skipped):
        planted_keys -= {"ssh-port", "ssh-root", "ssh-password"}
    side = []
    print("\nside by side, weakened host")
    for w in WEAKNESSES:
        entry = {
            "weakness": w.planted,
            "planted": w.key in planted_keys,
            "lynis_coverage": w.lynis_note,
            "rampart": rampart_says(rampart_weak, w) if w.key in planted_keys else "-",
            "lynis": lynis_says(lynis_weak, w) if w.key in planted_keys else "-",
        }
        side.append(entry)
        print(f"  {w.planted}{'' if entry['planted'] else '  [not planted]'}")
        print(f"    rampart: {entry['rampart']}")
        print(f"    lynis:   {entry['lynis']}")
        print(f"             [{w.lynis_note}]")
    t_real = totals(rampart_real, lynis_real)
    t_weak = totals(rampart_weak, lynis_weak)
    print("\ntotals")
    print(f"  real host:     {fmt_totals(t_real)}")
    print(f"  weakened host: {fmt_totals(t_weak)}")
    print(
        f"\nafter the run: {len(left)} mounts left over the planted paths on the host"
        + ("" if not left else f": {left}")
    )

    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load,
        },
        "goal": {"rampart_wall_seconds_max": GOAL_SECONDS, "met": goal_met},
        "real_host": {
            "lynis": asdict(ly_real),
            "rampart": asdict(ra_real),
            "ratio_wall": ly_real.seconds / ra_real.seconds,
            "ratio_cpu": ly_real.cpu_seconds / ra_real.cpu_seconds,
            "totals": t_real,
        },
        "weakened_host": {
            "planted": planted,
            "skipped": skipped,
            "mounts": plan["mounts"],
            "runner_said": runner_said,
            "lynis": asdict(ly_weak),
            "rampart": asdict(ra_weak),
            "totals": t_weak,
            "side_by_side": side,
            "lynis_warnings": lynis_weak["warnings"],
            "lynis_suggestions": lynis_weak["suggestions"],
        },
        "mounts_left_after": left,
    }
    out = OUT / "bench_audit.json"
    write_json(out, result)
    print(f"written: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
