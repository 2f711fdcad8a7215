"""The accepted state of the watched files: one SQLite file under the state dir.

Written whole into a temporary file beside the old one and renamed over
it, so a crash or a full disk leaves the previous baseline intact. One
narrow table (a path as bytes, so any file name round-trips; the packed
stat fingerprint; the hash; a link's target) loads in a fraction of a
second for 100,000 files, and the real-time watcher
looks single paths up by key without loading it all.
"""

import contextlib
import json
import os
import sqlite3
import tempfile
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path

from rampart.errors import RampartError
from rampart.fim.entry import Entry, entry_fingerprint, entry_from_fingerprint

FORMAT_VERSION = "3"
BASELINE_FILE = "baseline.sqlite"
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE files (
    path BLOB PRIMARY KEY, fingerprint BLOB NOT NULL, digest BLOB, target BLOB NOT NULL
) WITHOUT ROWID;
"""
_SELECT_ALL = "SELECT path, fingerprint, digest, target FROM files"
_SELECT_ONE = _SELECT_ALL + " WHERE path = ?"
_SELECT_RANGE = _SELECT_ALL + " WHERE path >= ? AND path < ?"
Row = tuple[bytes, bytes, bytes | None, bytes]
"""A stored row: encoded path, fingerprint, hash (None: unreadable), encoded link target."""


class BaselineError(RampartError):
    """The baseline is missing, unreadable, corrupt or made differently."""


class Baseline:
    """A loaded baseline: its entries by path and how it was made."""

    def __init__(
        self, entries: dict[str, Entry], algorithm: str, roots: tuple[str, ...], created: float
    ) -> None:
        self.entries = entries
        self.algorithm = algorithm
        self.roots = roots
        self.created = created


def fim_dir(state_dir: Path) -> Path:
    return state_dir / "fim"


def baseline_path(state_dir: Path) -> Path:
    return fim_dir(state_dir) / BASELINE_FILE


def _fail(path: Path, what: str) -> BaselineError:
    return BaselineError(f"{path}: {what}; run 'rampart fim init' to make a new baseline")


def open_readonly(path: Path) -> tuple[sqlite3.Connection, dict[str, str]]:
    """A read-only connection and the meta table; BaselineError when missing or not ours."""
    if not path.is_file():
        raise BaselineError(f"{path}: no baseline yet; run 'rampart fim init' first")
    try:
        # opened by the caller, used by the real-time thread: one user at a time
        connection = sqlite3.connect(
            f"file:{urllib.parse.quote(str(path))}?mode=ro&immutable=1",
            uri=True,
            check_same_thread=False,
        )
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as error:
        raise _fail(path, f"not a rampart baseline ({error})") from None
    if meta.get("format") != FORMAT_VERSION or "hash" not in meta:
        connection.close()
        raise _fail(path, f"baseline format {meta.get('format')!r} is not {FORMAT_VERSION!r}")
    return connection, meta


def _entry(row: Row) -> Entry:
    return entry_from_fingerprint(row[1], row[2], os.fsdecode(row[3]))


def load(path: Path) -> Baseline:
    """Every entry; BaselineError (one line) for a missing, corrupt or foreign file."""
    connection, meta = open_readonly(path)
    try:
        entries = {os.fsdecode(row[0]): _entry(row) for row in connection.execute(_SELECT_ALL)}
        roots = tuple(json.loads(meta.get("roots", "[]")))
        created = float(meta.get("created", "0"))
    except (sqlite3.DatabaseError, ValueError, TypeError) as error:
        raise _fail(path, f"corrupt baseline ({error})") from None
    finally:
        connection.close()
    return Baseline(entries, meta["hash"], roots, created)


def fingerprints(connection: sqlite3.Connection, path: Path) -> dict[bytes, bytes]:
    """Every path's fingerprint (what a quick check compares), by encoded path."""
    try:
        return dict(connection.execute("SELECT path, fingerprint FROM files"))
    except sqlite3.DatabaseError as error:
        raise _fail(path, f"corrupt baseline ({error})") from None


def unhashed(connection: sqlite3.Connection) -> list[str]:
    """Paths recorded without a hash (unreadable then): a check tries them again."""
    rows = connection.execute("SELECT path FROM files WHERE digest IS NULL")
    return [os.fsdecode(row[0]) for row in rows]


def lookup(connection: sqlite3.Connection, path: str) -> Entry | None:
    row = connection.execute(_SELECT_ONE, (os.fsencode(path),)).fetchone()
    return None if row is None else _entry(row)


def lookup_below(connection: sqlite3.Connection, directory: str) -> Iterator[tuple[str, Entry]]:
    """The entries inside ``directory`` (not itself), by a range over the sorted key."""
    low = os.fsencode(directory.rstrip("/") + "/")
    high = low[:-1] + b"0"  # '0' follows '/' in byte order
    for row in connection.execute(_SELECT_RANGE, (low, high)):
        yield os.fsdecode(row[0]), _entry(row)


def save(
    path: Path, entries: Iterable[tuple[str, Entry]], algorithm: str, roots: Iterable[str]
) -> None:
    """Write a whole new baseline, then rename it over the old one (mode 0600)."""
    rows = [
        (os.fsencode(name), entry_fingerprint(entry), entry.digest, os.fsencode(entry.target))
        for name, entry in entries
    ]
    save_rows(path, rows, algorithm, roots)


def save_rows(path: Path, rows: list[Row], algorithm: str, roots: Iterable[str]) -> None:
    """:func:`save` from rows as stored: (encoded path, fingerprint, hash, encoded target)."""
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(prefix=".baseline.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise BaselineError(f"{directory}: cannot write the baseline: {error.strerror}") from None
    os.close(handle)
    try:
        connection = sqlite3.connect(temporary)
        try:
            connection.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
            connection.executescript(_SCHEMA)
            meta = {
                "format": FORMAT_VERSION,
                "hash": algorithm,
                "created": repr(time.time()),
                "roots": json.dumps(sorted(set(roots))),
            }
            connection.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            rows.sort()  # in key order: the B-tree is appended to, never split in the middle
            connection.executemany("INSERT INTO files VALUES (?, ?, ?, ?)", rows)
            connection.commit()
        finally:
            connection.close()
        os.chmod(temporary, 0o600)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except (OSError, sqlite3.DatabaseError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise BaselineError(f"{path}: cannot write the baseline: {reason}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
