"""Facts about backups: the newest restic snapshot and the newest file a backup job wrote.

What is looked at comes from ``[audit]``: ``restic_repository`` (with
``restic_password_file``) and ``backup_files`` (globs). Nothing configured is
itself a fact (BAK-001 fails on it), not a reason to skip; a source that cannot
be read (restic missing, a wrong password) carries its one-line error, and the
checks skip that source saying why.
"""

import glob
import json
import os
import re
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rampart.audit.interface import Unavailable
from rampart.errors import RampartError
from rampart.system import CommandError, run

RESTIC_TIMEOUT = 120.0
NOTHING_CONFIGURED = "no backup configured ([audit] restic_repository or backup_files)"


@dataclass(frozen=True)
class BackupSource:
    """One place backups go, and when the newest one was made."""

    name: str
    """``restic REPO`` (credentials in a URL hidden) or ``backup files GLOB``."""
    newest: float | None = None
    """Unix time of the newest snapshot or file; None: there is none."""
    detail: str = ""
    """What was found: the snapshot count, or the newest file and its size."""
    error: str | None = None
    """Why the source could not be read (then ``newest`` means nothing)."""


@dataclass(frozen=True)
class BackupFacts:
    sources: list[BackupSource] = field(default_factory=list)
    """Empty: no backup is configured."""
    max_age: float = 2 * 86400.0
    now: float = 0.0


def collect_backups(
    *,
    restic_repository: str | None = None,
    restic_password_file: Path | None = None,
    backup_files: Sequence[str] = (),
    max_age: float = 2 * 86400.0,
    restic: str = "restic",
    clock: Callable[[], float] = time.time,
    timeout: float = RESTIC_TIMEOUT,
) -> BackupFacts:
    """The newest backup of each configured source (none configured: no sources)."""
    sources: list[BackupSource] = []
    if restic_repository:
        sources.append(
            restic_source(restic_repository, restic_password_file, restic=restic, timeout=timeout)
        )
    sources += [files_source(pattern) for pattern in backup_files]
    return BackupFacts(sources, max_age, clock())


def restic_source(
    repository: str,
    password_file: Path | None,
    *,
    restic: str = "restic",
    timeout: float = RESTIC_TIMEOUT,
) -> BackupSource:
    """The snapshots of a restic repository, read without a lock, a cache or RESTIC_* variables."""
    name = f"restic {_hide_credentials(repository)}"
    if repository.startswith("-") or "\n" in repository:
        return BackupSource(name, error=f"{repository!r} is not a repository location")
    if password_file is None:
        return BackupSource(name, error="no password file ([audit] restic_password_file)")
    if not password_file.is_file():
        return BackupSource(name, error=f"{password_file}: no such password file")
    # Everything by argument: a RESTIC_PASSWORD_COMMAND or RESTIC_REPOSITORY left in
    # the environment must not change which repository is read or how.
    unset = [
        part for key in sorted(os.environ) if key.startswith("RESTIC_") for part in ("-u", key)
    ]
    argv = [
        "env",
        *unset,
        restic,
        "--repo",
        repository,
        "--password-file",
        str(password_file),
        "--no-lock",
        "--no-cache",
        "--quiet",
        "snapshots",
        "--json",
    ]
    try:
        result = run(argv, input_text="", timeout=timeout, check=False)
    except CommandError as error:
        return BackupSource(name, error=str(error))
    if result.returncode == 127:  # env: the program is not there
        return BackupSource(name, error=f"{restic}: program not found (is it installed?)")
    if result.returncode != 0:
        return BackupSource(name, error=f"restic: {_one_line(result.stderr or result.stdout)}")
    try:
        times = parse_snapshot_times(result.stdout)
    except ValueError as error:
        return BackupSource(name, error=f"restic snapshots --json: {error}")
    if not times:
        return BackupSource(name, None, "no snapshot")
    count = f"{len(times)} snapshot{'s' if len(times) != 1 else ''}"
    return BackupSource(name, max(times), count)


def parse_snapshot_times(text: str) -> list[float]:
    """Unix times of the snapshots in ``restic snapshots --json`` output."""
    try:
        snapshots = json.loads(text or "[]")
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg})") from None
    if snapshots is None:
        return []
    if not isinstance(snapshots, list):
        raise ValueError("not a list of snapshots")
    times = []
    for snapshot in snapshots:
        made = snapshot.get("time") if isinstance(snapshot, dict) else None
        if not isinstance(made, str):
            raise ValueError("a snapshot without a time")
        times.append(_parse_time(made))
    return times


def _parse_time(text: str) -> float:
    """RFC 3339 with up to nanoseconds (Go's format) as a Unix time."""
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(trimmed).timestamp()
    except ValueError:
        raise ValueError(f"bad snapshot time {text!r}") from None


def files_source(pattern: str) -> BackupSource:
    """The newest regular file matching ``pattern`` (``**`` reaches into subdirectories)."""
    name = f"backup files {pattern}"
    newest: tuple[float, str, int] | None = None
    for path in glob.iglob(os.path.expanduser(pattern), recursive=True):
        try:
            info = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and (newest is None or info.st_mtime > newest[0]):
            newest = (info.st_mtime, path, info.st_size)
    if newest is None:
        return BackupSource(name, None, "no file matches")
    made, path, size = newest
    return BackupSource(name, made, f"newest {path}, {_size(size)}")


def _size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def _hide_credentials(location: str) -> str:
    """``rest:https://user:secret@host/`` shown as ``rest:https://…@host/``."""
    return re.sub(r"//[^/@\s]*@", "//…@", location)


def _one_line(said: str) -> str:
    """restic's complaint: its ``Fatal:`` line, else its last line."""
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith("Fatal:")]
    if fatal:
        return fatal[0].removeprefix("Fatal:").strip()
    return lines[-1] if lines else "no message"


def collect_configured_backups() -> BackupFacts:
    """:func:`collect_backups` over the ``[audit]`` settings."""
    from rampart.config import load_settings

    try:
        settings = load_settings().audit
    except RampartError as error:
        raise Unavailable(str(error)) from None
    return collect_backups(
        restic_repository=settings.restic_repository,
        restic_password_file=settings.restic_password_file,
        backup_files=settings.backup_files,
        max_age=settings.backup_max_age,
    )


COLLECTORS: dict[str, Callable[[], Any]] = {"backups": collect_configured_backups}
