"""One scan as the CLI, the hook and the audit ask for it: files, history or the index.

:func:`run_scan` is the whole engine: it picks what to read, applies the
baseline and returns a :class:`ScanReport` that every output format reads.
"""

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from rampart.scan.detector import Detector
from rampart.scan.files import files_to_scan
from rampart.scan.finding import Finding
from rampart.scan.history import scan_history, scan_staged
from rampart.scan.rules import RuleSet
from rampart.scan.scanner import scan_files


class Target(Enum):
    FILES = "files"
    HISTORY = "git-history"
    STAGED = "staged"


@dataclass
class ScanReport:
    """The findings left after the baseline, and what was read to find them."""

    target: Target
    findings: list[Finding]
    all_findings: list[Finding] = field(repr=False)
    """Before the baseline (what ``--update-baseline`` accepts)."""
    accepted: int = 0
    files: int = 0
    bytes: int = 0
    skipped: int = 0
    commits: int = 0


def run_scan(
    paths: list[Path],
    rules: RuleSet,
    *,
    target: Target = Target.FILES,
    baseline: frozenset[str] = frozenset(),
    jobs: int | None = None,
    git: str = "git",
    all_files: bool = False,
) -> ScanReport:
    """Scan ``paths`` (files and folders; repositories for history and the index).

    A file scan skips what .gitignore ignores, unless ``all_files``.
    """
    report = ScanReport(target, [], [])
    if target is Target.FILES:
        names = list(files_to_scan(paths, None if all_files else git))
        scanned = scan_files(names, rules, jobs)
        report.all_findings = scanned.findings
        report.files, report.bytes, report.skipped = scanned.files, scanned.bytes, scanned.skipped
    else:
        detector = Detector(rules)
        for repository in paths:
            if target is Target.HISTORY:
                patch = scan_history(repository, detector, git=git)
            else:
                patch = scan_staged(repository, detector, git=git)
            report.all_findings.extend(patch.findings)
            report.commits += patch.commits
            report.bytes += patch.bytes
    report.all_findings.sort(key=lambda f: (f.path, f.line, f.rule_id, f.commit or ""))
    report.findings = [f for f in report.all_findings if f.fingerprint not in baseline]
    report.accepted = len(report.all_findings) - len(report.findings)
    return report
