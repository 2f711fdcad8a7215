"""The ``[firewall]`` policy through ``iptables-restore``, for hosts without nftables.

The same policy as :mod:`rampart.firewall.policy`, in rampart's own chains
only, in iptables (IPv4) and ip6tables (IPv6):

* ``RAMPART-FW-PRE`` in the mangle table, jumped to first from PREROUTING.
  Mangle PREROUTING runs after connection tracking (priority -150, as the
  nftables chain), so ``--ctstate`` is known: the early drops (invalid,
  bogus TCP flags, new connections without a SYN, tiny MSS, per-source SYN
  rate through ``hashlimit``, optionally ``connlimit``).
* ``RAMPART-FW-IN`` in the filter table, jumped to first from INPUT:
  loopback, established and related, the ICMP a host needs, the allowed
  services, and, when ``inbound = "drop"``, a final ``DROP`` rule.

The policies of the built-in chains are never changed: the default deny is
that final rule of rampart's chain. Since the jump is INPUT's first rule,
rules other tools append to INPUT after it see only what rampart accepted
(nothing, as accepted packets end there); with ``inbound = "accept"`` the
chain simply returns, and INPUT goes on as before.

Each family is one ``iptables-restore -w --noflush`` run (all or nothing):
declaring a chain creates it or flushes it, so rampart's rules are replaced
whole; the jump is inserted only when the live table lacks it (and extra
copies are deleted), so applying twice changes nothing. No other chain,
table or rule is read for anything but that jump.

The hashlimit table's name carries the rate and burst: the kernel reuses a
table of the same name with its old settings, so a changed rate needs a new
name.
"""

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rampart.config import EarlyDropSettings, FirewallService, FirewallSettings
from rampart.files import write_atomically
from rampart.firewall.interface import FirewallError, netns_prefix
from rampart.system import CommandError, run

IN_CHAIN = "RAMPART-FW-IN"
PRE_CHAIN = "RAMPART-FW-PRE"
TIMEOUT = 60.0
VERSIONS = (4, 6)
TOOLS = {4: "iptables", 6: "ip6tables"}
# (table, built-in chain, rampart's chain)
HOOKS = (("mangle", "PREROUTING", PRE_CHAIN), ("filter", "INPUT", IN_CHAIN))

# Rules are spelt as iptables-save prints them (numeric ICMP types, ``-m tcp``,
# ``--syn`` written out), so that the plan's diff is empty when nothing changes.
_ND = (133, 134, 135, 136)  # router solicitation/advertisement, neighbour sol./adv.
_ICMP4_NEEDED = (3, 11, 12)  # destination unreachable, time exceeded, parameter problem
_ICMP6_NEEDED = (1, 2, 3, 4, *_ND)  # unreachable, too big, time exceeded, parameter problem
_SYN = "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN"  # = --syn
_NOT_SYN = "-p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN"  # = ! --syn

# How many jumps to rampart's chains a family's tables hold: {(table, chain): count}.
Jumps = Mapping[tuple[str, str], int]


def compile_iptables(
    policy: FirewallSettings, jumps: Mapping[int, Jumps] | None = None
) -> tuple[str, str]:
    """``iptables-restore`` and ``ip6tables-restore`` input (for ``--noflush``) of ``policy``.

    ``jumps`` says how many jumps to rampart's chains are live per IP version
    (:func:`live_jumps`); without it they are taken as missing and inserted.
    """
    if policy.outbound == "drop" or policy.allow_out:
        raise FirewallError(
            "the iptables backend does not enforce an outbound policy yet"
            " (use the nftables backend, or leave [firewall] outbound and allow_out out)"
        )
    found = jumps or {}
    four, six = (family_text(policy, v, found.get(v, {})) for v in VERSIONS)
    return four, six


