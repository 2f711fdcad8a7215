"""Bans in ipsets matched by iptables rules, for hosts without nftables.

Each jail has two ipsets, ``rampart-<jail>-4`` and ``rampart-<jail>-6``
(``hash:net`` with timeouts: the kernel lifts a ban at its end even if
rampart is not running, and an IPv6 client can be banned by its /64), and
rules in rampart's own chain ``rampart`` of the raw table, jumped to from
PREROUTING (before connection tracking), in iptables and ip6tables::

    -A rampart -m set --match-set rampart-sshd-4 src -p tcp -m multiport --dports 22,2222:2223
       -m comment --comment rampart:sshd -j DROP

An ipset name holds at most 31 characters: a jail name too long for that is
cut to 12 characters and followed by ``.`` and 8 hex digits of its hash
(``.`` cannot occur in a jail name, so the forms never meet); such a set is
traced back to its jail through the rule's comment.

Changes of bans are one ``ipset -exist restore`` batch: ``-exist`` makes an
add renew the timeout of a target already there and a delete of a missing
one harmless, so no change needs to read the sets first. ``ipset restore``
applies its lines in order and stops at the first error, which cannot be
undone; every value is therefore checked, and the jails' sets looked up,
before the batch is built. Rules change through one ``iptables-restore
--noflush`` per IP version (declaring the chain flushes it, so the rules
are replaced whole). Measured by hand (ipset 7.17, 2 vCPUs): 100,000 bans
(80,000 IPv4 addresses in two jails, 20,000 IPv6 /64s) restored in one
``ipset`` run in 1.2 s; one more ban among them in 0.01 s. A batch's lines
are grouped by set: ipset sends a run of lines for one set in one message,
and interleaved jails cost twice the time.
"""

import hashlib
import ipaddress
import math
import re
from collections.abc import Iterable, Iterator, Sequence

from rampart.ban.types import Ban, BanTarget, StoredBan
from rampart.firewall.interface import (
    BanBackend,
    BanScope,
    FirewallError,
    as_bans,
    check_jail,
    check_target,
    netns_prefix,
    with_manual,
)
from rampart.system import CommandError, run

PREFIX = "rampart-"
CHAIN = "rampart"
VERSIONS = (4, 6)
_FAMILY = {4: "inet", 6: "inet6"}
MAX_NAME = 31  # ipset's limit
# ipset refuses longer element timeouts; a longer ban goes in without one,
# and the daemon lifts it when the store says it ended.
MAX_TIMEOUT = 2_147_483
MAXELEM = 1_048_576  # a cap per set, not memory taken (the default 65,536 is too few)
MULTIPORT = 15  # ports per multiport match, a range counting as two
TIMEOUT = 120.0
_PLAIN = re.compile(r"rampart-([A-Za-z0-9_-]{1,32})-([46])")
_RULE_SET = re.compile(r"--match-set (\S+) src")
_RULE_JAIL = re.compile(r"--comment \"?rampart:([A-Za-z0-9_-]{1,32})")


def set_name(jail: str, version: int) -> str:
    """The ipset of ``jail``'s bans of one IP version: ``rampart-sshd-4``."""
    plain = f"{PREFIX}{jail}-{version}"
    if len(plain) <= MAX_NAME:
        return plain
    digest = hashlib.sha256(jail.encode()).hexdigest()[:8]
    return f"{PREFIX}{jail[:12]}.{digest}-{version}"


