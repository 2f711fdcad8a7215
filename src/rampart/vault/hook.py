"""The git pre-commit hook: no plaintext of a registered file gets committed.

The hook runs ``rampart vault pre-commit`` with the Python that installed it.
It refuses the commit when a whole-file secret's plaintext is staged, when a
registered structured file is staged with clear-text values, and, when the
secret scanner (``rampart.scan``) is installed, when ``rampart scan --staged``
finds a secret.
"""

import importlib.util
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from rampart.system import run
from rampart.vault import gitrepo
from rampart.vault.errors import VaultError
from rampart.vault.secure import write_bytes_atomically
from rampart.vault.status import clear_text_problem
from rampart.vault.vault import Vault

HOOK_MARK = "# installed by 'rampart vault install-hook'"


def install_hook(root: Path, *, force: bool = False) -> Path:
    """Write ``pre-commit`` into the repository's hooks folder (core.hooksPath honoured)."""
    if gitrepo.toplevel(root) is None:
        raise VaultError(f"{root}: not a git repository")
    hook = gitrepo.hook_path(root, "pre-commit")
    ours = not hook.exists() or HOOK_MARK in hook.read_text(encoding="utf-8", errors="replace")
    if not ours and not force:
        raise VaultError(f"{hook}: a pre-commit hook exists; --force replaces it")
    python = shlex.quote(sys.executable)
    script = (
        f"#!/bin/sh\n{HOOK_MARK}\n"
        f"exec {python} -m rampart.cli.main vault --repo . pre-commit\n"
    )
    hook.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(hook, script.encode(), mode=0o755)
    return hook


@dataclass(frozen=True)
class Refusal:
    file: str
    reason: str


def check_staged(vault: Vault) -> list[Refusal]:
    """Every reason to refuse the commit that is being made in ``vault.root``."""
    staged = gitrepo.staged(vault.root)
    refusals = []
    for entry in vault.entries():
        if entry.whole_file and entry.relative in staged:
            refusals.append(Refusal(entry.relative, "plaintext of a vault file (git rm --cached)"))
        elif not entry.whole_file and entry.relative in staged:
            text = gitrepo.staged_text(vault.root, entry.relative)
            problem = "not text" if text is None else clear_text_problem(
                entry.kind, text, entry.relative)
            if problem:
                refusals.append(Refusal(entry.relative, problem))
    return refusals


def scanner_available() -> bool:
    return importlib.util.find_spec("rampart.scan") is not None


def run_scanner() -> tuple[int, str]:
    """``rampart scan --staged`` (run from the repository top, as git runs hooks)."""
    result = run([sys.executable, "-m", "rampart.cli.main", "scan", "--staged"],
                 check=False, timeout=600)
    return result.returncode, (result.stdout + result.stderr).strip()
