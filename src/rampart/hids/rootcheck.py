"""Rootkit checks (OSSEC's rootcheck, chkrootkit, rkhunter): signs a host was taken over.

Each check is a small function over the host (or over ``root``, a copy of a
host's files) that yields :class:`~rampart.hids.Event` values with rule ids
510-519, so findings are stored, mailed and answered like any other alert:

=====  =====  =================================================================
rule   level  what
=====  =====  =================================================================
510    12     a file or folder of a known rootkit (``rules/rootcheck``)
511    12     a process that answers signals but is missing from /proc
512    12     a port in use that /proc/net does not list
513    8      a network interface in promiscuous mode (a sniffer)
514    7      a regular file in /dev
515    10     a set-user-ID or set-group-ID file in /tmp, /var/tmp, /dev/shm
516    7      a world-writable file (or folder without the sticky bit) in a system folder
517    6      /etc/ld.so.preload lists libraries (how user-space rootkits load)
=====  =====  =================================================================

The file checks read only ``root``; the live checks (processes, ports,
interfaces) look at the running kernel and need no configuration.
"""

import os
import stat
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rampart.errors import ConfigError, UsageError
from rampart.hids import rootcheck_live
from rampart.hids.event import Event

DEFAULT_INDICATORS = Path(__file__).resolve().parents[3] / "rules" / "rootcheck" / "rootkits.toml"
LOCATION = "rootcheck"
GROUPS = ("rootcheck",)

TEMP_DIRS = ("tmp", "var/tmp", "dev/shm")
SYSTEM_DIRS = (
    "bin",
    "sbin",
    "lib",
    "lib32",
    "lib64",
    "usr/bin",
    "usr/sbin",
    "usr/lib",
    "usr/lib64",
    "usr/local/bin",
    "usr/local/sbin",
    "usr/local/lib",
    "etc",
    "boot",
)
DEV_SKIP = ("shm", "mqueue", "hugepages", "pts")
"""Folders of /dev that hold ordinary files legitimately (tmpfs mounts)."""
DEV_FILES_ALLOWED = frozenset(
    {
        ".udev",
        "MAKEDEV",
        ".initramfs",
        ".initramfs-tools",
        ".blkid.tab",
        ".blkid.tab.old",
        "termination-log",
        ".lxc",
        ".lxd-mounts",
        ".mdadm",
    }
)
"""Files that distributions, udev, LXC and Kubernetes put in /dev on purpose."""


@dataclass(frozen=True)
class Scan:
    """What one run looks at: a root for the file checks, the clock, the indicators."""

    root: Path = Path("/")
    indicators: Path = DEFAULT_INDICATORS
    now: float = field(default_factory=time.time)

    def under(self, path: str) -> Path:
        """``/etc/x`` inside ``root``."""
        return self.root / path.lstrip("/")

    def event(
        self, rule_id: int, level: int, description: str, log: str, detail: str = ""
    ) -> Event:
        return Event(
            time=self.now,
            rule_id=rule_id,
            level=level,
            description=description,
            location=LOCATION,
            log=log,
            groups=GROUPS,
            detail=detail,
        )


Check = Callable[[Scan], Iterator[Event]]


@dataclass(frozen=True)
class Indicator:
    name: str
    level: int
    paths: tuple[str, ...]