def family_text(policy: FirewallSettings, version: int, jumps: Jumps) -> str:
    """The restore input for one IP version."""
    lines: list[str] = []
    for table, builtin, chain in HOOKS:
        lines += [f"*{table}", f":{chain} - [0:0]"]
        count = jumps.get((table, builtin), 0)
        if count == 0:
            lines.append(f"-I {builtin} 1 -j {chain}")
        lines += [f"-D {builtin} -j {chain}"] * max(0, count - 1)
        if chain == PRE_CHAIN:
            body = _pre_rules(policy.early_drop, version)
        else:
            body = _in_rules(policy, version)
        lines += [f"-A {chain} {rule}" for rule in body]
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    if re.fullmatch(r"\w+", text):  # iptables-save quotes all else
        return f"-m comment --comment {text}"
    return f'-m comment --comment "{text}"'


def _pre_rules(early: EarlyDropSettings, version: int) -> list[str]:
    rules = ["-i lo -j RETURN"]
    if version == 6:  # neighbour discovery is not tracked (conntrack calls it invalid)
        rules += [f"-p ipv6-icmp -m icmp6 --icmpv6-type {kind} -j RETURN" for kind in _ND]
    # Named drops first, so their counters say why (as in the nftables chain).
    if early.bad_flags:
        for mask, comp, why in (
            ("FIN,SYN", "FIN,SYN", "syn+fin"),
            ("SYN,RST", "SYN,RST", "syn+rst"),
            ("FIN,SYN,RST,PSH,ACK,URG", "NONE", "null"),
            ("FIN,PSH,URG", "FIN,PSH,URG", "xmas"),
            ("FIN,ACK", "FIN", "fin without ack"),
        ):
            rules.append(f"-p tcp -m tcp --tcp-flags {mask} {comp} {_comment(why)} -j DROP")
    if early.low_mss:
        rules.append(
            f"{_SYN} -m tcpmss --mss 1:{early.min_mss - 1}"
            f" {_comment(f'mss below {early.min_mss}')} -j DROP"
        )
    if early.invalid:
        rules.append(f"-m conntrack --ctstate INVALID {_comment('invalid')} -j DROP")
    if early.new_without_syn:
        rules.append(f"{_NOT_SYN} -m conntrack --ctstate NEW {_comment('new without syn')} -j DROP")
    if early.syn_flood:
        name = f"rampart-syn{version}-{early.syn_rate}-{early.syn_burst}"
        rules.append(
            f"{_SYN} -m hashlimit --hashlimit-above {early.syn_rate}/sec"
            f" --hashlimit-burst {early.syn_burst} --hashlimit-mode srcip"
            f" --hashlimit-name {name} --hashlimit-htable-expire 60000"
            f" {_comment('syn flood')} -j DROP"
        )
    if early.conn_limit is not None:
        prefix = 32 if version == 4 else 128
        rules.append(
            f"{_SYN} -m conntrack --ctstate NEW -m connlimit"
            f" --connlimit-above {early.conn_limit} --connlimit-mask {prefix} --connlimit-saddr"
            f" {_comment('connection limit')} -j DROP"
        )
    return rules


def _in_rules(policy: FirewallSettings, version: int) -> list[str]:
    rules = ["-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-i lo -j ACCEPT"]
    limit = f"-m limit --limit {policy.ping_rate}/sec --limit-burst {policy.ping_rate * 2}"
    if version == 4:
        rules += [f"-p icmp -m icmp --icmp-type {kind} -j ACCEPT" for kind in _ICMP4_NEEDED]
        rules.append(f"-p icmp -m icmp --icmp-type 8 {limit} -j ACCEPT")
    else:
        rules += [f"-p ipv6-icmp -m icmp6 --icmpv6-type {kind} -j ACCEPT" for kind in _ICMP6_NEEDED]
        rules.append(f"-p ipv6-icmp -m icmp6 --icmpv6-type 128 {limit} -j ACCEPT")
    for service in policy.allow:
        rules += service_rules(service, version)
    if policy.inbound == "drop":
        rules.append(f"{_comment('drop by policy')} -j DROP")
    return rules


