"""The policy through iptables-restore, applied for real in the host namespace of a LAN."""

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rampart.config import FirewallSettings
from rampart.firewall.apply import confirm
from rampart.firewall.interface import FirewallError
from rampart.firewall.policy_iptables import (
    IN_CHAIN,
    PRE_CHAIN,
    apply,
    compile_iptables,
    plan,
    remove,
)
from tests.netns import Lan, require


def policy(*allow: dict[str, object], **more: object) -> FirewallSettings:
    return FirewallSettings.model_validate({"allow": list(allow), **more})


def save(lan: Lan, tool: str = "iptables", *table: str) -> str:
    return lan.exec(lan.host, [f"{tool}-save", *table]).stdout


FILTER = ("-t", "filter")


@pytest.fixture
def host(lan: Lan) -> Lan:
    require("iptables-restore", "ip6tables-restore")
    return lan


def test_compile_own_chains_only() -> None:
    four, six = compile_iptables(
        policy(
            {"port": 22},
            {"port": "8000-8100", "protocol": "udp", "interface": "eth0"},
            {"port": 5432, "sources": ["198.51.100.0/24", "2001:db8::/64"]},
            early_drop={"conn_limit": 20},
        )
    )
    for text in (four, six):
        assert "-P " not in text  # no built-in chain policy changes
        assert f":{IN_CHAIN} - [0:0]" in text and f":{PRE_CHAIN} - [0:0]" in text
        assert "-I INPUT 1 -j RAMPART-FW-IN" in text
        assert "-I PREROUTING 1 -j RAMPART-FW-PRE" in text
        assert text.rstrip().endswith("COMMIT")
        lines = [line for line in text.splitlines() if line.startswith("-A ")]
        assert all(line.split()[1] in (IN_CHAIN, PRE_CHAIN) for line in lines)
        assert lines[-1] == f'-A {IN_CHAIN} -m comment --comment "drop by policy" -j DROP'
        assert "-i eth0 -p udp -m udp --dport 8000:8100 -j ACCEPT" in text
        assert "--mss 1:535" in text and "-m hashlimit" in text and "--connlimit-above 20" in text
        assert "! --tcp-flags FIN,SYN,RST,ACK SYN -m conntrack --ctstate NEW" in text
    assert "-s 198.51.100.0/24 -p tcp -m tcp --dport 5432" in four
    assert "2001:db8" not in four
    assert "-s 2001:db8::/64 -p tcp -m tcp --dport 5432" in six and "198.51" not in six
    assert "-p icmp -m icmp --icmp-type 8 -m limit" in four
    assert "--icmpv6-type 135 -j RETURN" in six  # neighbour discovery before the ct drops


def test_compile_accept_and_no_early_drops() -> None:
    off = {k: False for k in ("invalid", "bad_flags", "new_without_syn", "low_mss", "syn_flood")}
    four, _ = compile_iptables(policy(inbound="accept", early_drop=off))
    assert "DROP" not in four


def test_compile_with_live_jumps() -> None:
    jumps = {("filter", "INPUT"): 3, ("mangle", "PREROUTING"): 1}
    four, six = compile_iptables(policy(), {4: jumps})
    assert "-I INPUT" not in four and four.count("-D INPUT -j RAMPART-FW-IN") == 2
    assert "-I PREROUTING" not in four and "-D PREROUTING" not in four
    assert "-I INPUT 1 -j RAMPART-FW-IN" in six


def test_allowed_port_open_others_dropped(host: Lan, tmp_path: Path) -> None:
    host.serve_tcp(8080)
    host.serve_tcp(9090)
    apply(policy({"port": "8000-8100"}), tmp_path, netns=host.host.ns)
    assert host.can_connect(host.attacker, host.host.ip4, 8080)
    assert host.can_connect(host.bystander, host.host.ip6, 8080)
    assert not host.can_connect(host.attacker, host.host.ip4, 9090)
    assert not host.can_connect(host.bystander, host.host.ip6, 9090)


def test_source_restricted_allow(host: Lan, tmp_path: Path) -> None:
    host.serve_tcp(8080)
    rule = {"port": 8080, "sources": [str(host.bystander.ip4), str(host.bystander.ip6)]}
    apply(policy(rule), tmp_path, netns=host.host.ns)
    assert host.can_connect(host.bystander, host.host.ip4, 8080)
    assert host.can_connect(host.bystander, host.host.ip6, 8080)
    assert not host.can_connect(host.attacker, host.host.ip4, 8080)
    assert not host.can_connect(host.attacker, host.host.ip6, 8080)


def test_reapply_is_idempotent(host: Lan, tmp_path: Path) -> None:
    rules = policy({"port": 22}, {"port": 443, "sources": ["198.51.100.0/24"]})
    apply(rules, tmp_path, netns=host.host.ns)
    first = (save(host), save(host, "ip6tables"))
    apply(rules, tmp_path, netns=host.host.ns)
    again = (save(host), save(host, "ip6tables"))

    def body(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith("#")]

    assert [body(t) for t in again] == [body(t) for t in first]
    assert again[0].count("-A INPUT -j RAMPART-FW-IN") == 1
    assert again[0].count("-A PREROUTING -j RAMPART-FW-PRE") == 1
    assert again[0].count("--dport 22 -j ACCEPT") == 1
    assert plan(rules, netns=host.host.ns).diff == ""  # spelt as iptables-save prints it
    changed = plan(policy({"port": 23}), netns=host.host.ns).diff
    assert "-*filter -A RAMPART-FW-IN -p tcp -m tcp --dport 22 -j ACCEPT" in changed
    assert "+*filter -A RAMPART-FW-IN -p tcp -m tcp --dport 23 -j ACCEPT" in changed


