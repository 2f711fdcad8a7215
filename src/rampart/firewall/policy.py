"""The ``[firewall]`` policy compiled to one nftables batch for ``table inet rampart_fw``.

Two chains, in rampart's own table only (the ban daemon's ``inet rampart``
hooks prerouting at -300, before connection tracking; nothing else is read or
written):

* ``prerouting`` at priority -150, after connection tracking (-200), so
  ``ct state`` is known: drops invalid packets, bogus TCP flag combinations,
  new TCP connections that do not start with a SYN, SYNs with a tiny MSS,
  SYN floods above a per-source rate and, optionally, sources holding too
  many connections. Everything else goes on.
* ``input`` at priority 0, policy drop (or accept): loopback, established
  and related traffic, the ICMP a host needs (echo requests rate limited;
  ICMPv6 neighbour discovery and packet-too-big always), then the allowed
  services.
* ``output`` (only with ``outbound = "drop"`` or ``allow_out``): replies,
  loopback and ICMP, then the allowed outbound services.

The batch replaces the table whole: ``add table`` (so that the ``delete``
cannot fail), ``delete table``, then the new table, all in one ``nft -f``:
the kernel applies it entirely or not at all. The text is built only from
validated settings (integers, :mod:`ipaddress` networks, checked interface
names).
"""

import ipaddress

from rampart.config import EarlyDropSettings, FirewallService, FirewallSettings, OutboundService

FAMILY_TABLE = "inet rampart_fw"
TABLE_NAME = "rampart_fw"
PREROUTING_PRIORITY = -150
INPUT_PRIORITY = 0

_ND = "nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert"
_ICMP4_NEEDED = "destination-unreachable, time-exceeded, parameter-problem"
_ICMP6_NEEDED = f"destination-unreachable, packet-too-big, time-exceeded, parameter-problem, {_ND}"
_SYN = "tcp flags & (fin|syn|rst|ack) == syn"


def replace_batch(table_text: str) -> str:
    """The batch that swaps whatever ``inet rampart_fw`` holds for ``table_text`` (may be empty)."""
    return f"add table {FAMILY_TABLE}\ndelete table {FAMILY_TABLE}\n{table_text}"


def compile_policy(policy: FirewallSettings) -> str:
    """The nft batch text that installs ``policy`` atomically."""
    return replace_batch(table_text(policy))


def table_text(policy: FirewallSettings) -> str:
    """``table inet rampart_fw { ... }`` for ``policy``."""
    early = policy.early_drop
    lines = [f"table {FAMILY_TABLE} {{"]
    lines += _sets(early)
    lines += [
        "\tchain prerouting {",
        f"\t\ttype filter hook prerouting priority {PREROUTING_PRIORITY}; policy accept;",
        '\t\tiifname "lo" accept',
        # Neighbour discovery is not tracked (ct state reads invalid): let it by first.
        f"\t\ticmpv6 type {{ {_ND} }} accept",
    ]
    lines += [f"\t\t{rule}" for rule in _early_rules(early)]
    lines += [
        "\t}",
        "\tchain input {",
        f"\t\ttype filter hook input priority {INPUT_PRIORITY}; policy {policy.inbound};",
        "\t\tct state established,related accept",
        '\t\tiifname "lo" accept',
        f"\t\ticmpv6 type {{ {_ICMP6_NEEDED} }} accept",
        f"\t\ticmp type {{ {_ICMP4_NEEDED} }} accept",
        f"\t\ticmp type echo-request limit rate {policy.ping_rate}/second"
        f" burst {policy.ping_rate * 2} packets accept",
        f"\t\ticmpv6 type echo-request limit rate {policy.ping_rate}/second"
        f" burst {policy.ping_rate * 2} packets accept",
    ]
    for service in policy.allow:
        lines += [f"\t\t{rule}" for rule in service_rules(service)]
    lines += [f'\t\tcounter comment "{policy.inbound} by policy"', "\t}"]
    if policy.outbound == "drop" or policy.allow_out:
        lines += _output_chain(policy)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _output_chain(policy: FirewallSettings) -> list[str]:
    """The optional outbound policy: replies, loopback, ICMP, then ``allow_out``."""
    lines = [
        "\tchain output {",
        f"\t\ttype filter hook output priority {INPUT_PRIORITY}; policy {policy.outbound};",
        "\t\tct state established,related accept",
        '\t\toifname "lo" accept',
        "\t\tmeta l4proto { icmp, ipv6-icmp } accept",
    ]
    for service in policy.allow_out:
        lines += [f"\t\t{rule}" for rule in outbound_rules(service)]
    lines += [f'\t\tcounter comment "{policy.outbound} outbound by policy"', "\t}"]
    return lines


