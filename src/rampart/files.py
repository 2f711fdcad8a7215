"""Files rampart writes: whole or not at all, private by default.

A report, a status file or a configuration is written to a temporary file
beside its destination, flushed to disk and renamed over it, so a crash or a
full disk never leaves half a file where a reader expects a whole one.
"""

import contextlib
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TextIO

from rampart.errors import RampartError


def write_atomically(path: Path, write: Callable[[TextIO], object], mode: int = 0o600) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it to ``path``."""

    def as_text(out: BinaryIO) -> None:
        text = io.TextIOWrapper(out, encoding="utf-8")
        write(text)
        text.flush()
        text.detach()  # the binary file stays open for the fsync

    _replace(path, mode, as_text)


def write_bytes_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync, rename over it."""
    _replace(path, mode, lambda out: out.write(data))


def _replace(path: Path, mode: int, write: Callable[[BinaryIO], object]) -> None:
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
    except OSError as error:
        raise RampartError(f"{path}: cannot write in {path.parent}: {error.strerror}") from None
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise RampartError(f"{path}: cannot write: {error.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