def service_rules(service: FirewallService, version: int) -> list[str]:
    """The ACCEPT rule(s) of one allowed service for one IP version: one per source."""
    low, high = service.port
    port = str(low) if low == high else f"{low}:{high}"
    head = f"-i {service.interface} " if service.interface else ""
    tail = f"-p {service.protocol} -m {service.protocol} --dport {port} -j ACCEPT"
    if not service.sources:
        return [f"{head}{tail}"]
    networks = [n for n in map(ipaddress.ip_network, service.sources) if n.version == version]
    return [f"{head}-s {n.with_prefixlen} {tail}" for n in networks]


@dataclass(frozen=True)
class IptablesPlan:
    """What applying would do, per IP version: the restore input, rampart's live rules, the diff."""

    texts: dict[int, str]
    live: dict[int, str]
    diff: str


def _run(argv: list[str], netns: str | None, batch: str | None = None) -> str:
    try:
        result = run([*netns_prefix(netns), *argv], input_text=batch, timeout=TIMEOUT, check=False)
    except CommandError as error:
        raise FirewallError(str(error)) from None
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line]
        said = lines[0][:200] if lines else f"exit {result.returncode}"
        raise FirewallError(f"{argv[0]}: {said}")
    return result.stdout


def _save(version: int, table: str, netns: str | None) -> list[str]:
    return _run([f"{TOOLS[version]}-save", "-t", table], netns).splitlines()


def live_state(
    netns: str | None = None,
) -> tuple[dict[int, str], dict[int, dict[tuple[str, str], int]]]:
    """rampart's live rules (``-A`` lines of its chains, per version) and the jumps to them."""
    rules: dict[int, str] = {}
    jumps: dict[int, dict[tuple[str, str], int]] = {}
    for version in VERSIONS:
        mine: list[str] = []
        counts: dict[tuple[str, str], int] = {}
        for table, builtin, chain in HOOKS:
            saved = _save(version, table, netns)
            counts[(table, builtin)] = saved.count(f"-A {builtin} -j {chain}")
            mine += [f"*{table} {line}" for line in saved if line.startswith(f"-A {chain} ")]
        rules[version] = "".join(line + "\n" for line in mine)
        jumps[version] = counts
    return rules, jumps


def _wanted(text: str) -> str:
    """The ``-A`` lines of rampart's chains in restore input, as :func:`live_state` shows them."""
    table = ""
    out = []
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(f"-A {PRE_CHAIN} ") or line.startswith(f"-A {IN_CHAIN} "):
            out.append(f"*{table} {line}\n")
    return "".join(out)


def plan(policy: FirewallSettings, netns: str | None = None) -> IptablesPlan:
    """The restore input for ``policy`` and a diff from rampart's live rules to it.

    The live rules are as ``iptables-save`` prints them, so the diff shows its
    spelling (e.g. ``--dport``, ``-m comment`` order) and may list rules that
    only differ in writing; the restore input itself is what applies.
    """
    live, jumps = live_state(netns)
    texts = dict(zip(VERSIONS, compile_iptables(policy, jumps), strict=True))
    diff = "".join(
        "".join(
            difflib.unified_diff(
                live[v].splitlines(keepends=True),
                _wanted(texts[v]).splitlines(keepends=True),
                fromfile=f"{TOOLS[v]} rampart chains (live)",
                tofile=f"{TOOLS[v]} rampart chains (policy)",
            )
        )
        for v in VERSIONS
    )
    return IptablesPlan(texts, live, diff)


