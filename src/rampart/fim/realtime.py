"""Real-time file integrity: inotify on every watched directory, each change checked at once.

A path inotify reports is compared with its baseline entry (a key lookup in
the baseline file, nothing loaded whole) after a short quiet period, so a
file written in many pieces is checked once. A change is reported once per
new state: the same modified file touched again with the same result is not
reported again; a file put back as it was is forgotten. New directories are
watched as they appear. When the kernel's event queue overflows, a full
check of the roots runs and its changes are reported the same way.
"""

import ctypes
import errno
import logging
import os
import select
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rampart.config import FimSettings
from rampart.errors import RampartError
from rampart.fim import baseline as store
from rampart.fim.changes import Change, significant
from rampart.fim.engine import Fim
from rampart.fim.entry import Entry, changed_attributes, entry_from_stat, kind_of
from rampart.fim.hashing import FileHasher
from rampart.fim.walk import readlink, under
from rampart.hids import Event
from rampart.sources.inotify import EVENT_HEADER, Inotify

log = logging.getLogger("rampart.fim")

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF = 0x400, 0x800
IN_Q_OVERFLOW, IN_IGNORED, IN_ISDIR = 0x4000, 0x8000, 0x40000000
IN_ONLYDIR, IN_DONT_FOLLOW = 0x01000000, 0x02000000
WATCH_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
)


#: A path is checked at most this long after its first event, even if events go on.
MAX_DELAY = 2.0


def _watch_error() -> str:
    code = ctypes.get_errno()
    if code == errno.ENOSPC:
        return "inotify watch limit reached (raise fs.inotify.max_user_watches)"
    return os.strerror(code) if code else "inotify_add_watch failed"


class RealtimeError(RampartError):
    """Real-time monitoring cannot start (no inotify, no baseline)."""


