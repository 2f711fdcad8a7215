"""A difference between the baseline and the disk, and the HIDS event it becomes.

Rule ids and levels (OSSEC's meaning of levels; the ids are OSSEC's syscheck ids):

====  =====  ===================================================================
rule  level  meaning
====  =====  ===================================================================
550   7      a file changed: content, permissions, owner, type or link target
550   3      only its times or inode changed, same content (``touch``, a rewrite)
551   2      changed by a package: the new content has the MD5 dpkg recorded for
             it, and permissions and owner are unchanged
553   7      a file or directory was deleted
554   5      a file or directory was added (551 when dpkg recorded its content)
====  =====  ===================================================================

A directory's size and times change whenever a file in it is added or
removed, which is reported already, so for directories only type,
permissions and owner count; for a symbolic link its target, type and owner.
Permissions or owner changed on a package's file (``chmod u+s`` on a shipped
binary) stay at level 7 even when the content is the package's.
"""

import time
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from rampart.fim.entry import Entry
from rampart.hids import Event

RULE_CHANGED, RULE_PACKAGE, RULE_DELETED, RULE_ADDED = 550, 551, 553, 554
LEVEL_CHANGED, LEVEL_TOUCHED, LEVEL_PACKAGE, LEVEL_DELETED, LEVEL_ADDED = 7, 3, 2, 7, 5
STATUSES = ("changed", "package", "added", "deleted")

_DIR_ATTRIBUTES = {"type", "mode", "uid", "gid"}
_LINK_ATTRIBUTES = {"type", "uid", "gid", "target"}
_TIME_ONLY = {"mtime", "ctime", "inode"}
#: Changes that a package's matching content does not excuse.
_NOT_EXCUSED = {"type", "mode", "uid", "gid", "target"}


def significant(old: Entry, attributes: tuple[str, ...]) -> tuple[str, ...]:
    """The attributes that count for this kind of entry."""
    if old.kind == "dir":
        return tuple(a for a in attributes if a in _DIR_ATTRIBUTES)
    if old.kind == "symlink":
        return tuple(a for a in attributes if a in _LINK_ATTRIBUTES)
    return attributes


def package_may_excuse(attributes: tuple[str, ...]) -> bool:
    return not _NOT_EXCUSED.intersection(attributes)


@dataclass(frozen=True)
class Change:
    """One path that differs from the baseline."""

    path: str
    status: str
    """changed, package (changed or added by a package), added or deleted."""
    attributes: tuple[str, ...] = ()
    old: Entry | None = None
    new: Entry | None = None
    package: str = ""
    diff: str = ""

    @property
    def rule_id(self) -> int:
        return {
            "changed": RULE_CHANGED,
            "package": RULE_PACKAGE,
            "added": RULE_ADDED,
            "deleted": RULE_DELETED,
        }[self.status]

    @property
    def level(self) -> int:
        if self.status == "changed":
            return LEVEL_TOUCHED if _TIME_ONLY.issuperset(self.attributes) else LEVEL_CHANGED
        return {"package": LEVEL_PACKAGE, "added": LEVEL_ADDED, "deleted": LEVEL_DELETED}[
            self.status
        ]

    @property
    def description(self) -> str:
        if self.status == "package":
            return f"File changed by package update ({self.package})"
        if self.status == "changed":
            return f"File changed ({', '.join(self.attributes)})"
        return f"File {self.status}"

    def event(self, when: float | None = None) -> Event:
        fields = {"path": self.path, "changed": ",".join(self.attributes)}
        if self.package:
            fields["package"] = self.package
        summary = f"{self.path}: {self.status}"
        if self.attributes:
            summary += f" ({', '.join(self.attributes)})"
        return Event(
            time=time.time() if when is None else when,
            rule_id=self.rule_id,
            level=self.level,
            description=self.description,
            location=self.path,
            log=summary,
            groups=("syscheck", "fim", self.status),
            fields=MappingProxyType(fields),
            detail=self.diff,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "rule_id": self.rule_id,
            "level": self.level,
            "attributes": list(self.attributes),
            "old": _entry_dict(self.old),
            "new": _entry_dict(self.new),
            "package": self.package or None,
            "diff": self.diff or None,
        }


def _entry_dict(entry: Entry | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {
        "type": entry.kind,
        "size": entry.size,
        "mode": f"{entry.mode:04o}",
        "uid": entry.uid,
        "gid": entry.gid,
        "inode": entry.inode,
        "mtime_ns": entry.mtime_ns,
        "ctime_ns": entry.ctime_ns,
        "hash": None if entry.digest is None else entry.digest.hex() or None,
        "target": entry.target or None,
    }
