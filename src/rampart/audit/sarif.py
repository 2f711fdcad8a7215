"""The audit as SARIF 2.1.0, in the subset GitHub code scanning ingests.

One run; ``tool.driver.rules`` holds one rule per check (its fix is the rule's
help, its severity a ``security-severity`` score), and ``results`` holds the
failed and the muted findings (muted ones carry an external suppression with
the mute file's reason). Passed and skipped findings are not results.

Where a host finding "is": GitHub requires every result to have
``locations[0].physicalLocation.artifactLocation.uri`` (and a ``region``),
and reads a relative uri as a path from the root of the repository the SARIF
is uploaded to. A host finding has no source file, so its uri is the stable,
made-up path ``rampart-audit/<check id>`` under ``%SRCROOT%``, with a region
on line 1; the resource itself (a port, a user, a file) is named in a
``logicalLocation`` and in the message. GitHub tells alerts apart across runs
by ``partialFingerprints.primaryLocationLineHash`` (the only fingerprint it
reads), which here is a hash of the check id and the resource: the same
problem on the same resource stays one alert from run to run. Source:
GitHub Docs, "SARIF support for code scanning" (result, location and
physicalLocation objects; "Providing data to track code scanning alerts
across runs").
"""

import hashlib
import json
from collections.abc import Sequence
from importlib import metadata
from typing import Any, TextIO

from rampart import __version__
from rampart.audit.engine import AuditReport
from rampart.audit.interface import Check, CheckMeta, Finding, Severity, Status
from rampart.audit.report import PRACTICES

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
ARTIFACT_ROOT = "rampart-audit"
"""The made-up folder that host findings are filed under (see the module's doc)."""

SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
"""GitHub reads over 9.0 as critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low, 0.0 none."""

LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_REPORTED = (Status.FAIL, Status.MUTED)
_TEXT_LIMIT = 1024  # GitHub's limit for short and full descriptions


def write_sarif(report: AuditReport, checks: Sequence[Check], out: TextIO) -> None:
    """Write ``report`` as one SARIF log; ``checks`` are the rules (those that ran)."""
    metas: dict[str, CheckMeta] = {}
    for check in checks:
        metas.setdefault(check.meta.id, check.meta)
    for finding in report.findings:  # a finding whose check was not passed in still gets a rule
        if finding.check not in metas:
            metas[finding.check] = CheckMeta(
                finding.check, finding.title, finding.practice, finding.severity, finding.fix
            )
    index = {check_id: number for number, check_id in enumerate(metas)}
    driver: dict[str, Any] = {"name": "rampart", "version": __version__}
    homepage = _homepage()
    if homepage:
        driver["informationUri"] = homepage
    driver["rules"] = [_rule(meta) for meta in metas.values()]
    results = [_result(f, index[f.check]) for f in report.findings if f.status in _REPORTED]
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }
    out.write(json.dumps(log, indent=2, ensure_ascii=False) + "\n")


def fingerprint(finding: Finding) -> str:
    """A stable hash of the check and the resource: one alert per problem across runs."""
    return hashlib.sha256(f"{finding.check}\0{finding.resource}".encode()).hexdigest()


def _rule(meta: CheckMeta) -> dict[str, Any]:
    practice = PRACTICES.get(meta.practice, "")
    about = f"practice {meta.practice}" + (f" ({practice})" if practice else "")
    return {
        "id": meta.id,
        "name": meta.title[:255],
        "shortDescription": {"text": _text(meta.title)},
        "fullDescription": {
            "text": _text(f"{meta.title}. A {meta.severity.name.lower()} host check of {about}.")
        },
        "help": {"text": meta.fix or "no fix is recorded for this check"},
        "defaultConfiguration": {"level": LEVEL[meta.severity]},
        "properties": {
            "tags": [f"practice-{meta.practice}", "security"],
            "security-severity": SECURITY_SEVERITY[meta.severity],
        },
    }


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    message = f"{finding.title}: {finding.resource}"
    if finding.evidence:
        message += f" — {finding.evidence}"
    digest = fingerprint(finding)
    result: dict[str, Any] = {
        "ruleId": finding.check,
        "ruleIndex": rule_index,
        "level": LEVEL[finding.severity],
        "message": {"text": message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {
                        "uri": f"{ARTIFACT_ROOT}/{finding.check}",
                        "uriBaseId": "%SRCROOT%",
                    },
                    "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 2},
                },
                "logicalLocations": [{"name": finding.resource, "kind": "resource"}],
            }
        ],
        "partialFingerprints": {
            "primaryLocationLineHash": f"{digest[:16]}:1",
            "rampartFinding/v1": digest,
        },
        "properties": {"practice": finding.practice, "resource": finding.resource},
    }
    if finding.status is Status.MUTED:
        result["suppressions"] = [{"kind": "external", "justification": finding.reason or ""}]
    return result


def _text(text: str) -> str:
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"


def _homepage() -> str | None:
    """The project's home page from the installed package's metadata, if it names one."""
    try:
        meta = metadata.metadata("rampart")
    except metadata.PackageNotFoundError:
        return None
    for entry in meta.get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() in {"homepage", "home", "source", "repository"} and url.strip():
            return str(url.strip())
    for home in meta.get_all("Home-page") or []:
        if home.strip():
            return str(home.strip())
    return None
