"""``rampart scan`` as text and as JSON: every secret redacted."""

import json
from typing import Any, TextIO

from rampart.scan.engine import ScanReport, Target


def summary(report: ScanReport) -> str:
    """``2 secrets in 340 files (1.2 MB); 1 accepted by the baseline``."""
    count = len(report.findings)
    what = f"{count} secret{'s' if count != 1 else ''}"
    if report.target is Target.FILES:
        where = f"{report.files} file{'s' if report.files != 1 else ''}"
        if report.skipped:
            where += f", {report.skipped} binary or too large skipped"
    elif report.target is Target.HISTORY:
        where = f"{report.commits} commit{'s' if report.commits != 1 else ''}"
    else:
        where = "the staged changes"
    text = f"{what} in {where} ({report.bytes / 1e6:.1f} MB)"
    if report.accepted:
        text += f"; {report.accepted} accepted by the baseline"
    return text


def write_text(report: ScanReport, out: TextIO) -> None:
    for finding in report.findings:
        out.write(
            f"{finding.where}: {finding.rule_id} ({finding.description}): {finding.redacted}\n"
        )
    out.write(summary(report) + "\n")


def write_json(report: ScanReport, out: TextIO) -> None:
    document: dict[str, Any] = {
        "target": report.target.value,
        "findings": [finding.record() for finding in report.findings],
        "accepted_by_baseline": report.accepted,
        "bytes": report.bytes,
    }
    if report.target is Target.FILES:
        document["files"] = report.files
        document["skipped"] = report.skipped
    if report.target is Target.HISTORY:
        document["commits"] = report.commits
    out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
