"""What one ``init``, ``check`` or ``update`` saw and did, as the CLI prints it and as JSON."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rampart.fim.changes import STATUSES, Change
from rampart.hids import Event


@dataclass
class Report:
    """What one run saw and did."""

    command: str
    baseline: Path
    algorithm: str
    roots: tuple[str, ...]
    paths: int = 0
    hashed_files: int = 0
    hashed_bytes: int = 0
    seconds: float = 0.0
    changes: list[Change] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def events(self) -> list[Event]:
        """The changes as HIDS events (rules 550-554), for alerts and the store."""
        return [change.event() for change in self.changes]

    def count(self, status: str) -> int:
        return sum(1 for change in self.changes if change.status == status)

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "baseline": str(self.baseline),
            "hash": self.algorithm,
            "roots": list(self.roots),
            "paths": self.paths,
            "hashed_files": self.hashed_files,
            "hashed_bytes": self.hashed_bytes,
            "seconds": round(self.seconds, 3),
            "summary": {status: self.count(status) for status in STATUSES},
            "changes": [change.as_dict() for change in self.changes],
            "errors": self.errors,
            "notes": self.notes,
        }
