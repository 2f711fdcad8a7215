"""What the baseline keeps of one path: type, size, permissions, owner, inode, times, hash.

An :class:`Entry` is a plain tuple so that 100,000 of them load, compare and
store quickly. ``digest`` is ``b""`` for what has no content to hash
(directories, links, devices, FIFOs, sockets) and ``None`` for a regular file
that could not be read (its content is then neither trusted nor reported).
"""

import os
import stat
import struct
from typing import NamedTuple

KINDS = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFCHR: "char",
    stat.S_IFBLK: "block",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
}

_KIND_BITS = {kind: bits for bits, kind in KINDS.items()}
_FINGERPRINT = struct.Struct("<IqqqQII")

#: The attributes a change can name, in report order.
ATTRIBUTES = ("type", "size", "mode", "uid", "gid", "inode", "mtime", "ctime", "hash", "target")


class Entry(NamedTuple):
    """One path's recorded state."""

    kind: str
    size: int
    mode: int
    """Permission bits with setuid, setgid and sticky (``stat.S_IMODE``)."""
    uid: int
    gid: int
    inode: int
    mtime_ns: int
    ctime_ns: int
    digest: bytes | None = b""
    target: str = ""
    """A symbolic link's target, as read (not resolved)."""

    def same_content_key(self, other: "Entry") -> bool:
        """True when a file's hash can be trusted unchanged: size, mtime, ctime and inode match."""
        return (
            self.kind == other.kind
            and self.size == other.size
            and self.mtime_ns == other.mtime_ns
            and self.ctime_ns == other.ctime_ns
            and self.inode == other.inode
        )


def kind_of(mode: int) -> str:
    return KINDS.get(stat.S_IFMT(mode), "other")


def entry_from_stat(st: os.stat_result, digest: bytes | None = b"", target: str = "") -> Entry:
    return Entry(
        kind_of(st.st_mode),
        st.st_size,
        stat.S_IMODE(st.st_mode),
        st.st_uid,
        st.st_gid,
        st.st_ino,
        st.st_mtime_ns,
        st.st_ctime_ns,
        digest,
        target,
    )


def changed_attributes(old: Entry, new: Entry) -> tuple[str, ...]:
    """The attributes that differ by name; a hash unknown on either side is not compared."""
    changed = []
    if old.kind != new.kind:
        changed.append("type")
    if old.size != new.size:
        changed.append("size")
    if old.mode != new.mode:
        changed.append("mode")
    if old.uid != new.uid:
        changed.append("uid")
    if old.gid != new.gid:
        changed.append("gid")
    if old.inode != new.inode:
        changed.append("inode")
    if old.mtime_ns != new.mtime_ns:
        changed.append("mtime")
    if old.ctime_ns != new.ctime_ns:
        changed.append("ctime")
    if old.digest is not None and new.digest is not None and old.digest != new.digest:
        changed.append("hash")
    if old.target != new.target:
        changed.append("target")
    return tuple(changed)


def fingerprint(st: os.stat_result) -> bytes:
    """Type, permissions, size, times, inode and owner packed: equal means unchanged.

    A file's content cannot change without its ctime changing (short of
    resetting the clock), nor a link's target without a new inode, so a check
    compares these few bytes per path and looks at nothing else when they match.
    """
    return _FINGERPRINT.pack(
        st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_uid, st.st_gid
    )


def entry_fingerprint(entry: Entry) -> bytes:
    """The :func:`fingerprint` of the stat an entry was made from."""
    return _FINGERPRINT.pack(
        _KIND_BITS.get(entry.kind, 0) | entry.mode,
        entry.size,
        entry.mtime_ns,
        entry.ctime_ns,
        entry.inode,
        entry.uid,
        entry.gid,
    )


def entry_from_fingerprint(packed: bytes, digest: bytes | None, target: str) -> Entry:
    """The entry a stored fingerprint, hash and link target describe."""
    mode, size, mtime_ns, ctime_ns, inode, uid, gid = _FINGERPRINT.unpack(packed)
    return Entry(
        kind_of(mode), size, stat.S_IMODE(mode), uid, gid, inode, mtime_ns, ctime_ns, digest, target
    )
