"""IptablesBans on the real kernel: ipsets and raw-table rules in a namespace."""

import time
from collections.abc import Iterator

import pytest

from rampart.ban.types import parse_target
from rampart.firewall import BanScope, FirewallError, IptablesBans
from rampart.firewall.iptables import set_name
from tests.firewall.contract import SSHD, Kernel, KernelContract, KernelState, bans
from tests.netns import Lan, require


def ipset_state(lan: Lan) -> KernelState:
    """What rampart's ipsets hold, read with ``ipset save``, by jail (from the set name)."""
    state: KernelState = {}
    for line in lan.exec(lan.host, ["ipset", "save"]).stdout.splitlines():
        words = line.split()
        if len(words) < 2 or not words[1].startswith("rampart-"):
            continue
        jail = words[1].removeprefix("rampart-")[:-2]
        held = state.setdefault(jail, {})
        if words[0] == "add":
            seconds = int(words[words.index("timeout") + 1])
            held[words[2]] = seconds or None  # timeout 0: for ever
    return state


def raw_rules(lan: Lan, tool: str) -> list[str]:
    return lan.exec(lan.host, [tool, "-w", "-t", "raw", "-S"]).stdout.splitlines()


class TestIptables(KernelContract):
    @pytest.fixture
    def backend(self, lan: Lan) -> Iterator[IptablesBans]:
        require("iptables", "ip6tables", "ipset")
        bans = IptablesBans(netns=lan.host.ns)
        yield bans
        bans.uninstall()

    @pytest.fixture
    def kernel(self, lan: Lan) -> Kernel:
        return lambda: ipset_state(lan)

    def test_rules_match_each_jail_scope(self, lan: Lan, backend: IptablesBans) -> None:
        many = tuple((port, port) for port in range(1000, 1040, 2))  # more than multiport takes
        backend.install(
            [
                BanScope("sshd", ((22, 22), (2222, 2223))),
                BanScope("web", ((443, 443), (80, 80)), "all"),
                BanScope("0day", None, "udp"),
                BanScope("many", many),
            ]
        )
        for tool, version in (("iptables", 4), ("ip6tables", 6)):
            rules = raw_rules(lan, tool)
            assert rules.count("-A PREROUTING -j rampart") == 1
            ours = [rule for rule in rules if rule.startswith("-A rampart ")]

            def rule(jail: str, match: str, v: int = version) -> str:
                return (
                    f"-A rampart {match.replace('SET', set_name(jail, v))}"
                    f' -m comment --comment "rampart:{jail}" -j DROP'
                )

            expected = [
                rule(
                    "sshd", "-p tcp -m set --match-set SET src -m multiport --dports 22,2222:2223"
                ),
                rule("web", "-p tcp -m set --match-set SET src -m multiport --dports 80,443"),
                rule("web", "-p udp -m set --match-set SET src -m multiport --dports 80,443"),
                rule("0day", "-p udp -m set --match-set SET src"),
                rule(
                    "many",
                    "-p tcp -m set --match-set SET src -m multiport --dports "
                    + ",".join(map(str, range(1000, 1030, 2))),
                ),
                rule(
                    "many",
                    "-p tcp -m set --match-set SET src -m multiport --dports "
                    + ",".join(map(str, range(1030, 1040, 2))),
                ),
                rule("manual", "-m set --match-set SET src"),
            ]
            assert sorted(ours) == sorted(expected)
        saved = lan.exec(lan.host, ["ipset", "save"]).stdout
        assert "create rampart-sshd-6 hash:net family inet6 " in saved
        assert "create rampart-0day-4 hash:net family inet " in saved

    def test_long_jail_names_fit_ipset(self, lan: Lan, backend: IptablesBans) -> None:
        long = "a-very-long-jail-name-for-nginx-x"[:32]
        other = long[:-1] + "y"  # the same first 12 characters
        backend.install([BanScope(long), BanScope(other)])
        names = {set_name(long, 4), set_name(other, 4)}
        assert len(names) == 2 and all(len(name) <= 31 for name in names)
        backend.ban(bans(long, lan.attacker.net4) + bans(other, lan.bystander.net4), time.time())
        listed = backend.listed()
        assert listed[long] == {lan.attacker.net4}
        assert listed[other] == {lan.bystander.net4}

    def test_overlapping_bans_both_stay(self, lan: Lan, backend: IptablesBans) -> None:
        backend.install([SSHD])
        backend.ban(bans("sshd", "2001:db8:1::5", "2001:db8:1::/64"), time.time())
        assert backend.listed()["sshd"] == {
            parse_target("2001:db8:1::5"),
            parse_target("2001:db8:1::/64"),
        }

    def test_uninstall_leaves_other_rules_and_sets(self, lan: Lan, backend: IptablesBans) -> None:
        lan.exec(lan.host, ["ipset", "create", "other", "hash:ip"])
        lan.exec(lan.host, ["ipset", "add", "other", "198.51.100.1"])
        for argv in (
            ["-N", "mine"],
            ["-A", "mine", "-m", "set", "--match-set", "other", "src", "-j", "ACCEPT"],
            ["-A", "PREROUTING", "-j", "mine"],
        ):
            lan.exec(lan.host, ["iptables", "-w", "-t", "raw", *argv])
        before = raw_rules(lan, "iptables"), lan.exec(lan.host, ["ipset", "save"]).stdout
        backend.install([SSHD])
        backend.ban(bans("sshd", lan.attacker.net4), time.time())
        backend.uninstall()
        assert (raw_rules(lan, "iptables"), lan.exec(lan.host, ["ipset", "save"]).stdout) == before
        assert not any("rampart" in rule for rule in raw_rules(lan, "ip6tables"))

    def test_errors_are_one_line_naming_the_tool(self, lan: Lan, backend: IptablesBans) -> None:
        with pytest.raises(FirewallError, match="not installed"):
            backend.flush("sshd")
        with pytest.raises(FirewallError, match="/nonexistent/ipset") as raised:
            IptablesBans(netns=lan.host.ns, ipset="/nonexistent/ipset").listed()
        assert "\n" not in str(raised.value)