class RealtimeMonitor:
    """Watches the configured paths; ``on_event`` gets an Event for each change seen."""

    def __init__(
        self,
        settings: FimSettings,
        state_dir: Path,
        on_event: Callable[[Event], None],
        *,
        settle: float = 0.2,
    ) -> None:
        self.fim = Fim(settings, state_dir, processes=1)  # never fork a threaded daemon
        self.on_event = on_event
        self.settle = settle
        self.hasher = FileHasher(settings.hash)
        self.errors: list[str] = []
        self._watches: dict[int, str] = {}
        self._reported: dict[str, tuple[object, ...]] = {}
        self._inotify: Inotify | None = None
        self._connection: sqlite3.Connection | None = None
        self._baseline_id: tuple[int, int] = (0, 0)
        self._stop_read, self._stop_write = -1, -1
        self._thread: threading.Thread | None = None

    @property
    def watched_directories(self) -> int:
        return len(self._watches)

    def start(self) -> None:
        """Open the baseline, watch every directory, start the watching thread."""
        self._open_baseline()
        inotify = Inotify.create()
        if inotify is None:
            self.stop()
            raise RealtimeError("inotify is not available here (not Linux, or its limits reached)")
        self._inotify = inotify
        for root in self.fim.roots:
            self._watch_tree(inotify, root if os.path.isdir(root) else os.path.dirname(root))
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(
            target=self._run, args=(inotify,), name="fim-realtime", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and release inotify and the baseline (idempotent)."""
        if self._thread is not None:
            os.write(self._stop_write, b"x")
            self._thread.join()
            self._thread = None
            os.close(self._stop_read)
            os.close(self._stop_write)
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _open_baseline(self) -> None:
        path = self.fim.path
        connection, meta = store.open_readonly(path)
        if meta["hash"] != self.fim.settings.hash:
            connection.close()
            raise RealtimeError(
                f"{path}: hashed with {meta['hash']}, [fim] hash is "
                f"{self.fim.settings.hash}; run 'rampart fim update --full'"
            )
        if self._connection is not None:
            self._connection.close()
        self._connection = connection
        st = os.stat(path)
        self._baseline_id = (st.st_ino, st.st_mtime_ns)
        self._reported.clear()

    def _reopen_if_replaced(self) -> None:
        """After ``rampart fim update`` the baseline is a new file: use it."""
        try:
            st = os.stat(self.fim.path)
        except OSError:
            return
        if (st.st_ino, st.st_mtime_ns) != self._baseline_id:
            try:
                self._open_baseline()
            except RampartError as error:
                log.warning("fim: keeping the old baseline: %s", error)

    def _watch_tree(self, inotify: Inotify, top: str) -> list[str]:
        """Watch ``top`` and the directories below it; the paths found, for a first check."""
        found: list[str] = []
        stack = [top]
        while stack:
            directory = stack.pop()
            if not watched(self.fim, directory) and directory not in self._parents():
                continue
            wd = inotify.add(directory, WATCH_MASK)
            if wd <= 0:
                self.errors.append(f"{directory}: cannot watch: {_watch_error()}")
                continue
            self._watches[wd] = directory
            try:
                with os.scandir(directory) as listing:
                    for item in listing:
                        found.append(item.path)
                        if item.is_dir(follow_symlinks=False):
                            stack.append(item.path)
            except OSError:
                continue
        return found

    def _parents(self) -> set[str]:
        return {os.path.dirname(root) for root in self.fim.roots}

    def _run(self, inotify: Inotify) -> None:
        """Collect paths until a short quiet moment (at most MAX_DELAY), then check them."""
        pending: set[str] = set()
        quiet_at = due_at = 0.0
        while True:
            timeout = max(0.0, min(quiet_at, due_at) - time.monotonic()) if pending else None
            ready, _, _ = select.select([inotify.fd, self._stop_read], [], [], timeout)
            if self._stop_read in ready:
                return
            if ready:
                if not pending:
                    due_at = time.monotonic() + MAX_DELAY  # a busy file cannot starve the check
                if self._read_events(inotify, pending):
                    self._full_check()
                quiet_at = time.monotonic() + self.settle
                if time.monotonic() < due_at:
                    continue
            self._reopen_if_replaced()
            for path in sorted(pending):
                self._check_path(path)
            pending.clear()

    def _read_events(self, inotify: Inotify, pending: set[str]) -> bool:
        """Add the paths of the queued events to ``pending``; True when the queue overflowed."""
        try:
            data = os.read(inotify.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return False
        overflow = False
        at = 0
        while at + EVENT_HEADER.size <= len(data):
            wd, mask, _cookie, size = EVENT_HEADER.unpack_from(data, at)
            raw = data[at + EVENT_HEADER.size : at + EVENT_HEADER.size + size].rstrip(b"\0")
            at += EVENT_HEADER.size + size
            if mask & IN_Q_OVERFLOW:
                overflow = True
                continue
            directory = self._watches.get(wd)
            if directory is None:
                continue
            if mask & IN_IGNORED:
                del self._watches[wd]
                continue
            path = os.path.join(directory, os.fsdecode(raw)) if raw else directory
            if under(path, self.fim.roots):
                pending.add(path)
            if mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
                found = self._watch_tree(inotify, path)
                pending.update(p for p in found if under(p, self.fim.roots))
        return overflow

    def _check_path(self, path: str) -> None:
        if self._connection is None:
            return
        if os.path.lexists(path) and not watched(self.fim, path):
            return  # excluded (a deleted path is always looked up: it may be in the baseline)
        try:
            old = store.lookup(self._connection, path)
            change = examine(self.fim, path, old, self.hasher)
            self._report(path, change)
            if (
                change is not None
                and change.status == "deleted"
                and change.old is not None
                and change.old.kind == "dir"
            ):
                for below, entry in list(store.lookup_below(self._connection, path)):
                    if not os.path.lexists(below):
                        self._report(below, Change(below, "deleted", old=entry))
        except (OSError, sqlite3.DatabaseError) as error:
            log.warning("fim: %s: %s", path, error)

    def _report(self, path: str, change: Change | None) -> None:
        if change is None:
            self._reported.pop(path, None)
            return
        new = change.new
        state = (
            change.status,
            change.attributes,
            None
            if new is None
            else (new.digest, new.mode, new.uid, new.gid, new.inode, new.mtime_ns, new.target),
        )
        if self._reported.get(path) == state:
            return
        self._reported[path] = state
        try:
            self.on_event(change.event())
        except Exception:  # a consumer's bug must not stop the watching
            log.exception("fim: the event handler failed for %s", path)

    def _full_check(self) -> None:
        log.warning("fim: inotify queue overflowed; checking every watched path")
        try:
            report = self.fim.check()
        except RampartError as error:
            log.warning("fim: full check failed: %s", error)
            return
        for change in report.changes:
            self._report(change.path, change)


def examine(fim: Fim, path: str, old: Entry | None, hasher: FileHasher) -> Change | None:
    """One path against its baseline entry (the real-time watcher's check); None: same."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None if old is None else Change(path, "deleted", old=old)
    kind = kind_of(st.st_mode)
    content = None
    if kind == "file":
        entry = entry_from_stat(st, None)
        if old is not None and old.digest is not None and old.same_content_key(entry):
            entry = entry._replace(digest=old.digest)
        else:
            eligible = fim.copies.eligible(path)
            hashed = hasher.hash(path, st.st_size, fim.settings.diff_max_size if eligible else -1)
            if hashed.st is not None:
                entry = entry_from_stat(hashed.st, hashed.digest)
            content = hashed.content
    elif kind == "symlink":
        entry = entry_from_stat(st, b"", readlink(path))
    else:
        entry = entry_from_stat(st)
    if old is None:
        return fim.judge(Change(path, "added", new=entry))
    attributes = significant(old, changed_attributes(old, entry))
    if not attributes:
        return None
    diff = ""
    if "hash" in attributes and fim.copies.eligible(path):
        diff = fim.copies.diff(path, old.digest, content)
    return fim.judge(Change(path, "changed", attributes, old, entry, diff=diff))


def watched(fim: Fim, path: str) -> bool:
    """Whether ``path`` is watched: under a root, not excluded, included."""
    if not under(path, fim.roots):
        return False
    if fim.exclude is not None and fim.exclude.match(path):
        return False
    return fim.include is None or bool(fim.include.match(path)) or os.path.isdir(path)