def test_other_chains_untouched(host: Lan, tmp_path: Path) -> None:
    theirs = (
        "*filter\n:OTHER - [0:0]\n-A OTHER -p udp --dport 53 -j ACCEPT\n"
        "-A INPUT -p tcp --dport 9999 -j ACCEPT\n-A FORWARD -j OTHER\nCOMMIT\n"
    )
    host.exec(host.host, ["iptables-restore", "-w", "--noflush"], input_text=theirs)
    before = [
        line
        for line in save(host, "iptables", *FILTER).splitlines()
        if line.startswith(("-A", ":"))
    ]
    apply(policy({"port": 22}), tmp_path, netns=host.host.ns)
    after = save(host, "iptables", *FILTER)
    assert ":INPUT ACCEPT" in after and ":FORWARD ACCEPT" in after  # policies unchanged
    mine = (f"-A {IN_CHAIN} ", f"-A {PRE_CHAIN} ", f":{IN_CHAIN} ", f":{PRE_CHAIN} ")
    kept = [line for line in after.splitlines() if line.startswith(("-A", ":"))]
    kept = [line for line in kept if not line.startswith(mine) and "-j RAMPART-FW-" not in line]
    assert kept == before
    remove(host.host.ns)
    cleaned = save(host, "iptables", *FILTER).splitlines()
    assert [line for line in cleaned if line.startswith(("-A", ":"))] == before
    assert "RAMPART" not in save(host) and "RAMPART" not in save(host, "ip6tables")


def test_cli_backend_iptables(
    host: Lan, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rampart.cli.main import main

    monkeypatch.setenv("SSH_CONNECTION", "")
    path = tmp_path / "rampart.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n[firewall]\nallow = [{{port = 8080}}]\n')
    host.serve_tcp(8080)
    host.serve_tcp(9090)
    base = ["--config", str(path), "firewall"]
    ns = ["--netns", host.host.ns, "--backend", "iptables"]
    assert main([*base, "plan", *ns]) == 0
    assert (
        "+*filter -A RAMPART-FW-IN -p tcp -m tcp --dport 8080 -j ACCEPT" in capsys.readouterr().out
    )
    assert main([*base, "apply", "--confirm-within", "30", *ns]) == 0
    assert "RAMPART" in save(host)
    assert main([*base, "confirm"]) == 0
    assert main([*base, "apply", *ns]) == 0
    assert host.can_connect(host.attacker, host.host.ip4, 8080)
    assert not host.can_connect(host.attacker, host.host.ip4, 9090)
    capsys.readouterr()
    assert main([*base, "plan", *ns]) == 0
    assert capsys.readouterr().out.endswith("# no change from the live rules\n")


def wait_for(check: Callable[[], bool], seconds: float = 8.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return check()


def test_unconfirmed_apply_rolls_back(host: Lan, tmp_path: Path) -> None:
    host.serve_tcp(8080)
    host.serve_tcp(9090)
    apply(policy({"port": 8080}), tmp_path, netns=host.host.ns)
    before = (save(host), save(host, "ip6tables"))
    apply(policy({"port": 9090}), tmp_path, confirm_within=2, netns=host.host.ns)
    token = tmp_path / "firewall" / "pending.json"
    assert json.loads(token.read_text())["backend"] == "iptables"
    assert (tmp_path / "firewall" / "previous.iptables.json").exists()
    assert host.can_connect(host.attacker, host.host.ip4, 9090)
    assert not host.can_connect(host.attacker, host.host.ip4, 8080)
    assert wait_for(lambda: host.can_connect(host.attacker, host.host.ip4, 8080))
    assert wait_for(lambda: not token.exists())
    assert not host.can_connect(host.attacker, host.host.ip4, 9090)
    assert host.can_connect(host.bystander, host.host.ip6, 8080)
    assert not host.can_connect(host.bystander, host.host.ip6, 9090)
    after = (save(host), save(host, "ip6tables"))
    for old, new in zip(before, after, strict=True):
        assert new.count("-A INPUT -j RAMPART-FW-IN") == 1
        assert new.count("-A PREROUTING -j RAMPART-FW-PRE") == 1
        assert mine(new) == mine(old)


def mine(text: str) -> list[str]:
    return [line for line in text.splitlines() if "RAMPART" in line and not line.startswith("#")]


def test_rollback_to_nothing(host: Lan, tmp_path: Path) -> None:
    host.serve_tcp(8080)
    apply(policy(), tmp_path, confirm_within=2, netns=host.host.ns)
    assert not host.can_connect(host.attacker, host.host.ip4, 8080)
    assert wait_for(lambda: host.can_connect(host.attacker, host.host.ip4, 8080))
    assert wait_for(lambda: "RAMPART" not in save(host) + save(host, "ip6tables"))


def test_confirm_keeps_the_policy(host: Lan, tmp_path: Path) -> None:
    host.serve_tcp(8080)
    host.serve_tcp(9090)
    apply(policy({"port": 8080}), tmp_path, netns=host.host.ns)
    apply(policy({"port": 9090}), tmp_path, confirm_within=2, netns=host.host.ns)
    with pytest.raises(FirewallError, match="waits for confirmation"):
        apply(policy({"port": 8080}), tmp_path, confirm_within=2, netns=host.host.ns)
    confirm(tmp_path)
    time.sleep(3.5)
    assert host.can_connect(host.attacker, host.host.ip4, 9090)
    assert not host.can_connect(host.attacker, host.host.ip4, 8080)
    with pytest.raises(FirewallError, match="nothing to confirm"):
        confirm(tmp_path)
