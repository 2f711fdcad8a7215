"""Alerts on disk: one SQLite file (WAL), each alert with its delivery state per channel.

An alert is written here before any e-mail or webhook is tried, and a
delivery is marked sent only after the server accepted it, so a mail server
that is down, a crash or a restart delays an alert but never loses it: the
next :meth:`~rampart.notify.Dispatcher.flush` finds it still queued.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from rampart.errors import RampartError
from rampart.hids.event import Event
from rampart.store.sqlite import SqliteFile

STORE_FILE = "alerts.sqlite3"
APPLICATION_ID = 0x52414D41  # "RAMA": rampart alerts
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    stored_at   REAL NOT NULL,
    time        REAL NOT NULL,
    rule_id     INTEGER NOT NULL,
    level       INTEGER NOT NULL,
    description TEXT NOT NULL,
    location    TEXT NOT NULL,
    log         TEXT NOT NULL,
    groups      TEXT NOT NULL,
    fields      TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts (time);
CREATE TABLE IF NOT EXISTS deliveries (
    channel   TEXT NOT NULL,
    alert_id  INTEGER NOT NULL REFERENCES alerts (id),
    state     TEXT NOT NULL CHECK (state IN ('queued', 'sent')),
    immediate INTEGER NOT NULL,
    capped    INTEGER NOT NULL DEFAULT 0,
    sent_at   REAL,
    PRIMARY KEY (channel, alert_id)
);
CREATE INDEX IF NOT EXISTS deliveries_queued ON deliveries (channel, state);
CREATE TABLE IF NOT EXISTS channels (
    channel     TEXT PRIMARY KEY,
    last_digest REAL NOT NULL DEFAULT 0,
    failures    INTEGER NOT NULL DEFAULT 0,
    next_try    REAL NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS messages (
    channel TEXT NOT NULL,
    sent_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_sent ON messages (channel, sent_at);
"""

_MARK_SENT = "UPDATE deliveries SET state = 'sent', sent_at = ? WHERE channel = ? AND alert_id = ?"
_MARK_CAPPED = "UPDATE deliveries SET immediate = 0, capped = 1 WHERE channel = ? AND alert_id = ?"
_ALERT_COLUMNS = (
    "a.id, a.stored_at, a.time, a.rule_id, a.level, a.description,"
    " a.location, a.log, a.groups, a.fields, a.detail"
)


class AlertStoreError(RampartError):
    """The alert store cannot be opened, read or written."""


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert as stored: its id, when it was stored, the event, whether it was capped."""

    id: int
    stored_at: float
    event: Event
    capped: bool = False


@dataclass(frozen=True, slots=True)
class ChannelState:
    """A channel's memory: the last digest, and the failures that hold it back."""

    last_digest: float = 0.0
    failures: int = 0
    next_try: float = 0.0
    last_error: str = ""


