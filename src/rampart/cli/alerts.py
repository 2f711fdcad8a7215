"""``rampart alerts list | send | test-email`` and ``rampart rootcheck``."""

import argparse
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rampart.errors import UsageError


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    parser = commands.add_parser("alerts", help="stored HIDS alerts, e-mail and webhooks")
    alerts = parser.add_subparsers(dest="alerts_command", metavar="COMMAND", required=True)

    listing = alerts.add_parser("list", help="stored alerts, oldest first")
    listing.add_argument("--since", metavar="WHEN", help="e.g. 1h, 2d (ago) or 2026-11-25T10:00")
    listing.add_argument("--min-level", type=int, default=0, metavar="N", help="0-15")
    listing.add_argument("--limit", type=int, default=1000, metavar="N", help="newest N (1000)")
    listing.add_argument("--json", action="store_true", help="one JSON object per alert")
    listing.set_defaults(handler=run_list)

    send = alerts.add_parser("send", help="deliver the e-mails and webhooks that are due now")
    send.add_argument("--json", action="store_true", help="one JSON object")
    send.set_defaults(handler=run_send)

    prune = alerts.add_parser("prune", help="forget delivered alerts older than a time")
    prune.add_argument("--older-than", required=True, metavar="TIME", help="e.g. 90d")
    prune.add_argument("--json", action="store_true", help="one JSON object")
    prune.set_defaults(handler=run_prune)

    test = alerts.add_parser("test-email", help="send a test message through [alerts.email]")
    test.add_argument("--json", action="store_true", help="one JSON object")
    test.set_defaults(handler=run_test_email)

    rootcheck = commands.add_parser(
        "rootcheck",
        help="look for signs of a rootkit",
        description="Known rootkit files, hidden processes and ports, promiscuous interfaces, "
        "files in /dev, set-user-ID files in temporary folders, world-writable system files.",
    )
    rootcheck.add_argument(
        "--root",
        type=Path,
        default=Path("/"),
        metavar="DIR",
        help="check the files under DIR instead of / (file checks only)",
    )
    rootcheck.add_argument(
        "--checks",
        metavar="LIST",
        help="comma-separated: files,dev,suid,writable,processes,ports,promisc",
    )
    rootcheck.add_argument(
        "--indicators",
        type=Path,
        metavar="FILE",
        help="a rootkit indicator file instead of rampart's own",
    )
    rootcheck.add_argument(
        "--fail-on",
        type=int,
        default=0,
        metavar="LEVEL",
        help="exit 1 when a finding is at or above LEVEL (default 0: any)",
    )
    rootcheck.add_argument(
        "--publish",
        action="store_true",
        help="also store the findings as alerts and send them ([alerts])",
    )
    rootcheck.add_argument("--json", action="store_true", help="one JSON object")
    rootcheck.set_defaults(handler=run_rootcheck)


def parse_since(text: str, now: float) -> float:
    """``1h`` (that long ago), an epoch number, or an ISO 8601 date and time."""
    from rampart.config import parse_duration

    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise UsageError(
            f"--since {text!r}: use a duration (1h, 2d) or a date (2026-11-25T10:00)"
        ) from None


def _level(value: int, option: str) -> int:
    if not 0 <= value <= 15:
        raise UsageError(f"{option} {value}: a level is 0-15")
    return value


