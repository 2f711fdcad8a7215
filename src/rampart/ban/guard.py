"""Who must never be banned: ignoreip, this host's own addresses, open SSH sessions.

Operators lock themselves out when a ban catches the address they are
working from (Fail2ban issues #1718, #3916). Before any ban, the guard
checks the target against the jail's ``ignoreip`` (absolute: not even
``--force`` overrides it), this host's addresses (``ignoreself``) and the
peers of every established TCP connection to an SSH port (unless forced).

Connections are read from ``/proc/net/tcp`` and ``tcp6`` of the current
network namespace, so no program is run and no process list is needed.
"""

import ipaddress
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from rampart.ban.types import BanTarget
from rampart.system import CommandError, run

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Connection state "established" in /proc/net/tcp.
_ESTABLISHED = "01"
#: How long a reading of the connection table is reused (bans come in bursts).
PEERS_CACHE_SECONDS = 1.0


def proc_net_address(text: str) -> tuple[Address, int]:
    """``0100007F:0016`` from ``/proc/net/tcp`` as (address, port).

    The kernel prints each 32-bit word of the address in host byte order; an
    IPv4-mapped IPv6 address is given as the IPv4 address it maps.
    """
    hex_address, _, hex_port = text.partition(":")
    raw = bytes.fromhex(hex_address)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(raw) not in (4, 16):
        raise ValueError(f"bad address {text!r}")
    address = ipaddress.ip_address(raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address, int(hex_port, 16)


def established_peers(
    local_ports: Iterable[int], proc_net: Path = Path("/proc/net")
) -> set[Address]:
    """Remote addresses of established TCP connections to any of ``local_ports``."""
    ports = set(local_ports)
    peers: set[Address] = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc_net / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != _ESTABLISHED:
                continue
            try:
                _, port = proc_net_address(fields[1])
                remote, _ = proc_net_address(fields[2])
            except ValueError:
                continue
            if port in ports:
                peers.add(remote)
    return peers


def own_addresses() -> set[Address]:
    """This host's addresses in the current network namespace (for ``ignoreself``)."""
    found: set[Address] = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
    for line in _read_lines(Path("/proc/net/if_inet6")):
        fields = line.split()
        if fields:
            try:
                found.add(ipaddress.IPv6Address(bytes.fromhex(fields[0])))
            except ValueError:
                continue
    found.update(_ipv4_addresses())
    return found


def _ipv4_addresses() -> set[Address]:
    """IPv4 addresses of every interface, from the FIB's local routes."""
    found: set[Address] = set()
    lines = _read_lines(Path("/proc/net/fib_trie"))
    for index, line in enumerate(lines):
        if "/32 host LOCAL" in line and index > 0:
            text = lines[index - 1].strip().removeprefix("|-- ").removeprefix("+-- ")
            try:
                found.add(ipaddress.IPv4Address(text))
            except ValueError:
                continue
    return found


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def session_address() -> Address | None:
    """The client address of the SSH session this process runs in, if any."""
    parts = os.environ.get("SSH_CONNECTION", "").split()
    if not parts:
        return None
    try:
        return ipaddress.ip_address(parts[0])
    except ValueError:
        return None


class Guard:
    """Answers "may this target be banned?" and says why not."""

    def __init__(
        self,
        *,
        ssh_ports: Sequence[int] = (22,),
        protect_ssh_sessions: bool = True,
        peers: Callable[[Sequence[int]], set[Address]] = established_peers,
        own: Callable[[], set[Address]] = own_addresses,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ssh_ports = tuple(ssh_ports)
        self.protect_ssh_sessions = protect_ssh_sessions
        self._peers, self._own, self._clock = peers, own, clock
        self._peers_read: tuple[float, set[Address]] | None = None
        self._own_addresses: set[Address] | None = None

    def refusal(
        self,
        target: BanTarget,
        *,
        ignoreip: Iterable[str] = (),
        ignoreself: bool = True,
        force: bool = False,
    ) -> str | None:
        """Why ``target`` must not be banned, or None if it may be."""
        for text in ignoreip:
            network = ipaddress.ip_network(text, strict=False)
            if network.version == target.version and (
                target.subnet_of(network) or network.subnet_of(target)  # type: ignore[arg-type]
            ):
                return f"{target} is in ignoreip ({network})"
        if ignoreself:
            mine = self._own_addresses
            if mine is None:
                mine = self._own_addresses = self._own()
            hit = next((a for a in mine if a in target), None)
            if hit is not None:
                return f"{target} holds this host's own address {hit} (ignoreself)"
        if self.protect_ssh_sessions and not force:
            peers = self._ssh_peers()
            session = session_address()
            if session is not None:
                peers = peers | {session}
            hit = next((a for a in peers if a in target), None)
            if hit is not None:
                return f"{target} holds {hit}, the address of an open SSH session (--force to ban)"
        return None

    def _ssh_peers(self) -> set[Address]:
        now = self._clock()
        if self._peers_read is None or now - self._peers_read[0] > PEERS_CACHE_SECONDS:
            self._peers_read = (now, self._peers(self.ssh_ports))
        return self._peers_read[1]


def sshd_ports() -> tuple[int, ...]:
    """The ports sshd listens on, from its effective configuration (``sshd -T``); else 22."""
    try:
        output = run(["sshd", "-T"], timeout=5.0).stdout
    except CommandError:
        return (22,)
    ports = []
    for line in output.splitlines():
        key, _, value = line.partition(" ")
        if key == "port" and value.strip().isdigit():
            ports.append(int(value))
    return tuple(ports) or (22,)
