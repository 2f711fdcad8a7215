"""Plaintext on disk: private temporary folders, atomic writes, and shredding."""

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rampart import files
from rampart.errors import RampartError
from rampart.vault.errors import VaultError


def write_bytes_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """:func:`rampart.files.write_bytes_atomically`, failing as a VaultError."""
    try:
        files.write_bytes_atomically(path, data, mode)
    except RampartError as error:
        raise VaultError(str(error)) from None


def shred(path: Path) -> bool:
    """Overwrite a file with zeros, sync and delete it; False if it was not there.

    On copy-on-write or journaling file systems and SSDs the old blocks may
    survive; the overwrite is a best effort, the deletion is certain.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    # A symlink or a hard link is only unlinked: overwriting would zero another file.
    if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
        with contextlib.suppress(OSError), path.open("r+b") as handle:
            handle.write(b"\0" * info.st_size)
            handle.flush()
            os.fsync(handle.fileno())
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as error:
        raise VaultError(f"{path}: cannot delete plaintext: {error.strerror}") from None
    return True


@contextlib.contextmanager
def private_directory() -> Iterator[Path]:
    """A 0700 folder (in /dev/shm when there is one) whose files are shredded at exit."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # noqa: S108 (memory, not disk)
    folder = Path(tempfile.mkdtemp(prefix="rampart-vault-", dir=base))
    try:
        yield folder
    finally:
        for item in folder.rglob("*"):
            if item.is_file():
                shred(item)
        shutil.rmtree(folder, ignore_errors=True)
