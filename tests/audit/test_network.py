"""FW-001, FW-002, NET-001 and NET-002 over real rulesets, real listeners and a built /proc."""

# ruff: noqa: S104  (binding to every address is what NET-001 is about)

import ipaddress
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rampart.audit import Check, Facts, Status, run_audit
from rampart.audit.checks.network import (
    DatabaseOnAllAddresses,
    EarlyInvalidDrop,
    InboundDefaultDeny,
    RootNetworkService,
)
from rampart.audit.collectors.network import collect_ruleset, collect_sockets
from tests.netns import Lan, make_lan, require

RAMPART_ONLY = """\
table inet rampart {
  set sshd_4 { type ipv4_addr; flags timeout; }
  chain prerouting {
    type filter hook prerouting priority -300; policy accept;
    ip saddr @sshd_4 meta l4proto tcp th dport 22 counter drop
  }
}
"""
INET_DENY = """\
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state invalid counter drop
    ct state { established, related } accept
    iifname "lo" accept
    tcp dport 22 accept
  }
}
"""
IP_ONLY_DENY = """\
table ip filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state vmap { invalid : drop, established : accept, related : accept }
    tcp dport 22 accept
  }
}
"""
OPEN_BY_FIRST_RULE = """\
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    counter accept
  }
}
"""
FINAL_REJECT = """\
table inet filter {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 22 accept
    counter reject with icmpx admin-prohibited
  }
}
"""


@pytest.fixture
def net() -> Iterator[Lan]:
    require("ip", "nft")
    with make_lan() as lan:
        yield lan


def statuses(check: Check, facts: Facts) -> dict[str, Status]:
    return {f.resource: f.status for f in run_audit(facts, [check]).findings}


def nft_facts(net: Lan, ruleset: str) -> Facts:
    net.exec(net.host, ["nft", "-f", "-"], input_text=ruleset)
    return Facts({"ruleset": lambda: collect_ruleset(netns=net.host.ns)})


def test_rampart_bans_alone_are_not_a_default_deny(net: Lan) -> None:
    facts = nft_facts(net, RAMPART_ONLY)
    report = run_audit(facts, [InboundDefaultDeny(), EarlyInvalidDrop()])
    assert [(f.check, f.status) for f in report.findings] == [
        ("FW-001", Status.FAIL),
        ("FW-001", Status.FAIL),
        ("FW-002", Status.FAIL),
        ("FW-002", Status.FAIL),
    ]
    assert "no input chain for IPv4" in report.findings[0].evidence


def test_an_inet_input_chain_with_policy_drop_passes_both_families(net: Lan) -> None:
    facts = nft_facts(net, RAMPART_ONLY + INET_DENY)
    report = run_audit(facts, [InboundDefaultDeny(), EarlyInvalidDrop()])
    assert {f.status for f in report.findings} == {Status.PASS}
    assert report.findings[0].evidence == "inet filter input: hook input, policy drop"
    assert "ct state invalid counter drop" in report.findings[2].evidence


def test_an_ip_only_chain_leaves_ipv6_open(net: Lan) -> None:
    facts = nft_facts(net, IP_ONLY_DENY)
    assert statuses(InboundDefaultDeny(), facts) == {
        "IPv4 inbound": Status.PASS,
        "IPv6 inbound": Status.FAIL,
    }
    assert statuses(EarlyInvalidDrop(), facts) == {
        "IPv4 invalid packets": Status.PASS,
        "IPv6 invalid packets": Status.FAIL,
    }
    # What the finding means on the wire: a closed port by IPv4, open by IPv6.
    net.serve_tcp(8080)
    assert not net.can_connect(net.attacker, net.host.ip4, 8080)
    assert net.can_connect(net.attacker, net.host.ip6, 8080)


@pytest.mark.parametrize(
    ("ruleset", "expected", "said"),
    [
        (OPEN_BY_FIRST_RULE, Status.FAIL, "accepts everything at rule 'counter accept'"),
        (FINAL_REJECT, Status.PASS, "ends with 'counter reject"),
    ],
)
def test_the_rules_decide_over_the_policy(
    net: Lan, ruleset: str, expected: Status, said: str
) -> None:
    findings = run_audit(nft_facts(net, ruleset), [InboundDefaultDeny()]).findings
    assert {f.status for f in findings} == {expected}
    assert said in findings[0].evidence


