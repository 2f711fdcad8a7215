"""Active responses: a real script run with validated arguments, a ban through the ban engine."""

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rampart.ban.control import BanControl
from rampart.ban.guard import Guard
from rampart.config import Settings, validate_settings
from rampart.firewall import NftablesBans
from rampart.hids import Event
from rampart.hids.respond import Responder, ResponseError
from rampart.store import BanStore
from tests.netns import Lan, make_lan, require

SCRIPT = """#!/bin/sh
# Records its arguments, one per line, so the test sees exactly what it got.
for arg in "$@"; do printf '%s\\n' "$arg"; done > "$(dirname "$0")/called"
"""


def _event(**fields: str) -> Event:
    return Event(
        time=1_800_000_000.0,
        rule_id=5712,
        level=10,
        description="sshd: brute force",
        location="/var/log/auth.log",
        fields=fields,
    )


def _settings(tmp_path: Path, responses: dict[str, Any], **ban: Any) -> Settings:
    return validate_settings(
        {
            "state_dir": str(tmp_path / "state"),
            "ban": {"backend": "log", "protect_ssh_sessions": False, **ban},
            "alerts": {"responses": responses},
        }
    )


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "block-user"
    path.parent.mkdir()
    path.write_text(SCRIPT)
    path.chmod(stat.S_IRWXU)
    return path


def _exec_responder(tmp_path: Path, script: Path) -> Responder:
    args = ["--ip={srcip}", "--user", "{user}", "rule {rule_id} level {level}"]
    response = {"type": "exec", "program": str(script), "args": args, "timeout": 10}
    return Responder(_settings(tmp_path, {"notify": response}))


def test_exec_runs_the_program_with_validated_arguments(tmp_path: Path, script: Path) -> None:
    responder = _exec_responder(tmp_path, script)
    outcome = responder.handle(_event(srcip="2001:db8::7", user="deploy.bot"), "notify")
    assert outcome.action == f"ran {script} with 4 argument(s)"
    called = (script.parent / "called").read_text().splitlines()
    assert called == ["--ip=2001:db8::7", "--user", "deploy.bot", "rule 5712 level 10"]


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"srcip": "198.51.100.7; reboot", "user": "root"}, "is not an IP address"),
        ({"srcip": "$(reboot)", "user": "root"}, "is not an IP address"),
        ({"srcip": "198.51.100.7", "user": "-rf"}, "is not a plain user name"),
        ({"srcip": "198.51.100.7", "user": "root`id`"}, "is not a plain user name"),
        ({"srcip": "198.51.100.7", "user": "a b"}, "is not a plain user name"),
        ({"srcip": "198.51.100.7"}, "the event has no user"),
    ],
)
def test_exec_refuses_crafted_fields_and_runs_nothing(
    tmp_path: Path, script: Path, fields: dict[str, str], said: str
) -> None:
    responder = _exec_responder(tmp_path, script)
    with pytest.raises(ResponseError, match=said):
        responder.handle(_event(**fields), "notify")
    assert not (script.parent / "called").exists()


def test_a_failing_program_and_an_unknown_response_are_one_line_errors(tmp_path: Path) -> None:
    response = {"type": "exec", "program": "/bin/false"}
    responder = Responder(_settings(tmp_path, {"fail": response}))
    with pytest.raises(ResponseError, match="response program: /bin/false: exit status 1"):
        responder.handle(_event(), "fail")
    with pytest.raises(ResponseError, match=r"no response 'nope' \(fail\)"):
        responder.handle(_event(), "nope")


def test_ban_stores_the_ban_and_respects_ignoreip(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        {"block": {"type": "ban", "duration": "1h"}},
        defaults={"ignoreip": ["203.0.113.0/24"]},
    )
    responder = Responder(settings)
    outcome = responder.handle(_event(srcip="198.51.100.7"), "block")
    assert outcome.action == "banned 198.51.100.7/32 (jail manual)"
    outcome = responder.handle(_event(srcip="2001:db8:1:2::7"), "block")
    assert outcome.action == "banned 2001:db8:1:2::/64 (jail manual)"  # as the daemon bans
    with pytest.raises(ResponseError, match="ignoreip"):
        responder.handle(_event(srcip="203.0.113.9"), "block")
    with pytest.raises(ResponseError, match="no srcip"):
        responder.handle(_event(user="root"), "block")
    with BanStore.in_state_dir(settings.state_dir) as store:
        bans = store.active(1_800_000_000.0 - 86400 * 400)
    assert [(str(b.target), b.jail) for b in bans] == [
        ("198.51.100.7/32", "manual"),
        ("2001:db8:1:2::/64", "manual"),
    ]


@pytest.fixture
def net() -> Iterator[Lan]:
    require("ip", "nft")
    with make_lan() as made:
        yield made


def test_a_ban_response_blocks_the_attacker_in_the_firewall(tmp_path: Path, net: Lan) -> None:
    lan = net
    settings = _settings(tmp_path, {"block": {"type": "ban", "duration": "10m"}})
    lan.serve_tcp(8080)
    assert lan.can_connect(lan.attacker, lan.host.ip4, 8080)

    store = BanStore.in_state_dir(settings.state_dir)
    # The host's own addresses are those of its namespace, not of this test process.
    guard = Guard(protect_ssh_sessions=False, own=lambda: {lan.host.ip4, lan.host.ip6})
    control = BanControl(settings, store, NftablesBans(netns=lan.host.ns), guard)
    try:
        Responder(settings, control=control).handle(_event(srcip=str(lan.attacker.ip4)), "block")
        assert not lan.can_connect(lan.attacker, lan.host.ip4, 8080)
        assert lan.can_connect(lan.bystander, lan.host.ip4, 8080)
        assert [str(b.target) for b in store.active(0)] == [f"{lan.attacker.ip4}/32"]
    finally:
        store.close()
