"""One encrypted value in sops' format: ``ENC[AES256_GCM,data:..,iv:..,tag:..,type:..]``.

AES-256-GCM with a 32-byte nonce, the value's path (``key:sub:``) as
additional data, and the type of the plaintext kept beside it, exactly as
sops writes it, so either tool reads what the other wrote. Values are turned
into bytes the way sops (and the Python sops before it) does: ``True``/``False``
for booleans, floats without exponent or trailing zeros.
"""

import base64
import binascii
import os
import re
from dataclasses import dataclass
from decimal import Decimal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rampart.vault.errors import IntegrityError, VaultError

NONCE_SIZE = 32
TAG_SIZE = 16
_ENCRYPTED = re.compile(r"^ENC\[AES256_GCM,data:(.*),iv:(.+),tag:(.+),type:(.+)\]$")


class SopsTime(str):
    """A timestamp sops encrypted as ``type:time`` (kept as its RFC 3339 text)."""


@dataclass(frozen=True)
class Comment:
    """A comment line sops encrypts too (dotenv); never part of the MAC."""

    text: str


Plain = str | bytes | bool | int | float | Comment


def is_encrypted(value: object) -> bool:
    """True when ``value`` is a string in sops' encrypted-value format."""
    return isinstance(value, str) and _ENCRYPTED.match(value) is not None


def go_float(number: float) -> str:
    """``strconv.FormatFloat(v, 'f', -1, 64)``: shortest digits, no exponent."""
    if number != number:  # NaN
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "+Inf" if number > 0 else "-Inf"
    text = format(Decimal(repr(number)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def to_bytes(value: Plain) -> bytes:
    """The bytes sops hashes into the MAC and encrypts for ``value``."""
    if isinstance(value, Comment):
        return value.text.encode()
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return go_float(value).encode()
    return value.encode("utf-8", "surrogateescape")


def type_name(value: Plain) -> str:
    """The ``type:`` sops records for a plaintext of this kind."""
    if isinstance(value, Comment):
        return "comment"
    if isinstance(value, SopsTime):
        return "time"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


def encrypt(value: Plain, key: bytes, path: str) -> str:
    """Encrypt one value; an empty string stays empty, as in sops."""
    if value == "" or value == b"" or value == Comment(""):
        return ""
    nonce = os.urandom(NONCE_SIZE)
    sealed = AESGCM(key).encrypt(nonce, to_bytes(value), path.encode())
    data, tag = sealed[:-TAG_SIZE], sealed[-TAG_SIZE:]
    data64, nonce64, tag64 = (base64.b64encode(part).decode() for part in (data, nonce, tag))
    return f"ENC[AES256_GCM,data:{data64},iv:{nonce64},tag:{tag64},type:{type_name(value)}]"


def decrypt(text: str, key: bytes, path: str, where: str) -> Plain:
    """Decrypt one value written by :func:`encrypt` (or by sops)."""
    if text == "":
        return ""
    match = _ENCRYPTED.match(text)
    if match is None:
        raise IntegrityError(f"{where}: not a sops encrypted value (was it changed by hand?)")
    try:
        data, nonce, tag = (base64.b64decode(part, validate=True) for part in match.group(1, 2, 3))
    except (binascii.Error, ValueError):
        raise IntegrityError(f"{where}: encrypted value is not valid base64 (truncated?)") from None
    kind = match.group(4)
    if len(nonce) < 8 or len(tag) != TAG_SIZE:
        raise IntegrityError(f"{where}: encrypted value has a bad iv or tag (truncated?)")
    try:
        plain = AESGCM(key).decrypt(nonce, data + tag, path.encode())
    except InvalidTag:
        raise IntegrityError(
            f"{where}: value does not verify (tampered, moved, or encrypted with another key)"
        ) from None
    return _typed(plain, kind, where)


def _typed(plain: bytes, kind: str, where: str) -> Plain:
    text = plain.decode("utf-8", "surrogateescape")
    try:
        if kind == "str":
            return text
        if kind in ("int", "int64"):
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            return _go_bool(text)
        if kind == "bytes":
            return plain
        if kind == "time":
            return SopsTime(text)
        if kind == "comment":
            return Comment(text)
    except ValueError:
        raise IntegrityError(f"{where}: decrypted value is not a valid {kind}") from None
    raise VaultError(f"{where}: unknown value type {kind!r} (written by a newer sops?)")


def _go_bool(text: str) -> bool:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(text)