def run_list(args: argparse.Namespace) -> int:
    from rampart.config import load_settings
    from rampart.notify import AlertStore
    from rampart.notify.records import alert_record
    from rampart.notify.text import stamp, summary

    min_level = _level(args.min_level, "--min-level")
    if args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    since = None if args.since is None else parse_since(args.since, time.time())
    settings = load_settings(args.config)
    with AlertStore.in_state_dir(settings.state_dir) as store:
        alerts = store.alerts(since=since, min_level=min_level, limit=args.limit)
    if args.json:
        for alert in alerts:
            print(json.dumps(alert_record(alert)))
        return 0
    if not alerts:
        print("no alerts")
    for alert in alerts:
        print(f"{stamp(alert.event.time)}  #{alert.id}  {summary(alert.event)}")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from rampart.config import load_settings, parse_duration
    from rampart.notify import AlertStore

    try:
        age = parse_duration(args.older_than)
    except ValueError as error:
        raise UsageError(f"--older-than: {error}") from None
    if age <= 0:
        raise UsageError("--older-than must be more than 0 seconds")
    settings = load_settings(args.config)
    with AlertStore.in_state_dir(settings.state_dir) as store:
        removed = store.prune(time.time() - age)
    if args.json:
        print(json.dumps({"removed": removed}))
    else:
        print(f"forgot {removed} delivered alert(s); alerts.json is left to logrotate")
    return 0


def run_send(args: argparse.Namespace) -> int:
    from rampart.config import load_settings
    from rampart.notify import Dispatcher

    settings = load_settings(args.config)
    with Dispatcher.from_settings(settings) as dispatcher:
        before = dispatcher.store.pending()
        dispatcher.flush()
        after = dispatcher.store.pending()
        report = {}
        for channel in dispatcher.channels:
            state = dispatcher.store.channel_state(channel.name)
            report[channel.name] = {
                "sent": before.get(channel.name, 0) - after.get(channel.name, 0),
                "queued": after.get(channel.name, 0),
                "error": state.last_error or None,
                "next_try": state.next_try or None,
            }
    if args.json:
        print(json.dumps({"channels": report}))
        return 0
    if not report:
        print("no channel configured ([alerts.email] enabled, [[alerts.webhooks]])")
    for name, entry in report.items():
        line = f"{name}: {entry['sent']} sent, {entry['queued']} queued"
        if entry["error"]:
            line += f"; last error: {entry['error']}"
        print(line)
    return 0


def run_test_email(args: argparse.Namespace) -> int:
    from rampart.config import load_settings
    from rampart.notify.email import EmailChannel
    from rampart.notify.secrets import read_secret

    email = load_settings(args.config).alerts.email
    if not email.to:
        raise UsageError("[alerts.email] names no recipient ('to'); nothing to test")
    password = read_secret(email, "alerts.email") if email.username else None
    channel = EmailChannel(email, password)
    channel.send(channel.test_message())
    if args.json:
        print(json.dumps({"sent": True, "to": list(email.to), "server": email.host}))
    else:
        print(f"test message sent to {', '.join(email.to)} through {email.host}:{email.port}")
    return 0


def run_rootcheck(args: argparse.Namespace) -> int:
    from rampart.hids.rootcheck import DEFAULT_INDICATORS, Scan, choose_checks, run_checks
    from rampart.notify.records import event_record

    fail_on = _level(args.fail_on, "--fail-on")
    if not args.root.is_dir():
        raise UsageError(f"--root {args.root}: not a folder")
    names = [n.strip() for n in args.checks.split(",") if n.strip()] if args.checks else None
    checks = choose_checks(names, args.root)
    scan = Scan(root=args.root, indicators=args.indicators or DEFAULT_INDICATORS)
    findings = run_checks(scan, checks)
    if args.publish:
        _publish(args, findings)
    if args.json:
        print(json.dumps({"checks": checks, "findings": [event_record(e) for e in findings]}))
    else:
        for event in findings:
            print(f"level {event.level:>2}  rule {event.rule_id}  {event.description}: {event.log}")
        print(f"{len(findings)} finding(s) from {len(checks)} check(s): {', '.join(checks)}")
    return 1 if any(event.level >= fail_on for event in findings) else 0


def _publish(args: argparse.Namespace, findings: list[Any]) -> None:
    from rampart.config import load_settings
    from rampart.notify import Dispatcher

    with Dispatcher.from_settings(load_settings(args.config)) as dispatcher:
        for event in findings:
            dispatcher.publish(event)
        dispatcher.flush()
