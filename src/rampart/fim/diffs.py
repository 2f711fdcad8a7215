"""Copies of small text files, so a change can be shown as a unified diff.

A copy is named by its content's digest (the baseline's algorithm), so the
baseline and its copies never disagree: copies are written before the new
baseline is renamed into place, and those no baseline entry refers to any
more are removed after. Copies are private (0600 in a 0700 folder); files
that hold secrets are never copied (``[fim] nodiff``).
"""

import contextlib
import difflib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

MAX_DIFF_LINES = 200


def printable(text: str) -> str:
    """``text`` safe for a terminal and one line: undecodable bytes and controls escaped.

    File names and contents are chosen by whoever wrote them: a newline would forge a
    report line, an escape sequence would drive the terminal.
    """
    decoded = os.fsencode(text).decode("utf-8", "backslashreplace")
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in decoded
    )


def looks_like_text(content: bytes) -> bool:
    return b"\0" not in content[:8192]


class Copies:
    """The folder of copies under the state dir."""

    def __init__(
        self,
        directory: Path,
        wanted: re.Pattern[str] | None,
        never: re.Pattern[str] | None,
        max_size: int,
    ) -> None:
        self.directory = directory
        self.wanted = wanted
        self.never = never
        self.max_size = max_size

    def eligible(self, path: str) -> bool:
        """Whether a copy of ``path`` is kept (size and text are checked on the content)."""
        return (
            self.max_size > 0
            and self.wanted is not None
            and bool(self.wanted.match(path))
            and not (self.never is not None and self.never.match(path))
        )

    def _path(self, digest: bytes) -> Path:
        return self.directory / digest.hex()

    def keep(self, digest: bytes, content: bytes) -> None:
        """Store ``content`` under its digest (once); errors leave no copy, never half a one."""
        if not looks_like_text(content):
            return
        target = self._path(digest)
        if target.exists():
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            handle, temporary = tempfile.mkstemp(prefix=".copy.", dir=self.directory)
        except OSError:
            return
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(content)
            os.replace(temporary, target)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)

    def diff(self, path: str, old_digest: bytes | None, new_content: bytes | None) -> str:
        """A unified diff from the kept copy to ``new_content``; "" when either is missing."""
        if old_digest is None or new_content is None or not looks_like_text(new_content):
            return ""
        try:
            old_content = self._path(old_digest).read_bytes()
        except OSError:
            return ""
        lines = list(
            difflib.unified_diff(
                old_content.decode("utf-8", "replace").splitlines(),
                new_content.decode("utf-8", "replace").splitlines(),
                fromfile=f"{printable(path)} (baseline)",
                tofile=printable(path),
                lineterm="",
            )
        )
        if len(lines) > MAX_DIFF_LINES:
            lines = [*lines[:MAX_DIFF_LINES], f"... ({len(lines) - MAX_DIFF_LINES} more lines)"]
        return "\n".join(lines)

    def prune(self, digests: Iterable[bytes]) -> None:
        """Remove the copies whose digest is not in ``digests``."""
        keep = {digest.hex() for digest in digests}
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if name not in keep:
                with contextlib.suppress(OSError):
                    os.unlink(self.directory / name)