def test_iptables_rules_read_from_iptables_save(net: Lan) -> None:
    require("iptables", "iptables-save", "ip6tables-save")
    net.exec(net.host, ["iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"])
    net.exec(
        net.host,
        ["iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"],
    )
    net.exec(net.host, ["iptables", "-P", "INPUT", "DROP"])
    net.exec(net.host, ["ip6tables", "-A", "INPUT", "-p", "tcp", "-j", "ACCEPT"])
    ruleset = collect_ruleset(netns=net.host.ns, nft=None)
    assert ruleset.source == "iptables"
    facts = Facts({"ruleset": lambda: ruleset})
    assert statuses(InboundDefaultDeny(), facts) == {
        "IPv4 inbound": Status.PASS,
        "IPv6 inbound": Status.FAIL,
    }
    assert statuses(EarlyInvalidDrop(), facts) == {
        "IPv4 invalid packets": Status.PASS,
        "IPv6 invalid packets": Status.FAIL,
    }
    finding = run_audit(facts, [InboundDefaultDeny()]).findings[0]
    assert finding.evidence == "ip filter INPUT: hook input, policy drop"


def test_no_firewall_tool_is_a_skip_with_the_reason() -> None:
    facts = Facts(
        {"ruleset": lambda: collect_ruleset(nft=None, iptables_save=None, ip6tables_save=None)}
    )
    findings = run_audit(facts, [InboundDefaultDeny()]).findings
    assert [(f.status, f.reason) for f in findings] == [
        (Status.SKIPPED, "neither nft nor iptables-save is installed")
    ]


# -- sockets --------------------------------------------------------------------

_LISTENER = """\
import os, socket, sys
host, port, proto, uid = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
s = socket.socket(family, kind)
s.bind((host, port))
if proto == "tcp":
    s.listen(8)
if uid:
    os.setuid(uid)
print("ready", flush=True)
sys.stdin.read()
"""


_IN_NS = ("ip", "netns", "exec")


