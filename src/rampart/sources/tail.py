"""Follow one log file across rotation (rename and copytruncate) and restarts.

A file generation is recognised by its (device, inode) and by its first bytes:
inode numbers are reused after a delete, so the identity alone could make a
new file look like the old one. :class:`TailPosition` holds both plus the
offset of the last complete line read, so a restarted daemon neither reads a
line twice nor skips one. Line numbers count from 1 per file generation and
are carried across restarts in the position.

After a rename rotation the old file stays open and is drained on every read
until the writer has clearly moved on (the old file gave nothing and the new
one has data): lines a writer puts into the old file before it reopens its log
are not lost, which Fail2ban's FileContainer does not guarantee. The position
names the current file only: what an old file still held at a restart is read
only if that file is still beside ``path`` under a suffixed name.
"""

import hashlib
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from rampart.sources.errors import SourceError
from rampart.sources.inotify import FILE_EVENTS, Inotify
from rampart.sources.replay import MAX_LINE, split_block
from rampart.sources.types import LogLine

HEAD_SIZE = 64
"""Bytes at the start of a file that, with its inode, identify the file."""
READ_LIMIT = 16 << 20
"""At most this many bytes per file per read(), so one huge backlog cannot stall the daemon."""


@dataclass(frozen=True)
class TailPosition:
    """Where a FileTail stopped; stored by the daemon to continue after a restart."""

    inode: int
    device: int
    offset: int
    """Byte offset just after the last complete line returned."""
    head: str
    """Hash of the file's first ``min(64, offset)`` bytes."""
    lineno: int = 0
    """Number of the last line returned from this file generation."""


def _head_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _open(path: Path) -> "_Handle | None":
    """The file at ``path`` opened for reading, or None when there is none (yet)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise SourceError(f"{path}: permission denied (run as a user that can read it)") from None
    except OSError as error:
        raise SourceError(f"{path}: cannot open: {error.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise SourceError(f"{path}: not a regular file, cannot follow it")
    return _Handle(fd, info.st_dev, info.st_ino)


class _Handle:
    """One open file generation and how far it was read."""

    def __init__(self, fd: int, device: int, inode: int) -> None:
        self.fd, self.device, self.inode = fd, device, inode
        self.offset = 0
        self.pending = b""
        self.lineno = 0
        self.known_head = b""
        """The first ``min(64, offset)`` bytes as we read them, to notice a rewrite."""

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def head(self, size: int) -> bytes:
        return os.pread(self.fd, min(HEAD_SIZE, size), 0)

    def matches(self, position: TailPosition) -> bool:
        """Whether this file is the one ``position`` was taken from."""
        return (
            (self.device, self.inode) == (position.device, position.inode)
            and self.size() >= position.offset
            and _head_hash(self.head(position.offset)) == position.head
        )

    def restart(self, offset: int = 0, lineno: int = 0) -> None:
        self.offset, self.lineno, self.pending = offset, lineno, b""
        self.known_head = self.head(offset) if offset else b""

    def has_news(self) -> bool:
        return self.size() != self.offset + len(self.pending)

    def truncated(self) -> bool:
        """copytruncate: shorter than what we read, or rewritten past our offset."""
        if self.size() < self.offset + len(self.pending):
            return True
        return bool(self.offset) and self.head(self.offset) != self.known_head

    def drain(self, limit: int = READ_LIMIT) -> tuple[list[LogLine], bool]:
        """Complete new lines, and whether ``limit`` stopped the reading early."""
        if self.truncated():
            self.restart()
        chunks = [self.pending]
        at, total = self.offset + len(self.pending), 0
        while total < limit:
            data = os.pread(self.fd, min(1 << 20, limit - total), at)
            if not data:
                break
            chunks.append(data)
            at, total = at + len(data), total + len(data)
        data = b"".join(chunks)
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) >= MAX_LINE:
            cut = len(data)  # not a log line; cut it rather than hold it whole
        self.pending = data[cut:]
        return self._consume(data[:cut]), total >= limit

    def flush(self) -> list[LogLine]:
        """The partial last line, as a line: this generation will get no more data."""
        data, self.pending = self.pending, b""
        return self._consume(data)

    def position(self) -> TailPosition:
        head = _head_hash(self.known_head)
        return TailPosition(self.inode, self.device, self.offset, head, self.lineno)

    def close(self) -> None:
        os.close(self.fd)

    def _consume(self, data: bytes) -> list[LogLine]:
        """Lines of ``data``, the bytes just after ``offset``, which then moves past them."""
        if not data:
            return []
        if len(self.known_head) < HEAD_SIZE:
            self.known_head = (self.known_head + data)[:HEAD_SIZE]
        self.offset += len(data)
        texts = split_block(data.decode("utf-8", "replace"))
        first = self.lineno + 1
        self.lineno += len(texts)
        return [LogLine(first + index, text) for index, text in enumerate(texts)]


def _find_rotated(path: Path, position: TailPosition) -> _Handle | None:
    """The file ``position`` was taken from, now renamed beside ``path`` (auth.log.1)."""
    try:
        names = [entry.name for entry in os.scandir(path.parent)]
    except OSError:
        return None
    for name in sorted(names):
        if not name.startswith(path.name + "."):
            continue
        try:
            info = os.stat(path.parent / name)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) != (position.device, position.inode):
            continue
        try:
            handle = _open(path.parent / name)
        except SourceError:
            continue
        if handle is not None and handle.matches(position):
            handle.restart(position.offset, position.lineno)
            return handle
        if handle is not None:
            handle.close()
    return None


def _end_of_last_line(handle: _Handle) -> int:
    """Offset just after the file's last newline (0 when there is none in the last MB)."""
    size = handle.size()
    tail = os.pread(handle.fd, min(size, 1 << 20), max(0, size - (1 << 20)))
    cut = tail.rfind(b"\n") + 1
    if cut == 0:
        return 0 if size < MAX_LINE else size  # one partial line: read it once complete
    return size - len(tail) + cut


