"""What every kernel backend must do, checked with real packets in a namespace LAN.

A test module subclasses :class:`KernelContract` and gives two fixtures:
``backend`` (the backend, working in ``lan.host``) and ``kernel`` (a reader
of the kernel's state that does not go through the backend: what the sets
hold, by jail, as text, with the seconds left or None). The tests then run
for that backend as they are written here.
"""

import ipaddress
import time
from collections.abc import Callable

import pytest

from rampart.ban.types import Ban, BanTarget, StoredBan, parse_target
from rampart.firewall import BanBackend, BanScope, FirewallError
from tests.netns import Lan

P = 2200  # the port of the sshd-like jail
Q = 8080  # another service on the same host
BLOCKED = 0.5  # seconds a connection may take before it counts as dropped
SSHD = BanScope("sshd", ((P, P),))

KernelState = dict[str, dict[str, int | None]]
Kernel = Callable[[], KernelState]


def bans(jail: str, *targets: BanTarget | str, seconds: float | None = 600) -> list[Ban]:
    """Bans of ``targets`` in ``jail`` starting now, ending in ``seconds`` (None: never)."""
    now = time.time()
    return [
        Ban(
            parse_target(str(target)),
            jail,
            now,
            None if seconds is None else now + seconds,
        )
        for target in targets
    ]


def reaches(lan: Lan, src: str, port: int, six: bool = False) -> bool:
    """Whether ``src`` (a peer of ``lan``) connects to the host on ``port``."""
    dst = lan.host.ip6 if six else lan.host.ip4
    peer = lan.attacker if src == "attacker" else lan.bystander
    return lan.can_connect(peer, dst, port, timeout=2.0)


def blocked(lan: Lan, src: str, port: int, six: bool = False) -> bool:
    """Whether ``src`` fails to connect to the host on ``port`` (waits BLOCKED at most)."""
    dst = lan.host.ip6 if six else lan.host.ip4
    peer = lan.attacker if src == "attacker" else lan.bystander
    return not lan.can_connect(peer, dst, port, timeout=BLOCKED)


