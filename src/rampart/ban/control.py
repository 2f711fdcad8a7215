"""Bans made and lifted by hand: ``rampart ban add | remove | flush | list | status``.

These work whether or not the daemon runs: the store and the kernel are
changed directly (the store first, so the daemon's next start restores a ban
even if the firewall call failed). A ban by hand passes the same guard as
the daemon's: ``ignoreip`` always, SSH sessions and this host unless forced.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rampart.ban.guard import Guard
from rampart.ban.jail import make_ban
from rampart.ban.types import Ban, parse_target
from rampart.config import PERMANENT, JailDefaults, Settings
from rampart.errors import UsageError
from rampart.firewall import MANUAL, BanBackend, BanScope


def scopes(settings: Settings) -> list[BanScope]:
    """The firewall scope of every enabled jail (the manual one is always there)."""
    return [
        BanScope(name=name, ports=jail.port, protocol=jail.protocol)
        for name, jail in settings.ban.jails.items()
        if jail.enabled
    ]


@dataclass
class BanControl:
    """The store and the firewall, changed together."""

    settings: Settings
    store: Any  # BanStore; typed loosely so a test can hand in the real one from anywhere
    backend: BanBackend
    guard: Guard
    clock: Callable[[], float] = time.time

    def _jail(self, name: str) -> JailDefaults:
        if name == MANUAL:
            return self.settings.ban.defaults
        jail = self.settings.ban.jails.get(name)
        if jail is None or not jail.enabled:
            known = ", ".join([MANUAL, *scopes_names(self.settings)])
            raise UsageError(f"no jail {name!r} (jails: {known})")
        return jail

    def add(
        self, text: str, *, jail: str = MANUAL, seconds: float | None = None, force: bool = False
    ) -> Ban:
        """Ban ``text`` (an address or network) now; its jail's bantime unless ``seconds``."""
        settings = self._jail(jail)
        target = parse_target(text)
        ignoreip = list(settings.ignoreip)
        if jail == MANUAL:  # a ban on every port must respect every jail's ignoreip
            for other in self.settings.ban.jails.values():
                ignoreip += other.ignoreip if other.enabled else ()
        refusal = self.guard.refusal(
            target,
            ignoreip=ignoreip,
            ignoreself=settings.ignoreself and not force,
            force=force,
        )
        if refusal is not None:
            raise UsageError(f"not banned: {refusal}")
        length = settings.bantime if seconds is None else seconds
        now = self.clock()
        ban = make_ban(target, jail, now, None if length == PERMANENT else length)
        self.backend.install(scopes(self.settings))
        self.store.add(ban)
        if settings.action == "ban":  # a log-only jail records, never enforces
            self.backend.ban([ban], now)
        return ban

    def remove(self, text: str, *, jail: str | None = None) -> int:
        """Lift the bans of ``text`` (by one jail, or all); how many the store held."""
        target = parse_target(text)
        if jail is not None:
            self._jail(jail)
        removed = int(self.store.remove(target, jail))
        self.backend.install(scopes(self.settings))
        self.backend.unban([target], jail)
        return removed

    def flush(self, *, jail: str | None = None) -> int:
        """Lift every ban (of one jail); how many the store held."""
        if jail is not None:
            self._jail(jail)
        removed = int(self.store.flush(jail))
        self.backend.install(scopes(self.settings))
        self.backend.flush(jail)
        return removed

    def active(self) -> list[Ban]:
        return list(self.store.active(self.clock()))


def scopes_names(settings: Settings) -> list[str]:
    return [scope.name for scope in scopes(settings)]


def ban_record(ban: Ban, now: float) -> dict[str, Any]:
    """A ban as ``rampart ban list --json`` prints it."""
    return {
        "target": ban.target.with_prefixlen,
        "jail": ban.jail,
        "banned_at": ban.banned_at,
        "expires_at": ban.expires_at,
        "remaining": ban.remaining(now),
    }


def daemon_status(
    status_file: Path, max_age: float = 10.0, now: float | None = None
) -> dict[str, Any] | None:
    """What the running daemon last wrote about its jails, or None if it is not running."""
    try:
        data = json.loads(status_file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    written = data.get("time")
    current = time.time() if now is None else now
    if not isinstance(written, int | float) or current - written > max_age:
        return None
    return data


def enforcement(settings: Settings, *, dry_run: bool = False) -> tuple[BanBackend, Any, Guard]:
    """The configured backend (``log`` when dry), the shared store, a guard for this host.

    The daemon and the ``ban`` commands are wired from this one place.
    """
    from rampart.ban.guard import sshd_ports
    from rampart.firewall import make_backend
    from rampart.store import BanStore

    backend = make_backend("log" if dry_run else settings.ban.backend)
    store = BanStore.in_state_dir(settings.state_dir)
    guard = Guard(ssh_ports=sshd_ports(), protect_ssh_sessions=settings.ban.protect_ssh_sessions)
    return backend, store, guard


def open_control(settings: Settings, *, dry_run: bool = False) -> BanControl:
    """Hand-made bans over the store, the configured backend and the guard."""
    backend, store, guard = enforcement(settings, dry_run=dry_run)
    return BanControl(settings, store, backend, guard)
