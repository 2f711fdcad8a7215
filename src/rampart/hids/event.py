"""The one value every HIDS detector emits: a log rule firing, a changed file, a rootkit sign.

Log rules, file integrity and rootkit checks are different detectors but one
stream of events, so storage, e-mail, webhooks and active responses handle
them alike (as OSSEC's analysisd does with syscheck and rootcheck messages).

Levels follow OSSEC's table (0 ignored, 2 system notification, 5 user error,
7 bad word match, 10 many user errors, 12 high-importance event, 15 severe
attack); see ``rules/hids/README.md`` for the whole table.

Rule ids: the shipped log rules use 1000-99999 (one block per program). The
detectors that are not log rules use fixed ids below 1000 so an operator can
mute or escalate them like any rule:

* 500-549 rampart itself (ban added, firewall applied ...)
* 550-559 file integrity (changed, deleted, added, package update)
* 510-519 rootkit checks
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

MIN_LEVEL, MAX_LEVEL = 0, 15


@dataclass(frozen=True, slots=True)
class Event:
    """Something a detector saw, with the level and rule that judged it."""

    time: float
    """When it happened (the log line's date, the scan's time), epoch seconds."""
    rule_id: int
    level: int
    """0-15, OSSEC's meaning."""
    description: str
    """The rule's description, fields already quoted in."""
    location: str
    """Where it was seen: a log path, ``journal``, a file path, ``rootcheck``."""
    log: str = ""
    """The line or a one-line summary of what was found (FIM: the file and what changed)."""
    groups: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Decoded fields: ``srcip``, ``user``, ``dstuser``, ``port``, ``url``, ``status`` ..."""
    detail: str = ""
    """Extra text for a human: a FIM diff, the rootkit indicator that matched."""

    def __post_init__(self) -> None:
        if not MIN_LEVEL <= self.level <= MAX_LEVEL:
            raise ValueError(f"event level {self.level} is outside {MIN_LEVEL}-{MAX_LEVEL}")

    @property
    def srcip(self) -> str | None:
        return self.fields.get("srcip")
