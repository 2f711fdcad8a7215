"""Canonical text of the addresses a filter captures.

Two spellings of one address (``2001:DB8::0:1`` and ``2001:db8::1``, or
``::ffff:192.0.2.7`` and ``192.0.2.7``) must count as one offender, so a
captured address is parsed and printed back in canonical form. Text that is
not an address (a host name, a malformed quad) is kept as it was written.
"""

import socket
import struct
from functools import lru_cache

_V4_MAPPED_PREFIX = 0xFFFF << 32
_LOW_32 = 0xFFFFFFFF


@lru_cache(maxsize=65536)
def canonical_address(text: str, family: int | None = None, prefix: int | None = None) -> str:
    """Canonical form of ``text``; ``family`` is a hint, ``prefix`` a CIDR length.

    With a prefix the address is masked to its network and printed as
    ``net/len`` (unless the prefix covers the whole address).
    """
    families = (family,) if family is not None else (socket.AF_INET, socket.AF_INET6)
    for candidate in families:
        try:
            packed = socket.inet_pton(candidate, text)
        except OSError:
            continue
        return _format(candidate, packed, prefix)
    return text


def _format(family: int, packed: bytes, prefix: int | None) -> str:
    if family == socket.AF_INET:
        (value,) = struct.unpack("!L", packed)
        bits = 32
    else:
        high, low = struct.unpack("!QQ", packed)
        value = (high << 64) | low
        bits = 128
        if prefix is None and value >> 32 == _V4_MAPPED_PREFIX >> 32:
            return socket.inet_ntop(socket.AF_INET, struct.pack("!L", value & _LOW_32))
    suffix = ""
    if prefix is not None and prefix >= 0:
        prefix = min(prefix, bits)
        value &= ~((1 << (bits - prefix)) - 1) & ((1 << bits) - 1)
        if 0 < prefix < bits:
            suffix = f"/{prefix}"
    if family == socket.AF_INET:
        return socket.inet_ntop(family, struct.pack("!L", value)) + suffix
    return (
        socket.inet_ntop(family, struct.pack("!QQ", value >> 64, value & ((1 << 64) - 1))) + suffix
    )
