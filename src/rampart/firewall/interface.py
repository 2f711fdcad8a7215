"""What every firewall backend does with bans: nftables, iptables+ipset, log only.

The daemon and the CLI only see :class:`BanBackend`, so a backend can be
swapped, or replaced by :class:`~rampart.firewall.logonly.LogOnlyBans` for a
dry run, without touching the jails. Backends take :class:`~rampart.ban.Ban`
values, whose targets are :mod:`ipaddress` networks, and :class:`BanScope`
values, whose fields are checked here: no raw text reaches a firewall.

As in Fail2ban, a ban covers the ports and protocol of the jail that made it
(sshd bans port 22/tcp, not the web server), so each jail has its own sets.
"""

import ipaddress
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from rampart.ban.types import Ban, BanTarget, StoredBan
from rampart.errors import RampartError, UsageError

Protocol = Literal["tcp", "udp", "all"]
PortRanges = tuple[tuple[int, int], ...]

MANUAL = "manual"
"""The jail of bans made by hand; it always exists (every port, every protocol)."""

_JAIL = re.compile(r"[A-Za-z0-9_-]{1,32}")
_NETNS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


class FirewallError(RampartError):
    """The firewall refused a change or could not be read, or a value was unfit for it."""


@dataclass(frozen=True, slots=True)
class BanScope:
    """What a jail's bans block: ``ports`` (inclusive ranges, None: all) of ``protocol``.

    ``protocol`` is ``"tcp"`` or ``"udp"``; ``"all"`` means every protocol
    when ``ports`` is None, and TCP and UDP both when ports are given (only
    they have ports, as in Fail2ban's ``protocol = all`` with a port list).
    Ranges are sorted and merged, so two equal scopes compare equal.
    """

    name: str
    ports: PortRanges | None = None
    protocol: Protocol = "tcp"

    def __post_init__(self) -> None:
        check_jail(self.name)
        if self.protocol not in ("tcp", "udp", "all"):
            raise FirewallError(
                f"jail {self.name}: protocol {self.protocol!r} is not tcp, udp or all"
            )
        if self.ports is not None:
            object.__setattr__(self, "ports", _merged(self.name, self.ports))


def check_jail(name: object) -> str:
    """A jail name fit for set and chain names: 1-32 of letters, digits, ``_`` and ``-``."""
    if not isinstance(name, str) or not _JAIL.fullmatch(name):
        raise FirewallError(f"{name!r} is not a jail name (1-32 letters, digits, '_' or '-')")
    return name


MANUAL_SCOPE = BanScope(MANUAL, None, "all")


def check_target(target: object) -> BanTarget:
    """Refuse anything but an ipaddress network: nothing else may reach a firewall."""
    if not isinstance(target, ipaddress.IPv4Network | ipaddress.IPv6Network):
        raise FirewallError(f"not an address or network: {target!r}")
    return target


def with_manual(scopes: Iterable[BanScope]) -> dict[str, BanScope]:
    """The scopes by name, plus the manual one unless given; one name, one scope."""
    found: dict[str, BanScope] = {}
    for scope in scopes:
        if not isinstance(scope, BanScope):
            raise FirewallError(f"not a ban scope: {scope!r}")
        if found.get(scope.name, scope) != scope:
            raise FirewallError(f"jail {scope.name} is given twice with different ports")
        found[scope.name] = scope
    found.setdefault(MANUAL, MANUAL_SCOPE)
    return found


def as_bans(bans: Sequence[Ban | StoredBan]) -> list[Ban]:
    """Stored bans parsed (strictly); a target that is not a network is a FirewallError."""
    try:
        return [one.ban() if isinstance(one, StoredBan) else one for one in bans]
    except UsageError as error:
        raise FirewallError(str(error)) from None


def netns_prefix(netns: str | None) -> list[str]:
    """``ip netns exec NS`` before a command, or nothing; the name is checked first."""
    if netns is None:
        return []
    if not _NETNS.fullmatch(netns):
        raise FirewallError(f"{netns!r} is not a network namespace name")
    return ["ip", "netns", "exec", netns]


def _merged(jail: str, ports: object) -> PortRanges:
    if not isinstance(ports, tuple | list):
        raise FirewallError(f"jail {jail}: ports must be a list of (low, high) ranges")
    ranges: list[tuple[int, int]] = []
    for item in ports:
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise FirewallError(f"jail {jail}: port range {item!r} is not (low, high)")
        low, high = item
        if not all(isinstance(p, int) and not isinstance(p, bool) for p in (low, high)):
            raise FirewallError(f"jail {jail}: port range {item!r} is not two numbers")
        if not 1 <= low <= high <= 65535:
            raise FirewallError(f"jail {jail}: port range {low}-{high} is not within 1-65535")
        ranges.append((low, high))
    if not ranges:
        raise FirewallError(f"jail {jail}: no ports (leave ports out to ban all of them)")
    ranges.sort()
    merged = [ranges[0]]
    for low, high in ranges[1:]:
        if low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


class BanBackend(ABC):
    """Bans enforced by the kernel, in rampart's own table, chain or sets only.

    Every change is one atomic batch, so a failed change leaves the previous
    state whole; arguments are all checked before anything is changed.
    """

    @abstractmethod
    def install(self, scopes: Sequence[BanScope]) -> None:
        """Make the sets and rules of these jails (and of ``manual``) exist.

        Idempotent and cheap enough to call before every change: bans of jails
        that stay are kept, a jail whose ports changed gets its new rule, and
        the sets of jails no longer listed are removed with their bans.
        """

    @abstractmethod
    def ban(self, bans: Sequence[Ban], now: float) -> None:
        """Put each ban into the sets of ``ban.jail`` (one atomic change).

        Each ban ends by itself in the kernel when it expires. A ban of a
        target already listed in that jail replaces it (its new end counts);
        bans already over at ``now`` are skipped; a jail not installed is an
        error naming it.
        """

    def restore(self, bans: Sequence[Ban | StoredBan], now: float) -> None:
        """Make the kernel hold exactly ``bans`` (the daemon's start, from the store).

        Backends replace everything in one atomic batch; this fallback is two steps.
        """
        parsed = as_bans(bans)
        self.flush()
        self.ban(parsed, now)

    @abstractmethod
    def unban(self, targets: Iterable[BanTarget], jail: str | None = None) -> None:
        """Lift the bans of ``targets`` in ``jail`` (None: in every jail); missing ones are fine."""

    @abstractmethod
    def flush(self, jail: str | None = None) -> None:
        """Lift every ban of ``jail`` (None: of every jail), keeping the sets and rules."""

    @abstractmethod
    def listed(self) -> dict[str, set[BanTarget]]:
        """The targets the kernel holds now, by jail (installed jails without bans included)."""

    @abstractmethod
    def uninstall(self) -> None:
        """Remove everything the backend created; nothing else. Fine if not installed."""
