"""BanStore against a real SQLite file: round trips, counts, expiry, restarts, WAL."""

import ipaddress
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from rampart.ban import Ban, parse_target
from rampart.store import BanStore, StoreError

NOW = 1_700_000_000.0


def ban(text: str, *, at: float = NOW, ttl: float | None = 600.0, jail: str = "sshd") -> Ban:
    return Ban(parse_target(text), jail, at, None if ttl is None else at + ttl)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BanStore]:
    with BanStore(tmp_path / "state" / "bans.db") as opened:
        yield opened


def test_round_trip_keeps_every_field(store: BanStore) -> None:
    bans = [
        ban("192.0.2.7"),
        ban("2001:db8:0:1::/64", at=NOW + 1, ttl=None),
        ban("198.51.100.0/24", at=NOW + 2),
    ]
    for one in bans:
        store.add(one)
    assert store.active(NOW) == bans
    for one in bans:
        assert store.get(one.target) == one
    assert isinstance(store.active(NOW)[1].target, ipaddress.IPv6Network)
    assert store.get(parse_target("203.0.113.1")) is None


def test_targets_are_stored_normalised(store: BanStore, tmp_path: Path) -> None:
    store.add(ban("2001:0db8:0000:0000:0000:0000:0000:0001"))
    with closing(sqlite3.connect(store.path)) as db:
        rows = db.execute("SELECT target FROM bans").fetchall()
    assert rows == [("2001:db8::1/128",)]


def test_newer_ban_replaces_and_counts(store: BanStore) -> None:
    target = parse_target("192.0.2.7")
    assert store.times_banned(target) == 0
    store.add(ban("192.0.2.7", ttl=60))
    store.add(ban("192.0.2.7", at=NOW + 10, ttl=120))
    assert store.get(target) == ban("192.0.2.7", at=NOW + 10, ttl=120)
    store.add(ban("192.0.2.7", at=NOW + 100, ttl=3600, jail="nginx"))
    assert store.get(target) == ban("192.0.2.7", at=NOW + 100, ttl=3600, jail="nginx")
    assert store.get(target, "sshd") == ban("192.0.2.7", at=NOW + 10, ttl=120)
    assert len(store.active(NOW + 100)) == 2, "one ban per jail: each jail has its ports"
    assert store.times_banned(target) == 3
    assert store.remove(target, "sshd") == 1
    assert store.remove(target) == 1
    assert store.remove(target) == 0
    assert store.times_banned(target) == 3, "the count outlives the ban"
    store.add(ban("192.0.2.7"))
    assert store.times_banned(target) == 4


def test_expiry(store: BanStore) -> None:
    short, long, forever = ban("192.0.2.1", ttl=10), ban("192.0.2.2", ttl=100), ban("::1", ttl=None)
    for one in (short, long, forever):
        store.add(one)
    assert store.active(NOW + 10) == [long, forever]
    assert store.expired(NOW + 10) == [short]
    assert store.expired(NOW + 9.5) == []
    assert store.purge_expired(NOW + 1000) == 2
    assert store.active(NOW + 1000) == [forever]
    assert store.expired(NOW + 1000) == []
    assert store.get(short.target) is None
    assert store.times_banned(short.target) == 1
    assert store.flush() == 1
    assert store.active(NOW) == []


def test_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "bans.db"
    with BanStore(path) as first:
        first.add(ban("192.0.2.7"))
        first.add(ban("192.0.2.7"))
        first.add(ban("2001:db8::/64", ttl=None))
    with BanStore(path) as again:
        assert again.active(NOW) == [ban("192.0.2.7"), ban("2001:db8::/64", ttl=None)]
        assert again.times_banned(parse_target("192.0.2.7")) == 2


def test_file_and_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "bans.db"
    BanStore(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700


def test_reader_is_not_blocked_by_a_writer(tmp_path: Path) -> None:
    """WAL: a reader sees the last commit while another connection is mid-write."""
    path = tmp_path / "bans.db"
    writer, reader = BanStore(path), BanStore(path)
    writer.add(ban("192.0.2.1"))
    raw = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    raw.execute("BEGIN IMMEDIATE")
    raw.execute(
        "INSERT INTO bans VALUES (?, 'sshd', ?, NULL)", ("192.0.2.2/32", NOW)
    )  # uncommitted
    assert reader.active(NOW) == [ban("192.0.2.1")]
    raw.execute("COMMIT")
    assert [b.target for b in reader.active(NOW)] == [
        parse_target("192.0.2.1"),
        parse_target("192.0.2.2"),
    ]
    for connection in (raw, writer, reader):
        connection.close()


def test_a_file_that_is_not_sqlite_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "bans.db"
    path.write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(StoreError) as caught:
        BanStore(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as other:
        other.execute("CREATE TABLE things (x)")
    with pytest.raises(StoreError, match="another program"):
        BanStore(path)


def test_a_directory_in_the_way_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "bans.db").mkdir()
    with pytest.raises(StoreError, match=r"bans\.db"):
        BanStore(tmp_path / "bans.db")


def test_add_many_is_one_transaction_and_flush_by_jail(store: BanStore) -> None:
    bans = [ban(f"198.51.100.{n}", jail="sshd" if n % 2 else "nginx") for n in range(1, 101)]
    store.add_many(bans)
    assert len(store.active(NOW)) == 100
    assert store.flush("nginx") == 50
    assert {b.jail for b in store.active(NOW)} == {"sshd"}


def test_a_tampered_row_is_one_error(store: BanStore) -> None:
    store.add(ban("192.0.2.7"))
    with closing(sqlite3.connect(store.path)) as db, db:
        db.execute("UPDATE bans SET target = '192.0.2.7; drop/32'")
    with pytest.raises(StoreError, match="bad row"):
        store.active(NOW)
