"""A small LAN of network namespaces, for tests that need real packets.

Three machines, each in its own network namespace, on one Ethernet segment
(a bridge inside ``host``)::

    attacker 192.0.2.2  2001:db8::2 ─┐
                                     ├─ br0 in host 192.0.2.1  2001:db8::1
    bystander 192.0.2.3 2001:db8::3 ─┘

``host`` is the protected machine: put its firewall rules there (e.g.
``NftablesBans(netns=lan.host.ns)``), start listeners with
:meth:`Lan.serve_tcp`, and see what gets through with :meth:`Lan.can_connect`.

Use it through the ``lan`` fixture (function scope: fresh namespaces for every
test, removed afterwards even when the test fails). A test folder makes the
fixture visible by importing it in its ``conftest.py``::

    from tests.netns import lan  # noqa: F401  (a fixture, used by name)

or, outside pytest fixtures (e.g. a module-scoped fixture of your own), with
``with make_lan() as net: ...``. The fixture skips the test, with the reason,
when not root or when ``ip`` or ``nft`` is missing; ``require()`` does the
same for other programs (``require("ipset")``).

Names are unique per process and test (``rp<pid>x<n>-host`` ...), so tests
can run side by side (pytest-xdist) and a crashed run leaves names that the
next run does not collide with.
"""

import contextlib
import ipaddress
import itertools
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest

from rampart.system import CommandError, run

__all__ = ["Lan", "Peer", "lan", "make_lan", "require"]

NET4 = ipaddress.IPv4Network("192.0.2.0/24")
NET6 = ipaddress.IPv6Network("2001:db8::/64")
REPLY = b"rampart-lan\n"
SETUP_TIMEOUT = 10.0

_counter = itertools.count(1)

# The listener: dual-stack on every address of its namespace, answers each
# connection with REPLY. It says "ready" once listening, so a test never
# races it. Sequential accept is enough: every answer is one send.
_SERVER = """\
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(64)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.sendall(sys.argv[2].encode() + b"\\n")
    except OSError:
        pass
    c.close()
"""

# The client: exit 0 only if it connected and got the listener's answer.
_CLIENT = """\
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), float(sys.argv[3])) as c:
        got = c.recv(64)
except OSError:
    sys.exit(1)
sys.exit(0 if got == sys.argv[4].encode() + b"\\n" else 2)
"""


def require(*programs: str) -> None:
    """Skip the calling test unless root and every one of ``programs`` is on PATH."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (run the tests as root)")
    missing = [name for name in programs if shutil.which(name) is None]
    if missing:
        pytest.skip(f"missing program(s): {', '.join(missing)} (make test-deps installs them)")


@dataclass(frozen=True)
class Peer:
    """One machine of the LAN: its namespace and its addresses."""

    role: str  # "host", "attacker" or "bystander"
    ns: str  # network namespace name, for `ip netns exec` / `netns=`
    ip4: ipaddress.IPv4Address
    ip6: ipaddress.IPv6Address
    iface: str  # the interface carrying the addresses, inside ``ns``

    @property
    def net4(self) -> ipaddress.IPv4Network:
        """The address as a /32, the form a ban target takes."""
        return ipaddress.IPv4Network(self.ip4)

    @property
    def net6(self) -> ipaddress.IPv6Network:
        """The address as a /128, the form a ban target takes."""
        return ipaddress.IPv6Network(self.ip6)


@dataclass
class Lan:
    """The three peers, and ways to serve and to try connections between them."""

    host: Peer
    attacker: Peer
    bystander: Peer
    _servers: list["subprocess.Popen[str]"] = field(default_factory=list, repr=False)

    @property
    def peers(self) -> tuple[Peer, Peer, Peer]:
        return (self.host, self.attacker, self.bystander)

    def exec(
        self,
        peer: Peer | str,
        argv: Sequence[str],
        *,
        input_text: str | None = None,
        timeout: float = 30.0,
        check: bool = True,
    ) -> "subprocess.CompletedProcess[str]":
        """Run ``argv`` inside a peer's namespace (no shell), through ``rampart.system.run``."""
        argv = ["ip", "netns", "exec", _ns(peer), *argv]
        return run(argv, input_text=input_text, timeout=timeout, check=check)

    def serve_tcp(self, port: int, peer: Peer | str | None = None) -> None:
        """Listen on ``port`` (IPv4 and IPv6) in ``peer`` (default: host) until teardown.

        A long-lived process cannot go through ``run`` (which waits for its
        end), so this one uses Popen with an argument list, and teardown kills it.
        """
        ns = _ns(peer if peer is not None else self.host)
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, *_python(_SERVER, str(port))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._servers.append(server)
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], SETUP_TIMEOUT)
        line = server.stdout.readline() if ready else ""  # "ready", or "" if it died
        if line.strip() != "ready":
            server.kill()
            _, err = server.communicate(timeout=SETUP_TIMEOUT)
            raise RuntimeError(f"listener on {ns} port {port} did not start: {err.strip()}")

    def can_connect(
        self,
        src: Peer | str,
        dst_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | str,
        port: int,
        timeout: float = 1.0,
    ) -> bool:
        """True if ``src`` completes a TCP connection to ``dst_ip``:``port`` and gets the reply.

        A dropped SYN costs ``timeout`` seconds; a refused one returns at once.
        """
        result = self.exec(
            src,
            _python(_CLIENT, str(dst_ip), str(port), str(timeout)),
            timeout=timeout + SETUP_TIMEOUT,
            check=False,
        )
        return result.returncode == 0

    def close(self) -> None:
        """Stop the listeners (namespaces are removed by ``make_lan``)."""
        for server in self._servers:
            if server.poll() is None:
                server.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.communicate(timeout=SETUP_TIMEOUT)
        self._servers.clear()