class KernelContract:
    """The behaviour shared by the nftables and the iptables backends."""

    @pytest.fixture
    def served(self, lan: Lan) -> Lan:
        lan.serve_tcp(P)
        lan.serve_tcp(Q)
        return lan

    def test_jail_ban_covers_its_ports_only(
        self, served: Lan, backend: BanBackend, kernel: Kernel
    ) -> None:
        lan = served
        backend.install([SSHD])
        assert reaches(lan, "attacker", P)
        backend.ban(bans("sshd", lan.attacker.net4), time.time())
        assert set(kernel()["sshd"]) == {str(lan.attacker.ip4)}
        assert blocked(lan, "attacker", P)
        assert reaches(lan, "bystander", P)
        assert reaches(lan, "attacker", Q)  # another port: not this jail's business
        assert reaches(lan, "attacker", P, six=True)  # another address family
        assert backend.listed() == {"sshd": {lan.attacker.net4}, "manual": set()}

    def test_manual_ban_blocks_every_port(self, served: Lan, backend: BanBackend) -> None:
        lan = served
        backend.install([SSHD])
        backend.ban(bans("manual", lan.attacker.net4), time.time())
        assert blocked(lan, "attacker", P)
        assert blocked(lan, "attacker", Q)
        assert reaches(lan, "bystander", Q)

    def test_udp_jail_lets_tcp_through(self, served: Lan, backend: BanBackend) -> None:
        lan = served
        backend.install([BanScope("dns", ((P, P),), "udp")])
        backend.ban(bans("dns", lan.attacker.net4), time.time())
        assert reaches(lan, "attacker", P)

    def test_all_protocols_with_ports(self, served: Lan, backend: BanBackend) -> None:
        lan = served
        backend.install([BanScope("web", ((Q, Q), (P, P)), "all")])
        backend.ban(bans("web", lan.attacker.net4), time.time())
        assert blocked(lan, "attacker", P)
        assert blocked(lan, "attacker", Q)

    def test_ipv6_address_and_64(self, served: Lan, backend: BanBackend, kernel: Kernel) -> None:
        lan = served
        backend.install([SSHD])
        backend.ban(bans("sshd", lan.attacker.net6), time.time())
        assert blocked(lan, "attacker", P, six=True)
        assert reaches(lan, "bystander", P, six=True)
        assert reaches(lan, "attacker", P)  # IPv4 is another address
        backend.unban([lan.attacker.net6])
        assert reaches(lan, "attacker", P, six=True)

        network = ipaddress.IPv6Network(f"{lan.attacker.ip6}/64", strict=False)
        backend.ban(bans("sshd", network), time.time())
        assert str(network) in kernel()["sshd"]
        assert blocked(lan, "attacker", P, six=True)
        assert blocked(lan, "bystander", P, six=True)  # same /64
        assert reaches(lan, "bystander", P)
        assert backend.listed()["sshd"] == {network}

    def test_unban_restores_connectivity(
        self, served: Lan, backend: BanBackend, kernel: Kernel
    ) -> None:
        lan = served
        backend.install([SSHD])
        backend.ban(
            bans("sshd", lan.attacker.net4) + bans("manual", lan.attacker.net4), time.time()
        )
        assert blocked(lan, "attacker", P)
        backend.unban([lan.attacker.net4], "sshd")
        state = kernel()
        assert state["sshd"] == {}
        assert set(state["manual"]) == {str(lan.attacker.ip4)}
        assert blocked(lan, "attacker", P)  # the manual ban still holds
        backend.unban([lan.attacker.net4, parse_target("198.51.100.1")])  # missing: fine
        assert kernel() == {"sshd": {}, "manual": {}}
        assert reaches(lan, "attacker", P)

    def test_ban_ends_by_itself(self, served: Lan, backend: BanBackend, kernel: Kernel) -> None:
        lan = served
        backend.install([SSHD])
        backend.ban(bans("sshd", lan.attacker.net4, seconds=2), time.time())
        assert 0 < (kernel()["sshd"][str(lan.attacker.ip4)] or 0) <= 2
        assert blocked(lan, "attacker", P)
        deadline = time.monotonic() + 6
        while not lan.can_connect(lan.attacker, lan.host.ip4, P, timeout=0.5):
            assert time.monotonic() < deadline, "the kernel did not end the ban"
        assert backend.listed()["sshd"] == set()

    def test_ban_again_renews(self, lan: Lan, backend: BanBackend, kernel: Kernel) -> None:
        backend.install([SSHD])
        backend.ban(bans("sshd", lan.attacker.net4, seconds=30), time.time())
        backend.ban(bans("sshd", lan.attacker.net4, seconds=3000), time.time())
        assert (kernel()["sshd"][str(lan.attacker.ip4)] or 0) > 30
        backend.ban(bans("sshd", lan.attacker.net4, seconds=None), time.time())
        assert kernel()["sshd"][str(lan.attacker.ip4)] is None  # permanent

    def test_install_twice_keeps_bans_and_follows_ports(
        self, served: Lan, backend: BanBackend
    ) -> None:
        lan = served
        backend.install([SSHD])
        backend.ban(bans("sshd", lan.attacker.net4), time.time())
        backend.install([SSHD])
        assert blocked(lan, "attacker", P)
        backend.install([BanScope("sshd", ((Q, Q),))])  # the jail moved to port Q
        assert blocked(lan, "attacker", Q)
        assert reaches(lan, "attacker", P)
        assert backend.listed()["sshd"] == {lan.attacker.net4}

    def test_jail_left_out_goes(self, lan: Lan, backend: BanBackend, kernel: Kernel) -> None:
        backend.install([SSHD, BanScope("web", ((80, 80),))])
        backend.ban(bans("web", lan.attacker.net4), time.time())
        backend.install([SSHD])
        assert set(kernel()) == {"sshd", "manual"}
        with pytest.raises(FirewallError, match="web"):
            backend.ban(bans("web", lan.attacker.net4), time.time())

    def test_flush(self, lan: Lan, backend: BanBackend, kernel: Kernel) -> None:
        backend.install([SSHD])
        backend.ban(
            bans("sshd", lan.attacker.net4, lan.bystander.net6) + bans("manual", lan.attacker.net4),
            time.time(),
        )
        backend.flush("sshd")
        state = kernel()
        assert state["sshd"] == {}
        assert set(state["manual"]) == {str(lan.attacker.ip4)}
        backend.flush()
        assert kernel() == {"sshd": {}, "manual": {}}
        with pytest.raises(FirewallError, match="nosuch"):
            backend.flush("nosuch")

    def test_restore_20000_in_one_call(self, lan: Lan, backend: BanBackend, kernel: Kernel) -> None:
        backend.install([SSHD])
        four = [ipaddress.IPv4Network(0x0A000000 + 4 * i) for i in range(15_000)]
        six = [ipaddress.IPv6Network(((0x20010DB8 << 96) + (i << 64), 64)) for i in range(5_000)]
        backend.ban(bans("sshd", *four, *six), time.time())
        assert backend.listed() == {"sshd": set(four) | set(six), "manual": set()}
        assert len(kernel()["sshd"]) == 20_000

    def test_restore_holds_exactly_the_bans_given(
        self, lan: Lan, backend: BanBackend, kernel: Kernel
    ) -> None:
        backend.install([SSHD])
        now = time.time()
        backend.ban(bans("sshd", "198.51.100.1", "2001:db8:9::/64", "203.0.113.0/24"), now)
        backend.ban(bans("manual", "198.51.100.2"), now)
        kept = [*bans("sshd", "198.51.100.3", "2001:db8:7::/64"), *bans("manual", "10.1.0.0/16")]
        backend.restore(kept, now)
        assert backend.listed() == {
            "sshd": {parse_target("198.51.100.3"), parse_target("2001:db8:7::/64")},
            "manual": {parse_target("10.1.0.0/16")},
        }
        with pytest.raises(FirewallError, match="nope"):
            backend.restore(bans("nope", "198.51.100.9"), now)
        assert len(kernel()["sshd"]) == 2, "a refused restore changes nothing"

    def test_restore_from_the_store_text(self, lan: Lan, backend: BanBackend) -> None:
        backend.install([SSHD])
        now = time.time()
        stored = [
            StoredBan("198.51.100.3/32", "sshd", now, now + 600),
            StoredBan("2001:db8:7::/64", "sshd", now, None),
            StoredBan("10.1.0.0/16", "manual", now, now + 600),
            StoredBan("198.51.100.4/32", "sshd", now - 700, now - 100),  # over: skipped
        ]
        backend.restore(stored, now)
        assert backend.listed() == {
            "sshd": {parse_target("198.51.100.3"), parse_target("2001:db8:7::/64")},
            "manual": {parse_target("10.1.0.0/16")},
        }
        for bad in ("198.51.100.3/24", "1.2.3.4; flush ruleset/32", "::g/128", "10.0.0.0/33"):
            with pytest.raises(FirewallError, match=r"not an (IP )?address or network"):
                backend.restore([StoredBan(bad, "sshd", now, None)], now)
        assert len(backend.listed()["sshd"]) == 2, "a refused restore changes nothing"

    def test_bad_values_change_nothing(
        self, served: Lan, backend: BanBackend, kernel: Kernel
    ) -> None:
        lan = served
        backend.install([SSHD])
        before = kernel()
        good = bans("sshd", lan.attacker.net4)[0]
        bad_target = Ban("192.0.2.2; flush ruleset", "sshd", 0.0, None)  # type: ignore[arg-type]
        for wrong in (
            [good, bad_target],
            [good, Ban(lan.bystander.net4, "no such jail!", 0.0, None)],
        ):
            with pytest.raises(FirewallError):
                backend.ban(wrong, time.time())
        with pytest.raises(FirewallError, match="ftp"):
            backend.ban([good, *bans("ftp", lan.bystander.net4)], time.time())
        with pytest.raises(FirewallError):
            backend.unban(["192.0.2.2"])  # type: ignore[list-item]
        with pytest.raises(FirewallError):
            backend.install([SSHD, "ftp"])  # type: ignore[list-item]
        assert kernel() == before
        assert reaches(lan, "attacker", P)

    def test_uninstall_twice_is_fine(self, lan: Lan, backend: BanBackend) -> None:
        backend.uninstall()
        backend.install([SSHD])
        backend.uninstall()
        backend.uninstall()
        assert backend.listed() == {}
