"""The [firewall] policy: validation, the nft text it compiles to, and the thin CLI."""

import ipaddress
from pathlib import Path

import pytest

from rampart.cli.main import main
from rampart.config import FirewallSettings, validate_settings
from rampart.errors import ConfigError
from rampart.firewall.apply import live_table
from rampart.firewall.policy import allows, compile_policy
from tests.netns import Lan


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAMPART_CONFIG", raising=False)
    monkeypatch.delenv("RAMPART_STATE_DIR", raising=False)
    monkeypatch.delenv("SSH_CONNECTION", raising=False)


@pytest.mark.parametrize(
    ("firewall", "message"),
    [
        ({"allow": [{"port": 0}]}, "key firewall.allow.0.port: port 0 is outside 1-65535"),
        ({"allow": [{"port": 70000}]}, "outside 1-65535"),
        ({"allow": [{"port": "90-80"}]}, "runs backwards"),
        ({"allow": [{"port": "22,80"}]}, "not one port or port range"),
        ({"allow": [{"port": 22, "protocol": "icmp"}]}, "firewall.allow.0.protocol"),
        ({"allow": [{"port": 22, "sources": ["10.0.0.300"]}]}, "not an IP address or network"),
        ({"allow": [{"port": 22, "interface": "eth0; drop"}]}, "not an interface name"),
        ({"allow": [{"port": 22, "interface": "a" * 16}]}, "not an interface name"),
        ({"inbound": "reject"}, "firewall.inbound"),
        ({"early_drop": {"syn_rate": 0}}, "firewall.early_drop.syn_rate"),
        ({"early_drop": {"synflood": True}}, "firewall.early_drop.synflood"),
    ],
)
def test_invalid_values_are_one_line_errors(firewall: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        validate_settings({"firewall": firewall}, "rampart.toml")
    assert "\n" not in str(caught.value)


def test_defaults_drop_inbound_with_every_early_drop() -> None:
    text = compile_policy(FirewallSettings())
    assert text.startswith("add table inet rampart_fw\ndelete table inet rampart_fw\n")
    assert "type filter hook prerouting priority -150; policy accept;" in text
    assert "type filter hook input priority 0; policy drop;" in text
    for comment in ("invalid", "syn+fin", "syn+rst", "fin without ack", "null", "xmas"):
        assert f'comment "{comment}"' in text
    assert "tcp option maxseg size 1-535" in text
    assert "limit rate over 25/second burst 50 packets" in text
    assert "ct count" not in text  # the connection limit is opt-in
    assert "packet-too-big" in text and "nd-neighbor-solicit" in text
    assert "rampart " not in text.replace("rampart_fw", "")  # never the ban table


def test_services_compile_per_family_and_interface() -> None:
    policy = FirewallSettings.model_validate(
        {
            "allow": [
                {"port": "ssh", "sources": ["192.0.2.0/24", "2001:db8::/64"]},
                {"port": "60000:61000", "protocol": "udp", "interface": "wg0"},
            ],
            "early_drop": {"conn_limit": 30, "bad_flags": False},
        }
    )
    text = compile_policy(policy)
    assert "ip saddr { 192.0.2.0/24 } tcp dport 22 accept" in text
    assert "ip6 saddr { 2001:db8::/64 } tcp dport 22 accept" in text
    assert 'iifname "wg0" udp dport 60000-61000 accept' in text
    assert "ct count over 30" in text and "xmas" not in text


def test_allows() -> None:
    policy = FirewallSettings.model_validate(
        {"allow": [{"port": 22, "sources": ["192.0.2.0/24"], "interface": "eth0"}]}
    )
    inside, outside = ipaddress.ip_address("192.0.2.9"), ipaddress.ip_address("198.51.100.1")
    assert allows(policy, inside, 22, "eth0")
    assert not allows(policy, inside, 22, "eth1")
    assert not allows(policy, outside, 22, "eth0")
    assert not allows(policy, inside, 2222, "eth0")
    assert allows(FirewallSettings(inbound="accept"), outside, 1)


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "rampart.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n{body}')
    return path


def test_cli_invalid_value_changes_nothing(
    lan: Lan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, "[firewall]\nallow = [{port = 99999}]\n")
    code = main(["--config", str(path), "firewall", "apply", "--netns", lan.host.ns])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "port 99999 is outside 1-65535" in err
    assert live_table(lan.host.ns) == ""


def test_cli_plan_apply_confirm_and_guard(
    lan: Lan, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _config(tmp_path, '[firewall]\nallow = [{port = 8080, sources = ["192.0.2.3"]}]\n')
    lan.serve_tcp(8080)
    base = ["--config", str(path), "firewall"]
    assert main([*base, "plan", "--netns", lan.host.ns]) == 0
    assert "+\t\tip saddr { 192.0.2.3/32 } tcp dport 8080 accept" in capsys.readouterr().out

    monkeypatch.setenv("SSH_CONNECTION", f"{lan.attacker.ip4} 50000 {lan.host.ip4} 8080")
    assert main([*base, "apply", "--netns", lan.host.ns]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err
    assert live_table(lan.host.ns) == ""

    apply_args = ["apply", "--force", "--confirm-within", "30", "--netns", lan.host.ns]
    assert main([*base, *apply_args]) == 0
    assert lan.can_connect(lan.bystander, lan.host.ip4, 8080)
    assert not lan.can_connect(lan.attacker, lan.host.ip4, 8080)
    assert main([*base, "confirm"]) == 0
    assert main([*base, "confirm"]) == 2
    assert "nothing to confirm" in capsys.readouterr().err
