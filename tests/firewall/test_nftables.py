"""NftablesBans on the real kernel: rules in a namespace, packets between namespaces."""

import json
import time
from collections.abc import Iterator

import pytest

from rampart.ban.types import parse_target
from rampart.firewall import BanScope, FirewallError, NftablesBans
from rampart.firewall.nftables import KINDS, jail_of, set_name
from tests.firewall.contract import SSHD, Kernel, KernelContract, KernelState, bans
from tests.netns import Lan


def nft_json(lan: Lan, *args: str) -> list[dict[str, dict[str, object]]]:
    """``nft -j ARGS`` in the host namespace, as its list of objects."""
    output = lan.exec(lan.host, ["nft", "-j", *args]).stdout
    return [item for item in json.loads(output)["nftables"] if isinstance(item, dict)]


def element_text(element: object) -> tuple[str, int | None]:
    """An element of nft's JSON as text (``192.0.2.2``, ``2001:db8::/64``), and seconds left."""
    left = None
    if isinstance(element, dict) and "elem" in element:
        left = element["elem"].get("expires", 0) if "timeout" in element["elem"] else None
        element = element["elem"]["val"]
    if isinstance(element, dict):
        prefix = element["prefix"]
        return f"{prefix['addr']}/{prefix['len']}", left
    return str(element), left


def rampart_state(lan: Lan) -> KernelState:
    """What rampart's sets hold, read with nft itself, by jail."""
    state: KernelState = {}
    for item in nft_json(lan, "list", "table", "inet", "rampart"):
        if "set" in item:
            owner = jail_of(str(item["set"]["name"]))
            assert owner is not None, f"a set rampart did not make: {item['set']['name']}"
            held = state.setdefault(owner[0], {})
            elements = item["set"].get("elem", [])
            assert isinstance(elements, list)
            # The 6p64 set holds /64s as bare network addresses (matched through a mask).
            suffix = "/64" if owner[1] == "6p64" else ""
            for element in elements:
                text, left = element_text(element)
                held[text + suffix] = left
    return state


