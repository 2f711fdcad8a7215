"""A found secret, as every output shows it: never the secret itself.

The secret stays in memory only to compute the fingerprint a baseline keys
on (sha256 of the rule id and the secret); every printed form is
:func:`redact`-ed to its first characters and its length.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Any


def redact(secret: str) -> str:
    """``AKIA… (20 chars)``: the first 4 characters, shown only when they leave most unseen."""
    shown = secret[:4] if len(secret) >= 12 else ""
    return f"{shown}… ({len(secret)} chars)"


def fingerprint(rule_id: str, secret: str) -> str:
    """What a baseline accepts: the same secret under the same rule, wherever it moves."""
    return hashlib.sha256(f"{rule_id}:{secret}".encode()).hexdigest()


@dataclass(frozen=True)
class Finding:
    """One secret in one place: a file's line, or a line a commit added to a file."""

    rule_id: str
    description: str
    path: str
    line: int
    secret: str = field(repr=False)
    commit: str | None = None

    @property
    def redacted(self) -> str:
        return redact(self.secret)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule_id, self.secret)

    @property
    def where(self) -> str:
        """``path:line``, or ``commit:path:line`` for a secret found in history."""
        place = f"{self.path}:{self.line}"
        return f"{self.commit[:12]}:{place}" if self.commit else place

    def record(self) -> dict[str, Any]:
        """The finding as ``--json`` prints it (redacted)."""
        record: dict[str, Any] = {
            "rule": self.rule_id,
            "description": self.description,
            "path": self.path,
            "line": self.line,
            "secret": self.redacted,
            "fingerprint": self.fingerprint,
        }
        if self.commit:
            record["commit"] = self.commit
        return record
