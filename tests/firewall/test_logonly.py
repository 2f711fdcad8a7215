"""LogOnlyBans: the dry run says what it would do, remembers it, and runs nothing."""

import logging
import subprocess

import pytest

from rampart.ban.types import Ban, parse_target
from rampart.firewall import BanScope, FirewallError, LogOnlyBans, make_backend

ATTACKER = parse_target("192.0.2.2")
NET = parse_target("2001:db8::/64")
SSHD = BanScope("sshd", ((22, 22),))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def no_programs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to run a program fails the test: a dry run touches no firewall."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a dry run ran a program: {args!r}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def test_bans_are_logged_and_remembered(
    no_programs: None, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    backend = LogOnlyBans(clock=clock)
    caplog.set_level(logging.INFO, logger="rampart.firewall")
    backend.install([SSHD])
    backend.ban(
        [
            Ban(ATTACKER, "sshd", clock.now, clock.now + 60),
            Ban(NET, "manual", clock.now, None),
            Ban(parse_target("198.51.100.1"), "sshd", 0.0, clock.now - 1),  # over: skipped
        ],
        clock.now,
    )
    assert backend.listed() == {"sshd": {ATTACKER}, "manual": {NET}}
    said = [r.getMessage() for r in caplog.records if r.name == "rampart.firewall"]
    assert "dry run: would ban 192.0.2.2/32 in jail sshd for 60 s" in said
    assert "dry run: would ban 2001:db8::/64 in jail manual for ever" in said
    assert not any("198.51.100.1" in line for line in said)
    assert "dry run: would install jail sshd (ports 22, tcp)" in said

    clock.now += 61  # the kernel would have ended it
    assert backend.listed() == {"sshd": set(), "manual": {NET}}
    backend.unban([NET])
    assert "dry run: would unban 2001:db8::/64 in jail manual" in caplog.messages
    assert backend.listed() == {"sshd": set(), "manual": set()}


def test_flush_install_and_uninstall() -> None:
    backend = LogOnlyBans()
    backend.install([SSHD, BanScope("web", ((80, 80), (443, 443)), "all")])
    backend.ban([Ban(ATTACKER, "web", 0.0, None), Ban(ATTACKER, "sshd", 0.0, None)], 1.0)
    backend.flush("web")
    assert backend.listed() == {"sshd": {ATTACKER}, "web": set(), "manual": set()}
    backend.install([SSHD])  # web goes, sshd keeps its ban
    assert backend.listed() == {"sshd": {ATTACKER}, "manual": set()}
    backend.flush()
    assert backend.listed() == {"sshd": set(), "manual": set()}
    backend.uninstall()
    assert backend.listed() == {}


def test_mistakes_show_in_the_dry_run() -> None:
    backend = LogOnlyBans()
    backend.install([SSHD])
    with pytest.raises(FirewallError, match="ftp"):
        backend.ban([Ban(ATTACKER, "sshd", 0.0, None), Ban(ATTACKER, "ftp", 0.0, None)], 1.0)
    with pytest.raises(FirewallError, match="not an address"):
        backend.ban([Ban("192.0.2.2", "sshd", 0.0, None)], 1.0)  # type: ignore[arg-type]
    with pytest.raises(FirewallError, match="not a jail name"):
        backend.ban([Ban(ATTACKER, "bad jail", 0.0, None)], 1.0)
    with pytest.raises(FirewallError, match="ftp"):
        backend.flush("ftp")
    assert backend.listed() == {"sshd": set(), "manual": set()}


def test_scopes_are_checked() -> None:
    assert BanScope("web", ((443, 443), (80, 81), (82, 90))).ports == ((80, 90), (443, 443))
    with pytest.raises(FirewallError, match="not a jail name"):
        BanScope("x" * 33)
    with pytest.raises(FirewallError, match="1-65535"):
        BanScope("web", ((0, 80),))
    with pytest.raises(FirewallError, match="1-65535"):
        BanScope("web", ((90, 80),))
    with pytest.raises(FirewallError, match="protocol"):
        BanScope("web", None, "icmp")  # type: ignore[arg-type]
    with pytest.raises(FirewallError, match="twice"):
        LogOnlyBans().install([SSHD, BanScope("sshd", ((2222, 2222),))])


def test_make_backend() -> None:
    assert isinstance(make_backend("log"), LogOnlyBans)
    assert type(make_backend("nftables", netns="rp1")).__name__ == "NftablesBans"
    assert type(make_backend("iptables")).__name__ == "IptablesBans"
    with pytest.raises(FirewallError, match="nftables, iptables, log"):
        make_backend("pf")
