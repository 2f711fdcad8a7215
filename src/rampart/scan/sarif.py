"""``rampart scan --sarif``: SARIF 2.1.0 as GitHub code scanning ingests it.

Unlike the audit's host findings, a secret has a real place: the result's
``artifactLocation`` is the file (relative to the scanned root, or a file URI
for an absolute path) and its ``region`` the line. GitHub tells alerts apart
across runs by ``partialFingerprints.primaryLocationLineHash``; here it comes
from the finding's fingerprint (rule and secret), so a secret that moves
stays one alert. The message holds only the redacted secret.
"""

import json
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from rampart import __version__
from rampart.audit.sarif import SCHEMA
from rampart.scan.engine import ScanReport
from rampart.scan.finding import Finding
from rampart.scan.rules import Rule, RuleSet

_HELP = (
    "Rotate the credential first (it stays in every clone's history), then keep it "
    "encrypted (`rampart vault`) or in the environment. If it is not a secret, accept it "
    "with `rampart scan --baseline FILE --update-baseline` or a `rampart:allow` comment."
)


def write_sarif(report: ScanReport, rules: RuleSet, out: TextIO) -> None:
    """Write ``report`` as one SARIF log whose rules are every rule of ``rules``."""
    index = {rule.id: number for number, rule in enumerate(rules.rules)}
    driver = {
        "name": "rampart-scan",
        "version": __version__,
        "rules": [_rule(rule) for rule in rules.rules],
    }
    results = [_result(finding, index.get(finding.rule_id)) for finding in report.findings]
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }
    out.write(json.dumps(log, indent=2, ensure_ascii=False) + "\n")


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.id,
        "shortDescription": {"text": rule.description},
        "fullDescription": {"text": f"A {rule.description} in a file or in git history."},
        "help": {"text": _HELP},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["security", "secret", "practice-13"], "security-severity": "9.5"},
    }


def _result(finding: Finding, rule_index: int | None) -> dict[str, Any]:
    path = Path(finding.path)
    if path.is_absolute():
        artifact: dict[str, Any] = {"uri": path.as_uri()}
    else:
        artifact = {"uri": str(PurePosixPath(*path.parts)), "uriBaseId": "%SRCROOT%"}
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "level": "error",
        "message": {"text": f"{finding.description}: {finding.redacted}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": artifact,
                    "region": {"startLine": finding.line},
                }
            }
        ],
        "partialFingerprints": {
            "primaryLocationLineHash": f"{finding.fingerprint[:16]}:1",
            "rampartSecret/v1": finding.fingerprint,
        },
    }
    if rule_index is not None:
        result["ruleIndex"] = rule_index
    if finding.commit:
        result["properties"] = {"commit": finding.commit}
    return result