def load_indicators(path: Path) -> list[Indicator]:
    """The rootkit indicator file; ConfigError naming the file and entry when it is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    entries = data.get("rootkit", [])
    if set(data) - {"rootkit"} or not isinstance(entries, list):
        raise ConfigError(f"{path}: only [[rootkit]] entries are allowed")
    found = []
    for number, entry in enumerate(entries, 1):
        where = f"{path}: rootkit entry {number}"
        if not isinstance(entry, dict) or set(entry) - {"name", "level", "paths"}:
            raise ConfigError(f"{where}: use only name, level and paths")
        name, level, paths = entry.get("name"), entry.get("level", 12), entry.get("paths")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: name must be text")
        if not isinstance(level, int) or not 0 <= level <= 15:
            raise ConfigError(f"{where} ({name}): level must be 0-15")
        if not isinstance(paths, list) or not all(
            isinstance(p, str) and p.startswith("/") and "\0" not in p for p in paths
        ):
            raise ConfigError(f"{where} ({name}): paths must be absolute paths")
        found.append(Indicator(name, level, tuple(paths)))
    return found


def known_rootkit_files(scan: Scan) -> Iterator[Event]:
    """Rule 510: any path of a known rootkit exists (files, folders and links alike)."""
    for indicator in load_indicators(scan.indicators):
        for path in indicator.paths:
            if os.path.lexists(scan.under(path)):
                yield scan.event(
                    510,
                    indicator.level,
                    f"Known rootkit file or folder: {indicator.name}",
                    path,
                    f"{path} is a published indicator of {indicator.name}",
                )
    preload = scan.under("/etc/ld.so.preload")
    try:
        libraries = [line for line in preload.read_text(errors="replace").split() if line]
    except OSError:
        libraries = []
    if libraries:
        yield scan.event(
            517,
            6,
            "/etc/ld.so.preload loads libraries into every program",
            "/etc/ld.so.preload: " + " ".join(libraries[:10]),
            "User-space rootkits (Jynx, Azazel) load this way; check each library's package.",
        )


def regular_files_in_dev(scan: Scan) -> Iterator[Event]:
    """Rule 514: a regular file in /dev, where only devices, links and folders belong."""
    dev = scan.under("/dev")
    for path, info in _walk(dev, skip={dev / name for name in DEV_SKIP}):
        if stat.S_ISREG(info.st_mode) and path.name not in DEV_FILES_ALLOWED:
            shown = "/" + str(path.relative_to(scan.root))
            yield scan.event(514, 7, "Regular file in /dev", shown, f"{info.st_size} bytes")


def setuid_in_temp(scan: Scan) -> Iterator[Event]:
    """Rule 515: a set-user-ID or set-group-ID file in a folder anyone can write to."""
    for folder in TEMP_DIRS:
        for path, info in _walk(scan.under(folder)):
            if stat.S_ISREG(info.st_mode) and info.st_mode & (stat.S_ISUID | stat.S_ISGID):
                kind = "set-user-ID" if info.st_mode & stat.S_ISUID else "set-group-ID"
                shown = "/" + str(path.relative_to(scan.root))
                yield scan.event(
                    515,
                    10,
                    f"{kind} file in a temporary folder",
                    shown,
                    f"mode {stat.filemode(info.st_mode)}, owner uid {info.st_uid}",
                )


def world_writable_system_files(scan: Scan) -> Iterator[Event]:
    """Rule 516: anyone can change a file (or add files to a folder) in a system folder."""
    seen: set[tuple[int, int]] = set()
    for folder in SYSTEM_DIRS:
        start = scan.under(folder)
        if start.is_symlink():  # /bin -> usr/bin on merged-/usr systems: walked once
            continue
        for path, info in _walk(start, include_start=True):
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            mode = info.st_mode
            if not mode & stat.S_IWOTH:
                continue
            if stat.S_ISDIR(mode) and mode & stat.S_ISVTX:
                continue  # a sticky folder (like /tmp): each user owns their own files
            if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
                shown = "/" + str(path.relative_to(scan.root))
                what = "folder" if stat.S_ISDIR(mode) else "file"
                yield scan.event(
                    516,
                    7,
                    f"World-writable {what} in a system folder",
                    shown,
                    f"mode {stat.filemode(mode)}; fix: chmod o-w {shown}",
                )


def _walk(
    start: Path, *, skip: set[Path] | None = None, include_start: bool = False
) -> Iterator[tuple[Path, os.stat_result]]:
    """Every entry under ``start`` with its lstat, not following links nor leaving its device."""
    try:
        top = os.lstat(start)
    except OSError:
        return
    if not stat.S_ISDIR(top.st_mode):
        return
    if include_start:
        yield start, top
    pending = [start]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            yield path, info
            inside = skip is None or path not in skip
            if stat.S_ISDIR(info.st_mode) and info.st_dev == top.st_dev and inside:
                pending.append(path)


FILE_CHECKS: dict[str, Check] = {
    "files": known_rootkit_files,
    "dev": regular_files_in_dev,
    "suid": setuid_in_temp,
    "writable": world_writable_system_files,
}
LIVE_CHECKS: dict[str, Check] = {
    "processes": lambda scan: rootcheck_live.hidden_process_events(scan.event),
    "ports": lambda scan: rootcheck_live.hidden_port_events(scan.event),
    "promisc": lambda scan: rootcheck_live.promiscuous_events(scan.event),
}
CHECKS: dict[str, Check] = {**FILE_CHECKS, **LIVE_CHECKS}


def choose_checks(names: Sequence[str] | None, root: Path) -> list[str]:
    """The checks to run: all (file checks only under another root), or the ones named."""
    live_host = root.resolve() == Path("/")
    if not names:
        return [name for name in CHECKS if live_host or name in FILE_CHECKS]
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        raise UsageError(f"unknown check {unknown[0]!r} (checks: {', '.join(CHECKS)})")
    if not live_host and any(name in LIVE_CHECKS for name in names):
        raise UsageError(f"--root: only the file checks ({', '.join(FILE_CHECKS)}) read a root")
    return list(dict.fromkeys(names))


def run_checks(scan: Scan, names: Sequence[str]) -> list[Event]:
    """Every finding of the named checks, in check order."""
    return [event for name in names for event in CHECKS[name](scan)]
