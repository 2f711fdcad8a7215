"""Bans on disk: one SQLite file in WAL mode, so they survive a restart.

The firewall forgets everything at reboot; this file is what rampart restores
from. WAL mode lets the dashboard and the CLI read while the daemon writes.
Targets are stored as normalised network text (``192.0.2.7/32``) and parsed
back with :mod:`ipaddress`, so a row can only ever yield an address. How many
times a target was banned is kept apart from the ban itself: it must outlive
unbans and expiry, since it is what lets ban times grow for repeat offenders.
"""

import ipaddress
import socket
from collections.abc import Sequence
from pathlib import Path

from rampart.ban.types import Ban, BanTarget, StoredBan
from rampart.errors import RampartError
from rampart.store.sqlite import SqliteFile

# "RAMP": marks the file as ours, so another program's database is refused.
APPLICATION_ID = 0x52414D50
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bans (
    target     TEXT NOT NULL,
    jail       TEXT NOT NULL,
    banned_at  REAL NOT NULL,
    expires_at REAL,
    PRIMARY KEY (target, jail)
);
CREATE INDEX IF NOT EXISTS bans_expires_at ON bans (expires_at);
CREATE TABLE IF NOT EXISTS ban_counts (
    target TEXT PRIMARY KEY,
    times  INTEGER NOT NULL
);
"""

_COLUMNS = "target, jail, banned_at, expires_at"
STORE_FILE = "bans.sqlite3"
"""The store's name in the state directory."""


class StoreError(RampartError):
    """The store file cannot be opened, read or written."""


class BanStore(SqliteFile):
    """The bans rampart has made, in one SQLite file (created 0600, dir 0700)."""

    APPLICATION_ID = APPLICATION_ID
    SCHEMA = _SCHEMA
    SCHEMA_VERSION = SCHEMA_VERSION
    HOLDS = "a ban store"
    ERROR = StoreError

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> "BanStore":
        """The store every part shares: ``STATE_DIR/bans.sqlite3``."""
        return cls(state_dir / STORE_FILE)

    def add(self, ban: Ban) -> None:
        """Record ``ban``; it replaces an earlier ban of the same target by the same jail."""
        self.add_many([ban])

    def add_many(self, bans: Sequence[Ban]) -> None:
        """Record several bans in one transaction (a burst, or an import)."""
        rows = [(_key(b.target), b.jail, b.banned_at, b.expires_at) for b in bans]
        with self._write() as db:
            db.executemany(
                f"INSERT OR REPLACE INTO bans ({_COLUMNS}) VALUES (?, ?, ?, ?)",  # noqa: S608
                rows,
            )
            db.executemany(
                "INSERT INTO ban_counts (target, times) VALUES (?, 1)"
                " ON CONFLICT (target) DO UPDATE SET times = times + 1",
                [(row[0],) for row in rows],
            )

    def times_banned(self, target: BanTarget) -> int:
        """How many times ``target`` was banned, counting bans since lifted."""
        rows = self._read("SELECT times FROM ban_counts WHERE target = ?", (_key(target),))
        times = rows[0][0] if rows else 0
        return times if isinstance(times, int) else 0

    def remove(self, target: BanTarget, jail: str | None = None) -> int:
        """Lift the bans of ``target`` (by ``jail``, or by every jail); how many went."""
        with self._write() as db:
            if jail is None:
                cursor = db.execute("DELETE FROM bans WHERE target = ?", (_key(target),))
            else:
                cursor = db.execute(
                    "DELETE FROM bans WHERE target = ? AND jail = ?", (_key(target), jail)
                )
            return cursor.rowcount

    def get(self, target: BanTarget, jail: str | None = None) -> Ban | None:
        """The stored ban of ``target`` (by ``jail``; else the one ending last), or None."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM bans WHERE target = ?"  # noqa: S608
            " ORDER BY expires_at IS NULL DESC, expires_at DESC",
            (_key(target),),
        )
        bans = [self._ban(row) for row in rows]
        if jail is not None:
            bans = [b for b in bans if b.jail == jail]
        return bans[0] if bans else None

    def active(self, now: float) -> list[Ban]:
        """Bans still in force at ``now`` (permanent ones included), oldest first."""
        return self._bans("expires_at IS NULL OR expires_at > ?", now)

    def expired(self, now: float) -> list[Ban]:
        """Bans whose end is at or before ``now`` and that are still on file."""
        return self._bans("expires_at IS NOT NULL AND expires_at <= ?", now)

    def purge_expired(self, now: float) -> int:
        """Forget expired bans (their counts stay); return how many went."""
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM bans WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )
            return cursor.rowcount

    def flush(self, jail: str | None = None) -> int:
        """Lift every ban (of ``jail``, or of all); counts stay. Return how many there were."""
        with self._write() as db:
            if jail is None:
                return db.execute("DELETE FROM bans").rowcount
            return db.execute("DELETE FROM bans WHERE jail = ?", (jail,)).rowcount

    def active_stored(self, now: float) -> list[StoredBan]:
        """:meth:`active` with targets left as text (a start restores many: quick)."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM bans WHERE expires_at IS NULL OR expires_at > ?",  # noqa: S608
            (now,),
        )
        stored = []
        for target, jail, banned_at, expires_at in rows:
            if not (
                isinstance(target, str)
                and isinstance(jail, str)
                and isinstance(banned_at, int | float)
                and (expires_at is None or isinstance(expires_at, int | float))
            ):
                raise StoreError(f"{self.path}: bad row for {target!r}; remove the file")
            end = None if expires_at is None else float(expires_at)
            stored.append(StoredBan(target, jail, float(banned_at), end))
        return stored

    def _bans(self, where: str, now: float) -> list[Ban]:
        rows = self._read(
            f"SELECT {_COLUMNS} FROM bans WHERE {where} ORDER BY banned_at, target, jail",  # noqa: S608
            (now,),
        )
        return [self._ban(row) for row in rows]

    def _ban(self, row: tuple[object, ...]) -> Ban:
        target, jail, banned_at, expires_at = row
        try:
            network = _network(str(target))
            if not isinstance(jail, str) or not isinstance(banned_at, int | float):
                raise ValueError(jail)
            if expires_at is not None and not isinstance(expires_at, int | float):
                raise ValueError(expires_at)
        except ValueError:
            raise StoreError(f"{self.path}: bad row for {target!r}; remove the file") from None
        end = None if expires_at is None else float(expires_at)
        return Ban(target=network, jail=jail, banned_at=float(banned_at), expires_at=end)


def _network(text: str) -> BanTarget:
    """A stored target back as a network, strictly (100,000 at a start: kept quick).

    inet_pton accepts nothing but an address; host bits set are refused as
    ``ip_network(strict=True)`` would. About twice as fast as parsing the text.
    """
    address, slash, length_text = text.partition("/")
    if not slash or not length_text.isdigit():
        raise ValueError(text)
    length = int(length_text)
    try:
        if ":" in address:
            number = int.from_bytes(socket.inet_pton(socket.AF_INET6, address))
            return ipaddress.IPv6Network((number, length))
        number = int.from_bytes(socket.inet_pton(socket.AF_INET, address))
        return ipaddress.IPv4Network((number, length))
    except OSError:
        raise ValueError(text) from None


def _key(target: BanTarget) -> str:
    """The one text form of a target: compressed address and prefix length."""
    if not isinstance(target, ipaddress.IPv4Network | ipaddress.IPv6Network):
        raise TypeError(f"not a network: {target!r}")
    return target.with_prefixlen

