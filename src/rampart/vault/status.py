"""What needs attention in a vault: plaintext left or staged, files behind the admin list."""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rampart.vault import gitrepo, keys
from rampart.vault.document import EncryptedFile
from rampart.vault.errors import VaultError
from rampart.vault.formats import PARSERS
from rampart.vault.metadata import Metadata
from rampart.vault.registry import Entry
from rampart.vault.tree import Pairs, should_encrypt
from rampart.vault.values import is_encrypted
from rampart.vault.vault import Vault


@dataclass
class FileStatus:
    file: str
    mode: str  # "values" (sops, in place) or "whole-file"
    encrypted: bool
    plaintext_present: bool = False
    plaintext_staged: bool = False
    missing_admins: list[str] = field(default_factory=list)
    former_admins: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def needs_attention(self) -> bool:
        return bool(self.plaintext_staged or self.missing_admins or self.former_admins
                    or self.problem or not self.encrypted)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "needs_attention": self.needs_attention}


def clear_text_problem(kind: str, text: str, where: str) -> str | None:
    """Why ``text`` is not a safely encrypted file of ``kind``, or None when it is."""
    try:
        tree, block = PARSERS[kind](text, where)
        if block is None:
            return "no sops metadata: clear text"
        rules = Metadata.from_dict(block, where).rules
    except VaultError as error:
        return str(error)
    found: list[str] = []

    def visit(node: Any, path: list[str]) -> None:
        if isinstance(node, Pairs):
            for key, value in node:
                if isinstance(key, str):
                    visit(value, [*path, key])
        elif isinstance(node, dict):
            for key, value in node.items():
                visit(value, [*path, str(key)])
        elif isinstance(node, list):
            for item in node:
                visit(item, path)
        elif node not in (None, "") and should_encrypt(path, rules) and not is_encrypted(node):
            found.append(":".join(path))

    visit(tree, [])
    return f"clear-text value at {found[0]}" if found else None


def file_status(vault: Vault, entry: Entry, staged: set[str]) -> FileStatus:
    encrypted_path = vault.root / entry.encrypted_relative
    status = FileStatus(entry.relative, "whole-file" if entry.whole_file else "values",
                        encrypted_path.is_file())
    if entry.whole_file:
        status.plaintext_present = (vault.root / entry.relative).exists()
        status.plaintext_staged = entry.relative in staged
    else:
        status.plaintext_present = _in_clear(encrypted_path, entry.kind)
        if entry.relative in staged:
            text = gitrepo.staged_text(vault.root, entry.relative)
            status.plaintext_staged = text is None or clear_text_problem(
                entry.kind, text, entry.relative) is not None
    if not status.encrypted:
        status.problem = f"{entry.encrypted_relative} is missing"
        return status
    try:
        recipients = EncryptedFile.read(encrypted_path, entry.kind).recipients()
    except VaultError as error:
        status.problem = str(error)
        return status
    admins = vault.admins()
    status.missing_admins = [a.name for a in admins
                             if not any(keys.same_key(a.recipient.text, r) for r in recipients)]
    status.former_admins = [keys.Recipient(r).short for r in recipients
                            if not any(keys.same_key(a.recipient.text, r) for a in admins)]
    return status


def _in_clear(path: Path, kind: str) -> bool:
    """True when a structured file in the work tree holds clear-text values."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    problem = clear_text_problem(kind, text, str(path))
    return problem is not None and ("clear" in problem)


def vault_status(vault: Vault) -> list[FileStatus]:
    staged = gitrepo.staged(vault.root) if gitrepo.toplevel(vault.root) else set()
    return [file_status(vault, entry, staged) for entry in vault.entries()]


def describe(status: FileStatus) -> str:
    notes = []
    if status.problem:
        notes.append(status.problem)
    if status.plaintext_staged:
        notes.append("PLAINTEXT STAGED in git")
    if status.plaintext_present:
        where = "git-ignored" if status.mode == "whole-file" else "decrypted in place!"
        notes.append(f"plaintext present ({where})")
    if status.missing_admins:
        notes.append("not readable by " + ", ".join(status.missing_admins))
    if status.former_admins:
        notes.append("still readable by former admin " + ", ".join(status.former_admins))
    if status.missing_admins or status.former_admins:
        notes.append("run 'rampart vault rekey'")
    return f"{status.file} [{status.mode}]: " + ("; ".join(notes) or "ok")


__all__ = ["FileStatus", "clear_text_problem", "describe", "vault_status"]
