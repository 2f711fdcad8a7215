"""Which files a scan reads, and reading one: git's view when there is a repository.

In a git work tree the files are ``git ls-files -co --exclude-standard`` (tracked
and untracked, minus what .gitignore ignores); elsewhere, in a folder git
ignores as a whole, or when asked for all files, every regular file below the
path, minus ``.git``. Symbolic links are not followed, binaries (a
NUL byte in the first 8 KiB) and files over :data:`MAX_FILE_BYTES` are skipped.
"""

import os
from collections.abc import Iterator
from pathlib import Path

from rampart.errors import UsageError
from rampart.system import CommandError, run

MAX_FILE_BYTES = 10 * 1024 * 1024
BINARY_PROBE = 8192
GIT_TIMEOUT = 120.0


def read_text_file(path: str, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """The bytes of ``path``, or None for a binary, a file over ``limit`` or an unreadable one."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError:
        return None
    if len(data) > limit or b"\0" in data[:BINARY_PROBE]:
        return None
    return data


def files_to_scan(paths: list[Path], git: str | None = "git") -> Iterator[str]:
    """Every file below ``paths`` a scan should read, each once; UsageError for a missing path.

    ``git=None`` reads every file, whatever .gitignore says.
    """
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"{path}: no such file or directory")
    seen: set[str] = set()
    for path in paths:
        for name in _files_below(path, git):
            if name not in seen:
                seen.add(name)
                yield name


def _files_below(path: Path, git: str | None) -> Iterator[str]:
    if not path.is_dir():
        if path.is_file() and not path.is_symlink():
            yield str(path)
        return
    listed = _git_files(path, git) if git is not None else None
    if listed is None:
        yield from _walk(path)
        return
    for name in listed:
        full = os.path.normpath(os.path.join(path, name))
        if os.path.isfile(full) and not os.path.islink(full):
            yield full


def _git_files(path: Path, git: str) -> list[str] | None:
    """The files git would show below ``path`` (relative to it), or None outside a work tree."""
    try:
        probe = run([git, "-C", str(path), "rev-parse", "--is-inside-work-tree"], check=False)
        if probe.returncode != 0 or probe.stdout.strip() != "true":
            return None
        ignored = run([git, "-C", str(path), "check-ignore", "-q", "."], check=False)
        if ignored.returncode == 0:  # asked for explicitly: read it all
            return None
        listing = run(
            [git, "-C", str(path), "ls-files", "-z", "-co", "--exclude-standard"],
            timeout=GIT_TIMEOUT,
        )
    except (CommandError, UnicodeDecodeError):  # no git, or names git cannot give as UTF-8
        return None
    return [name for name in listing.stdout.split("\0") if name]


def _walk(path: Path) -> Iterator[str]:
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(name for name in dirs if name != ".git")
        for name in sorted(names):
            full = os.path.normpath(os.path.join(root, name))
            if os.path.isfile(full) and not os.path.islink(full):  # no FIFOs, devices, links
                yield full