class IptablesBans(BanBackend):
    """Bans in ipset + iptables; ``netns`` runs the tools inside that network namespace."""

    def __init__(
        self,
        *,
        netns: str | None = None,
        iptables: str = "iptables",
        ip6tables: str = "ip6tables",
        ipset: str = "ipset",
    ) -> None:
        self._prefix = netns_prefix(netns)
        self._tables = {4: iptables, 6: ip6tables}
        self._ipset = ipset

    def install(self, scopes: Sequence[BanScope]) -> None:
        wanted = with_manual(scopes)
        existing = self._set_names()
        keep = {set_name(jail, v) for jail in wanted for v in VERSIONS}
        self._ipset_restore(
            f"create {set_name(jail, v)} hash:net family {_FAMILY[v]} timeout 0 maxelem {MAXELEM}\n"
            for jail in wanted
            for v in VERSIONS
        )
        for version in VERSIONS:
            lines = ["*raw\n", f":{CHAIN} - [0:0]\n"]  # created if missing, else flushed
            for scope in wanted.values():
                lines += _rules(scope, set_name(scope.name, version))
            if not self._table_ok(version, ["-C", "PREROUTING", "-j", CHAIN]):
                lines.append(f"-I PREROUTING 1 -j {CHAIN}\n")
            lines.append("COMMIT\n")
            self._run([f"{self._tables[version]}-restore", "-w", "--noflush"], "".join(lines))
        # Only now are the sets of jails gone free of rules, so they can go too.
        self._ipset_restore(f"destroy {name}\n" for name in sorted(existing - keep))

    def uninstall(self) -> None:
        for version in VERSIONS:
            rules = self._table(version, ["-S"]).splitlines()
            lines = ["*raw\n"]
            lines += [f"-D PREROUTING -j {CHAIN}\n"] * rules.count(f"-A PREROUTING -j {CHAIN}")
            if f"-N {CHAIN}" in rules:
                lines += [f"-F {CHAIN}\n", f"-X {CHAIN}\n"]
            if len(lines) > 1:
                lines.append("COMMIT\n")
                self._run([f"{self._tables[version]}-restore", "-w", "--noflush"], "".join(lines))
        self._ipset_restore(f"destroy {name}\n" for name in sorted(self._set_names()))

    def flush(self, jail: str | None = None) -> None:
        self._ipset_restore(f"flush {name}\n" for name in sorted(self._jail_sets(jail)))

    def ban(self, bans: Sequence[Ban], now: float) -> None:
        self._ipset_restore(self._ban_lines(bans, now))

    def restore(self, bans: Sequence[Ban | StoredBan], now: float) -> None:
        """Every set flushed and filled with ``bans``, in one ``ipset restore``."""
        lines = self._ban_lines(as_bans(bans), now)
        flushes = [f"flush {name}\n" for name in sorted(self._jail_sets(None))]
        self._ipset_restore([*flushes, *lines])

    def _ban_lines(self, bans: Sequence[Ban], now: float) -> list[str]:
        """The ``add`` lines of ``bans`` grouped by set; a jail not installed is an error."""
        lines: dict[str, list[str]] = {}  # by set: ipset sends a set's run of lines at once
        jails: set[str] = set()
        for one in bans:
            target, jail = check_target(one.target), check_jail(one.jail)
            jails.add(jail)
            left = one.remaining(now)
            if left is None or left > MAX_TIMEOUT:
                seconds = 0  # no timeout
            elif left > 0:
                seconds = max(1, math.ceil(left))
            else:
                continue  # over already
            name = set_name(jail, target.version)
            lines.setdefault(name, []).extend(
                f"add {name} {net} timeout {seconds}\n" for net in _nets(target)
            )
        if not jails:
            return []
        existing = self._set_names()
        missing = sorted(j for j in jails if set_name(j, 4) not in existing)
        if missing:
            raise FirewallError(f"jail {', '.join(missing)} is not installed in ipset")
        return [line for group in lines.values() for line in group]

    def unban(self, targets: Iterable[BanTarget], jail: str | None = None) -> None:
        wanted = {check_target(target) for target in targets}
        names = sorted(self._jail_sets(jail))
        self._ipset_restore(
            f"del {name} {net}\n"
            for name in names
            for target in wanted
            if name.endswith(f"-{target.version}")
            for net in _nets(target)
        )

    def listed(self) -> dict[str, set[BanTarget]]:
        saved = [line.split() for line in self._run([self._ipset, "save"], None).splitlines()]
        names = {w[1] for w in saved if len(w) > 1 and w[0] == "create" and w[1].startswith(PREFIX)}
        owners = self._owners(names)
        found: dict[str, set[BanTarget]] = {owners[name]: set() for name in names}
        for words in saved:
            if len(words) >= 3 and words[0] == "add" and words[1] in owners:
                found[owners[words[1]]].add(_parse_member(words[2]))
        return found

    def _owners(self, names: set[str]) -> dict[str, str]:
        """Each set's jail: read from its name, or from its rule's comment if cut short."""
        owners: dict[str, str] = {}
        for name in names:
            plain = _PLAIN.fullmatch(name)
            if plain and set_name(plain[1], int(plain[2])) == name:
                owners[name] = plain[1]
        if len(owners) < len(names):
            for version in VERSIONS:
                for rule in self._table(version, ["-S", CHAIN], missing_ok=True).splitlines():
                    used, jail = _RULE_SET.search(rule), _RULE_JAIL.search(rule)
                    if used and jail and set_name(jail[1], version) == used[1]:
                        owners[used[1]] = jail[1]
        return {name: owners.get(name, name) for name in names}  # else the set's own name

    def _jail_sets(self, jail: str | None) -> set[str]:
        """The sets of ``jail`` (None: of every jail); a jail not installed is an error."""
        existing = self._set_names()
        if jail is None:
            return existing
        names = {set_name(check_jail(jail), v) for v in VERSIONS}
        if not names <= existing:
            raise FirewallError(f"jail {jail} is not installed in ipset")
        return names

    def _set_names(self) -> set[str]:
        """rampart's ipsets (names only, quick)."""
        listed = self._run([self._ipset, "list", "-n"], None).split()
        return {name for name in listed if name.startswith(PREFIX)}

    def _ipset_restore(self, lines: Iterable[str]) -> None:
        batch = "".join(lines)
        if batch:
            self._run([self._ipset, "-exist", "restore"], batch)

    def _table_ok(self, version: int, args: list[str]) -> bool:
        """Whether an iptables check (``-C ...``) on the raw table succeeds."""
        argv = [*self._prefix, self._tables[version], "-w", "-t", "raw", *args]
        try:
            return run(argv, timeout=TIMEOUT, check=False).returncode == 0
        except CommandError as error:
            raise FirewallError(str(error)) from None

    def _table(self, version: int, args: list[str], *, missing_ok: bool = False) -> str:
        """The output of an iptables command on the raw table ("" if missing and that is ok)."""
        if missing_ok and not self._table_ok(version, ["-S", CHAIN]):
            return ""
        return self._run([self._tables[version], "-w", "-t", "raw", *args], None)

    def _run(self, argv: list[str], batch: str | None) -> str:
        """Run one tool; its complaint becomes one line naming the tool."""
        try:
            result = run([*self._prefix, *argv], input_text=batch, timeout=TIMEOUT, check=False)
        except CommandError as error:
            raise FirewallError(str(error)) from None
        if result.returncode != 0:
            lines = [line for line in (result.stderr or result.stdout).splitlines() if line]
            said = lines[0][:200] if lines else f"exit {result.returncode}"
            raise FirewallError(f"{' '.join(argv[:2])}: {said}")
        return result.stdout


