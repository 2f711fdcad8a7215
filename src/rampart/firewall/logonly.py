"""The dry-run backend: it changes nothing in the kernel and says what it would do.

``rampart watch --dry-run`` and jails with ``action = "log"`` use it to try
filters and ban times on a live host without locking anyone out. It checks
its arguments as the real backends do (a mistake shows in the dry run, not
on the first real ban) and remembers what it would hold, so ``listed()``
answers like a firewall would, expired bans included out.
"""

import logging
import time
from collections.abc import Callable, Iterable, Sequence

from rampart.ban.types import Ban, BanTarget, StoredBan
from rampart.firewall.interface import (
    BanBackend,
    BanScope,
    FirewallError,
    as_bans,
    check_jail,
    check_target,
    with_manual,
)

log = logging.getLogger("rampart.firewall")


class LogOnlyBans(BanBackend):
    """Bans logged (logger ``rampart.firewall``) and remembered, never enforced.

    ``clock`` gives the time ``listed()`` compares ends with (tests pass their own).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._scopes: dict[str, BanScope] = {}
        self._held: dict[str, dict[BanTarget, float | None]] = {}  # jail -> target -> end

    def install(self, scopes: Sequence[BanScope]) -> None:
        wanted = with_manual(scopes)
        for jail in set(self._held) - set(wanted):
            log.info("dry run: would remove jail %s and its bans", jail)
            del self._held[jail]
        for jail, scope in wanted.items():
            if self._scopes.get(jail) != scope:
                log.info("dry run: would install jail %s (%s)", jail, _describe(scope))
            self._held.setdefault(jail, {})
        self._scopes = wanted

    def uninstall(self) -> None:
        if self._scopes:
            log.info("dry run: would remove every jail's sets and rules")
        self._scopes.clear()
        self._held.clear()

    def ban(self, bans: Sequence[Ban], now: float) -> None:
        checked = [(check_target(b.target), check_jail(b.jail), b) for b in bans]
        missing = sorted({jail for _, jail, _ in checked if jail not in self._scopes})
        if missing:
            raise FirewallError(f"jail {', '.join(missing)} is not installed (dry run)")
        for target, jail, one in checked:
            left = one.remaining(now)
            if left is not None and left <= 0:
                continue
            self._held[jail][target] = one.expires_at
            how_long = "for ever" if left is None else f"for {left:.0f} s"
            log.info("dry run: would ban %s in jail %s %s", target, jail, how_long)

    def restore(self, bans: Sequence[Ban | StoredBan], now: float) -> None:
        bans = as_bans(bans)
        missing = sorted({check_jail(b.jail) for b in bans} - set(self._scopes))
        if missing:
            raise FirewallError(f"jail {', '.join(missing)} is not installed (dry run)")
        for held in self._held.values():
            held.clear()
        self.ban(bans, now)

    def unban(self, targets: Iterable[BanTarget], jail: str | None = None) -> None:
        wanted = {check_target(target) for target in targets}
        for name in self._jails(jail):
            for target in wanted & set(self._held[name]):
                del self._held[name][target]
                log.info("dry run: would unban %s in jail %s", target, name)

    def flush(self, jail: str | None = None) -> None:
        for name in self._jails(jail):
            if self._held[name]:
                log.info("dry run: would lift all %d bans of jail %s", len(self._held[name]), name)
            self._held[name].clear()

    def listed(self) -> dict[str, set[BanTarget]]:
        now = self._clock()
        return {
            jail: {t for t, end in held.items() if end is None or end > now}
            for jail, held in self._held.items()
        }

    def _jails(self, jail: str | None) -> list[str]:
        if jail is None:
            return list(self._held)
        if check_jail(jail) not in self._held:
            raise FirewallError(f"jail {jail} is not installed (dry run)")
        return [jail]


def _describe(scope: BanScope) -> str:
    if scope.ports is None:
        ports = "all ports"
    else:
        ports = "ports " + ",".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in scope.ports)
    if scope.protocol != "all":
        return f"{ports}, {scope.protocol}"
    return f"{ports}, {'every protocol' if scope.ports is None else 'tcp and udp'}"