def _python(script: str, *args: str) -> list[str]:
    """This interpreter running ``script`` (isolated: no site, no cwd on the path)."""
    return [sys.executable, "-I", "-c", script, *args, REPLY.decode().strip()]


def _ns(peer: Peer | str) -> str:
    return peer.ns if isinstance(peer, Peer) else peer


def _ip(command: str) -> None:
    """Run ``ip`` with these words (names here are built by this module: no spaces)."""
    run(["ip", *command.split()], timeout=SETUP_TIMEOUT)


@contextlib.contextmanager
def make_lan() -> Iterator[Lan]:
    """Create the three namespaces and their links; remove them all on the way out."""
    base = f"rp{os.getpid()}x{next(_counter)}"
    names = {role: f"{base}-{role}" for role in ("host", "attacker", "bystander")}
    created: list[str] = []
    net: Lan | None = None
    try:
        for ns in names.values():
            _ip(f"netns add {ns}")
            created.append(ns)
            _ip(f"-n {ns} link set lo up")
        host = names["host"]
        # No STP, no forwarding delay, no multicast snooping: ports forward (and
        # neighbour discovery works) the moment they are up.
        _ip(f"-n {host} link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0")
        peers = {"host": _peer("host", host, 1, "br0")}
        for number, role in ((2, "attacker"), (3, "bystander")):
            # Created inside host: the link names never meet the root namespace.
            port = f"to-{role[:3]}"
            _ip(f"-n {host} link add {port} type veth peer name eth0 netns {names[role]}")
            _ip(f"-n {host} link set {port} master br0 up")
            peers[role] = _peer(role, names[role], number, "eth0")
        for peer in peers.values():
            _ip(f"-n {peer.ns} addr add {peer.ip4}/{NET4.prefixlen} dev {peer.iface}")
            # nodad: the address works at once instead of after duplicate detection.
            _ip(f"-n {peer.ns} addr add {peer.ip6}/{NET6.prefixlen} dev {peer.iface} nodad")
            _ip(f"-n {peer.ns} link set {peer.iface} up")
        net = Lan(host=peers["host"], attacker=peers["attacker"], bystander=peers["bystander"])
        yield net
    finally:
        if net is not None:
            net.close()
        for ns in reversed(created):
            with contextlib.suppress(CommandError):
                _ip(f"netns delete {ns}")


def _peer(role: str, ns: str, number: int, iface: str) -> Peer:
    return Peer(role, ns, NET4[number], NET6[number], iface)


@pytest.fixture
def lan() -> Iterator[Lan]:
    """A fresh attacker / bystander / host LAN for one test (skips if it cannot exist)."""
    require("ip", "nft")
    with make_lan() as net:
        yield net
