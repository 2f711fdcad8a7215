"""Backup checks (practice 4): a backup is configured, and the last one is recent.

Both read the "backups" facts. Nothing configured fails BAK-001 (the missing
backup is the finding) and skips BAK-002; a source that cannot be read (restic
missing, a wrong password) is skipped by BAK-002 with its error. Whether a
restore was ever tested belongs to ``rampart backup``, not to these checks.
"""

from collections.abc import Iterable
from dataclasses import replace

from rampart.audit.collectors.backup import NOTHING_CONFIGURED, BackupFacts
from rampart.audit.interface import Check, CheckMeta, Facts, Finding, Severity, Unavailable


def _age(seconds: float) -> str:
    """A duration as people say it: 40 s, 12 min, 5.0 h, 3.2 days."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class BackupConfigured(Check):
    meta = CheckMeta(
        "BAK-001",
        "no backup configured",
        "4",
        Severity.HIGH,
        "back up with restic (`restic init`, a daily `restic backup` timer), then set "
        "[audit] restic_repository and restic_password_file (or backup_files to the "
        "files your backup job writes) in /etc/rampart/rampart.toml",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        backups: BackupFacts = facts.get("backups")
        if not backups.sources:
            yield self.failed("backups", NOTHING_CONFIGURED)
            return
        names = ", ".join(source.name for source in backups.sources)
        yield self.passed("backups", f"configured: {names}")


class BackupRecent(Check):
    meta = CheckMeta(
        "BAK-002",
        "the last backup is older than backup_max_age",
        "4",
        Severity.HIGH,
        "run the backup now and find why the scheduled one stopped "
        "(`systemctl list-timers`, the backup job's journal); [audit] backup_max_age "
        "sets the age allowed",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        backups: BackupFacts = facts.get("backups")
        if not backups.sources:
            raise Unavailable(NOTHING_CONFIGURED)
        limit = f"allowed {_age(backups.max_age)}"
        for source in backups.sources:
            if source.error is not None:
                yield replace(self.skipped(source.error), resource=source.name)
            elif source.newest is None:
                yield self.failed(source.name, f"no backup at all ({source.detail})")
            else:
                age = max(0.0, backups.now - source.newest)
                evidence = f"last backup {_age(age)} ago, {limit}; {source.detail}"
                if age > backups.max_age:
                    yield self.failed(source.name, evidence)
                else:
                    yield self.passed(source.name, evidence)
