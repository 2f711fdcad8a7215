"""Benchmark ``rampart fim init`` and ``check`` against AIDE over the same tree.

Why: the issue's goals are ``rampart fim init`` over /usr (about 120,000
files, 5.3 GiB) in under 5 s (``aide --init`` with sha256: about 33 s), and
a re-check of the unchanged tree at least 50x faster than ``aide --check``.

In one run, over ``--tree`` (default /usr), each tool's whole process timed
from start to exit (wall seconds, and CPU seconds of the children):

1. ``aide --init`` with a configuration written to ``bench/out/fim/`` that
   selects sha256 and the attributes rampart records (type, permissions,
   inode, owner, group, size, mtime, ctime, link target) over the tree, its
   database under ``bench/out/fim/`` (not compressed).
2. ``rampart fim init`` with ``hash = "sha256"`` and with ``hash = "blake3"``
   (``nice = 0``, ``ionice = "none"``: the same footing as AIDE, which
   runs at normal priority).
3. ``aide --check`` against its new database, and ``rampart fim check``
   against each baseline (nothing changed in between: both must report no
   change).

Page cache: by default the tree is read once first (an unmeasured rampart
init), so every timed run finds it in memory (warm, the same for all).
``--cold`` drops the page cache (``/proc/sys/vm/drop_caches``, root) before
every timed run instead. ``--aide-workers N`` sets AIDE's ``num_workers``
(default 1, AIDE's own default).

With ``--repeat N`` the whole sequence runs N times (the tools interleaved,
so each meets the same load) and each tool's fastest run is kept.

Run: ``.venv/bin/python bench/bench_fim.py [--tree DIR] [--cold] [--no-aide] [--repeat N]``.
Needs ``aide`` (``apt-get install aide``) and the ``blake3`` Python package
(in ``.[dev]``). Results: a table on stdout and ``bench/out/bench_fim.json``.
Exit status 0 measured, 2 a tool is missing or a step failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out" / "fim"
RAMPART = [sys.executable, "-m", "rampart.cli.main"]
GOAL_INIT_SECONDS = 5.0
GOAL_CHECK_RATIO = 50.0
#: AIDE attributes for what rampart records: file type, permissions, inode, owner,
#: group, size, mtime, ctime, link name, sha256.
AIDE_RULE = "ftype+p+i+u+g+s+m+c+l+sha256"


class Failed(Exception):
    """A tool is missing or a step failed (exit 2)."""


@dataclass
class Timing:
    name: str
    wall: float
    cpu: float
    exit_status: int
    note: str = ""


def timed(
    name: str,
    argv: list[str],
    env: dict[str, str] | None = None,
    ok: tuple[int, ...] = (0,),
    cold: bool = False,
) -> tuple[Timing, str]:
    """Run ``argv`` to completion; its wall and CPU seconds and its output."""
    if cold:
        drop_caches()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode not in ok:
        said = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise Failed(f"{name}: exit status {result.returncode}: {' | '.join(said)}")
    return Timing(name, wall, cpu, result.returncode), result.stdout + result.stderr


def drop_caches() -> None:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as error:
        raise Failed(f"--cold needs root (drop_caches: {error.strerror})") from None


def aide_config(tree: Path, workers: int) -> Path:
    directory = OUT / "aide"
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "aide.conf"
    selection = re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", str(tree))
    config.write_text(
        f"database_in=file:{directory}/aide.db\n"
        f"database_out=file:{directory}/aide.db.new\n"
        "gzip_dbout=no\n"
        "report_url=stdout\n"
        f"num_workers={workers}\n"
        f"RampartBench = {AIDE_RULE}\n"
        f"{selection} RampartBench\n"
    )
    return config


def rampart_env(tree: Path, algorithm: str) -> dict[str, str]:
    state = OUT / f"state-{algorithm}"
    config = OUT / f"rampart-{algorithm}.toml"
    config.write_text(
        "[fim]\n"
        f"paths = [{json.dumps(str(tree))}]\n"
        f'hash = "{algorithm}"\n'
        "nice = 0\n"
        'ionice = "none"\n'
    )
    return {**os.environ, "RAMPART_CONFIG": str(config), "RAMPART_STATE_DIR": str(state)}


def rampart_paths(output: str) -> int:
    report = json.loads(output[output.index("{") :])
    return int(report["paths"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=Path("/usr"))
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    parser.add_argument("--no-aide", action="store_true", help="rampart alone")
    parser.add_argument("--aide-workers", type=int, default=1, metavar="N")
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="N rounds, each tool's best kept"
    )
    args = parser.parse_args()
    tree = args.tree.resolve()
    if not tree.is_dir():
        print(f"bench_fim: {tree}: not a directory", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        results = run_all(tree, args)
    except Failed as error:
        print(f"bench_fim: {error}", file=sys.stderr)
        return 2
    print_table(results, tree, args)
    (BENCH / "out" / "bench_fim.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


def run_all(tree: Path, args: argparse.Namespace) -> dict[str, object]:
    aide = shutil.which("aide")
    if aide is None and not args.no_aide:
        raise Failed("aide is not installed (apt-get install aide), or use --no-aide")
    counts: dict[str, int] = {}
    envs = {algorithm: rampart_env(tree, algorithm) for algorithm in ("sha256", "blake3")}
    if not args.cold:  # read the tree once so that every timed run finds it cached
        timed("warm-up", [*RAMPART, "fim", "init"], env=envs["blake3"])
    best: dict[str, Timing] = {}
    for _round in range(args.repeat):  # rounds interleave the tools: the same load for each
        for timing in one_round(tree, args, aide, envs, counts):
            if timing.name not in best or timing.wall < best[timing.name].wall:
                best[timing.name] = timing
    return {
        "tree": str(tree),
        "cache": "cold" if args.cold else "warm",
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "repeat": args.repeat,
        "entries": counts,
        "timings": [asdict(timing) for timing in best.values()],
    }


def one_round(
    tree: Path,
    args: argparse.Namespace,
    aide: str | None,
    envs: dict[str, dict[str, str]],
    counts: dict[str, int],
) -> list[Timing]:
    """aide --init, rampart fim init (each hash), aide --check, rampart fim check (each)."""
    timings: list[Timing] = []
    use_aide = aide is not None and not args.no_aide
    config = aide_config(tree, args.aide_workers)
    if use_aide:
        timing, output = timed(
            "aide --init (sha256)", [str(aide), "--init", "-c", str(config)], cold=args.cold
        )
        timings.append(timing)
        entries = re.search(r"Number of entries:\s*(\d+)", output)
        counts["aide"] = int(entries.group(1)) if entries else -1
        os.replace(OUT / "aide" / "aide.db.new", OUT / "aide" / "aide.db")
    for algorithm, env in envs.items():
        timing, output = timed(
            f"rampart fim init ({algorithm})",
            [*RAMPART, "fim", "init", "--json"],
            env=env,
            cold=args.cold,
        )
        timings.append(timing)
        counts[f"rampart {algorithm}"] = rampart_paths(output)
    if use_aide:
        timing, output = timed(
            "aide --check",
            [str(aide), "--check", "-c", str(config)],
            ok=tuple(range(8)),
            cold=args.cold,
        )
        timing.note = "no change" if timing.exit_status == 0 else f"changes: {timing.exit_status}"
        timings.append(timing)
    for algorithm, env in envs.items():
        timing, output = timed(
            f"rampart fim check ({algorithm})",
            [*RAMPART, "fim", "check", "--json"],
            env=env,
            ok=(0, 1),
            cold=args.cold,
        )
        report = json.loads(output[output.index("{") :])
        timing.note = f"{len(report['changes'])} changes, {report['hashed_files']} files re-hashed"
        timings.append(timing)
    return timings


def print_table(results: dict[str, object], tree: Path, args: argparse.Namespace) -> None:
    timings = {t["name"]: t for t in results["timings"]}  # type: ignore[attr-defined]
    print(
        f"FIM over {tree} ({results['cache']} page cache, {results['cpus']} CPUs, "
        f"load average {results['load_average'][0]:.1f}); entries: {results['entries']}"
    )
    print(f"{'run':34} {'wall s':>8} {'cpu s':>8}  note")
    for timing in timings.values():
        print(f"{timing['name']:34} {timing['wall']:8.2f} {timing['cpu']:8.2f}  {timing['note']}")
    aide_init = timings.get("aide --init (sha256)")
    aide_check = timings.get("aide --check")
    for algorithm in ("sha256", "blake3"):
        init = timings[f"rampart fim init ({algorithm})"]
        check = timings[f"rampart fim check ({algorithm})"]
        line = f"rampart {algorithm}: init {init['wall']:.2f} s (goal < {GOAL_INIT_SECONDS:g} s)"
        if aide_init:
            line += (
                f", {aide_init['wall'] / init['wall']:.1f}x faster than aide --init "
                f"({aide_init['cpu'] / init['cpu']:.1f}x in CPU)"
            )
        if aide_check:
            line += (
                f"; check {check['wall']:.2f} s, {aide_check['wall'] / check['wall']:.0f}x "
                f"faster than aide --check ({aide_check['cpu'] / check['cpu']:.0f}x in CPU; "
                f"goal >= {GOAL_CHECK_RATIO:g}x)"
            )
        print(line)


if __name__ == "__main__":
    raise SystemExit(main())