class TestNftables(KernelContract):
    @pytest.fixture
    def backend(self, lan: Lan) -> Iterator[NftablesBans]:
        bans = NftablesBans(netns=lan.host.ns)
        yield bans
        bans.uninstall()

    @pytest.fixture
    def kernel(self, lan: Lan) -> Kernel:
        return lambda: rampart_state(lan)

    def test_rules_match_each_jail_scope(self, lan: Lan, backend: NftablesBans) -> None:
        backend.install(
            [
                BanScope("sshd", ((22, 22), (2222, 2223))),
                BanScope("web", ((443, 443), (80, 80)), "all"),
                BanScope("0day", None, "udp"),
            ]
        )
        listing = lan.exec(lan.host, ["nft", "list", "chain", "inet", "rampart", "prerouting"])
        rules = [line.strip() for line in listing.stdout.splitlines() if "saddr" in line]
        assert "type filter hook prerouting priority raw; policy accept;" in listing.stdout
        matches = {
            "sshd": "tcp dport { 22, 2222-2223 }",
            "web": "meta l4proto { tcp, udp } th dport { 80, 443 }",
            "0day": "meta l4proto udp",
            "manual": "",
        }
        sources = {
            "4": "ip saddr",
            "6": "ip6 saddr",
            "6p64": "ip6 saddr & ffff:ffff:ffff:ffff:: ==",  # nft prints the masked lookup so
            "4n": "ip saddr",
            "6n": "ip6 saddr",
        }
        expected = {
            f"{source} @{set_name(jail, kind)} {match} counter packets 0 bytes 0 drop"
            f' comment "{jail}"'.replace("  ", " ")
            for jail, match in matches.items()
            for kind, source in sources.items()
        }
        assert set(rules) == expected
        listed = nft_json(lan, "list", "sets")
        sets = {str(item["set"]["name"]): item["set"] for item in listed if "set" in item}
        assert set(sets) == {
            set_name(j, kind) for j in ("sshd", "web", "0day", "manual") for kind in KINDS
        }
        hashed = {name: s for name, s in sets.items() if not name.endswith("n")}
        assert all(s["flags"] == ["timeout"] for s in hashed.values()), "hash sets: fast"
        ranged = {name: s for name, s in sets.items() if name.endswith("n")}
        assert all(s["flags"] == ["interval", "timeout"] for s in ranged.values())
        assert sets["j.0day_6"]["type"] == "ipv6_addr"

    def test_wider_ban_takes_over_narrower(self, lan: Lan, backend: NftablesBans) -> None:
        backend.install([SSHD])
        narrow = [parse_target(f"2001:db8:1::{n}") for n in range(1, 7)]
        backend.ban(bans("sshd", *narrow), time.time())
        wide = parse_target("2001:db8:1::/64")
        backend.ban(bans("sshd", wide, "2001:db8:1::9"), time.time())  # and one inside it
        # Addresses and /64s live in different hash sets: each keeps its own end.
        held = {"2001:db8:1::/64", "2001:db8:1::9", *(str(n.network_address) for n in narrow)}
        assert rampart_state(lan)["sshd"].keys() == held
        backend.ban(bans("sshd", "2001:db8:1::3"), time.time())
        assert backend.listed()["sshd"] == {wide, parse_target("2001:db8:1::9"), *narrow}
        wider = parse_target("2001:db8::/32")  # an interval set: what is inside gives way there
        backend.ban(bans("sshd", "2001:db8:1:0:8000::/65", wider), time.time())
        assert rampart_state(lan)["sshd"].keys() == held | {"2001:db8::/32"}

    def test_few_narrower_give_way_one_by_one(self, lan: Lan, backend: NftablesBans) -> None:
        backend.install([SSHD])
        backend.ban(bans("sshd", "192.0.2.200", "192.0.2.201", "198.51.100.7"), time.time())
        backend.ban(bans("sshd", "192.0.2.200/31"), time.time())
        held = {"192.0.2.200", "192.0.2.201", "198.51.100.7", "192.0.2.200/31"}
        assert rampart_state(lan)["sshd"].keys() == held
        backend.ban(bans("sshd", "192.0.2.200/30", "192.0.2.204/31"), time.time())
        held = held - {"192.0.2.200/31"} | {"192.0.2.200/30", "192.0.2.204/31"}
        assert rampart_state(lan)["sshd"].keys() == held

    def test_uninstall_leaves_other_tables(self, lan: Lan, backend: NftablesBans) -> None:
        foreign = (
            "add table inet other\n"
            "add set inet other keep { type ipv4_addr; }\n"
            "add element inet other keep { 198.51.100.1 }\n"
            "add chain inet other input { type filter hook input priority 0; policy accept; }\n"
            "add rule inet other input ip saddr @keep counter accept\n"
            "add table ip rampart_not\n"
        )
        lan.exec(lan.host, ["nft", "-f", "-"], input_text=foreign)
        before = lan.exec(lan.host, ["nft", "list", "table", "inet", "other"]).stdout
        backend.install([SSHD])
        backend.ban(bans("sshd", lan.attacker.net4), time.time())
        backend.uninstall()
        tables = lan.exec(lan.host, ["nft", "list", "tables"]).stdout.split("\n")
        assert "table inet rampart" not in tables
        assert {"table inet other", "table ip rampart_not"} <= set(tables)
        assert lan.exec(lan.host, ["nft", "list", "table", "inet", "other"]).stdout == before

    def test_errors_are_one_line_naming_nft(self, lan: Lan, backend: NftablesBans) -> None:
        with pytest.raises(FirewallError, match="not installed"):
            backend.flush("sshd")
        with pytest.raises(FirewallError, match="not a network namespace"):
            NftablesBans(netns="bad name")
        with pytest.raises(FirewallError, match="/nonexistent/nft") as raised:
            NftablesBans(netns=lan.host.ns, nft="/nonexistent/nft").listed()
        assert "\n" not in str(raised.value)
        with pytest.raises(FirewallError, match="program not found"):
            NftablesBans(nft="/nonexistent/nft").listed()
