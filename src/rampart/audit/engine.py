"""Run every check over shared facts, apply the mute file, score the result.

Checks are discovered by convention: every :class:`Check` subclass with a
``meta`` in a module of :mod:`rampart.audit.checks`; collectors likewise, from
the ``COLLECTORS`` dict of each module of :mod:`rampart.audit.collectors`. Ids
are checked when the checks load (``AREA-NNN``, unique).

The score (0-100) is the share of severity weight that passed, among checks
that ran: a failed critical check costs ten times a failed low one; skipped
and muted findings count for nothing either way. The report prints this rule.
"""

import fnmatch
import importlib
import pkgutil
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rampart.audit import checks as checks_package
from rampart.audit import collectors as collectors_package
from rampart.audit.interface import (
    AuditError,
    Check,
    Facts,
    Finding,
    Severity,
    Status,
    Unavailable,
)

WEIGHTS = {
    Severity.CRITICAL: 10,
    Severity.HIGH: 5,
    Severity.MEDIUM: 3,
    Severity.LOW: 1,
    Severity.INFO: 0,
}
SCORE_RULE = (
    "score = 100 x passed weight / (passed + failed weight); weights: critical 10, high 5, "
    "medium 3, low 1, info 0; skipped and muted findings do not count"
)
_ID = re.compile(r"[A-Z][A-Z0-9]{1,9}-\d{3}")


def load_checks() -> list[Check]:
    """Every check rampart ships, in id order."""
    found: dict[str, type[Check]] = {}
    for module in _modules(checks_package):
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, Check) and value is not Check):
                continue
            meta = getattr(value, "meta", None)
            if meta is None:
                continue
            if not _ID.fullmatch(meta.id):
                raise AuditError(f"{module.__name__}.{value.__name__}: bad check id {meta.id!r}")
            if found.get(meta.id, value) is not value:
                raise AuditError(f"check id {meta.id} is used twice")
            found[meta.id] = value
    return [found[key]() for key in sorted(found)]


def load_collectors() -> dict[str, Callable[[], Any]]:
    """Every collector rampart ships, by the name checks ask for."""
    collectors: dict[str, Callable[[], Any]] = {}
    for module in _modules(collectors_package):
        for name, collector in getattr(module, "COLLECTORS", {}).items():
            if name in collectors:
                raise AuditError(f"collector {name} is defined twice")
            collectors[name] = collector
    return collectors


def _modules(package: Any) -> Iterable[Any]:
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{package.__name__}.{info.name}")


@dataclass(frozen=True)
class Mute:
    """An accepted finding: this check (on resources matching a glob), and why."""

    check: str
    resource: str
    reason: str

    def covers(self, finding: Finding) -> bool:
        return finding.check == self.check and fnmatch.fnmatchcase(finding.resource, self.resource)


def read_mutes(path: Path) -> list[Mute]:
    """The mute file: ``[[mute]]`` tables with ``check``, ``reason`` and maybe ``resource``."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise AuditError(f"{path}: no such mute file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AuditError(f"{path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise AuditError(f"{path}: invalid TOML: {error}") from None
    entries = data.get("mute", [])
    if set(data) - {"mute"} or not isinstance(entries, list):
        raise AuditError(f"{path}: expected only [[mute]] tables")
    mutes = []
    for number, entry in enumerate(entries, 1):
        where = f"{path}: mute #{number}"
        if not isinstance(entry, dict) or set(entry) - {"check", "resource", "reason"}:
            raise AuditError(f"{where}: keys are check, resource and reason")
        check, reason = entry.get("check"), entry.get("reason")
        resource = entry.get("resource", "*")
        if not isinstance(check, str) or not _ID.fullmatch(check):
            raise AuditError(f"{where}: check must be an id such as SSH-001")
        if not isinstance(reason, str) or not reason.strip():
            raise AuditError(f"{where}: a reason is required (why is this accepted?)")
        if not isinstance(resource, str):
            raise AuditError(f"{where}: resource must be text (a glob)")
        mutes.append(Mute(check, resource, reason.strip()))
    return mutes


@dataclass
class AuditReport:
    """The findings of one audit and its score."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def score(self) -> int | None:
        """0-100 (None when nothing ran); see :data:`SCORE_RULE`."""
        passed = sum(WEIGHTS[f.severity] for f in self.findings if f.status is Status.PASS)
        failed = sum(WEIGHTS[f.severity] for f in self.findings if f.status is Status.FAIL)
        if passed + failed == 0:
            return None
        return round(100 * passed / (passed + failed))

    def failing(self, at_least: Severity) -> list[Finding]:
        """Unmuted failures at or above a severity (what ``--fail-on`` looks at)."""
        return [f for f in self.findings if f.status is Status.FAIL and f.severity >= at_least]

    def counts(self) -> dict[str, int]:
        counted = {status.value: 0 for status in Status}
        for finding in self.findings:
            counted[finding.status.value] += 1
        return counted


def run_audit(facts: Facts, checks: Sequence[Check], mutes: Sequence[Mute] = ()) -> AuditReport:
    """Run ``checks`` over ``facts``; a check whose facts are unavailable is skipped."""
    report = AuditReport()
    for check in checks:
        try:
            found = list(check.run(facts))
        except Unavailable as why:
            found = [check.skipped(str(why))]
        for finding in found:
            mute = next((m for m in mutes if m.covers(finding)), None)
            if mute is not None and finding.status is Status.FAIL:
                finding = finding.muted(mute.reason)
            report.findings.append(finding)
    return report
