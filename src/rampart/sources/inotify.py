"""The few inotify calls a log tail needs, through ctypes (no dependency).

Waiting on inotify instead of polling means a new log line is seen at once
and an idle daemon uses no CPU; where inotify is missing (not Linux, watch
limits reached) :meth:`Inotify.create` returns None and callers poll.
"""

import ctypes
import ctypes.util
import errno
import os
import select
import struct
import time

from rampart.sources.errors import SourceError

IN_MODIFY, IN_ATTRIB, IN_MOVED_TO, IN_CREATE = 0x2, 0x4, 0x80, 0x100
IN_DELETE_SELF, IN_MOVE_SELF = 0x400, 0x800
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
FILE_EVENTS = IN_MODIFY | IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB
DIR_EVENTS = IN_CREATE | IN_MOVED_TO
EVENT_HEADER = struct.Struct("iIII")


class Inotify:
    """The few inotify calls FileTail needs, through ctypes (no dependency)."""

    def __init__(self, libc: ctypes.CDLL, fd: int) -> None:
        self.libc, self.fd = libc, fd
        self.dir_wd = -1
        self.file_wds: set[int] = set()

    @classmethod
    def create(cls) -> "Inotify | None":
        """An inotify instance, or None where there is none (not Linux, limits reached)."""
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        except (OSError, AttributeError):
            return None
        return cls(libc, fd) if fd >= 0 else None

    def add(self, path: str, mask: int) -> int:
        wd: int = self.libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        return wd if wd >= 0 else 0

    def watch_dir(self, path: str) -> bool:
        self.dir_wd = self.add(path, DIR_EVENTS) or -1
        return self.dir_wd > 0

    def keep(self, wds: set[int]) -> None:
        """Remove the file watches not in ``wds`` (files rotated away and closed)."""
        for wd in self.file_wds - wds - {self.dir_wd}:
            self.libc.inotify_rm_watch(self.fd, wd)
        self.file_wds = wds

    def wait(self, deadline: float, name: str) -> bool:
        """True on an event on a watched file or on ``name`` in the directory."""
        wanted = os.fsencode(name)
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                return False
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            except OSError as error:
                if error.errno == errno.EINTR:
                    continue
                raise SourceError(f"inotify: cannot read events: {error.strerror}") from None
            at = 0
            while at + EVENT_HEADER.size <= len(data):
                wd, _mask, _cookie, size = EVENT_HEADER.unpack_from(data, at)
                event_name = data[at + EVENT_HEADER.size : at + EVENT_HEADER.size + size]
                at += EVENT_HEADER.size + size
                if wd != self.dir_wd or event_name.rstrip(b"\0") == wanted:
                    return True
        return False

    def close(self) -> None:
        os.close(self.fd)
