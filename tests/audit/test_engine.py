"""The audit engine: discovery, skipped facts, mutes, the score, --fail-on."""

import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from rampart.audit import (
    AuditError,
    Check,
    CheckMeta,
    Facts,
    Finding,
    Severity,
    Status,
    Unavailable,
    load_checks,
    load_collectors,
    read_mutes,
    run_audit,
)


class PortCheck(Check):
    meta = CheckMeta("TST-001", "port is not 22", "3", Severity.HIGH, "set Port 2222")

    def run(self, facts: Facts) -> Iterable[Finding]:
        for port in facts.get("ports"):
            if port == 22:
                yield self.failed(f"port {port}", "sshd listens on 22")
            else:
                yield self.passed(f"port {port}", "not 22")


class NeedsMissing(Check):
    meta = CheckMeta("TST-002", "needs a program", "0", Severity.LOW, "install it")

    def run(self, facts: Facts) -> Iterable[Finding]:
        facts.get("absent")
        return []


def missing() -> object:
    raise Unavailable("tool is not installed")


def test_findings_skips_and_score() -> None:
    facts = Facts({"ports": lambda: [22, 2222], "absent": missing})
    report = run_audit(facts, [PortCheck(), NeedsMissing()])
    statuses = [(f.check, f.status, f.resource) for f in report.findings]
    assert statuses == [
        ("TST-001", Status.FAIL, "port 22"),
        ("TST-001", Status.PASS, "port 2222"),
        ("TST-002", Status.SKIPPED, "-"),
    ]
    assert report.findings[2].reason == "tool is not installed", "skipped says why, never a pass"
    assert report.score == 50
    assert report.failing(Severity.HIGH) and not report.failing(Severity.CRITICAL)


def test_a_collector_runs_once_for_all_checks() -> None:
    calls = []

    def ports() -> list[int]:
        calls.append(1)
        return [2222]

    run_audit(Facts({"ports": ports}), [PortCheck(), PortCheck()])
    assert calls == [1]


def test_muted_findings_show_as_muted_and_never_fail(tmp_path: Path) -> None:
    mute_file = tmp_path / "mute.toml"
    mute_file.write_text(
        '[[mute]]\ncheck = "TST-001"\nresource = "port 2*"\nreason = "legacy clients"\n'
    )
    report = run_audit(Facts({"ports": lambda: [22]}), [PortCheck()], read_mutes(mute_file))
    assert [f.status for f in report.findings] == [Status.MUTED]
    assert report.findings[0].reason == "legacy clients"
    assert not report.failing(Severity.INFO)
    assert report.score is None


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('[[mute]]\ncheck = "TST-001"\n', "a reason is required"),
        ('[[mute]]\ncheck = "ssh"\nreason = "x"\n', "an id such as"),
        ("[mute\n", "invalid TOML"),
        ("other = 1\n", "only [[mute]]"),
    ],
)
def test_a_bad_mute_file_is_one_error(tmp_path: Path, text: str, said: str) -> None:
    mute_file = tmp_path / "mute.toml"
    mute_file.write_text(text)
    with pytest.raises(AuditError, match=re.escape(said)):
        read_mutes(mute_file)


def test_shipped_checks_load_with_unique_ids() -> None:
    checks = load_checks()
    ids = [check.meta.id for check in checks]
    assert len(ids) == len(set(ids))
    assert isinstance(load_collectors(), dict)


def test_severity_parse() -> None:
    assert Severity.parse("High") is Severity.HIGH
    with pytest.raises(AuditError, match="not a severity"):
        Severity.parse("urgent")
