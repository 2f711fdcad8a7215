"""Ban: Fail2ban's job. Values shared by the store, the firewall and the jails."""

from rampart.ban.types import Ban, BanTarget, StoredBan, parse_target

__all__ = ["Ban", "BanTarget", "StoredBan", "parse_target"]