@pytest.fixture
def listen(net: Lan) -> Iterator[Callable[..., int]]:
    started: list[subprocess.Popen[str]] = []

    def start(host: str, port: int, proto: str = "tcp", uid: int = 0) -> int:
        args = [host, str(port), proto, str(uid)]
        process = subprocess.Popen(
            [*_IN_NS, net.host.ns, sys.executable, "-I", "-c", _LISTENER, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 10)
        assert ready and process.stdout.readline().strip() == "ready"
        return process.pid

    yield start
    for process in started:
        process.kill()
        process.communicate(timeout=10)


def test_real_listeners_database_on_all_addresses_and_root_owners(
    net: Lan, listen: Callable[..., int]
) -> None:
    root_pid = listen("0.0.0.0", 5432)
    listen("::", 27017, "tcp", 65534)
    listen("127.0.0.1", 6379)
    listen("0.0.0.0", 11211, "udp", 65534)
    sockets = collect_sockets(netns=net.host.ns)
    by_port = {s.port: s for s in sockets}
    assert set(by_port) == {5432, 27017, 6379, 11211}
    comm = Path(f"/proc/{root_pid}/comm").read_text().strip()
    assert (by_port[5432].pid, by_port[5432].user, by_port[5432].comm) == (root_pid, "root", comm)
    assert by_port[27017].uid == 65534 and by_port[27017].socket_uid == 0
    facts = Facts({"sockets": lambda: sockets})
    assert statuses(DatabaseOnAllAddresses(), facts) == {
        f"{comm} on 0.0.0.0:5432": Status.FAIL,
        f"{comm} on [::]:27017": Status.FAIL,
        f"{comm} on 0.0.0.0:11211/udp": Status.FAIL,
    }
    # Run as root: 5432 and 6379 (loopback counts too); the setuid ones do not.
    assert statuses(RootNetworkService(), facts) == {
        f"{comm} on 0.0.0.0:5432": Status.FAIL,
        f"{comm} on 127.0.0.1:6379": Status.FAIL,
    }


def test_nothing_listening_passes(net: Lan) -> None:
    facts = Facts({"sockets": lambda: collect_sockets(netns=net.host.ns)})
    report = run_audit(facts, [DatabaseOnAllAddresses(), RootNetworkService()])
    assert [(f.resource, f.status) for f in report.findings] == [
        ("listening sockets", Status.PASS),
        ("listening sockets", Status.PASS),
    ]


def _hex(address: str) -> str:
    packed = ipaddress.ip_address(address).packed
    return "".join(
        f"{int.from_bytes(packed[i : i + 4], sys.byteorder):08X}" for i in range(0, len(packed), 4)
    )


def _line(address: str, port: int, state: str, uid: int, inode: int) -> str:
    return (
        f"   0: {_hex(address)}:{port:04X} {_hex('::' if ':' in address else '0.0.0.0')}:0000 "
        f"{state} 00000000:00000000 00:00000000 00000000 {uid:5d} 0 {inode} 1 0000 100 0 0 10 0"
    )


def fake_proc(root: Path) -> Path:
    """A /proc with sshd and nginx as root, a postgres user process, and a hidden owner."""
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when ...\n"
    (root / "net").mkdir(parents=True)
    (root / "net" / "tcp").write_text(
        header
        + _line("0.0.0.0", 22, "0A", 0, 1001)
        + "\n"
        + _line("0.0.0.0", 80, "0A", 0, 1002)
        + "\n"
        + _line("10.0.0.5", 5432, "0A", 105, 1003)
        + "\n"
        + _line("0.0.0.0", 8443, "0A", 0, 1004)  # its owner cannot be read
        + "\n"
        + _line("10.0.0.5", 40000, "01", 0, 1005)  # established: not a listener
        + "\n"
    )
    (root / "net" / "tcp6").write_text(header + _line("::", 3306, "0A", 106, 1006) + "\n")
    (root / "net" / "udp").write_text(header)
    for pid, comm, uid, inodes in (
        (10, "sshd", 0, [1001]),
        (20, "nginx", 0, [1002]),
        (21, "nginx", 33, [1002]),  # a worker holding the master's socket
        (30, "postgres", 105, [1003]),
        (40, "mariadbd", 4242, [1006]),  # a UID with no passwd entry
    ):
        directory = root / str(pid)
        (directory / "fd").mkdir(parents=True)
        (directory / "comm").write_text(comm + "\n")
        (directory / "cmdline").write_bytes(f"/usr/sbin/{comm}\0-D\0".encode())
        (directory / "status").write_text(f"Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
        for number, inode in enumerate(inodes, 3):
            (directory / "fd" / str(number)).symlink_to(f"socket:[{inode}]")
        (directory / "fd" / "0").symlink_to("/dev/null")
    (root / "50").mkdir()  # a process whose fd and comm cannot be read
    return root


def test_owners_from_a_built_proc_tree(tmp_path: Path) -> None:
    sockets = collect_sockets(proc=fake_proc(tmp_path / "proc"))
    owners = {(s.address, s.port): (s.pid, s.comm, s.user) for s in sockets}
    assert owners == {
        ("0.0.0.0", 22): (10, "sshd", "root"),
        ("0.0.0.0", 80): (20, "nginx", "root"),
        ("10.0.0.5", 5432): (30, "postgres", owners[("10.0.0.5", 5432)][2]),
        ("0.0.0.0", 8443): (None, "unknown", "unknown"),
        ("::", 3306): (40, "mariadbd", "4242"),
    }
    facts = Facts({"sockets": lambda: sockets})
    assert statuses(DatabaseOnAllAddresses(), facts) == {"mariadbd on [::]:3306": Status.FAIL}
    report = run_audit(facts, [RootNetworkService()])
    assert [(f.resource, f.status) for f in report.findings] == [
        ("nginx on 0.0.0.0:80", Status.FAIL),
        ("sockets with unknown owner", Status.SKIPPED),
    ]
    assert "0.0.0.0:8443/tcp" in (report.findings[1].reason or "")
