"""The policy applied for real in the host namespace of a LAN, with rollback and the guard."""

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rampart.config import FirewallSettings
from rampart.firewall import FirewallError
from rampart.firewall.apply import apply, confirm, live_table, plan
from tests.netns import Lan


def policy(*allow: dict[str, object]) -> FirewallSettings:
    return FirewallSettings.model_validate({"allow": list(allow)})


def reachable(lan: Lan, port: int) -> tuple[bool, bool]:
    return (
        lan.can_connect(lan.attacker, lan.host.ip4, port),
        lan.can_connect(lan.bystander, lan.host.ip6, port),
    )


def wait_for(condition: object, seconds: float = 8.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_allowed_ports_open_others_dropped(lan: Lan, tmp_path: Path) -> None:
    lan.serve_tcp(8080)
    lan.serve_tcp(9090)
    apply(policy({"port": "8000-8100"}), tmp_path, netns=lan.host.ns)
    assert reachable(lan, 8080) == (True, True)
    assert reachable(lan, 9090) == (False, False)


def test_source_restricted_allow(lan: Lan, tmp_path: Path) -> None:
    lan.serve_tcp(8080)
    rule = {"port": 8080, "sources": [str(lan.bystander.ip4), str(lan.bystander.ip6)]}
    apply(policy(rule), tmp_path, netns=lan.host.ns)
    assert lan.can_connect(lan.bystander, lan.host.ip4, 8080)
    assert lan.can_connect(lan.bystander, lan.host.ip6, 8080)
    assert not lan.can_connect(lan.attacker, lan.host.ip4, 8080)
    assert not lan.can_connect(lan.attacker, lan.host.ip6, 8080)


def test_unconfirmed_apply_rolls_back(lan: Lan, tmp_path: Path) -> None:
    lan.serve_tcp(8080)
    apply(policy(), tmp_path, confirm_within=2, netns=lan.host.ns)
    assert not lan.can_connect(lan.attacker, lan.host.ip4, 8080)
    assert wait_for(lambda: lan.can_connect(lan.attacker, lan.host.ip4, 8080))
    assert live_table(lan.host.ns) == ""


def test_rollback_restores_the_previous_policy(lan: Lan, tmp_path: Path) -> None:
    lan.serve_tcp(8080)
    lan.serve_tcp(9090)
    apply(policy({"port": 8080}), tmp_path, netns=lan.host.ns)
    before = live_table(lan.host.ns)
    apply(policy({"port": 9090}), tmp_path, confirm_within=2, netns=lan.host.ns)
    assert reachable(lan, 9090) == (True, True)
    assert wait_for(lambda: lan.can_connect(lan.attacker, lan.host.ip4, 8080))
    assert not lan.can_connect(lan.attacker, lan.host.ip4, 9090)
    assert "dport 8080" in before and "dport 8080" in live_table(lan.host.ns)


def test_confirm_keeps_the_policy(lan: Lan, tmp_path: Path) -> None:
    lan.serve_tcp(8080)
    apply(policy(), tmp_path, confirm_within=2, netns=lan.host.ns)
    confirm(tmp_path)
    time.sleep(3)
    assert not lan.can_connect(lan.attacker, lan.host.ip4, 8080)
    with pytest.raises(FirewallError, match="nothing to confirm"):
        confirm(tmp_path)


def test_rollback_survives_killing_the_applier(lan: Lan, tmp_path: Path) -> None:
    lan.serve_tcp(8080)
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from rampart.config import FirewallSettings\n"
        "from rampart.firewall.apply import apply\n"
        "apply(FirewallSettings(), Path(sys.argv[1]), confirm_within=2, netns=sys.argv[2])\n"
        "print('applied', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path), lan.host.ns],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "SSH_CONNECTION": ""},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "applied"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=5)
        assert not lan.can_connect(lan.attacker, lan.host.ip4, 8080)
        assert wait_for(lambda: lan.can_connect(lan.attacker, lan.host.ip4, 8080))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_lockout_guard_refuses_then_force(
    lan: Lan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSH_CONNECTION", f"{lan.attacker.ip4} 40000 {lan.host.ip4} 2222")
    with pytest.raises(FirewallError, match=f"SSH session from {lan.attacker.ip4} to port 2222"):
        apply(policy({"port": 22}), tmp_path, netns=lan.host.ns)
    assert live_table(lan.host.ns) == ""
    # Allowed for another source only: still a lockout.
    with pytest.raises(FirewallError):
        apply(policy({"port": 2222, "sources": ["198.51.100.0/24"]}), tmp_path, netns=lan.host.ns)
    apply(policy({"port": 2222, "sources": [str(lan.attacker.ip4)]}), tmp_path, netns=lan.host.ns)
    apply(policy({"port": 22}), tmp_path, force=True, netns=lan.host.ns)
    assert "dport 22 accept" in live_table(lan.host.ns)


def test_foreign_tables_left_alone(lan: Lan, tmp_path: Path) -> None:
    foreign = "table inet other {\n chain c { type filter hook input priority 10; counter; }\n}\n"
    lan.exec(lan.host, ["nft", "-f", "-"], input_text=foreign)
    apply(policy({"port": 22}), tmp_path, confirm_within=1, netns=lan.host.ns)
    assert "table inet other" in lan.exec(lan.host, ["nft", "list", "tables"]).stdout
    assert wait_for(lambda: live_table(lan.host.ns) == "")
    tables = lan.exec(lan.host, ["nft", "list", "tables"]).stdout
    assert "table inet other" in tables and "rampart_fw" not in tables


def test_plan_shows_the_difference(lan: Lan, tmp_path: Path) -> None:
    first = plan(policy({"port": 22}), netns=lan.host.ns)
    assert first.live_text == ""
    assert first.text.startswith("add table inet rampart_fw\ndelete table inet rampart_fw\n")
    assert "+\t\ttcp dport 22 accept" in first.diff
    apply(policy({"port": 22}), tmp_path, netns=lan.host.ns)
    assert "dport 22" in plan(policy({"port": 443}), netns=lan.host.ns).live_text


def test_pending_change_blocks_another(lan: Lan, tmp_path: Path) -> None:
    apply(policy({"port": 22}), tmp_path, confirm_within=30, netns=lan.host.ns)
    with pytest.raises(FirewallError, match="waits for confirmation"):
        apply(policy({"port": 22}), tmp_path, netns=lan.host.ns)
    confirm(tmp_path)


# Crafted packets from the attacker: each answer (if any) is counted, so a
# dropped probe is one that got no SYN-ACK or RST back.
_PROBES = """\
import sys
from scapy.all import IP, IPv6, TCP, conf, sr1
conf.verb = 0
dst4, dst6, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
probes = [
    IP(dst=dst4) / TCP(dport=port, sport=40001, flags="SF"),
    IPv6(dst=dst6) / TCP(dport=port, sport=40002, flags="SF"),
    IP(dst=dst4) / TCP(dport=port, sport=40003, flags="S", options=[("MSS", 100)]),
    IP(dst=dst4) / TCP(dport=port, sport=40004, flags="FPU"),
    IP(dst=dst4) / TCP(dport=port, sport=40005, flags=""),
    IP(dst=dst4) / TCP(dport=port, sport=40006, flags="S", options=[("MSS", 1460)]),
]
print(sum(sr1(p, timeout=0.5) is not None for p in probes))
"""


def _counters(lan: Lan) -> dict[str, int]:
    listing = lan.exec(lan.host, ["nft", "list", "chain", "inet", "rampart_fw", "prerouting"])
    found = re.findall(r'counter packets (\d+) bytes \d+ drop comment "([^"]+)"', listing.stdout)
    counters: dict[str, int] = {}
    for packets, comment in found:  # "syn flood" twice: IPv4 and IPv6
        counters[comment] = counters.get(comment, 0) + int(packets)
    return counters


def test_crafted_packets_are_dropped_and_counted(lan: Lan, tmp_path: Path) -> None:
    if importlib.util.find_spec("scapy") is None:
        pytest.skip("scapy is not installed (pip install -e '.[dev]')")
    lan.serve_tcp(8080)
    apply(policy({"port": 8080}), tmp_path, netns=lan.host.ns)
    probe = [sys.executable, "-c", _PROBES, str(lan.host.ip4), str(lan.host.ip6), "8080"]
    answered = lan.exec(lan.attacker, probe, timeout=30).stdout.strip()
    assert answered == "1"  # only the honest SYN got its SYN-ACK
    counters = _counters(lan)
    assert counters["syn+fin"] == 2
    assert counters["mss below 536"] == 1
    assert counters["xmas"] == 1
    assert counters["null"] == 1
    assert lan.can_connect(lan.attacker, lan.host.ip4, 8080)


_FLOOD = """\
import sys
from scapy.all import IP, TCP, conf, send
conf.verb = 0
send([IP(dst=sys.argv[1]) / TCP(dport=int(sys.argv[2]), sport=20000 + n, flags="S")
      for n in range(200)])
"""


def test_syn_flood_above_the_rate_is_dropped(lan: Lan, tmp_path: Path) -> None:
    if importlib.util.find_spec("scapy") is None:
        pytest.skip("scapy is not installed (pip install -e '.[dev]')")
    lan.serve_tcp(8080)
    apply(policy({"port": 8080}), tmp_path, netns=lan.host.ns)
    lan.exec(lan.attacker, [sys.executable, "-c", _FLOOD, str(lan.host.ip4), "8080"], timeout=30)
    # 200 SYNs in well under a second against 25/s with a burst of 50.
    assert _counters(lan)["syn flood"] >= 100
    assert lan.can_connect(lan.bystander, lan.host.ip4, 8080)  # another source is not limited


def test_outbound_policy_lets_out_only_what_is_allowed(lan: Lan, tmp_path: Path) -> None:
    lan.serve_tcp(8080, lan.attacker)
    lan.serve_tcp(8080, lan.bystander)
    lan.serve_tcp(9090, lan.bystander)
    lan.serve_tcp(22)
    settings = FirewallSettings.model_validate(
        {
            "allow": [{"port": 22}],
            "outbound": "drop",
            "allow_out": [{"port": 8080, "destinations": [str(lan.bystander.ip4)]}],
        }
    )
    apply(settings, tmp_path, netns=lan.host.ns)
    assert lan.can_connect(lan.host, lan.bystander.ip4, 8080)
    assert not lan.can_connect(lan.host, lan.attacker.ip4, 8080), "not an allowed destination"
    assert not lan.can_connect(lan.host, lan.bystander.ip4, 9090), "not an allowed port"
    assert lan.can_connect(lan.attacker, lan.host.ip4, 22), "replies to inbound still leave"


def test_the_iptables_backend_refuses_an_outbound_policy_it_cannot_enforce() -> None:
    from rampart.firewall.policy_iptables import compile_iptables

    settings = FirewallSettings.model_validate({"outbound": "drop"})
    with pytest.raises(FirewallError, match="outbound"):
        compile_iptables(settings)


def test_the_ssh_port_rampart_moved_to_stays_open_in_later_applies(tmp_path: Path) -> None:
    from rampart.firewall.apply import effective_policy, remember_ssh_port

    configured = policy({"port": 443})
    assert effective_policy(configured, tmp_path) == configured, "nothing recorded: unchanged"
    remember_ssh_port(tmp_path, 2222)
    kept = effective_policy(configured, tmp_path)
    assert [s.port for s in kept.allow] == [(443, 443), (2222, 2222)]
    already = policy({"port": "2000-3000"})
    assert effective_policy(already, tmp_path) == already, "already open: not added twice"
    restricted = policy({"port": 2222, "sources": ["10.0.0.0/8"]})
    assert len(effective_policy(restricted, tmp_path).allow) == 2, "open from anywhere"
