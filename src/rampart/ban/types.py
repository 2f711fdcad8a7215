"""What a ban is, as every part sees it.

A ban names an address or a network (an IPv6 client is often banned by its
/64), the jail that asked for it, and when it started and ends. Addresses are
parsed by :mod:`ipaddress`, never passed on as text, so nothing that reaches
the firewall or the database can be anything but an address.
"""

import ipaddress
from dataclasses import dataclass
from typing import NamedTuple

from rampart.errors import UsageError

BanTarget = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_target(text: str) -> BanTarget:
    """An address or network (``192.0.2.7``, ``2001:db8::/64``), strictly parsed.

    A host address becomes a /32 or /128 network; host bits set in a network
    (``192.0.2.7/24``) are an error rather than silently widened.
    """
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError:
        raise UsageError(f"{text!r} is not an IP address or network") from None


@dataclass(frozen=True, slots=True)
class Ban:
    """One ban: who, by which jail, from when, until when (None: for ever)."""

    target: BanTarget
    jail: str
    banned_at: float
    expires_at: float | None

    def active(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now

    def remaining(self, now: float) -> float | None:
        """Seconds left (None: permanent); 0 once expired."""
        return None if self.expires_at is None else max(0.0, self.expires_at - now)


class StoredBan(NamedTuple):
    """A ban as the store holds it, its target still text (``192.0.2.7/32``).

    A start restores 100,000 of these: building an ipaddress object for each
    costs most of a second, so a backend may parse the text itself, as
    strictly (nftables: inet_pton, no host bits), or turn it into a
    :class:`Ban` with :meth:`ban`.
    """

    target: str
    jail: str
    banned_at: float
    expires_at: float | None

    def remaining(self, now: float) -> float | None:
        return None if self.expires_at is None else max(0.0, self.expires_at - now)

    def ban(self) -> Ban:
        """The same ban with its target parsed (UsageError if it is not a network)."""
        return Ban(parse_target(self.target), self.jail, self.banned_at, self.expires_at)
