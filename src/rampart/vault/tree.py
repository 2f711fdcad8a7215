"""Walking a document's values the way sops does, to encrypt, decrypt and MAC them.

Values are visited depth first in file order; each value's path (mapping
keys joined by ``:`` with a trailing ``:``; list positions add nothing) is
its additional data. The MAC is SHA-512 over every value's bytes (or only
the encrypted ones with ``mac_only_encrypted``), upper-case hex.
"""

import hashlib
import re
from collections.abc import Callable
from typing import Any

from rampart.vault import values
from rampart.vault.errors import VaultError
from rampart.vault.metadata import Rules
from rampart.vault.values import Comment

# sha256(b"sops"), sops' fixed prefix for a MAC over encrypted values only
_MAC_ONLY_ENCRYPTED_PREFIX = bytes.fromhex(
    "8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69"
)


class Pairs(list[tuple[str | Comment, Any]]):
    """An ordered branch whose items may be comments (dotenv, INI)."""


Leaf = Callable[[Any, list[str], bool], Any]


def should_encrypt(path: list[str], rules: Rules) -> bool:
    encrypted = True
    if rules.unencrypted_suffix and any(p.endswith(rules.unencrypted_suffix) for p in path):
        encrypted = False
    if rules.encrypted_suffix:
        encrypted = any(p.endswith(rules.encrypted_suffix) for p in path)
    if rules.unencrypted_regex and any(re.search(rules.unencrypted_regex, p) for p in path):
        encrypted = False
    if rules.encrypted_regex:
        encrypted = any(re.search(rules.encrypted_regex, p) for p in path)
    return encrypted


def _walk(node: Any, path: list[str], leaf: Leaf) -> Any:
    if isinstance(node, Pairs):
        out = Pairs()
        for key, value in node:
            if isinstance(key, Comment):
                out.append((leaf(key, path, True), value))
            else:
                out.append((key, _walk(value, [*path, key], leaf)))
        return out
    if isinstance(node, dict):
        for key in node:
            if not isinstance(key, str):
                raise VaultError(f"key {key!r} at {':'.join(path)} is not a string")
        return {key: _walk(value, [*path, key], leaf) for key, value in node.items()}
    if isinstance(node, list):
        return [_walk(item, path, leaf) for item in node]
    if node is None:
        return None
    if isinstance(node, str | bytes | bool | int | float):
        return leaf(node, path, False)
    kind = type(node).__name__
    raise VaultError(f"value at {':'.join(path)} has a type sops cannot store: {kind}")


def encrypt_tree(tree: Any, key: bytes, rules: Rules) -> tuple[Any, str]:
    """Encrypt every value that ``rules`` say to; return the new tree and the MAC."""
    digest = hashlib.sha512()
    if rules.mac_only_encrypted:
        digest.update(_MAC_ONLY_ENCRYPTED_PREFIX)

    def leaf(value: Any, path: list[str], is_comment: bool) -> Any:
        encrypted = should_encrypt(path, rules)
        if not is_comment and (encrypted or not rules.mac_only_encrypted):
            digest.update(values.to_bytes(value))
        if not encrypted:
            return value
        text = values.encrypt(value, key, ":".join(path) + ":")
        return Comment(text) if is_comment else text

    return _walk(tree, [], leaf), digest.hexdigest().upper()


def decrypt_tree(tree: Any, key: bytes, rules: Rules, where: str) -> tuple[Any, str]:
    """Decrypt every encrypted value; return the plain tree and the MAC it computes to."""
    digest = hashlib.sha512()
    if rules.mac_only_encrypted:
        digest.update(_MAC_ONLY_ENCRYPTED_PREFIX)

    def leaf(value: Any, path: list[str], is_comment: bool) -> Any:
        encrypted = should_encrypt(path, rules)
        place = f"{where}: {':'.join(path) or '(top)'}"
        if is_comment:
            if encrypted and values.is_encrypted(value.text):
                return values.decrypt(value.text, key, ":".join(path) + ":", place)
            return value
        plain = value
        if encrypted:
            if not isinstance(value, str):
                raise VaultError(f"{place}: a clear-text value where sops expects ENC[...]")
            plain = values.decrypt(value, key, ":".join(path) + ":", place)
        if encrypted or not rules.mac_only_encrypted:
            digest.update(values.to_bytes(plain))
        return plain

    return _walk(tree, [], leaf), digest.hexdigest().upper()
