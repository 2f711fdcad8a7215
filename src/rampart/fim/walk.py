"""The tree walk: every path under the configured roots, with its lstat, nothing followed.

``os.scandir`` with one ``lstat`` per entry; symbolic links are recorded, never
followed; excluded directories are not entered; other mounted file systems
are not entered unless asked. A directory that cannot be listed, or a path
that vanishes during the walk, is noted and the walk goes on.
"""

import errno
import fnmatch
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


def compile_globs(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for many fnmatch globs (``*`` also matches ``/``); None for no glob."""
    parts = [fnmatch.translate(pattern) for pattern in patterns]
    return re.compile("|".join(parts)) if parts else None


def under(path: str, roots: Iterable[str]) -> bool:
    """True when ``path`` is one of ``roots`` or inside one."""
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


@dataclass
class Walker:
    """Walks ``roots``; :attr:`errors` collects what could not be read (one line each)."""

    roots: tuple[str, ...]
    include: re.Pattern[str] | None = None
    exclude: re.Pattern[str] | None = None
    one_filesystem: bool = True
    errors: list[str] = field(default_factory=list)
    missing_roots: list[str] = field(default_factory=list)
    walked: int = 0

    def wanted(self, path: str, is_dir: bool) -> bool:
        if self.exclude is not None and self.exclude.match(path):
            return False
        return is_dir or self.include is None or bool(self.include.match(path))

    def __iter__(self) -> Iterator[tuple[str, os.stat_result]]:
        for root, st, is_dir in self.wanted_roots():
            yield root, st
            if is_dir:
                yield from self.below(root, st.st_dev)

    def wanted_roots(self) -> Iterator[tuple[str, os.stat_result, bool]]:
        """The roots to walk, stat'ed and counted; a missing or unreadable one is noted."""
        for root in outermost(self.roots):
            try:
                st = os.lstat(root)
            except FileNotFoundError:
                self.missing_roots.append(root)
                continue
            except OSError as error:
                self.errors.append(f"{root}: {error.strerror}")
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if self.wanted(root, is_dir):
                self.walked += 1
                yield root, st, is_dir

    def below(
        self, root: str, device: int, subdirs: list[str] | None = None
    ) -> Iterator[tuple[str, os.stat_result]]:
        """Everything below ``root``; with ``subdirs``: only its entries, subdirectories there."""
        stack = [root]
        exclude, include = self.exclude, self.include
        while stack:
            directory = stack.pop()
            try:
                listing = os.scandir(directory)
            except OSError as error:
                if error.errno not in (errno.ENOENT, errno.ENOTDIR):
                    self.errors.append(f"{directory}: cannot list: {error.strerror}")
                continue
            with listing:
                for item in listing:
                    path = item.path
                    if exclude is not None and exclude.match(path):
                        continue
                    try:
                        st = item.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # vanished since the listing
                    except OSError as error:
                        self.errors.append(f"{path}: {error.strerror}")
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        if not self.one_filesystem or st.st_dev == device:
                            (stack if subdirs is None else subdirs).append(path)
                    elif include is not None and not include.match(path):
                        continue
                    self.walked += 1
                    yield path, st


def outermost(roots: Iterable[str]) -> list[str]:
    """The roots without duplicates or roots inside another root (walked once)."""
    kept: list[str] = []
    for root in sorted(set(roots), key=len):
        if not under(root, kept):
            kept.append(root)
    return kept


def readlink(path: str) -> str:
    """A symbolic link's target, "" when it cannot be read (gone, not a link)."""
    try:
        return os.readlink(path)
    except OSError:
        return ""
