"""Admins' keys: age X25519 recipients and SSH public keys (ed25519, RSA).

The data key of every file is wrapped for each admin with age (armored, one
age file per admin, as sops stores it), so a team's existing SSH keys are
enough. Identities (the private side) come from an age identity file or an
unencrypted OpenSSH private key.
"""

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import pyrage

from rampart.vault.errors import KeyError_

# pyrage ships no type information: its x25519/ssh Recipient and Identity objects
AgeRecipient: TypeAlias = Any
AgeIdentity: TypeAlias = Any

_SSH_TYPES = ("ssh-ed25519", "ssh-rsa")
KEY_ENV = "RAMPART_VAULT_KEY"


@dataclass(frozen=True)
class Recipient:
    """One admin's public key, in the text form sops writes as ``recipient``."""

    text: str

    @classmethod
    def parse(cls, text: str) -> "Recipient":
        """Validate an ``age1...`` key or an ``ssh-ed25519``/``ssh-rsa`` public key line."""
        words = text.strip().split()
        if len(words) == 1 and words[0].startswith("age1"):
            try:
                pyrage.x25519.Recipient.from_str(words[0])
            except pyrage.RecipientError:
                raise KeyError_(f"not a valid age public key: {words[0][:20]}...") from None
            return cls(words[0])
        if len(words) >= 2 and words[0] in _SSH_TYPES:
            try:
                blob = base64.b64decode(words[1], validate=True)
            except (binascii.Error, ValueError):
                raise KeyError_(f"not a valid {words[0]} public key (bad base64)") from None
            if not blob.startswith(len(words[0]).to_bytes(4, "big") + words[0].encode()):
                raise KeyError_(f"not a valid {words[0]} public key (type mismatch)")
            line = f"{words[0]} {words[1]}"
            try:
                pyrage.ssh.Recipient.from_str(line)
            except pyrage.RecipientError:
                raise KeyError_(f"not a usable {words[0]} public key") from None
            return cls(line)
        shown = text.strip()[:30]
        raise KeyError_(
            f"not an age (age1...) or SSH (ssh-ed25519, ssh-rsa) public key: {shown!r}"
        )

    def to_age(self) -> AgeRecipient:
        if self.text.startswith("age1"):
            return pyrage.x25519.Recipient.from_str(self.text)
        return pyrage.ssh.Recipient.from_str(self.text)

    @property
    def short(self) -> str:
        """A short form for listings: type and the first characters of the key."""
        words = self.text.split()
        if len(words) < 2:
            return self.text[:16] + "..."
        return f"{words[0]} ...{words[1][-12:]}"


def same_key(left: str, right: str) -> bool:
    """True when two recipient texts name the same key (SSH comments ignored)."""
    return left.split()[:2] == right.split()[:2]


def wrap(data_key: bytes, recipient: Recipient) -> str:
    """The data key encrypted with age for one recipient, armored."""
    sealed = pyrage.encrypt(data_key, [recipient.to_age()], armored=True)
    return bytes(sealed).decode("ascii")


def unwrap(armored: str, identities: list[AgeIdentity]) -> bytes | None:
    """The data key, or None when none of ``identities`` can open this wrapper."""
    try:
        return bytes(pyrage.decrypt(armored.encode("ascii"), identities))
    except (pyrage.DecryptError, UnicodeEncodeError, ValueError):
        return None


@dataclass(frozen=True)
class Identity:
    """Private keys read from one file, and where they came from."""

    path: Path
    keys: list[AgeIdentity]
    public: list[Recipient]

    @property
    def public_texts(self) -> tuple[str, ...]:
        return tuple(recipient.text for recipient in self.public)


def default_identity_paths() -> list[Path]:
    home = Path.home()
    return [home / ".ssh" / "id_ed25519", home / ".config" / "sops" / "age" / "keys.txt"]


def load_identity(path: Path | None = None) -> Identity:
    """Read ``path``, else ``$RAMPART_VAULT_KEY``, else the first default that exists."""
    if path is None and os.environ.get(KEY_ENV):
        path = Path(os.environ[KEY_ENV])
    if path is None:
        return _first_usable_default()
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise KeyError_(f"{path}: cannot read identity: {error.strerror}") from None
    return _parse_identity(path, raw)


def _first_usable_default() -> Identity:
    """~/.ssh/id_ed25519, else the sops age keys: a locked SSH key falls through."""
    found = [candidate for candidate in default_identity_paths() if candidate.is_file()]
    if not found:
        raise KeyError_(
            f"no identity: pass --identity FILE or set {KEY_ENV} "
            "(an age identity file or an unencrypted SSH private key)"
        )
    errors = []
    for candidate in found:
        try:
            return load_identity(candidate)
        except KeyError_ as error:
            errors.append(error)
    raise errors[0]


def _parse_identity(path: Path, raw: bytes) -> Identity:
    text = raw.decode("utf-8", "replace")
    if "AGE-SECRET-KEY-" in text:
        keys: list[AgeIdentity] = []
        public: list[Recipient] = []
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("AGE-SECRET-KEY-"):
                try:
                    identity = pyrage.x25519.Identity.from_str(line)
                except pyrage.IdentityError:
                    raise KeyError_(f"{path}: an invalid age secret key line") from None
                keys.append(identity)
                public.append(Recipient(str(identity.to_public())))
        return Identity(path, keys, public)
    if "PRIVATE KEY" in text:
        if "ENCRYPTED" in text or b"aes256-ctr" in _openssh_body(text):
            raise KeyError_(
                f"{path}: the SSH key has a passphrase; use an unencrypted key or an age identity"
            )
        try:
            ssh_identity = pyrage.ssh.Identity.from_buffer(raw)
        except (pyrage.IdentityError, ValueError):
            raise KeyError_(f"{path}: not a usable SSH private key (ed25519 or RSA)") from None
        public_line = _public_line(path)
        return Identity(path, [ssh_identity], [public_line] if public_line else [])
    raise KeyError_(f"{path}: neither an age identity file nor an SSH private key")


def _openssh_body(text: str) -> bytes:
    lines = [line for line in text.splitlines() if line and not line.startswith("-----")]
    try:
        return base64.b64decode("".join(lines))
    except (binascii.Error, ValueError):
        return b""


def _public_line(private: Path) -> Recipient | None:
    public = private.with_name(private.name + ".pub")
    try:
        return Recipient.parse(public.read_text(encoding="utf-8"))
    except (OSError, KeyError_):
        return None
