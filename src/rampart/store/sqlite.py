"""One rampart SQLite file: ours, in WAL mode, private, written one transaction at a time.

The ban store and the alert store share this: each is a file the daemon
writes while the CLI reads (WAL), that must hold secrets-adjacent data
(0600 in a 0700 folder, whatever the umask), and that must refuse a file of
another program or of a newer rampart rather than damage it.
"""

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import ClassVar, Self

from rampart.errors import RampartError

BUSY_TIMEOUT = 10.0


class SqliteFile:
    """A subclass names its schema, version, application id, error type and what it holds."""

    APPLICATION_ID: ClassVar[int]
    """Marks the file as this store's (``PRAGMA application_id``)."""
    SCHEMA: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int]
    HOLDS: ClassVar[str]
    """For errors: ``a ban store``, ``an alert store``."""
    ERROR: ClassVar[type[RampartError]] = RampartError

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        create_private(path, self.ERROR)
        try:
            self._db = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise self._error(error) from None
        try:
            self._prepare()
        except sqlite3.Error as error:
            self._db.close()
            raise self._error(error) from None
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _prepare(self) -> None:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != self.APPLICATION_ID and (app_id != 0 or tables):
            raise self.ERROR(f"{self.path}: another program's SQLite database, not {self.HOLDS}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > self.SCHEMA_VERSION:
            raise self.ERROR(f"{self.path}: written by a newer rampart (schema {version})")
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise self.ERROR(f"{self.path}: cannot switch to WAL mode (got {mode})")
        db.execute("PRAGMA synchronous=NORMAL")
        with self._write() as tx:
            for statement in self.SCHEMA.split(";"):
                if statement.strip():
                    tx.execute(statement)
            tx.execute(f"PRAGMA application_id={self.APPLICATION_ID}")
            tx.execute(f"PRAGMA user_version={self.SCHEMA_VERSION}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction per write: all of it lands, or none of it."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                raise self._error(error) from None

    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return list(self._db.execute(sql, args).fetchall())
            except sqlite3.Error as error:
                raise self._error(error) from None

    def _error(self, error: sqlite3.Error) -> RampartError:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        return self.ERROR(f"{self.path}: {detail} (is it {self.HOLDS}?)")


def create_private(path: Path, error: type[RampartError] = RampartError) -> None:
    """Create missing directories 0700 and the file 0600, whatever the umask."""
    missing = [parent for parent in reversed(path.parents) if not parent.exists()]
    try:
        for directory in missing:
            with suppress(FileExistsError):
                directory.mkdir(mode=0o700)
                os.chmod(directory, 0o700)
        with suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            os.chmod(path, 0o600)
    except OSError as failure:
        raise error(f"{path}: cannot create: {failure.strerror}") from None
