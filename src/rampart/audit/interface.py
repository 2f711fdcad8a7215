"""What an audit check is, what it finds, and where its facts come from.

A check is one unit (as in Prowler): an id such as ``SSH-001``, a title, the
practice it belongs to (numbered as in PRACTICES.md), a severity and a fix.
Its body is small and pure: it reads facts that collectors gathered once
(``sshd -T``, the live ruleset, the sockets ...) and yields findings. A
collector that cannot run (program missing, no permission, no credentials)
raises :class:`Unavailable`, and every check that needs it is reported as
"skipped: why", never as a pass.
"""

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from rampart.errors import RampartError


class Severity(enum.IntEnum):
    """How bad a failed check is; the order is used by ``--fail-on``."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(level.name.lower() for level in cls)
            raise AuditError(f"{text!r} is not a severity ({names})") from None


class Status(enum.Enum):
    PASS = "pass"  # noqa: S105  (a status, not a password)
    FAIL = "fail"
    SKIPPED = "skipped"
    MUTED = "muted"


class AuditError(RampartError):
    """The audit cannot run as asked (a bad mute file, an unknown severity ...)."""


class Unavailable(Exception):
    """A collector cannot gather its facts here; the message says why."""


@dataclass(frozen=True)
class CheckMeta:
    """What a check is about, shown with each of its findings."""

    id: str
    title: str
    practice: str
    severity: Severity
    fix: str
    """The command or configuration that makes the check pass."""


@dataclass(frozen=True)
class Finding:
    """One result of one check about one resource (a port, a user, a file ...)."""

    check: str
    title: str
    practice: str
    severity: Severity
    status: Status
    resource: str
    evidence: str
    fix: str
    reason: str | None = None
    """Why it was skipped or muted."""

    def muted(self, reason: str) -> "Finding":
        return replace(self, status=Status.MUTED, reason=reason)

    def record(self) -> dict[str, Any]:
        """The finding as ``rampart audit --json`` prints it."""
        return {
            "check": self.check,
            "title": self.title,
            "practice": self.practice,
            "severity": self.severity.name.lower(),
            "status": self.status.value,
            "resource": self.resource,
            "evidence": self.evidence,
            "fix": self.fix,
            "reason": self.reason,
        }


class Facts:
    """Collector results, each gathered once per audit and shared by every check."""

    def __init__(self, collectors: dict[str, Callable[[], Any]] | None = None) -> None:
        self._collectors = dict(collectors or {})
        self._results: dict[str, Any] = {}
        self._failures: dict[str, Unavailable] = {}

    def provide(self, name: str, collector: Callable[[], Any]) -> None:
        """Use ``collector`` for ``name`` (tests hand in collectors pointed at their servers)."""
        self._collectors[name] = collector
        self._results.pop(name, None)
        self._failures.pop(name, None)

    def get(self, name: str) -> Any:
        """The facts called ``name``; Unavailable if they cannot be had here."""
        if name in self._results:
            return self._results[name]
        if name in self._failures:
            raise self._failures[name]
        collector = self._collectors.get(name)
        if collector is None:
            raise Unavailable(f"no collector for {name}")
        try:
            result = collector()
        except Unavailable as why:
            self._failures[name] = why
            raise
        self._results[name] = result
        return result


class Check(ABC):
    """One check. Subclasses set ``meta`` and write ``run`` over ``facts.get(...)``."""

    meta: ClassVar[CheckMeta]

    @abstractmethod
    def run(self, facts: Facts) -> Iterable[Finding]:
        """The findings about each resource looked at (none: nothing to look at)."""

    def finding(self, status: Status, resource: str, evidence: str) -> Finding:
        meta = self.meta
        return Finding(
            meta.id, meta.title, meta.practice, meta.severity, status, resource, evidence, meta.fix
        )

    def passed(self, resource: str, evidence: str) -> Finding:
        return self.finding(Status.PASS, resource, evidence)

    def failed(self, resource: str, evidence: str) -> Finding:
        return self.finding(Status.FAIL, resource, evidence)

    def skipped(self, why: str) -> Finding:
        return replace(self.finding(Status.SKIPPED, "-", ""), reason=why)
