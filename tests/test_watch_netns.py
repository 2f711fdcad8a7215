"""``rampart watch`` with real packets: attacker, bystander and host in network namespaces.

The daemon runs as a user would run it (``rampart watch`` in the host's
namespace, nftables for real); failures are written to the log it follows,
and whether the attacker and the bystander can still open a TCP connection
to the protected port is what decides the test.
"""

import datetime
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import Lan, lan  # noqa: F401  (lan: a fixture, used by name)

PORT, OTHER_PORT = 22, 8080
READY_TIMEOUT = 30.0


def failure_line(address: str, pid: int) -> str:
    stamp = datetime.datetime.now()
    return (
        f"{stamp:%b} {stamp.day:2d} {stamp:%H:%M:%S} web1 sshd[{pid}]: "
        f"Failed password for invalid user admin from {address} port {40000 + pid} ssh2\n"
    )


class Daemon:
    """``rampart watch`` inside the host namespace, started and stopped like a service."""

    def __init__(self, net: Lan, config: Path, state: Path) -> None:
        self.net, self.config, self.state = net, config, state
        self.process: subprocess.Popen[str] | None = None

    def env(self) -> dict[str, str]:
        return {**os.environ, "RAMPART_STATE_DIR": str(self.state)}

    def start(self) -> str:
        argv = ["ip", "netns", "exec", self.net.host.ns, sys.executable, "-m", "rampart.cli.main"]
        self.process = subprocess.Popen(
            [*argv, "--config", str(self.config), "watch"],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=self.env(),
        )
        assert self.process.stderr is not None
        deadline = time.monotonic() + READY_TIMEOUT
        said = []
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            said.append(line)
            if "ready" in line:
                os.set_blocking(self.process.stderr.fileno(), False)
                return line
        raise AssertionError(f"rampart watch did not get ready: {''.join(said)}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=15)
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["ip", "netns", "exec", self.net.host.ns, sys.executable, "-m", "rampart.cli.main"]
        return subprocess.run(
            [*argv, "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=60,
            check=False,
        )


@pytest.fixture
def protected(lan: Lan, tmp_path: Path) -> Iterator[tuple[Lan, Daemon, Path]]:  # noqa: F811
    log = tmp_path / "auth.log"
    log.touch()
    config = tmp_path / "rampart.toml"
    config.write_text(
        f"""
[ban]
backend = "nftables"

[ban.jails.sshd]
filter = "sshd"
source = "file"
logpath = ["{log}"]
maxretry = 3
bantime = "1h"
port = "ssh"
ipv6_prefix = 128
ignoreip = ["{lan.bystander.ip4}", "{lan.bystander.ip6}"]
"""
    )
    lan.serve_tcp(PORT)
    lan.serve_tcp(OTHER_PORT)
    daemon = Daemon(lan, config, tmp_path / "state")
    daemon.start()
    yield lan, daemon, log
    daemon.stop()


def attack(log: Path, address: str, times: int, first_pid: int = 100) -> None:
    with log.open("a") as out:
        for pid in range(first_pid, first_pid + times):
            out.write(failure_line(address, pid))


def wait_blocked(net: Lan, address: object, port: int = PORT, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while net.can_connect(net.attacker, address, port, timeout=0.5):  # type: ignore[arg-type]
        if time.monotonic() > deadline:
            raise AssertionError("the attacker was never blocked")
        time.sleep(0.1)


def test_attacker_is_banned_bystander_is_not(protected: tuple[Lan, Daemon, Path]) -> None:
    net, daemon, log = protected
    host = net.host.ip4
    assert net.can_connect(net.attacker, host, PORT)
    attack(log, str(net.attacker.ip4), 2)
    time.sleep(0.5)
    assert net.can_connect(net.attacker, host, PORT), "banned before maxretry"
    attack(log, str(net.attacker.ip4), 1, first_pid=200)
    wait_blocked(net, host)
    assert not net.can_connect(net.attacker, host, PORT)
    assert net.can_connect(net.attacker, host, OTHER_PORT), "the sshd jail bans port 22 only"
    assert net.can_connect(net.bystander, host, PORT)
    listed = daemon.cli("ban", "list", "--json")
    assert str(net.attacker.ip4) in listed.stdout, listed.stderr


def test_ban_survives_a_restart_and_a_lost_ruleset(protected: tuple[Lan, Daemon, Path]) -> None:
    net, daemon, log = protected
    host = net.host.ip4
    attack(log, str(net.attacker.ip4), 3)
    wait_blocked(net, host)
    daemon.stop()
    # A reboot empties the kernel: the ban must come back from the store.
    net.exec(net.host, ["nft", "delete", "table", "inet", "rampart"])
    assert net.can_connect(net.attacker, host, PORT)
    ready = daemon.start()
    assert "1 bans restored" in ready
    assert not net.can_connect(net.attacker, host, PORT)
    assert net.can_connect(net.bystander, host, PORT)


def test_ban_remove_lets_the_attacker_in_again(protected: tuple[Lan, Daemon, Path]) -> None:
    net, daemon, log = protected
    host = net.host.ip6
    attack(log, str(net.attacker.ip6), 3)
    wait_blocked(net, host)
    removed = daemon.cli("ban", "remove", str(net.attacker.ip6))
    assert removed.returncode == 0, removed.stderr
    assert net.can_connect(net.attacker, host, PORT)
    added = daemon.cli("ban", "add", str(net.attacker.ip6), "--for", "10m")
    assert added.returncode == 0, added.stderr
    assert not net.can_connect(net.attacker, host, OTHER_PORT, timeout=0.5), "manual: all ports"
    flushed = daemon.cli("ban", "flush")
    assert flushed.returncode == 0, flushed.stderr
    assert net.can_connect(net.attacker, host, OTHER_PORT)


def test_ignoreip_is_never_banned(protected: tuple[Lan, Daemon, Path]) -> None:
    net, daemon, log = protected
    attack(log, str(net.bystander.ip4), 10)
    attack(log, str(net.attacker.ip4), 3, first_pid=300)
    wait_blocked(net, net.host.ip4)
    assert net.can_connect(net.bystander, net.host.ip4, PORT)
    refused = daemon.cli("ban", "add", str(net.bystander.ip4))
    assert refused.returncode == 2
    assert "ignoreip" in refused.stderr
    assert refused.stderr.count("\n") == 1, "one line"


@pytest.mark.parametrize("how", ["rename", "copytruncate"])
def test_rotation_in_the_middle_of_an_attack_loses_no_failure(
    protected: tuple[Lan, Daemon, Path], how: str
) -> None:
    net, daemon, log = protected
    attack(log, str(net.attacker.ip4), 2)
    # The daemon keeps up with the log, as it does when logrotate comes by.
    status = daemon.state / "status.json"
    deadline = time.monotonic() + 10
    while '"failures": 2' not in (status.read_text() if status.exists() else ""):
        assert time.monotonic() < deadline, "the daemon never read the first failures"
        time.sleep(0.1)
    rotated = log.with_name(log.name + ".1")
    if how == "rename":
        log.rename(rotated)
        log.touch()
    else:
        rotated.write_bytes(log.read_bytes())
        log.write_bytes(b"")
    attack(log, str(net.attacker.ip4), 1, first_pid=400)
    wait_blocked(net, net.host.ip4)
    assert net.can_connect(net.bystander, net.host.ip4, PORT)
