"""``rampart scan``: secrets in files, in git history, or in what is about to be committed."""

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_FINDINGS = 1


def register(commands: "argparse._SubParsersAction[Any]") -> None:
    parser = commands.add_parser(
        "scan",
        help="find credentials in files or git history",
        description=(
            "Find credentials (cloud keys, tokens, private keys, passwords in URLs and "
            "configuration) in files, in every commit (--git-history) or in the staged "
            "changes (--staged). Exit 1 if any is found, 0 if none. Secrets are always redacted."
        ),
    )
    parser.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH", help="files or folders (default: .)"
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--git-history", action="store_true", help="scan the lines every commit added (all refs)"
    )
    what.add_argument(
        "--staged", action="store_true", help="scan what is staged in this repository's index"
    )
    parser.add_argument(
        "--all-files", action="store_true", help="also read the files .gitignore ignores"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.add_argument("--sarif", type=Path, metavar="FILE", help="also write SARIF 2.1.0")
    parser.add_argument(
        "--baseline", type=Path, metavar="FILE", help="accepted findings (by fingerprint)"
    )
    parser.add_argument(
        "--update-baseline",
        action="store_true",
        help="accept every current finding into --baseline FILE and exit 0",
    )
    parser.add_argument("--rules", type=Path, metavar="FILE", help="rules file (TOML)")
    parser.add_argument(
        "--jobs", type=int, metavar="N", help="processes for a file scan (default: every CPU)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rampart.errors import UsageError
    from rampart.files import write_atomically
    from rampart.scan import Target, load_rules, read_baseline, run_scan, write_baseline
    from rampart.scan.report import write_json, write_text
    from rampart.scan.sarif import write_sarif

    if args.update_baseline and args.baseline is None:
        raise UsageError("--update-baseline needs --baseline FILE")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    if args.staged and args.paths:
        raise UsageError("--staged scans the repository of the current folder; give no PATH")
    for path in (args.sarif, args.baseline if args.update_baseline else None):
        if path is not None and not path.parent.is_dir():
            raise UsageError(f"{path}: no such folder {path.parent}")
    target = Target.FILES
    if args.git_history:
        target = Target.HISTORY
    elif args.staged:
        target = Target.STAGED
    paths: list[Path] = args.paths or [Path(".")]
    if target is not Target.FILES:
        for path in paths:
            if not path.is_dir():
                raise UsageError(f"{path}: not a folder (a git repository is needed here)")
    rules = load_rules(args.rules)
    baseline = read_baseline(args.baseline) if args.baseline and not args.update_baseline else None
    report = run_scan(
        paths,
        rules,
        target=target,
        baseline=baseline or frozenset(),
        jobs=args.jobs,
        all_files=args.all_files,
    )
    if args.update_baseline:
        write_baseline(args.baseline, report.all_findings)
        count = len(report.all_findings)
        print(f"{args.baseline}: {count} finding{'s' if count != 1 else ''} accepted")
        return 0
    if args.json:
        write_json(report, sys.stdout)
    else:
        write_text(report, sys.stdout)
    if args.sarif is not None:
        write_atomically(args.sarif, lambda out: write_sarif(report, rules, out), mode=0o644)
    return EXIT_FINDINGS if report.findings else 0
