"""Which Debian package a file belongs to, and whether its content is the package's.

dpkg records, per package, the files it installed (``info/PKG.list``) and
their MD5 sums (``info/PKG.md5sums``: ``HEX  path`` with the path relative to
``/``); configuration files' sums are in ``status`` (``Conffiles:``). A file
whose new content has the sum its package recorded was changed by dpkg
(an upgrade), not by an intruder: FIM reports it at a low level.

Merged /usr: dpkg may record ``bin/ls`` for what lives at ``/usr/bin/ls``
(and the reverse), so both spellings are looked up. Diversions
(``dpkg-divert``, the ``diversions`` file beside ``info``): a package's file
diverted from A to B is installed at B, so at B the sums recorded for A by
the other packages apply, and at A only the diverting package's.
"""

import hashlib
import os
import stat
from collections import defaultdict
from pathlib import Path

_MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_READ = 1 << 20


def spellings(path: str) -> tuple[str, ...]:
    """``path`` and its other spelling under merged /usr, if any."""
    parts = path.split("/", 3)
    if len(parts) > 2 and parts[1] in _MERGED:
        return path, "/usr" + path
    if len(parts) > 3 and parts[1] == "usr" and parts[2] in _MERGED:
        return path, path[4:]
    return (path,)


def md5_of(path: str) -> str | None:
    """The file's MD5 (what dpkg records), None when it cannot be read; never opens a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        while chunk := os.read(fd, _READ):
            digest.update(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return digest.hexdigest()


class PackageIndex:
    """dpkg's file lists and sums, read once on first use."""

    def __init__(self, info_dir: Path) -> None:
        self.info_dir = info_dir
        self._sums: dict[str, list[tuple[str, str]]] | None = None
        self._owners: dict[str, str] = {}
        self._diverted_to: dict[str, tuple[str, str]] = {}
        self._diverted_from: dict[str, str] = {}

    def _load(self) -> dict[str, list[tuple[str, str]]]:
        if self._sums is not None:
            return self._sums
        sums: dict[str, list[tuple[str, str]]] = defaultdict(list)
        try:
            names = sorted(os.listdir(self.info_dir))
        except OSError:
            names = []
        for name in names:
            package, _, suffix = name.rpartition(".")
            package = package.partition(":")[0]
            if suffix == "md5sums":
                for line in _lines(self.info_dir / name):
                    digest, _, relative = line.partition("  ")
                    if len(digest) == 32 and relative:
                        sums["/" + relative.lstrip("/")].append((package, digest.lower()))
        self._read_conffiles(sums)
        self._read_diversions()
        self._sums = sums
        return sums

    def _read_conffiles(self, sums: dict[str, list[tuple[str, str]]]) -> None:
        package = ""
        in_conffiles = False
        for line in _lines(self.info_dir.parent / "status"):
            if line.startswith("Package:"):
                package, in_conffiles = line.split(":", 1)[1].strip(), False
            elif line.startswith("Conffiles:"):
                in_conffiles = True
            elif in_conffiles and line.startswith(" /"):
                fields = line.split()
                if len(fields) >= 2 and len(fields[1]) == 32:
                    sums[fields[0]].append((package, fields[1].lower()))
            elif not line.startswith(" "):
                in_conffiles = False

    def _read_diversions(self) -> None:
        lines = _lines(self.info_dir.parent / "diversions")
        for at in range(0, len(lines) - 2, 3):
            original, moved_to, by = lines[at : at + 3]
            self._diverted_to[moved_to] = (original, by)
            self._diverted_from[original] = by

    def _load_owners(self) -> dict[str, str]:
        """``*.list``: read only when ownership is asked for (it is the bigger half)."""
        if not self._owners:
            for name in sorted(self.info_dir.glob("*.list")):
                package = name.stem.partition(":")[0]
                for line in _lines(name):
                    if line.startswith("/"):
                        self._owners.setdefault(line, package)
        return self._owners

    def owner(self, path: str) -> str | None:
        """The package that installed ``path`` (by ``*.list``), if any."""
        self._load()
        owners = self._load_owners()
        for spelling in spellings(path):
            if spelling in self._diverted_to:
                original, by = self._diverted_to[spelling]
                return next((p for p, _ in self._candidates(original) if p != by), None)
            if spelling in owners:
                return owners[spelling]
        return None

    def _candidates(self, path: str) -> list[tuple[str, str]]:
        sums = self._load()
        found: list[tuple[str, str]] = []
        for spelling in spellings(path):
            found.extend(sums.get(spelling, ()))
        return found

    def expected(self, path: str) -> list[tuple[str, str]]:
        """(package, md5) pairs dpkg recorded for what should be at ``path``."""
        self._load()
        for spelling in spellings(path):
            if spelling in self._diverted_to:
                original, by = self._diverted_to[spelling]
                return [(p, s) for p, s in self._candidates(original) if p != by]
            if spelling in self._diverted_from:
                by = self._diverted_from[spelling]
                return [(p, s) for p, s in self._candidates(spelling) if p == by]
        return self._candidates(path)

    def package_update(self, path: str) -> str | None:
        """The package whose recorded sum the file now has (None: not a package's content)."""
        expected = self.expected(path)
        if not expected:
            return None
        actual = md5_of(path)
        return next((package for package, digest in expected if digest == actual), None)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape").splitlines()
    except OSError:
        return []
