"""Firewall and listening-socket checks (practices 7 and 12).

FW-001 and FW-002 read the live ruleset (``ruleset``); NET-001 and NET-002 the
listening sockets and their owners (``sockets``).
"""

from collections.abc import Iterable, Sequence
from dataclasses import replace

from rampart.audit.collectors.network import Chain, Rule, Ruleset, Socket, runs_rampart
from rampart.audit.interface import Check, CheckMeta, Facts, Finding, Severity

VERSIONS = (4, 6)
RAMPART_TABLE = ("inet", "rampart")
"""rampart's ban table: it drops banned sources only, so it never makes a default deny."""
DATABASE_PORTS = {
    5432: "PostgreSQL",
    3306: "MySQL/MariaDB",
    6379: "Redis",
    27017: "MongoDB",
    9200: "Elasticsearch",
    11211: "memcached",
    5984: "CouchDB",
}
ROOT_LISTENERS_ALLOWED = frozenset({"sshd", "sshd-session"})


def input_chains(ruleset: Ruleset, version: int) -> list[Chain]:
    """The base chains on the input hook that IPv``version`` packets go through."""
    return [
        chain
        for chain in ruleset.chains
        if chain.hook == "input"
        and chain.covers(version)
        and (chain.family, chain.table) != RAMPART_TABLE
    ]


def chain_default(chain: Chain) -> tuple[bool, str]:
    """Whether the chain drops what its rules do not accept, and how it ends."""
    for rule in chain.rules:
        if not rule.unconditional:
            continue
        if rule.verdict == "accept":
            return False, f"{chain.label}: accepts everything at rule '{rule.text}'"
        if rule.verdict in ("drop", "reject"):
            return True, f"{chain.label}: policy {chain.policy}, ends with '{rule.text}'"
    policy = chain.policy or "accept"
    if policy == "drop":
        return True, f"{chain.label}: hook input, policy drop"
    return False, f"{chain.label}: hook input, policy {policy}, no final drop or reject rule"


def _ip(version: int) -> str:
    return f"IPv{version}"