def _rules(scope: BanScope, name: str) -> Iterator[str]:
    """The DROP rules of one jail's set (multiport takes at most 15 ports a rule)."""
    start = f"-A {CHAIN} -m set --match-set {name} src"
    end = f"-m comment --comment rampart:{scope.name} -j DROP\n"
    if scope.ports is None:
        protocol = "" if scope.protocol == "all" else f"-p {scope.protocol} "
        yield f"{start} {protocol}{end}"
        return
    for protocol in ("tcp", "udp") if scope.protocol == "all" else (scope.protocol,):
        for ports in _multiport(scope.ports):
            yield f"{start} -p {protocol} -m multiport --dports {ports} {end}"


def _multiport(ranges: Sequence[tuple[int, int]]) -> Iterator[str]:
    chunk: list[str] = []
    used = 0
    for low, high in ranges:
        cost = 1 if low == high else 2
        if used + cost > MULTIPORT:
            yield ",".join(chunk)
            chunk, used = [], 0
        chunk.append(str(low) if low == high else f"{low}:{high}")
        used += cost
    yield ",".join(chunk)


def _nets(target: BanTarget) -> list[str]:
    """A target as hash:net takes it: a host as an address; a /0 (refused there) as two halves."""
    if target.prefixlen == target.max_prefixlen:
        return [str(target.network_address)]
    return [str(net) for net in (target.subnets() if target.prefixlen == 0 else [target])]


def _parse_member(text: str) -> BanTarget:
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        raise FirewallError(f"ipset listed a member rampart cannot read: {text!r}") from None
