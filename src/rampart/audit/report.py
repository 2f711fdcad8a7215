"""The audit as people read it: grouped by practice, worst first, with the score's rule."""

import json
from typing import TextIO

from rampart.audit.engine import SCORE_RULE, AuditReport
from rampart.audit.interface import Finding, Status

PRACTICES = {
    "0": "Check what you have",
    "0b": "Follow attack trends",
    "1": "Host intrusion detection",
    "2": "Ban abusive clients",
    "3": "SSH off port 22",
    "4": "Backups with tested restores",
    "5": "Pre-signed URLs for paid media",
    "6": "HTTP basic auth for internal sites",
    "7": "Firewall",
    "8": "Privilege separation",
    "9": "Security groups",
    "10": "Cloud audit trail",
    "11": "Hotlink protection",
    "12": "Unprivileged service users",
    "13": "Credentials encrypted in git",
    "14": "Final testing",
}
_MARK = {Status.FAIL: "FAIL", Status.PASS: "ok  ", Status.SKIPPED: "skip", Status.MUTED: "mute"}
_ORDER = {Status.FAIL: 0, Status.MUTED: 1, Status.SKIPPED: 2, Status.PASS: 3}


def _practice_key(practice: str) -> tuple[int, str]:
    digits = "".join(ch for ch in practice if ch.isdigit())
    return (int(digits) if digits else 99, practice)


def write_text(report: AuditReport, out: TextIO, *, verbose: bool = False) -> None:
    """The terminal report; passes are listed only with ``verbose``."""
    groups: dict[str, list[Finding]] = {}
    for finding in report.findings:
        groups.setdefault(finding.practice, []).append(finding)
    for practice in sorted(groups, key=_practice_key):
        findings = sorted(
            groups[practice], key=lambda f: (_ORDER[f.status], -f.severity, f.check, f.resource)
        )
        shown = [f for f in findings if verbose or f.status is not Status.PASS]
        passed = len(findings) - len([f for f in findings if f.status is not Status.PASS])
        title = PRACTICES.get(practice, "")
        out.write(f"\n{practice}. {title} ({passed} of {len(findings)} passed)\n")
        for f in shown:
            severity = f.severity.name.lower()
            out.write(f"  {_MARK[f.status]} {f.check} [{severity}] {f.title}: {f.resource}\n")
            if f.status is Status.FAIL:
                out.write(f"       saw: {f.evidence}\n       fix: {f.fix}\n")
            elif f.reason:
                out.write(f"       {f.status.value}: {f.reason}\n")
    counts = report.counts()
    score = report.score
    out.write(
        f"\nscore: {'n/a' if score is None else score}/100 ({counts['pass']} passed, "
        f"{counts['fail']} failed, {counts['skipped']} skipped, {counts['muted']} muted)\n"
        f"  {SCORE_RULE}\n"
    )


def write_json(report: AuditReport, out: TextIO) -> None:
    """One JSON object: the score, the counts and every finding."""
    document = {
        "score": report.score,
        "score_rule": SCORE_RULE,
        "counts": report.counts(),
        "findings": [finding.record() for finding in report.findings],
    }
    out.write(json.dumps(document, indent=1) + "\n")