def apply(
    policy: FirewallSettings,
    state_dir: Path | None = None,
    *,
    confirm_within: float | None = None,
    force: bool = False,
    netns: str | None = None,
) -> IptablesPlan:
    """Load ``policy``: one ``iptables-restore -w --noflush`` per IP version.

    The SSH lockout guard of :mod:`rampart.firewall.apply` runs first unless
    ``force``. With ``state_dir``, rampart's rules as they are now are saved
    there first (:data:`SAVED`); with ``confirm_within`` as well, the same
    detached rollback as the nftables backend restores them unless
    ``rampart firewall confirm`` runs in time.
    """
    from rampart.firewall.apply import lockout, pending_check, start_rollback

    token: Path | None = None
    saved: Path | None = None
    if state_dir is not None:
        directory, token = pending_check(state_dir, confirm_within)
        saved = directory / SAVED
    elif confirm_within is not None:
        raise FirewallError("--confirm-within needs a state directory")
    if not force:
        refusal = lockout(policy, netns)
        if refusal is not None:
            raise FirewallError(refusal)
    current = plan(policy, netns)
    for version in VERSIONS:
        tool = f"{TOOLS[version]}-restore"
        _run([tool, "-w", "--noflush", "--test"], netns, current.texts[version])
    if saved is not None:
        state = saved_state(netns)
        write_atomically(saved, lambda out: json.dump(state, out))
    if confirm_within is not None and token is not None:
        info = {"backend": "iptables", "netns": netns, "saved": str(saved), "pid": None}
        write_atomically(token, lambda out: json.dump(info, out))
    try:
        for version in VERSIONS:
            _run([f"{TOOLS[version]}-restore", "-w", "--noflush"], netns, current.texts[version])
    except FirewallError:
        if confirm_within is not None and token is not None:
            token.unlink(missing_ok=True)
        raise
    if confirm_within is not None and token is not None:
        start_rollback(token, confirm_within)
    return current


SAVED = "previous.iptables.json"
"""rampart's chains as they were before the last apply, per IP version (in the state directory)."""


def saved_state(netns: str | None = None) -> dict[str, str]:
    """Restore input (for ``--noflush``) that rebuilds rampart's chains and jumps as they are.

    Keyed by IP version ("4", "6"); "" for a version where rampart has nothing.
    Only rampart's own chains and the jumps to them are read.
    """
    state: dict[str, str] = {}
    for version in VERSIONS:
        lines: list[str] = []
        for table, builtin, chain in HOOKS:
            live = _save(version, table, netns)
            rules = [line for line in live if line.startswith(f"-A {chain} ")]
            exists = any(line.startswith(f":{chain} ") for line in live)
            jumped = f"-A {builtin} -j {chain}" in live
            if not exists:
                continue
            lines += [f"*{table}", f":{chain} - [0:0]", *rules]
            if jumped:
                lines.append(f"-I {builtin} 1 -j {chain}")
            lines.append("COMMIT")
        state[str(version)] = "".join(line + "\n" for line in lines)
    return state


def restore_state(saved: Path, netns: str | None = None) -> None:
    """Put rampart's chains back as :func:`saved_state` found them (the rollback)."""
    try:
        state = json.loads(saved.read_text())
        texts = {version: str(state[str(version)]) for version in VERSIONS}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FirewallError(f"{saved}: unreadable ({error})") from None
    remove(netns)
    for version in VERSIONS:
        if texts[version]:
            _run([f"{TOOLS[version]}-restore", "-w", "--noflush"], netns, texts[version])


def remove(netns: str | None = None) -> None:
    """Delete the jumps and rampart's chains (nothing else)."""
    for version in VERSIONS:
        lines: list[str] = []
        for table, builtin, chain in HOOKS:
            saved = _save(version, table, netns)
            part = [f"-D {builtin} -j {chain}"] * saved.count(f"-A {builtin} -j {chain}")
            if any(re.fullmatch(rf":{re.escape(chain)} .*", line) for line in saved):
                part += [f"-F {chain}", f"-X {chain}"]
            if part:
                lines += [f"*{table}", *part, "COMMIT"]
        if lines:
            _run([f"{TOOLS[version]}-restore", "-w", "--noflush"], netns, "\n".join(lines) + "\n")
