"""``edit``: decrypt to a private file, run $EDITOR, encrypt back only what changed."""

import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from rampart.vault import keys
from rampart.vault.errors import VaultError
from rampart.vault.secure import private_directory
from rampart.vault.vault import Vault

DEFAULT_EDITOR = "vi"


def editor_command() -> list[str]:
    """``$VISUAL`` or ``$EDITOR`` split like a shell would split words (no shell runs)."""
    text = os.environ.get("VISUAL") or os.environ.get("EDITOR") or DEFAULT_EDITOR
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise VaultError(f"$EDITOR {text!r} cannot be split: {error}") from None
    if not words:
        raise VaultError("$EDITOR is empty")
    return words


class Interrupted(VaultError):
    """SIGTERM or SIGHUP arrived while the plaintext was out."""


@contextlib.contextmanager
def _cleanup_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into an exception, so the plaintext is shredded on the way out."""

    def stop(number: int, _frame: FrameType | None) -> None:
        raise Interrupted(f"interrupted by {signal.Signals(number).name}: nothing was changed")

    saved = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def edit(vault: Vault, path: Path, identity: keys.Identity) -> bool:
    """Edit ``path``; True when a change was encrypted and written, False when none."""
    before = vault.plaintext(path, identity)
    command = editor_command()
    with _cleanup_on_signals(), private_directory() as folder:
        scratch = folder / path.name
        descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(before)
        try:
            result = subprocess.run([*command, str(scratch)], check=False)
        except OSError as error:
            raise VaultError(f"cannot run editor {command[0]}: {error.strerror}") from None
        if result.returncode != 0:
            raise VaultError(
                f"editor exited with status {result.returncode}: {path} left unchanged"
            )
        after = scratch.read_bytes()
        if after != before:
            vault.replace_plaintext(path, after, identity)
    return after != before
