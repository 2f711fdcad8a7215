"""The vault of one repository: admins, registered files, and what to do with them.

Structured files (YAML, JSON, dotenv, INI) are encrypted in place, value by
value, in sops' format. Any other file is encrypted whole into ``FILE.vault``
(sops' binary format) and its plaintext is git-ignored and shredded, as
blackbox did. Every write is atomic, and every file is opened and checked
before the first one is rewritten.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rampart.vault import formats, gitrepo, keys
from rampart.vault.document import EncryptedFile, Opened, render, rewrap, seal
from rampart.vault.errors import VaultError
from rampart.vault.metadata import Metadata
from rampart.vault.registry import (
    Admin,
    Entry,
    Registry,
    add_to_gitignore,
    check_name,
    relative_to_root,
    remove_from_gitignore,
)
from rampart.vault.secure import shred, write_bytes_atomically
from rampart.vault.tree import Pairs


@dataclass(frozen=True)
class Exposure:
    """What a removed admin could read: a file and the key paths in it."""

    file: str
    keys: tuple[str, ...]


class Vault:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.registry = Registry(root)

    # --- set-up and admins -------------------------------------------------------

    @classmethod
    def init(cls, root: Path, admins: list[Admin]) -> "Vault":
        vault = cls(root)
        if vault.registry.folder.exists():
            raise VaultError(f"{vault.registry.folder}: a vault is already set up here")
        if not admins:
            raise VaultError("no admin: pass --admin KEY or an identity with a public key")
        vault.registry.save_admins(admins)
        vault.registry.save_entries([])
        return vault

    def admins(self) -> list[Admin]:
        return self.registry.admins()

    def recipients(self) -> list[keys.Recipient]:
        return [admin.recipient for admin in self.admins()]

    def add_admin(
        self, name: str, recipient: keys.Recipient, identity: keys.Identity | None
    ) -> int:
        """Wrap every file's data key for one more admin; the number of files updated."""
        admins = self.admins()
        check_name(name)
        if any(a.name == name or keys.same_key(a.recipient.text, recipient.text) for a in admins):
            raise VaultError(f"admin {name}: that name or key is already an admin")
        new_admins = [*admins, Admin(name, recipient)]
        recipients = [a.recipient for a in new_admins]
        opened = self._open_all(identity)
        writes = [(f, rewrap(o.metadata, o.data_key, recipients), f.tree) for f, o in opened]
        for encrypted, metadata, tree in writes:
            self._write_encrypted(encrypted.path, encrypted.kind, tree, metadata)
        self.registry.save_admins(new_admins)
        return len(writes)

    def remove_admin(self, who: str, identity: keys.Identity) -> list[Exposure]:
        """Re-encrypt every file with a new data key without ``who``; what they could read."""
        admins = self.admins()
        gone = [a for a in admins if a.name == who or keys.same_key(a.recipient.text, who)]
        if not gone:
            raise VaultError(f"{who}: not an admin (see 'rampart vault admins list')")
        kept = [a for a in admins if a not in gone]
        if not kept:
            raise VaultError("cannot remove the last admin: nobody could open the files")
        exposures = self._rekey(kept, identity, gone[0].recipient.text)
        self.registry.save_admins(kept)
        return exposures

    def rekey(self, identity: keys.Identity) -> list[Exposure]:
        """Every file under a new data key for exactly the admin list; who lost access where."""
        return self._rekey(self.admins(), identity, None)

    def _rekey(self, admins: list[Admin], identity: keys.Identity, removed: str | None
               ) -> list[Exposure]:
        """Open every file, then re-encrypt each with a new data key for ``admins``.

        Returns the files (and key paths) readable before by ``removed``, or, without
        ``removed``, by any recipient that is not in ``admins``.
        """
        opened = self._open_all(identity)
        recipients = [a.recipient for a in admins]
        exposures = []
        sealed = []
        for entry, (encrypted, plain) in zip(self.registry.entries(), opened, strict=True):
            if removed is None:
                lost = any(not any(keys.same_key(r, a.recipient.text) for a in admins)
                           for r in encrypted.recipients())
            else:
                lost = any(keys.same_key(r, removed) for r in encrypted.recipients())
            if lost:
                paths = () if entry.whole_file else _key_paths(plain.tree)
                exposures.append(Exposure(entry.relative, paths))
            tree, metadata = seal(plain.tree, recipients, rules=plain.metadata.rules)
            sealed.append((encrypted, tree, metadata))
        for encrypted, tree, metadata in sealed:
            self._write_encrypted(encrypted.path, encrypted.kind, tree, metadata)
        return exposures

    # --- files -------------------------------------------------------------------------

    def register(self, path: Path) -> tuple[Entry, list[str]]:
        """Encrypt ``path`` for the admins and record it; notes for the operator."""
        relative = relative_to_root(self.root, path)
        entry = Entry(relative, formats.format_of(Path(relative)))
        if entry.relative in {e.relative for e in self.registry.entries()}:
            raise VaultError(f"{path}: already registered")
        plain_path = self.root / relative
        try:
            data = plain_path.read_bytes()
        except OSError as error:
            raise VaultError(f"{path}: cannot read: {error.strerror}") from None
        notes: list[str] = []
        if entry.whole_file:
            if (self.root / entry.encrypted_relative).exists():
                raise VaultError(f"{entry.encrypted_relative} exists already: move it away first")
            tree = formats.parse_binary_plain(data)
        else:
            tree, block = formats.PARSERS[entry.kind](_text(data, path), str(path))
            if block is not None:  # a file the sops tool wrote: adopt it as it is
                Metadata.from_dict(block, str(path))
                self.registry.save_entries([*self.registry.entries(), entry])
                return entry, [f"{relative} was already sops-encrypted: kept as it is "
                               "('rampart vault status' shows who can read it)"]
        tracked = gitrepo.is_tracked(self.root, relative) if gitrepo.toplevel(self.root) else False
        self._write_encrypted(self.root / entry.encrypted_relative, entry.kind,
                              *seal(tree, self.recipients()))
        if entry.whole_file:
            if tracked:
                gitrepo.untrack(self.root, relative)
                notes.append(f"{relative} was committed in clear text: rotate what it holds")
            add_to_gitignore(self.root, relative)
            shred(plain_path)
        else:
            remove_from_gitignore(self.root, relative)
            if tracked:
                notes.append(f"{relative} was committed in clear text before: rotate its values")
        self.registry.save_entries([*self.registry.entries(), entry])
        return entry, notes

    def open(self, path: Path, identity: keys.Identity) -> tuple[Entry, EncryptedFile, Opened]:
        entry = self.registry.entry(path)
        encrypted = EncryptedFile.read(self.root / entry.encrypted_relative, entry.kind)
        return entry, encrypted, encrypted.open(identity.keys, identity.public_texts)

    def plaintext(self, path: Path, identity: keys.Identity) -> bytes:
        entry, _, opened = self.open(path, identity)
        if entry.whole_file:
            return formats.binary_bytes(opened.tree)
        return render(entry.kind, opened.tree, None).encode()

    def replace_plaintext(self, path: Path, data: bytes, identity: keys.Identity) -> None:
        """Encrypt new content for ``path`` with its data key (as sops edit does)."""
        entry, encrypted, opened = self.open(path, identity)
        if entry.whole_file:
            tree = formats.parse_binary_plain(data)
        else:
            tree, block = formats.PARSERS[entry.kind](_text(data, path), str(path))
            if block is not None:
                raise VaultError(f"{path}: the edited text has a 'sops' key; remove it")
        recipients = self.recipients()
        # Someone who is no longer an admin knows the old data key: then take a new one.
        dropped = any(not any(keys.same_key(old, r.text) for r in recipients)
                      for old in encrypted.recipients())
        new_tree, metadata = seal(tree, recipients, rules=opened.metadata.rules,
                                  data_key=None if dropped else opened.data_key)
        self._write_encrypted(encrypted.path, entry.kind, new_tree, metadata)

    def decrypt_all(self, identity: keys.Identity, into: Path | None = None) -> list[str]:
        """Write the plaintexts: whole files beside their .vault, or everything under ``into``."""
        written = []
        for entry in self.registry.entries():
            if into is None and not entry.whole_file:
                continue
            data = self.plaintext(self.root / entry.relative, identity)
            target = (into or self.root) / entry.relative
            target.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomically(target, data, mode=0o600)
            written.append(str(target) if into else entry.relative)
        return written

    def shred_all(self) -> list[str]:
        return [e.relative for e in self.registry.entries()
                if e.whole_file and shred(self.root / e.relative)]

    def entries(self) -> list[Entry]:
        return self.registry.entries()

    # --- helpers -------------------------------------------------------------------------

    def _open_all(self, identity: keys.Identity | None) -> list[tuple[EncryptedFile, Opened]]:
        opened: list[tuple[EncryptedFile, Opened]] = []
        for entry in self.registry.entries():
            if identity is None:
                identity = keys.load_identity()
            encrypted = EncryptedFile.read(self.root / entry.encrypted_relative, entry.kind)
            opened.append((encrypted, encrypted.open(identity.keys, identity.public_texts)))
        return opened

    def _write_encrypted(self, path: Path, kind: str, tree: Any, metadata: Any) -> None:
        write_bytes_atomically(path, render(kind, tree, metadata).encode(), mode=0o644)


def _text(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise VaultError(f"{path}: not UTF-8 text") from None


def _key_paths(tree: Any, prefix: str = "") -> tuple[str, ...]:
    """Dotted paths of every value in ``tree`` (``data`` for a whole file)."""
    if isinstance(tree, Pairs):
        items: list[tuple[Any, Any]] = [(k, v) for k, v in tree if isinstance(k, str)]
    elif isinstance(tree, dict):
        items = list(tree.items())
    elif isinstance(tree, list):
        return tuple(p for i, v in enumerate(tree) for p in _key_paths(v, f"{prefix}[{i}]"))
    else:
        return (prefix,) if prefix else ()
    return tuple(p for k, v in items for p in _key_paths(v, f"{prefix}.{k}" if prefix else k))
