"""``rampart ban ...``: test filters, and list, add and lift bans."""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from rampart.cli import ban_import
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
    _register_control(ban_commands)


def _register_control(ban_commands: "argparse._SubParsersAction[Any]") -> None:
    status = ban_commands.add_parser("status", help="jails, their sources, failures and bans")
    status.add_argument("jail", nargs="?", metavar="JAIL", help="one jail only")
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(handler=run_status)

    listing = ban_commands.add_parser("list", help="the bans in force")
    listing.add_argument("--jail", metavar="JAIL", help="one jail only")
    listing.add_argument("--json", action="store_true", help="one JSON object per ban")
    listing.set_defaults(handler=run_list)

    add = ban_commands.add_parser("add", help="ban an address or network now")
    add.add_argument("target", metavar="IP", help="address or network (192.0.2.7, 2001:db8::/64)")
    add.add_argument("--jail", default="manual", help="whose ports (default: manual, all ports)")
    add.add_argument("--for", dest="duration", metavar="TIME", help="e.g. 1h, 30m, -1 (for ever)")
    add.add_argument(
        "--force",
        action="store_true",
        help="ban even the address of an open SSH session or of this host (never ignoreip)",
    )
    add.add_argument("--dry-run", action="store_true", help="store and log; no firewall change")
    add.set_defaults(handler=run_add)

    remove = ban_commands.add_parser("remove", help="lift the ban of an address or network")
    remove.add_argument("target", metavar="IP")
    remove.add_argument("--jail", metavar="JAIL", help="only this jail's ban")
    remove.add_argument("--dry-run", action="store_true", help="no firewall change")
    remove.set_defaults(handler=run_remove)

    flush = ban_commands.add_parser("flush", help="lift every ban")
    flush.add_argument("--jail", metavar="JAIL", help="only this jail's bans")
    flush.add_argument("--dry-run", action="store_true", help="no firewall change")
    flush.set_defaults(handler=run_flush)

    ban_import.register(ban_commands)


def _control(args: argparse.Namespace) -> Any:
    from rampart.ban.control import open_control
    from rampart.config import load_settings

    return open_control(load_settings(args.config), dry_run=getattr(args, "dry_run", False))


def run_add(args: argparse.Namespace) -> int:
    from rampart.config import parse_duration

    seconds = None
    if args.duration is not None:
        try:
            seconds = parse_duration(args.duration)
        except ValueError as error:
            raise UsageError(f"--for: {error}") from None
    control = _control(args)
    try:
        ban = control.add(args.target, jail=args.jail, seconds=seconds, force=args.force)
    finally:
        control.store.close()
    until = (
        "for ever"
        if ban.expires_at is None
        else time.strftime("until %Y-%m-%d %H:%M:%S %Z", time.localtime(ban.expires_at))
    )
    print(f"banned {ban.target.with_prefixlen} (jail {ban.jail}) {until}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    control = _control(args)
    try:
        removed = control.remove(args.target, jail=args.jail)
    finally:
        control.store.close()
    print(f"lifted {removed} stored ban(s) of {args.target}; the firewall no longer holds it")
    return 0


def run_flush(args: argparse.Namespace) -> int:
    control = _control(args)
    try:
        removed = control.flush(jail=args.jail)
    finally:
        control.store.close()
    print(f"lifted {removed} ban(s)")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from rampart.ban.control import ban_record
    from rampart.config import load_settings
    from rampart.store import BanStore

    settings = load_settings(args.config)
    now = time.time()
    with BanStore.in_state_dir(settings.state_dir) as store:
        bans = [b for b in store.active(now) if args.jail in (None, b.jail)]
    if args.json:
        for ban in bans:
            sys.stdout.write(json.dumps(ban_record(ban, now)) + "\n")
        return 0
    if not bans:
        print("no bans in force")
    for ban in bans:
        left = ban.remaining(now)
        ends = "for ever" if left is None else f"{left:.0f} s left"
        print(f"{ban.target.with_prefixlen:<43} {ban.jail:<16} {ends}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from rampart.ban.control import daemon_status
    from rampart.config import load_settings
    from rampart.store import BanStore

    settings = load_settings(args.config)
    jails = settings.ban.jails
    if args.jail is not None and args.jail not in jails and args.jail != "manual":
        raise UsageError(f"no jail {args.jail!r} (jails: {', '.join(['manual', *jails])})")
    now = time.time()
    with BanStore.in_state_dir(settings.state_dir) as store:
        active = store.active(now)
    running = daemon_status(settings.state_dir / "status.json", now=now)
    live = running.get("jails", {}) if running else {}
    report: dict[str, Any] = {"daemon": "running" if running else "not running", "jails": {}}
    for name in ["manual", *jails]:
        if args.jail not in (None, name):
            continue
        jail = jails.get(name)
        entry: dict[str, Any] = {"bans": sum(1 for b in active if b.jail == name)}
        if jail is not None:
            entry.update(
                enabled=jail.enabled,
                filter=jail.filter or name,
                maxretry=jail.maxretry,
                findtime=jail.findtime,
                bantime=jail.bantime,
                action=jail.action,
            )
        entry.update(live.get(name, {}))
        entry["bans"] = sum(1 for b in active if b.jail == name)
        report["jails"][name] = entry
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"daemon: {report['daemon']}")
    for name, entry in report["jails"].items():
        facts = [f"{entry['bans']} banned"]
        if "failing" in entry:
            facts.append(f"{entry['failing']} failing now, {entry['failures']} failures seen")
        if "sources" in entry:
            facts.append("sources: " + ", ".join(entry["sources"]))
        if "maxretry" in entry:
            window, length = entry["findtime"], entry["bantime"]
            facts.append(f"maxretry {entry['maxretry']} in {window:g} s, ban {length:g} s")
        print(f"{name}: " + "; ".join(facts))
    return 0


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
    engine = report.engine
    if report.fallback_reason:
        engine += f" (not native: {report.fallback_reason})"
    out.write(f"Engine: {engine}\n")
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
