"""A sops document: encrypt a file's values for recipients, open it with an identity.

``seal`` makes (or keeps) a 32-byte data key, wraps it for each recipient
with age, encrypts every value and the MAC; ``open_document`` unwraps the data
key with the first identity that fits, decrypts every value and refuses the
file unless the MAC it recomputes matches the one stored.
"""

import datetime
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rampart.vault import formats, keys, values
from rampart.vault.errors import IntegrityError, KeyError_, VaultError
from rampart.vault.metadata import AgeEntry, Metadata, Rules
from rampart.vault.tree import decrypt_tree, encrypt_tree

DATA_KEY_SIZE = 32


@dataclass(frozen=True)
class Opened:
    """A decrypted document: its plain tree, data key and metadata as found."""

    tree: Any
    data_key: bytes
    metadata: Metadata


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seal(
    tree: Any,
    recipients: list[keys.Recipient],
    *,
    data_key: bytes | None = None,
    rules: Rules | None = None,
) -> tuple[Any, Metadata]:
    """Encrypt ``tree`` for ``recipients``; a new data key unless one is given."""
    if not recipients:
        raise KeyError_("no recipients: add an admin first ('rampart vault admins add')")
    key = data_key or os.urandom(DATA_KEY_SIZE)
    rules = rules or Rules()
    encrypted, mac = encrypt_tree(tree, key, rules)
    stamp = now_rfc3339()
    metadata = Metadata(
        age=tuple(AgeEntry(r.text, keys.wrap(key, r)) for r in recipients),
        lastmodified=stamp,
        mac=values.encrypt(mac, key, stamp),
        rules=rules,
    )
    return encrypted, metadata


def open_document(
    tree: Any,
    metadata: Metadata,
    identities: list[keys.AgeIdentity],
    where: str,
    public: tuple[str, ...] = (),
) -> Opened:
    """Decrypt and verify; IntegrityError when anything was changed."""
    key = data_key_of(metadata, identities, where, public)
    plain, computed = decrypt_tree(tree, key, metadata.rules, where)
    stored = values.decrypt(metadata.mac, key, metadata.lastmodified, f"{where}: sops mac")
    if stored != computed:
        raise IntegrityError(f"{where}: MAC mismatch: the file was changed outside sops/rampart")
    return Opened(plain, key, metadata)


def data_key_of(
    metadata: Metadata,
    identities: list[keys.AgeIdentity],
    where: str,
    public: tuple[str, ...] = (),
) -> bytes:
    """The data key from the first wrapper an identity opens (``public``: their own keys)."""
    if not metadata.age:
        kinds = ", ".join(metadata.other_kinds) or "none"
        raise KeyError_(f"{where}: no age recipients in the file (key kinds: {kinds})")
    for entry in metadata.age:
        key = keys.unwrap(entry.enc, identities)
        if key is not None:
            if len(key) != DATA_KEY_SIZE:
                raise IntegrityError(f"{where}: the wrapped data key has a wrong length")
            return key
    for entry in metadata.age:
        if any(keys.same_key(entry.recipient, mine) for mine in public):
            raise IntegrityError(
                f"{where}: the data key wrapped for your key does not open: "
                "the file is damaged or was tampered with"
            )
    raise KeyError_(f"{where}: none of your keys can open this file (not an admin of it?)")


def rewrap(metadata: Metadata, data_key: bytes, recipients: list[keys.Recipient]) -> Metadata:
    """The same data key wrapped for a new list of recipients (adding an admin)."""
    kept = {entry.recipient: entry for entry in metadata.age}
    entries = tuple(
        kept.get(r.text) or AgeEntry(r.text, keys.wrap(data_key, r)) for r in recipients
    )
    return replace(metadata, age=entries)


@dataclass(frozen=True)
class EncryptedFile:
    """An encrypted file on disk, parsed: its format, tree and metadata."""

    path: Path
    kind: str
    tree: Any
    metadata: Metadata

    @classmethod
    def read(cls, path: Path, kind: str | None = None) -> "EncryptedFile":
        kind = kind or formats.format_of(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise VaultError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise VaultError(f"{path}: cannot read: {error}") from None
        tree, block = formats.PARSERS[kind](text, str(path))
        if block is None:
            raise IntegrityError(f"{path}: no sops metadata (not encrypted, or truncated)")
        return cls(path, kind, tree, Metadata.from_dict(block, str(path)))

    def open(self, identities: list[keys.AgeIdentity], public: tuple[str, ...] = ()) -> Opened:
        return open_document(self.tree, self.metadata, identities, str(self.path), public)

    def recipients(self) -> list[str]:
        return [entry.recipient for entry in self.metadata.age]


def render(kind: str, tree: Any, metadata: Metadata | None) -> str:
    """The file text for ``tree`` (encrypted with ``metadata``, or plain)."""
    block = None if metadata is None else metadata.to_dict()
    return formats.EMITTERS[kind](tree, block)
