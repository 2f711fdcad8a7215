"""Firewall: the only part that needs CAP_NET_ADMIN; it puts bans into the kernel.

Three backends behind :class:`BanBackend`: nftables (the default), iptables
with ipset for hosts without nftables, and ``log`` for dry runs. Pick one by
name with :func:`make_backend`.
"""

from collections.abc import Callable

from rampart.firewall.interface import MANUAL, BanBackend, BanScope, FirewallError
from rampart.firewall.iptables import IptablesBans
from rampart.firewall.logonly import LogOnlyBans
from rampart.firewall.nftables import NftablesBans

__all__ = [
    "BACKENDS",
    "MANUAL",
    "BanBackend",
    "BanScope",
    "FirewallError",
    "IptablesBans",
    "LogOnlyBans",
    "NftablesBans",
    "make_backend",
]

BACKENDS: dict[str, Callable[[str | None], BanBackend]] = {
    "nftables": lambda netns: NftablesBans(netns=netns),
    "iptables": lambda netns: IptablesBans(netns=netns),
    "log": lambda netns: LogOnlyBans(),
}


def make_backend(name: str, *, netns: str | None = None) -> BanBackend:
    """The backend called ``name`` (``nftables``, ``iptables`` or ``log``), for ``netns``.

    Nothing is run here: a backend touches the kernel only when asked to change it.
    """
    try:
        factory = BACKENDS[name]
    except KeyError:
        choices = ", ".join(BACKENDS)
        raise FirewallError(f"unknown firewall backend {name!r} (choose {choices})") from None
    return factory(netns)