def outbound_rules(service: OutboundService) -> list[str]:
    """The accept rule(s) of one allowed outbound service."""
    low, high = service.port
    port = str(low) if low == high else f"{low}-{high}"
    tail = f"{service.protocol} dport {port} accept"
    if not service.destinations:
        return [tail]
    rules = []
    for version, match in ((4, "ip daddr"), (6, "ip6 daddr")):
        networks = [
            n for n in map(ipaddress.ip_network, service.destinations) if n.version == version
        ]
        if networks:
            listed = ", ".join(n.with_prefixlen for n in networks)
            rules.append(f"{match} {{ {listed} }} {tail}")
    return rules


def _sets(early: EarlyDropSettings) -> list[str]:
    lines: list[str] = []
    for version, kind in ((4, "ipv4_addr"), (6, "ipv6_addr")):
        if early.syn_flood:
            lines += [
                f"\tset synflood{version} {{",
                f"\t\ttype {kind}; flags dynamic,timeout; timeout 60s; size 65535;",
                "\t}",
            ]
        if early.conn_limit is not None:
            lines += [
                f"\tset connlimit{version} {{",
                f"\t\ttype {kind}; flags dynamic; size 65535;",
                "\t}",
            ]
    return lines


def _early_rules(early: EarlyDropSettings) -> list[str]:
    # Named drops first, so their counters say why; conntrack marks most of them
    # invalid too, and the catch-all "invalid" rule then counts only the rest.
    rules: list[str] = []
    if early.bad_flags:
        rules += [
            'tcp flags & (fin|syn) == (fin|syn) counter drop comment "syn+fin"',
            'tcp flags & (syn|rst) == (syn|rst) counter drop comment "syn+rst"',
            'tcp flags & (fin|syn|rst|psh|ack|urg) == 0x0 counter drop comment "null"',
            'tcp flags & (fin|psh|urg) == (fin|psh|urg) counter drop comment "xmas"',
            'tcp flags & (fin|ack) == fin counter drop comment "fin without ack"',
        ]
    if early.low_mss:
        rules.append(
            f"{_SYN} tcp option maxseg size 1-{early.min_mss - 1}"
            f' counter drop comment "mss below {early.min_mss}"'
        )
    if early.invalid:
        rules.append('ct state invalid counter drop comment "invalid"')
    if early.new_without_syn:
        rules.append(
            'ct state new tcp flags & (syn|rst|ack) != syn counter drop comment "new without syn"'
        )
    for version, match in ((4, "ip saddr"), (6, "ip6 saddr")):
        if early.syn_flood:
            rules.append(
                f"{_SYN} update @synflood{version} {{ {match} limit rate over"
                f" {early.syn_rate}/second burst {early.syn_burst} packets }}"
                f' counter drop comment "syn flood"'
            )
        if early.conn_limit is not None:
            rules.append(
                f"ct state new {_SYN} add @connlimit{version} {{ {match} ct count over"
                f' {early.conn_limit} }} counter drop comment "connection limit"'
            )
    return rules


def service_rules(service: FirewallService) -> list[str]:
    """The accept rule(s) of one allowed service: one per address family with sources."""
    low, high = service.port
    port = str(low) if low == high else f"{low}-{high}"
    head = f'iifname "{service.interface}" ' if service.interface else ""
    tail = f"{service.protocol} dport {port} accept"
    if not service.sources:
        return [f"{head}{tail}"]
    rules = []
    for version, match in ((4, "ip saddr"), (6, "ip6 saddr")):
        networks = [n for n in map(ipaddress.ip_network, service.sources) if n.version == version]
        if networks:
            listed = ", ".join(n.with_prefixlen for n in networks)
            rules.append(f"{head}{match} {{ {listed} }} {tail}")
    return rules


def allows(
    policy: FirewallSettings,
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    port: int,
    interface: str | None = None,
) -> bool:
    """Would a new TCP connection from ``address`` to ``port`` (via ``interface``) get in?"""
    if policy.inbound == "accept":
        return True
    for service in policy.allow:
        low, high = service.port
        if service.protocol != "tcp" or not low <= port <= high:
            continue
        if service.interface is not None and interface not in (None, service.interface):
            continue
        if not service.sources or any(address in ipaddress.ip_network(n) for n in service.sources):
            return True
    return False