class InboundDefaultDeny(Check):
    meta = CheckMeta(
        "FW-001",
        "inbound is not default-deny",
        "7",
        Severity.HIGH,
        "Drop inbound traffic by default and allow only the needed ports, for IPv4 and IPv6: "
        "in /etc/nftables.conf, table inet filter { chain input { type filter hook input "
        "priority 0; policy drop; ct state established,related accept; iifname lo accept; "
        "tcp dport { <your ssh port>, 443 } accept } }, then nft -f /etc/nftables.conf "
        "(keep your SSH port in it); with iptables: iptables -P INPUT DROP and "
        "ip6tables -P INPUT DROP after the accept rules",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        ruleset: Ruleset = facts.get("ruleset")
        for version in VERSIONS:
            resource = f"{_ip(version)} inbound"
            chains = input_chains(ruleset, version)
            if not chains:
                yield self.failed(
                    resource,
                    f"no input chain for {_ip(version)} in the live ruleset (read with "
                    f"{ruleset.source}): nothing filters inbound traffic",
                )
                continue
            verdicts = [chain_default(chain) for chain in chains]
            denying = [said for denies, said in verdicts if denies]
            if denying:
                yield self.passed(resource, "; ".join(denying))
            else:
                yield self.failed(resource, "; ".join(said for _, said in verdicts))


class EarlyInvalidDrop(Check):
    meta = CheckMeta(
        "FW-002",
        "no early drop of invalid packets",
        "7",
        Severity.LOW,
        "Drop packets in conntrack state invalid before anything else: as the first rule of "
        "the prerouting or input chain, nft add rule inet filter input ct state invalid drop "
        "(or a prerouting chain at priority -150 with the same rule); with iptables: "
        "iptables -I INPUT -m conntrack --ctstate INVALID -j DROP and the same with ip6tables",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        ruleset: Ruleset = facts.get("ruleset")
        for version in VERSIONS:
            resource = f"{_ip(version)} invalid packets"
            found = _invalid_drops(ruleset, version)
            if found:
                chain, rule = found[0]
                yield self.passed(resource, f"{chain.label} (hook {chain.hook}): '{rule.text}'")
            else:
                yield self.failed(
                    resource,
                    f"no prerouting or input rule drops ct state invalid for {_ip(version)} "
                    f"(ruleset read with {ruleset.source})",
                )


def _invalid_drops(ruleset: Ruleset, version: int) -> list[tuple[Chain, Rule]]:
    found = []
    for base in ruleset.chains:
        if base.hook not in ("prerouting", "input") or not base.covers(version):
            continue
        for chain in ruleset.reachable(base):
            found += [(base, rule) for rule in chain.rules if rule.drops_invalid]
    return found


def _owner(sock: Socket) -> str:
    if sock.pid is None:
        return "owner unknown"
    return f"pid {sock.pid}, user {sock.user}"


def _resource(sock: Socket) -> str:
    host = f"[{sock.address}]" if ":" in sock.address else sock.address
    suffix = "/udp" if sock.proto == "udp" else ""
    return f"{sock.comm} on {host}:{sock.port}{suffix}"


class DatabaseOnAllAddresses(Check):
    meta = CheckMeta(
        "NET-001",
        "database port open on all addresses",
        "7",
        Severity.HIGH,
        "Bind the database to 127.0.0.1 or a private address (postgresql.conf "
        "listen_addresses = 'localhost'; my.cnf bind-address = 127.0.0.1; redis.conf "
        "bind 127.0.0.1; mongod.conf net.bindIp: 127.0.0.1; memcached -l 127.0.0.1 -U 0), "
        "restart it, and allow the port in the firewall only from the application hosts",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        sockets: Sequence[Socket] = facts.get("sockets")
        flagged: dict[str, Finding] = {}
        for sock in sockets:
            name = DATABASE_PORTS.get(sock.port)
            if name is None or not sock.wildcard:
                continue
            resource = _resource(sock)
            flagged.setdefault(
                resource,
                self.failed(
                    resource,
                    f"{name} port {sock.port} listens on every address ({sock.endpoint}, "
                    f"{sock.comm}, {_owner(sock)})",
                ),
            )
        if flagged:
            yield from flagged.values()
        else:
            yield self.passed(
                "listening sockets",
                f"no database port ({', '.join(map(str, sorted(DATABASE_PORTS)))}) "
                f"on 0.0.0.0 or :: among {len(sockets)} listening sockets",
            )


class RootNetworkService(Check):
    meta = CheckMeta(
        "NET-002",
        "network service running as root",
        "12",
        Severity.MEDIUM,
        "Run the service as its own unprivileged user: User=<name> (or DynamicUser=yes) in its "
        "systemd unit (systemctl edit <unit>), or the service's own user setting (nginx user, "
        "php-fpm pool user); a port below 1024 needs only "
        "AmbientCapabilities=CAP_NET_BIND_SERVICE, not root",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        sockets: Sequence[Socket] = facts.get("sockets")
        flagged: dict[str, Finding] = {}
        unknown = []
        for sock in sockets:
            if sock.uid is None:
                if sock.socket_uid == 0:
                    unknown.append(sock.endpoint)
                continue
            if sock.uid != 0 or sock.comm in ROOT_LISTENERS_ALLOWED:
                continue
            if runs_rampart(sock.comm, sock.cmdline):
                continue
            resource = _resource(sock)
            flagged.setdefault(
                resource,
                self.failed(
                    resource,
                    f"{sock.comm} (pid {sock.pid}) runs as root (UID 0) and listens on "
                    f"{sock.endpoint}",
                ),
            )
        yield from flagged.values()
        if unknown:
            why = (
                f"the owners of {len(unknown)} root-created sockets cannot be read "
                f"({', '.join(sorted(unknown)[:5])}); run the audit as root"
            )
            yield replace(self.skipped(why), resource="sockets with unknown owner")
        if not flagged and not unknown:
            yield self.passed(
                "listening sockets",
                f"no listening socket is held by a root process other than sshd "
                f"({len(sockets)} sockets looked at)",
            )
