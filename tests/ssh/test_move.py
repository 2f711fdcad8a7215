"""``rampart ssh move-port`` / ``confirm`` against a real sshd in the host namespace of a LAN."""

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rampart.config import FirewallSettings
from rampart.firewall.apply import apply, effective_policy, live_table
from rampart.ssh import MoveError, add_port, move_port, remove_ports
from rampart.ssh import confirm_move as confirm
from rampart.ssh import move as move_module
from rampart.system import run
from tests.netns import Lan, make_lan, require
from tests.ssh.test_harden import SSHD, needs_sshd, privsep_dir  # noqa: F401

# --- the text edits, no sshd needed -------------------------------------------


def test_add_port_goes_after_the_last_port_line() -> None:
    text = "Port 22\nPort 2200\nUseDNS no\nMatch User x\n    Port 1\n"
    assert add_port(text, 2222, (22, 2200)) == (
        "Port 22\nPort 2200\nPort 2222\nUseDNS no\nMatch User x\n    Port 1\n"
    )


def test_add_port_writes_the_default_out_when_no_port_line() -> None:
    assert add_port("UseDNS no\nMatch all\n", 2222, (22,)) == (
        "UseDNS no\nPort 22\nPort 2222\nMatch all\n"
    )


def test_remove_ports_comments_out_the_old_only() -> None:
    assert remove_ports("Port 22\nPort 2222\n", (22,)) == "# rampart: Port 22\nPort 2222\n"


# --- a real sshd in the host namespace of a LAN ---------------------------------


@pytest.fixture
def net() -> Iterator[Lan]:
    """The LAN of tests.netns (its ``lan`` fixture, under a name that shadows nothing here)."""
    require("ip", "nft", "ss")
    with make_lan() as made:
        yield made


@pytest.fixture
def lan_sshd(net: Lan, tmp_path: Path, privsep_dir: None) -> Iterator[Path]:  # noqa: F811
    assert SSHD is not None
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "host_ed25519")])
    config = tmp_path / "sshd_config"
    config.write_text(
        "# a test sshd\n"
        "Port 22\n"
        f"HostKey {tmp_path / 'host_ed25519'}\n"
        f"PidFile {tmp_path / 'sshd.pid'}\n"
        "PasswordAuthentication no\n"
    )
    process = subprocess.Popen(
        ["ip", "netns", "exec", net.host.ns, SSHD, "-D", "-e", "-f", str(config)],
        stderr=subprocess.DEVNULL,
    )
    try:
        move_module.check_banner(("127.0.0.1", 22), 10.0, net.host.ns)
        yield config
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def answers(net: Lan, port: int) -> tuple[bool, bool]:
    """Do the attacker (IPv4) and the bystander (IPv6) get an SSH banner on ``port``?"""
    results = []
    for peer, address in ((net.attacker, net.host.ip4), (net.bystander, net.host.ip6)):
        try:
            move_module.check_banner((str(address), port), 2.0, peer.ns)
            results.append(True)
        except MoveError:
            results.append(False)
    return results[0], results[1]


def state(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir(exist_ok=True)
    return path


@needs_sshd
def test_move_then_confirm(net: Lan, lan_sshd: Path, tmp_path: Path) -> None:
    done = move_port(
        2222, config_path=lan_sshd, state_dir=state(tmp_path), netns=net.host.ns, host="box"
    )
    assert done.snippet == "Host box\n  HostName box\n  Port 2222\n"
    assert "Port 22\nPort 2222\n" in lan_sshd.read_text()
    assert answers(net, 22) == (True, True)
    assert answers(net, 2222) == (True, True)
    assert json.loads((state(tmp_path) / "ssh-move.json").read_text())["new_port"] == 2222
    with pytest.raises(MoveError, match="waits"):
        move_port(2200, config_path=lan_sshd, state_dir=state(tmp_path), netns=net.host.ns)
    confirm(state(tmp_path))
    assert answers(net, 2222) == (True, True)
    assert answers(net, 22) == (False, False)
    # A later apply of the configured policy (which names only 22) keeps 2222 open.
    apply(effective_policy(ssh_only(), state(tmp_path)), state(tmp_path), netns=net.host.ns)
    assert answers(net, 2222) == (True, True)
    assert not (state(tmp_path) / "ssh-move.json").exists()
    with pytest.raises(MoveError, match="nothing to confirm"):
        confirm(state(tmp_path))


@needs_sshd
def test_failed_banner_restores_and_22_still_works(
    net: Lan, lan_sshd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = lan_sshd.read_text()

    def no_banner(address: tuple[str, int], timeout: float, netns: str | None = None) -> str:
        raise MoveError(f"no SSH banner on port {address[1]}")

    monkeypatch.setattr(move_module, "check_banner", no_banner)
    with pytest.raises(MoveError, match="restored and sshd reloaded"):
        move_port(2222, config_path=lan_sshd, state_dir=state(tmp_path), netns=net.host.ns)
    monkeypatch.undo()
    assert lan_sshd.read_text() == before
    assert not (state(tmp_path) / "ssh-move.json").exists()
    assert answers(net, 22) == (True, True)
    assert answers(net, 2222) == (False, False)


@needs_sshd
def test_port_taken_or_same_is_refused_up_front(net: Lan, lan_sshd: Path, tmp_path: Path) -> None:
    before = lan_sshd.read_text()
    net.serve_tcp(2222)
    with pytest.raises(MoveError, match="in use by another listener"):
        move_port(2222, config_path=lan_sshd, state_dir=state(tmp_path), netns=net.host.ns)
    with pytest.raises(MoveError, match="already listens on port 22"):
        move_port(22, config_path=lan_sshd, state_dir=state(tmp_path), netns=net.host.ns)
    with pytest.raises(MoveError, match="not between"):
        move_port(70000, config_path=lan_sshd, state_dir=state(tmp_path), netns=net.host.ns)
    assert lan_sshd.read_text() == before
    assert answers(net, 22) == (True, True)


def ssh_only() -> FirewallSettings:
    return FirewallSettings.model_validate({"allow": [{"port": 22}]})


@needs_sshd
def test_firewall_opens_the_new_port(net: Lan, lan_sshd: Path, tmp_path: Path) -> None:
    apply(ssh_only(), state(tmp_path), netns=net.host.ns)
    assert answers(net, 22) == (True, True)
    move_port(
        2222,
        config_path=lan_sshd,
        state_dir=state(tmp_path),
        firewall=ssh_only(),
        netns=net.host.ns,
    )
    assert "dport 2222 accept" in live_table(net.host.ns)
    assert answers(net, 2222) == (True, True)
    assert answers(net, 22) == (True, True)
    confirm(state(tmp_path))
    assert answers(net, 2222) == (True, True)
    assert answers(net, 22) == (False, False)


@needs_sshd
def test_firewall_closed_again_on_failure(
    net: Lan, lan_sshd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply(ssh_only(), state(tmp_path), netns=net.host.ns)
    before = live_table(net.host.ns)

    def no_banner(address: tuple[str, int], timeout: float, netns: str | None = None) -> str:
        raise MoveError("no banner")

    monkeypatch.setattr(move_module, "check_banner", no_banner)
    with pytest.raises(MoveError, match="port 2222 closed again"):
        move_port(
            2222,
            config_path=lan_sshd,
            state_dir=state(tmp_path),
            firewall=ssh_only(),
            netns=net.host.ns,
        )
    monkeypatch.undo()
    assert "dport 2222" not in live_table(net.host.ns)
    assert live_table(net.host.ns) == before
    assert answers(net, 22) == (True, True)