class AlertStore(SqliteFile):
    """Every alert and where it still has to go (file 0600, directory 0700)."""

    APPLICATION_ID = APPLICATION_ID
    SCHEMA = _SCHEMA
    SCHEMA_VERSION = SCHEMA_VERSION
    HOLDS = "an alert store"
    ERROR = AlertStoreError

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> "AlertStore":
        return cls(state_dir / STORE_FILE)

    def add(self, event: Event, channels: Sequence[tuple[str, bool]], now: float) -> int:
        """Store ``event`` and queue it for each (channel, immediate); its id."""
        row = (
            now,
            event.time,
            event.rule_id,
            event.level,
            event.description,
            event.location,
            event.log,
            json.dumps(list(event.groups)),
            json.dumps(dict(event.fields)),
            event.detail,
        )
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO alerts (stored_at, time, rule_id, level, description, location,"
                " log, groups, fields, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            alert_id = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO deliveries (channel, alert_id, state, immediate)"
                " VALUES (?, ?, 'queued', ?)",
                [(name, alert_id, int(immediate)) for name, immediate in channels],
            )
        return alert_id

    def alerts(
        self, *, since: float | None = None, min_level: int = 0, limit: int | None = None
    ) -> list[StoredAlert]:
        """Stored alerts, oldest first (the newest ``limit`` of them)."""
        sql = f"SELECT {_ALERT_COLUMNS} FROM alerts a WHERE a.level >= ?"  # noqa: S608
        args: list[object] = [min_level]
        if since is not None:
            sql += " AND a.time >= ?"
            args.append(since)
        sql += " ORDER BY a.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        rows = self._read(sql, tuple(args))
        return [self._alert(row) for row in reversed(rows)]

    def queued(self, channel: str, *, immediate: bool | None = None) -> list[StoredAlert]:
        """Alerts still to deliver on ``channel`` (only the immediate or the digest ones)."""
        sql = (
            f"SELECT {_ALERT_COLUMNS}, d.capped FROM deliveries d"  # noqa: S608
            " JOIN alerts a ON a.id = d.alert_id WHERE d.channel = ? AND d.state = 'queued'"
        )
        args: tuple[object, ...] = (channel,)
        if immediate is not None:
            sql += " AND d.immediate = ?"
            args = (channel, int(immediate))
        rows = self._read(sql + " ORDER BY a.id", args)
        return [self._alert(row[:-1], capped=bool(row[-1])) for row in rows]

    def pending(self) -> dict[str, int]:
        """How many alerts each channel still has to deliver."""
        rows = self._read(
            "SELECT channel, count(*) FROM deliveries WHERE state = 'queued' GROUP BY channel", ()
        )
        return {str(channel): int(str(count)) for channel, count in rows}

    def prune(self, before: float) -> int:
        """Forget alerts stored before ``before`` that no channel still has to send; how many."""
        with self._write() as db:
            kept = "SELECT alert_id FROM deliveries WHERE state = 'queued'"
            db.execute(
                f"DELETE FROM deliveries WHERE alert_id IN (SELECT id FROM alerts"  # noqa: S608
                f" WHERE stored_at < ? AND id NOT IN ({kept}))",
                (before,),
            )
            cursor = db.execute(
                f"DELETE FROM alerts WHERE stored_at < ? AND id NOT IN ({kept})",  # noqa: S608
                (before,),
            )
            return cursor.rowcount

    def mark_sent(self, channel: str, ids: Sequence[int], now: float) -> None:
        with self._write() as db:
            db.executemany(
                _MARK_SENT,
                [(now, channel, alert_id) for alert_id in ids],
            )

    def mark_capped(self, channel: str, ids: Sequence[int]) -> None:
        """These immediate alerts hit the hourly cap: they go in the next digest instead."""
        with self._write() as db:
            db.executemany(
                _MARK_CAPPED,
                [(channel, alert_id) for alert_id in ids],
            )

    def record_message(self, channel: str, now: float) -> None:
        """One message went out on ``channel`` (the hourly cap counts these)."""
        with self._write() as db:
            db.execute("INSERT INTO messages (channel, sent_at) VALUES (?, ?)", (channel, now))
            db.execute("DELETE FROM messages WHERE sent_at < ?", (now - 86400,))

    def messages_since(self, channel: str, since: float) -> int:
        rows = self._read(
            "SELECT count(*) FROM messages WHERE channel = ? AND sent_at > ?", (channel, since)
        )
        return int(str(rows[0][0]))

    def channel_state(self, channel: str) -> ChannelState:
        rows = self._read(
            "SELECT last_digest, failures, next_try, last_error FROM channels WHERE channel = ?",
            (channel,),
        )
        if not rows:
            return ChannelState()
        last_digest, failures, next_try, last_error = rows[0]
        return ChannelState(
            float(str(last_digest)), int(str(failures)), float(str(next_try)), str(last_error)
        )

    def digest_sent(self, channel: str, now: float) -> None:
        self._upsert(channel, "last_digest = ?", (now,))

    def succeeded(self, channel: str) -> None:
        self._upsert(channel, "failures = 0, next_try = 0, last_error = ''", ())

    def failed(self, channel: str, error: str, next_try: float) -> None:
        self._upsert(
            channel, "failures = failures + 1, next_try = ?, last_error = ?", (next_try, error)
        )

    def _upsert(self, channel: str, assignments: str, args: tuple[object, ...]) -> None:
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO channels (channel) VALUES (?)", (channel,))
            db.execute(
                f"UPDATE channels SET {assignments} WHERE channel = ?",  # noqa: S608
                (*args, channel),
            )

    def _alert(self, row: Sequence[object], *, capped: bool = False) -> StoredAlert:
        try:
            (
                alert_id,
                stored_at,
                when,
                rule_id,
                level,
                description,
                location,
                log,
                groups,
                fields,
                detail,
            ) = row
            event = Event(
                time=float(str(when)),
                rule_id=int(str(rule_id)),
                level=int(str(level)),
                description=str(description),
                location=str(location),
                log=str(log),
                groups=tuple(str(g) for g in json.loads(str(groups))),
                fields=MappingProxyType(
                    {str(k): str(v) for k, v in json.loads(str(fields)).items()}
                ),
                detail=str(detail),
            )
            return StoredAlert(int(str(alert_id)), float(str(stored_at)), event, capped)
        except (ValueError, TypeError, AttributeError):
            raise AlertStoreError(
                f"{self.path}: bad alert row {row[0]!r}; remove the file"
            ) from None
