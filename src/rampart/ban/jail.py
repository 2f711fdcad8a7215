"""A jail: count one filter's failures per address and decide when to ban.

Failures are counted per ban target, not per address: with ``ipv6_prefix =
64`` every address of a /64 counts towards the same ban, so an IPv6 client
cannot dodge ``maxretry`` by changing its low bits. Only failures whose log
time lies within ``findtime`` of now count, as in Fail2ban: a restart that
re-reads old lines does not ban for attacks long over.

Memory is bounded: at most ``max_tracked`` targets are followed per jail;
beyond that the one whose newest failure is oldest is forgotten (and
counted in ``forgotten``), so a flood from a million addresses cannot grow
the daemon without limit.
"""

import ipaddress
import itertools
import logging

from rampart.ban.types import Ban, BanTarget
from rampart.config import PERMANENT, JailSettings

log = logging.getLogger("rampart.ban")

#: Targets followed per jail before the stalest is forgotten (about 100 bytes each).
DEFAULT_MAX_TRACKED = 200_000

#: A compact key per target: the network's integer, IPv6 moved above every IPv4 value.
_V6_BASE = 1 << 129


def _key(target: BanTarget) -> int:
    number = int(target.network_address)
    return number if target.version == 4 else _V6_BASE + number


class FailureCounter:
    """Failure times per target within a sliding window of ``findtime`` seconds."""

    def __init__(self, maxretry: int, findtime: float, max_tracked: int = DEFAULT_MAX_TRACKED):
        self.maxretry = maxretry
        self.findtime = findtime
        self.max_tracked = max(1, max_tracked)
        self.forgotten = 0
        # key -> failure times, oldest first; dict order = least recently failed first.
        self._times: dict[int, list[float]] = {}

    def __len__(self) -> int:
        return len(self._times)

    def add(self, target: BanTarget, when: float, now: float) -> int:
        """Count a failure at ``when``; return how many the target has in the window.

        Reaching ``maxretry`` resets the target (its ban starts a new count).
        """
        if when <= now - self.findtime:
            return 0
        key = _key(target)
        times = self._times.pop(key, None)
        if times is None:
            times = [when]
        else:
            times.append(when)
            horizon = max(now, when) - self.findtime
            if times[0] <= horizon:
                times = [t for t in times if t > horizon]
        count = len(times)
        if count >= self.maxretry:
            return count
        self._times[key] = times  # re-inserted: now the most recently failed
        if len(self._times) > self.max_tracked:
            self._forget_stalest()
        return count

    def failing(self, now: float) -> int:
        """Targets with at least one failure still inside the window."""
        horizon = now - self.findtime
        return sum(1 for times in self._times.values() if times[-1] > horizon)

    def reset(self, target: BanTarget) -> None:
        self._times.pop(_key(target), None)

    def _forget_stalest(self) -> None:
        """Drop the stalest tenth beyond the cap at once, rebuilding the dict.

        Deleting from a dict's front one entry at a time leaves holes that every
        later walk from the front must pass over; a rebuild every
        ``max_tracked // 10`` new targets keeps each one O(1) amortised.
        """
        excess = len(self._times) - self.max_tracked + self.max_tracked // 10
        self._times = dict(itertools.islice(self._times.items(), excess, None))
        self.forgotten += excess


def ban_length(settings: JailSettings, earlier_bans: int) -> float | None:
    """Seconds the next ban of a target lasts (None: permanent).

    As Fail2ban's ``bantime.increment``: with multipliers, ``bantime *
    multipliers[min(n, len - 1)]``; otherwise ``bantime * factor * 2**n`` for
    a target banned ``n`` times before (n >= 1); never above ``maxtime``.
    """
    if settings.bantime == PERMANENT:
        return None
    seconds = settings.bantime
    increment = settings.increment
    if not increment.enabled:
        return seconds
    if increment.multipliers:
        seconds *= increment.multipliers[min(earlier_bans, len(increment.multipliers) - 1)]
    elif earlier_bans > 0:
        seconds *= increment.factor * (1 << min(earlier_bans, 20))
    return min(seconds, max(increment.maxtime, settings.bantime))


def ban_target(host: str, ipv6_prefix: int) -> BanTarget | None:
    """What to ban for a failure's host: its address, an IPv6 one widened to its prefix.

    A host name (a filter matched ``<DNS>``) is not banned: resolving names
    an attacker controls would let them aim the ban at someone else.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            network = ipaddress.ip_network(host, strict=True)  # a <CIDR>/<SUBNET> capture
        except ValueError:
            return None
        return network
    if address.version == 6:
        mapped = address.ipv4_mapped
        if mapped is not None:
            return ipaddress.ip_network(mapped)
        return ipaddress.ip_network(f"{address}/{ipv6_prefix}", strict=False)
    return ipaddress.ip_network(address)


def make_ban(target: BanTarget, jail: str, now: float, seconds: float | None) -> Ban:
    """A ban of ``target`` from ``now`` for ``seconds`` (None: permanent)."""
    expires = None if seconds is None else now + seconds
    return Ban(target=target, jail=jail, banned_at=now, expires_at=expires)
