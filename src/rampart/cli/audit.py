"""``rampart audit``: check this host and the AWS account against the practices."""

import argparse
import os
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
    parser.add_argument(
        "--aws-endpoint",
        metavar="URL",
        help="send the AWS API calls here (a test server such as moto_server)",
    )
    parser.add_argument("--no-aws", action="store_true", help="skip the AWS checks")
    parser.add_argument("-v", "--verbose", action="store_true", help="list passed checks too")
    parser.add_argument(
        "--sarif", type=Path, metavar="FILE", help="also write SARIF 2.1.0 (GitHub code scanning)"
    )
    parser.add_argument(
        "--html", type=Path, metavar="FILE", help="also write a self-contained HTML report"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rampart.audit import Facts, Severity, load_checks, load_collectors, read_mutes, run_audit
    from rampart.audit.html import write_html
    from rampart.audit.report import write_json, write_text
    from rampart.audit.sarif import write_sarif
    from rampart.files import write_atomically

    for path in (args.sarif, args.html):
        if path is not None:
            _check_writable(path)
    threshold = Severity.parse(args.fail_on) if args.fail_on else None
    mutes = read_mutes(args.mute) if args.mute else []
    if args.aws_endpoint is not None:
        os.environ["AWS_ENDPOINT_URL"] = _endpoint(args.aws_endpoint)
    checks = load_checks()
    if args.no_aws:
        checks = [check for check in checks if not check.meta.id.startswith("AWS")]
    if args.only:
        wanted = {name.upper() for name in args.only}
        checks = [check for check in checks if check.meta.id in wanted]
    report = run_audit(Facts(load_collectors()), checks, mutes)
    if args.json:
        write_json(report, sys.stdout)
    else:
        write_text(report, sys.stdout, verbose=args.verbose)
    if args.sarif is not None:
        write_atomically(args.sarif, lambda out: write_sarif(report, checks, out))
    if args.html is not None:
        write_atomically(args.html, lambda out: write_html(report, out))
    if threshold is not None and report.failing(threshold):
        return EXIT_FINDINGS
    return 0


def _endpoint(text: str) -> str:
    """An http(s) URL for boto3's AWS_ENDPOINT_URL, or AuditError."""
    from urllib.parse import urlsplit

    from rampart.audit import AuditError

    try:
        url = urlsplit(text)
        url.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as error:
        raise AuditError(f"--aws-endpoint {text!r}: {error}") from None
    if url.scheme not in ("http", "https") or not url.hostname or text != text.strip():
        raise AuditError(
            f"--aws-endpoint {text!r}: expected an http(s) URL such as http://127.0.0.1:5000"
        )
    return text


def _check_writable(path: Path) -> None:
    """Refuse, before the audit runs, a report path that cannot be written."""
    from rampart.audit import AuditError

    if path.is_dir():
        raise AuditError(f"{path}: is a directory; give a file name")
    folder = path.parent
    if not folder.is_dir():
        raise AuditError(f"{path}: no such directory {folder}; create it or choose another path")
