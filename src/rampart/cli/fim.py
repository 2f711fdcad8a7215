"""``rampart fim init|check|update|watch``: file integrity (AIDE's and OSSEC syscheck's job)."""

import argparse
import json
import signal
import sys
import threading
from types import FrameType
from typing import Any

from rampart.fim.diffs import printable as shown

EXIT_OK, EXIT_CHANGED = 0, 1


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    parser = commands.add_parser("fim", help="file integrity: baseline, check, update, watch")
    fim_commands = parser.add_subparsers(dest="fim_command", metavar="COMMAND", required=True)
    for name, help_text in (
        ("init", "record the watched files as the baseline (replaces any)"),
        ("check", "compare the watched files with the baseline (exit 1 on changes)"),
        ("update", "accept the current state of the watched files as the baseline"),
    ):
        command = fim_commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--json", action="store_true", help="one JSON object")
        command.add_argument(
            "--paths",
            nargs="+",
            metavar="PATH",
            help="only these paths (default: [fim] paths of the configuration)",
        )
        if name != "init":
            command.add_argument(
                "--full",
                action="store_true",
                help="re-hash every file, even those whose size, times and inode are unchanged",
            )
        if name == "check":
            command.add_argument(
                "--fail-on",
                type=_level,
                default=0,
                metavar="LEVEL",
                help="exit 1 only for changes at or above this level (default 0: any change)",
            )
        command.set_defaults(handler=run_scan)
    watch = fim_commands.add_parser(
        "watch",
        help="report changes as they happen (inotify), until Ctrl-C",
        description="Watch the configured paths with inotify and print each change.",
    )
    watch.add_argument("--json", action="store_true", help="one JSON object per event")
    watch.set_defaults(handler=run_watch)


def _level(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 15:
        raise argparse.ArgumentTypeError(f"{text!r} is not a level from 0 to 15")
    return int(text)


def run_scan(args: argparse.Namespace) -> int:
    from rampart.config import load_settings
    from rampart.fim import Fim

    settings = load_settings(args.config)
    fim = Fim(settings.fim, settings.state_dir, args.paths)
    if args.fim_command == "init":
        report = fim.init()
    elif args.fim_command == "check":
        report = fim.check(full=args.full)
    else:
        report = fim.update(full=args.full)
    if args.json:
        json.dump(report.as_dict(), sys.stdout, indent=2)
        print()
    else:
        _print_report(report)
    if args.fim_command == "check":
        fail_on = args.fail_on
        return EXIT_CHANGED if any(c.level >= fail_on for c in report.changes) else EXIT_OK
    return EXIT_OK


def _indented(diff: str) -> str:
    return "\n".join("    " + shown(line) for line in diff.split("\n"))


def _print_report(report: Any) -> None:
    for change in report.changes:
        what = ",".join(change.attributes) or "-"
        package = f"  [{change.package}]" if change.package else ""
        print(
            f"{change.status:8} {shown(change.path)}  {what}{package}  (rule {change.rule_id}, "
            f"level {change.level})"
        )
        if change.diff:
            print(_indented(change.diff))
    for error in report.errors:
        print(f"unreadable: {shown(error)}", file=sys.stderr)
    for note in report.notes:
        print(f"note: {shown(note)}", file=sys.stderr)
    summary = ", ".join(
        f"{report.count(s)} {s}" for s in ("changed", "package", "added", "deleted")
    )
    megabytes = report.hashed_bytes / 1e6
    print(
        f"rampart fim {report.command}: {report.paths} paths, {report.hashed_files} files "
        f"hashed ({megabytes:.1f} MB, {report.algorithm}) in {report.seconds:.2f} s"
        + (f": {summary}" if report.command != "init" else f"; baseline {report.baseline}")
    )


def run_watch(args: argparse.Namespace) -> int:
    from rampart.config import load_settings
    from rampart.fim import RealtimeMonitor
    from rampart.hids import Event

    settings = load_settings(args.config)
    stop = threading.Event()

    def show(event: Event) -> None:
        if args.json:
            record = {
                "time": event.time,
                "rule_id": event.rule_id,
                "level": event.level,
                "description": event.description,
                "location": event.location,
                "log": event.log,
                "fields": dict(event.fields),
                "detail": event.detail,
            }
            print(json.dumps(record), flush=True)
        else:
            print(f"level {event.level} rule {event.rule_id}: {shown(event.log)}", flush=True)
            if event.detail:
                print(_indented(event.detail), flush=True)

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    monitor = RealtimeMonitor(settings.fim, settings.state_dir, show)
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    monitor.start()
    try:
        print(
            f"rampart fim watch: watching {monitor.watched_directories} directories",
            file=sys.stderr,
            flush=True,
        )
        for error in monitor.errors:
            print(f"rampart fim watch: {error}", file=sys.stderr, flush=True)
        stop.wait()
    finally:
        monitor.stop()
    return EXIT_OK
