"""Secrets in files and in git history (practice 13): ``rampart scan``.

Rules live in a TOML file (``rules/secrets.toml``); :class:`Detector` finds
them in bytes, :func:`run_scan` scans files, history or the index, and every
output shows a :class:`Finding` only redacted.
"""

from rampart.scan.baseline import read_baseline, write_baseline
from rampart.scan.detector import ALLOW_MARK, Detector, Match, shannon_entropy
from rampart.scan.engine import ScanReport, Target, run_scan
from rampart.scan.finding import Finding, fingerprint, redact
from rampart.scan.history import GitError, PatchScan, scan_history, scan_staged
from rampart.scan.rules import DEFAULT_RULES, Rule, RulesError, RuleSet, load_rules

__all__ = [
    "ALLOW_MARK",
    "DEFAULT_RULES",
    "Detector",
    "Finding",
    "GitError",
    "Match",
    "PatchScan",
    "Rule",
    "RuleSet",
    "RulesError",
    "ScanReport",
    "Target",
    "fingerprint",
    "load_rules",
    "read_baseline",
    "redact",
    "run_scan",
    "scan_history",
    "scan_staged",
    "shannon_entropy",
    "write_baseline",
]
