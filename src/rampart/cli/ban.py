"""``rampart ban ...``: the ban part's commands (so far: ``ban test``)."""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from rampart.errors import UsageError


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    parser = commands.add_parser("ban", help="log-driven banning (Fail2ban's job)")
    ban_commands = parser.add_subparsers(dest="ban_command", metavar="COMMAND", required=True)
    test = ban_commands.add_parser(
        "test",
        help="run a filter over a log, like fail2ban-regex",
        description="Run a Fail2ban-compatible filter over LOG and report the failures it finds.",
    )
    test.add_argument("log", metavar="LOG", help="a log file, or one log line")
    test.add_argument(
        "filter",
        metavar="FILTER",
        help="a filter file, or a name with options such as 'sshd[mode=aggressive]'",
    )
    test.add_argument("--json", action="store_true", help="one JSON object per failure")
    test.add_argument(
        "--now",
        type=float,
        metavar="EPOCH",
        help="the time taken as 'now' (year inference for dates without a year)",
    )
    test.add_argument(
        "--filter-dir",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="also look for filters here (before rampart's own and /etc/fail2ban/filter.d)",
    )
    test.add_argument(
        "--logtimezone",
        metavar="TZ",
        help="time zone of timestamps that carry none (e.g. UTC, UTC+0200); default: local",
    )
    test.add_argument("--top", type=int, default=10, metavar="N", help="hosts to list (default 10)")
    test.set_defaults(handler=run_test)


def run_test(args: argparse.Namespace) -> int:
    from rampart.detect import DEFAULT_FILTER_DIRS, Filter, load_filter, scan_log

    if args.top < 0:
        raise UsageError("--top must be 0 or more")
    spec = load_filter(args.filter, (*args.filter_dir, *DEFAULT_FILTER_DIRS))
    compiled = Filter(spec)
    fixed_now = args.now
    now = (lambda: fixed_now) if fixed_now is not None else time.time
    out = sys.stdout
    if args.json:
        write, dumps = out.write, json.dumps
        scan_log(
            compiled,
            args.log,
            now=now,
            default_tz=args.logtimezone,
            on_failure=lambda failure: write(dumps(failure.record()) + "\n"),
        )
        return 0
    report = scan_log(compiled, args.log, now=now, default_tz=args.logtimezone)
    source = args.log if Path(args.log).is_file() else "(the line given)"
    _print_summary(out, spec.name, str(spec.path), source, report, compiled, args.top)
    return 0


def _print_summary(
    out: TextIO, name: str, path: str, source: str, report: Any, compiled: Any, top: int
) -> None:
    rate = report.lines / report.seconds if report.seconds > 0 else 0.0
    out.write(f"Filter: {name} ({path})\nLog:    {source}\n\n")
    out.write(
        f"Lines: {report.lines} lines, {report.ignored} ignored, {report.matched} matched, "
        f"{report.missed} missed [{report.seconds:.2f} s, {rate:,.0f} lines/s]\n"
    )
    out.write(f"Failures: {report.failures} from {len(report.hosts)} hosts\n")
    if report.regex_hits:
        out.write("\nFailregex hits:\n")
        for index, regex in enumerate(compiled.failregex):
            hits = report.regex_hits.get(index, 0)
            if hits:
                out.write(f"  {index + 1:2d}) [{hits}] {regex.source}\n")
    if top and report.hosts:
        out.write(f"\nTop hosts (of {len(report.hosts)}):\n")
        for host, count in report.hosts.most_common(top):
            out.write(f"  {count:8d}  {host}\n")
