"""The LAN helper itself: every peer reaches the host on both families, teardown is clean."""

from rampart.system import run
from tests.netns import Lan, lan, make_lan, require  # noqa: F401  (lan: a fixture)


def test_peers_reach_the_host_on_both_families(lan: Lan) -> None:  # noqa: F811
    lan.serve_tcp(8080)
    for peer in (lan.attacker, lan.bystander):
        assert lan.can_connect(peer, lan.host.ip4, 8080)
        assert lan.can_connect(peer, lan.host.ip6, 8080)
    assert not lan.can_connect(lan.attacker, lan.host.ip4, 8081)  # refused: no listener
    assert lan.exec(lan.attacker, ["ip", "-6", "addr", "show", "dev", "eth0"]).stdout.count(
        str(lan.attacker.ip6)
    )


def test_namespaces_are_removed_afterwards() -> None:
    require("ip")
    with make_lan() as net:
        names = {peer.ns for peer in net.peers}
        assert names <= set(run(["ip", "netns", "list"]).stdout.split())
    assert not names & set(run(["ip", "netns", "list"]).stdout.split())