class FileTail:
    """New complete lines of one log file, call after call.

    ``position`` continues where a previous FileTail stopped; when the file was
    rotated while we were down, the rest of the old file is read first if it
    is still beside ``path`` (``auth.log.1``), then the new file from its start.
    Without a position, the file is read from its start (``from_end`` skips
    what is already there). A missing file is waited for.
    """

    def __init__(
        self,
        path: Path,
        position: TailPosition | None = None,
        *,
        from_end: bool = False,
        poll_interval: float = 1.0,
        use_inotify: bool = True,
        read_limit: int = READ_LIMIT,
    ) -> None:
        self.path = path
        self.read_limit = read_limit
        self.poll_interval = poll_interval
        self._use_inotify = use_inotify
        self._inotify: Inotify | None = None
        self._retired: _Handle | None = None
        self._more = False
        self._current = _open(path)
        current = self._current
        if position is not None:
            if current is not None and current.matches(position):
                current.restart(position.offset, position.lineno)
            else:
                old = _find_rotated(path, position)
                if current is None:
                    self._current = old
                else:
                    self._retired = old
        elif from_end and current is not None:
            current.restart(_end_of_last_line(current))

    @property
    def position(self) -> TailPosition:
        """Where the next read() starts in the current file."""
        if self._current is None:
            return TailPosition(0, 0, 0, _head_hash(b""))
        return self._current.position()

    def read(self) -> list[LogLine]:
        """The complete lines written since the last call; a partial line waits."""
        lines: list[LogLine] = []
        retired, current = self._retired, self._current
        more = retired_quiet = False
        if retired is not None:
            got, more = retired.drain(self.read_limit)
            lines += got
            retired_quiet = not got
        if current is not None:
            if current.truncated():
                lines += self._copied_rest(current)
            got, limited = current.drain(self.read_limit)
            lines += got
            more = more or limited
        fresh = self._reopen()
        if fresh is not None:
            if current is not None:
                # Written between our read and the rename:
                got, limited = current.drain(self.read_limit)
                lines += got
                more = more or limited
                lines += self._retire(current)
            self._current = fresh
            got, limited = fresh.drain(self.read_limit)
            lines += got
            more = more or limited
        elif retired_quiet and current is not None and current.offset + len(current.pending):
            lines += self._retire(None)  # the writer moved on to the new file
        self._more = more
        return lines

    def _copied_rest(self, truncated: _Handle) -> list[LogLine]:
        """copytruncate: what we had not read yet is in the copy (``auth.log.1``), if any.

        logrotate copies the file, then truncates it; lines written between our
        last read and the truncation are only in the copy. The copy is known by
        its first bytes, which are the ones we read from the file.
        """
        if not truncated.offset:
            return []
        try:
            names = sorted(entry.name for entry in os.scandir(self.path.parent))
        except OSError:
            return []
        for name in names:
            if not name.startswith(self.path.name + ".") or name.endswith((".gz", ".xz", ".bz2")):
                continue
            try:
                copy = _open(self.path.parent / name)
            except SourceError:
                continue
            if copy is None:
                continue
            try:
                if (
                    copy.size() < truncated.offset
                    or copy.head(truncated.offset) != truncated.known_head
                ):
                    continue
                copy.restart(truncated.offset, truncated.lineno)
                copy.pending = truncated.pending
                lines: list[LogLine] = []
                while True:
                    got, limited = copy.drain()
                    lines += got
                    if not limited:
                        break
                return lines + copy.flush()
            finally:
                copy.close()
        return []

    def _reopen(self) -> _Handle | None:
        """The file now at ``path`` when it is not the one we follow."""
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        current = self._current
        if current is not None and (info.st_dev, info.st_ino) == (current.device, current.inode):
            return None
        fresh = _open(self.path)
        if fresh and current and (fresh.device, fresh.inode) == (current.device, current.inode):
            fresh.close()  # renamed back between the stat and the open
            return None
        return fresh

    def _retire(self, handle: _Handle | None) -> list[LogLine]:
        """Make ``handle`` the old file still drained; close the previous one."""
        lines: list[LogLine] = []
        if self._retired is not None:
            lines = self._retired.flush()
            self._retired.close()
        self._retired = handle
        return lines

    def _has_news(self) -> bool:
        handles = [h for h in (self._current, self._retired) if h is not None]
        if any(h.has_news() for h in handles):
            return True
        try:
            info = os.stat(self.path)
        except OSError:
            return False
        current = self._current
        return current is None or (info.st_dev, info.st_ino) != (current.device, current.inode)

    def wait(self, timeout: float) -> bool:
        """Block until the file may have new data (True) or ``timeout`` seconds passed."""
        if self._more or self._has_news():
            return True
        deadline = time.monotonic() + timeout
        if self._use_inotify:
            if self._inotify is None:
                self._inotify = Inotify.create()
            if self._inotify is not None and self._watch(self._inotify):
                if self._has_news():  # written while the watches were set up
                    return True
                return self._inotify.wait(deadline, self.path.name)
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(self.poll_interval, remaining))
            if self._has_news():
                return True
        return False

    def _watch(self, inotify: "Inotify") -> bool:
        """Watch the directory, the file at ``path`` and the open files; False if impossible."""
        if not inotify.watch_dir(str(self.path.parent)):
            return False
        targets = [str(self.path)]
        targets += [f"/proc/self/fd/{h.fd}" for h in (self._current, self._retired) if h]
        inotify.keep({wd for target in targets if (wd := inotify.add(target, FILE_EVENTS))})
        return True

    def close(self) -> None:
        """Close the files and the inotify descriptor."""
        self._retire(None)
        if self._current is not None:
            self._current.close()
            self._current = None
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None

    def __enter__(self) -> "FileTail":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
