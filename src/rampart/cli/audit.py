"""``rampart audit``: check this host (and later the AWS account) against the practices."""

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_FINDINGS = 1


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    parser = commands.add_parser(
        "audit",
        help="check this host against the security practices",
        description="Run every check; print what failed and how to fix it, with a score.",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        help="exit 1 if an unmuted finding is at least this severe (info ... critical)",
    )
    parser.add_argument("--mute", type=Path, metavar="FILE", help="accepted findings (TOML)")
    parser.add_argument(
        "--only", action="append", default=[], metavar="ID", help="run these checks"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="list passed checks too")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rampart.audit import Facts, Severity, load_checks, load_collectors, read_mutes, run_audit
    from rampart.audit.report import write_json, write_text

    threshold = Severity.parse(args.fail_on) if args.fail_on else None
    mutes = read_mutes(args.mute) if args.mute else []
    checks = load_checks()
    if args.only:
        wanted = {name.upper() for name in args.only}
        checks = [check for check in checks if check.meta.id in wanted]
    report = run_audit(Facts(load_collectors()), checks, mutes)
    if args.json:
        write_json(report, sys.stdout)
    else:
        write_text(report, sys.stdout, verbose=args.verbose)
    if threshold is not None and report.failing(threshold):
        return EXIT_FINDINGS
    return 0
