"""The guard against real kernel state: this host's addresses and live TCP connections."""

import ipaddress
import socket
from collections.abc import Iterator

import pytest

from rampart.ban import parse_target
from rampart.ban.guard import Guard, established_peers, own_addresses


@pytest.fixture
def session() -> Iterator[tuple[int, str]]:
    """An established TCP connection on loopback: (server port, client address)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    client = socket.socket()
    client.bind(("127.0.0.3", 0))
    client.connect(("127.0.0.1", port))
    accepted, peer = server.accept()
    try:
        yield port, peer[0]
    finally:
        accepted.close()
        client.close()
        server.close()


def test_established_peers_reads_the_kernel_table(session: tuple[int, str]) -> None:
    port, client = session
    assert ipaddress.ip_address(client) in established_peers([port])
    assert ipaddress.ip_address(client) not in established_peers([port + 1 if port < 65535 else 1])


def test_an_open_ssh_session_is_never_banned_unless_forced(session: tuple[int, str]) -> None:
    port, client = session
    guard = Guard(ssh_ports=[port])
    refusal = guard.refusal(parse_target(client), ignoreself=False)
    assert refusal is not None and "SSH session" in refusal
    wider = parse_target("127.0.0.0/24")
    assert guard.refusal(wider, ignoreself=False) is not None, "a network holding it too"
    assert guard.refusal(parse_target(client), ignoreself=False, force=True) is None
    assert guard.refusal(parse_target("192.0.2.99"), ignoreself=False) is None


def test_ignoreip_is_absolute_even_when_forced() -> None:
    guard = Guard(protect_ssh_sessions=False)
    target = parse_target("198.51.100.7")
    refusal = guard.refusal(target, ignoreip=["198.51.100.0/24"], ignoreself=False, force=True)
    assert refusal is not None and "ignoreip" in refusal
    assert guard.refusal(target, ignoreip=["2001:db8::/32"], ignoreself=False) is None


def test_own_addresses_include_loopback_and_ignoreself_protects_them() -> None:
    mine = own_addresses()
    assert ipaddress.ip_address("127.0.0.1") in mine
    guard = Guard(protect_ssh_sessions=False)
    assert guard.refusal(parse_target("127.0.0.1")) is not None
    assert guard.refusal(parse_target("127.0.0.1"), ignoreself=False) is None


def test_the_operators_own_ssh_connection_is_protected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_CONNECTION", "203.0.113.9 50000 192.0.2.1 22")
    guard = Guard(ssh_ports=[1])
    assert guard.refusal(parse_target("203.0.113.0/24"), ignoreself=False) is not None
